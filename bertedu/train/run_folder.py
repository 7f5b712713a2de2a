"""A run's output folder: claimed by one run, its checkpoints listed and pruned, the leftovers
of a killed run cleaned.

Nothing a user trained or wrote is deleted or overwritten by accident:

* a fresh run goes only into a new (or empty) folder, or into a folder of its
  own kind that holds neither a checkpoint nor a run's records (``metrics.jsonl``,
  ``run.json``, ``loss.png``: a run killed while preparing its data). A folder
  with checkpoints, with a run's records, or with other files (a user's
  ``notes.txt``) is refused with :class:`ExistingRunError`; ``overwrite``
  moves the whole folder aside to ``DIRECTORY.old-YYYYMMDD-HHMMSS`` (never
  deletes it, and never moves a git repository, the working folder or a
  symbolic link's target). A folder a run claimed holds the marker file
  ``.bertedu-run``, which also records whether the run committed a checkpoint;
* a resumption continues the run of its folder: a checkpoint of another run
  (another ``run_id``, recorded in every checkpoint) is refused unless the
  folder is new, so run A's checkpoint never replaces run B's later
  checkpoints, metrics and ``run.json``. A folder whose checkpoints are gone
  (deleted to save space) is refused too: resuming it would start from update 0
  and cut its metrics. A missing folder is refused (a mistyped ``--output``);
* one process writes to a folder at a time: the claim holds an advisory lock
  on it (:func:`output_folder`), and a second writer is refused with
  :class:`FolderInUseError`. Files the run writes that are symbolic links
  leading out of the folder are refused (the write would land elsewhere);
* ``keep`` prunes only older checkpoints of the same run, never the one just
  written, never one behind a symbolic link, and only the files a checkpoint
  consists of (a user's ``NOTES.txt`` in a step folder stays, with its folder);
* at the start of a run, what a ``kill -9`` left is removed
  (:func:`clean_interrupted_writes`): temporaries of dead processes, a
  half-pruned ``step-N/`` without ``state.json``, safetensors' own
  ``.tmpXXXXXX``. One run writes to a folder at a time.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bertedu.train.atomic_files import TEMPORARY, live_temporaries, remove_stale_temporaries_in
from bertedu.train.checkpoint_state import (
    CHECKPOINT_FILES,
    STATE_FILE,
    STEP_DIR,
    read_checkpoint_state,
)
from bertedu.train.folder_lock import (
    ExistingRunError,
    FolderInUseError,
    held_by_caller,
    lock_folder,
    release_folder,
    release_unscoped,
)
from bertedu.train.output_path import check_output_path

__all__ = ["ExistingRunError", "FolderInUseError"]  # defined with the lock, named here

#: The file that marks a folder as claimed by a bertedu run (before its first checkpoint).
MARKER = ".bertedu-run"
#: safetensors writes ``.tmpXXXXXX`` first and renames it; a kill leaves it behind.
SAFETENSORS_TEMPORARY = re.compile(r"^\.tmp[A-Za-z0-9_]+$")
#: What a run records besides its checkpoints; a folder holding them holds a run's history.
RUN_RECORDS = ("metrics.jsonl", "run.json", "loss.png")


def new_run_id() -> str:
    """A random id for one training run, recorded in each of its checkpoints."""
    return uuid.uuid4().hex


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Committed checkpoints (folders with ``state.json``) under ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in directory.iterdir()
        if (m := STEP_DIR.match(p.name)) and (p / STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest committed checkpoint under ``directory``, or ``None``."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def prune_checkpoints(
    directory: str | Path, *, keep: int, newest: Path, run_id: str | None
) -> list[Path]:
    """Delete older checkpoints of run ``run_id`` so that ``keep`` remain, ``newest`` included.

    ``newest`` (the checkpoint just written) is never deleted, whatever the
    step numbers of the others, and neither is a checkpoint of another run,
    one whose ``state.json`` cannot be read, nor a step folder that is a
    symbolic link (deleting through it would delete files outside the run's
    folder). A deletion first removes ``state.json``, so one cut short leaves an
    uncommitted folder (cleaned at the next start), not a checkpoint with
    missing files; then the checkpoint's own files, and the folder only when
    nothing else is left in it (a user's notes or a nested run stay, with their
    folder). Returns the pruned folders.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    same_run = []
    for folder in list_checkpoints(directory):
        if folder == newest or folder.is_symlink():
            continue
        try:
            if read_checkpoint_state(folder).get("run_id") == run_id:
                same_run.append(folder)
        except (ValueError, OSError):
            continue  # unreadable: not provably ours, so not ours to delete
    doomed = same_run[: max(len(same_run) - (keep - 1), 0)]
    for old in doomed:
        (old / STATE_FILE).unlink(missing_ok=True)
        for path in old.iterdir():
            if _leftover_of_a_write(path) and not path.is_dir():
                path.unlink(missing_ok=True)
        if not any(old.iterdir()):
            old.rmdir()
    return doomed


def _leftover_of_a_write(path: Path) -> bool:
    """A file a killed checkpoint write or prune leaves in an uncommitted step folder."""
    return path.name in CHECKPOINT_FILES or bool(
        TEMPORARY.match(path.name) or SAFETENSORS_TEMPORARY.match(path.name)
    )


def clean_interrupted_writes(directory: str | Path) -> list[Path]:
    """Remove what killed writes left in a run folder; return what was removed.

    * ``.NAME.tmp-PID`` temporaries (in the folder and its step folders) whose
      process is gone;
    * uncommitted step folders (no ``state.json``: a save or a prune cut short)
      that hold only a checkpoint's files and temporaries, none of a live
      process. A step folder that is a symbolic link, or holds anything else, is
      left alone.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = remove_stale_temporaries_in(directory)
    for folder in sorted(directory.iterdir()):
        if not STEP_DIR.match(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        removed += remove_stale_temporaries_in(folder)
        if (folder / STATE_FILE).exists() or live_temporaries(folder):
            continue
        entries = list(folder.iterdir())
        if all(_leftover_of_a_write(p) and p.is_file() and not p.is_symlink() for p in entries):
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def discard_uncommitted(folder: Path) -> None:
    """Remove the files of a checkpoint this process failed to write (no ``state.json``), and
    the folder when nothing else is in it: a full disk gets its space back, the earlier
    checkpoints stay."""
    if (folder / STATE_FILE).exists() or folder.is_symlink() or not folder.is_dir():
        return
    for path in folder.iterdir():
        if _leftover_of_a_write(path) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    if not any(folder.iterdir()):
        folder.rmdir()


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """The temporaries of dead processes in ``directory`` and its step folders (kept as a name
    for :func:`clean_interrupted_writes`'s first half)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = remove_stale_temporaries_in(directory)
    for folder in directory.iterdir():
        if STEP_DIR.match(folder.name) and folder.is_dir() and not folder.is_symlink():
            removed += remove_stale_temporaries_in(folder)
    return removed


def _is_new(directory: Path) -> bool:
    """Missing, or holding nothing but the marker and temporaries of dead processes."""
    if not directory.exists():
        return True
    return all(
        p.name == MARKER or (TEMPORARY.match(p.name) and p not in live_temporaries(directory))
        for p in directory.iterdir()
    )


def _run_ids(checkpoints: list[Path]) -> set[str | None]:
    ids = set()
    for folder in checkpoints:
        try:
            ids.add(read_checkpoint_state(folder).get("run_id"))
        except (ValueError, OSError):
            continue
    return ids


def _marker(directory: Path) -> dict:
    """The folder's marker as a dict (empty: no marker, or an unreadable one)."""
    try:
        value = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def folder_run_id(directory: str | Path) -> str | None:
    """The run id the folder's marker records (None: no marker, or one without an id)."""
    run_id = _marker(Path(directory)).get("run_id")
    return run_id if isinstance(run_id, str) else None


def _mark(directory: Path, run_id: str, *, checkpointed: bool = False) -> None:
    """Write the marker (a plain write: a torn one still marks the folder as a run's)."""
    marker = {
        "run_id": run_id,
        "checkpointed": checkpointed,
        "about": "a bertedu training run's folder",
    }
    (directory / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")


def note_checkpoint(directory: str | Path) -> None:
    """Record in the marker that the run committed a checkpoint (once): a folder whose
    checkpoints are later deleted is then told from a run killed before its first one."""
    directory = Path(directory)
    marker = _marker(directory)
    if marker and marker.get("checkpointed") is not True and isinstance(marker.get("run_id"), str):
        _mark(directory, marker["run_id"], checkpointed=True)


def run_records(directory: Path) -> list[str]:
    """The run records (:data:`RUN_RECORDS`, not empty) ``directory`` holds."""
    return [
        name
        for name in RUN_RECORDS
        if (directory / name).is_symlink()
        or ((directory / name).is_file() and (directory / name).stat().st_size > 0)
    ]


def check_no_links_out(directory: Path, names: tuple[str, ...] | None = None) -> None:
    """Refuse when an entry of ``directory`` (those in ``names``, or all) is a symbolic link
    leading out of it: writing or pruning through it would change files elsewhere."""
    if not directory.is_dir():
        return
    inside = directory.resolve()
    for path in sorted(directory.iterdir()):
        if names is not None and path.name not in names:
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(inside):
            raise ExistingRunError(
                f"{path} is a symbolic link to {path.resolve()}, outside {directory}: a run "
                "writing there would change that file instead. Remove the link (or copy the "
                "file in its place), or pick another output folder."
            )


def _check_resume_source(directory: Path, resume_from: Path, found: list[Path]) -> str | None:
    """The run id of ``resume_from``; refused when it is another run than ``directory``'s
    (its checkpoints', or its marker's before the first checkpoint) and the folder is not new."""
    run_id = read_checkpoint_state(resume_from).get("run_id")
    if resume_from.resolve().parent == directory.resolve() or _is_new(directory):
        return run_id
    ids = _run_ids(found) if found else {folder_run_id(directory)}
    if run_id is not None and run_id in ids:
        return run_id
    holds = (
        f"holds run {', '.join(sorted(str(i) for i in ids))}"
        if found
        else "holds files of another run that wrote no checkpoint yet"
    )
    raise ExistingRunError(
        f"{resume_from} belongs to another run (run {run_id}) than the folder {directory}, "
        f"which {holds}: resuming it there would replace that run's later checkpoints, its "
        "metrics and its run.json. Resume it into its own folder "
        f"(--output {resume_from.parent}) or into a new --output."
    )


def _check_fresh_start(directory: Path, found: list[Path], *, resume: bool) -> None:
    """Refuse a run (fresh, or resumed without a checkpoint) over a run's records.

    A fresh run would replace ``metrics.jsonl``, ``run.json`` and ``loss.png``; a
    resumption of a folder whose checkpoints were deleted would start from update 0
    and cut the metrics to nothing. Only a resumption of a run killed before its first
    checkpoint (the marker says it committed none) continues: it starts that same run
    again from update 0.
    """
    records = run_records(directory) if directory.is_dir() else []
    if found or not records:
        return
    checkpointed = _marker(directory).get("checkpointed", True) is not False
    if resume and not checkpointed:
        return
    gone = (
        "its checkpoints (step-* folders) are gone"
        if checkpointed
        else "it was stopped before its first checkpoint"
    )
    again = (
        "" if checkpointed else "Start that run again from update 0 with --resume (resume=True), "
    )
    raise ExistingRunError(
        f"{directory} holds the records of a run ({', '.join(records)}) but no checkpoint: "
        f"{gone}. A new run would replace those records"
        + (" and --resume has nothing to continue from" if resume and checkpointed else "")
        + f". {again}start afresh with --overwrite (overwrite=True: the folder is moved to "
        f"{directory.name}.old-<timestamp>, nothing is deleted), or pick another --output."
    )


def claim_output_folder(
    directory: str | Path,
    *,
    resume: bool,
    overwrite: bool,
    resume_from: str | Path | None = None,
) -> Path | None:
    """Make ``directory`` ready for a run; return where an overwritten folder was moved, else
    None.

    * ``directory`` is a file, a name too long for the file system or a symbolic link to
      nothing (:func:`~bertedu.train.output_path.check_output_path`): refused (a clear
      message instead of a raw ``OSError`` later).
    * ``resume`` into a folder that does not exist (a mistyped ``--output``): refused,
      unless ``resume_from`` names the checkpoint to continue.
    * another process writes there (:class:`FolderInUseError`), or a file the run writes
      is a symbolic link leading out of the folder: refused.
    * a folder that is neither new, nor a run's (checkpoints or the ``.bertedu-run``
      marker): refused with :class:`ExistingRunError`; a fresh run with ``overwrite``
      moves it aside.
    * ``resume``: the run continues the checkpoints there; ``resume_from`` (a checkpoint
      elsewhere) must belong to the folder's run, or the folder be new.
    * a fresh run, and ``directory`` holds checkpoints or a run's records: refused, unless
      ``overwrite``, which *moves* the whole folder aside to
      ``DIRECTORY.old-YYYYMMDD-HHMMSS`` (:func:`move_aside`).

    The folder is then created, locked for this process (a caller's :func:`output_folder`
    block keeps the lock; a claim inside it changes nothing) and marked as a run's (the
    marker records the run id a fresh start gets, :func:`folder_run_id`), and what a
    killed run left in it is cleaned (:func:`clean_interrupted_writes`).
    """
    directory = Path(directory)
    check_output_path(directory)
    if resume and overwrite:
        raise ValueError(
            "resume and overwrite exclude each other: --resume continues the run in the folder, "
            "--overwrite moves it aside and starts afresh. Pass one of them."
        )
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(
            f"The output folder {directory} is a file. Pass a folder (it is created if "
            "missing) to --output / checkpoint_dir, or move the file away."
        )
    if directory.is_dir() and held_by_caller(directory):
        return None  # claimed by this process's caller (pretrain -> train): as it left it
    if resume and resume_from is None and not directory.is_dir():
        raise FileNotFoundError(
            f"{directory} does not exist: there is no run to resume there. Check the spelling "
            "of --output (output_dir / checkpoint_dir), or drop --resume to start a new run."
        )
    if directory.is_dir():
        release_unscoped(directory)
        lock_folder(directory)
    check_no_links_out(directory, (MARKER, *RUN_RECORDS, "cache"))
    found = list_checkpoints(directory)
    foreign = not found and not (directory / MARKER).is_file() and not _is_new(directory)
    aside = None
    if foreign and (resume or not overwrite):
        names = sorted(p.name for p in directory.iterdir())
        shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        raise ExistingRunError(
            f"{directory} is not empty ({shown}) and not a bertedu run: a run would overwrite "
            "those files. Pick another --output (output_dir / checkpoint_dir), or start afresh "
            f"with --overwrite (overwrite=True: the folder is moved to {directory.name}.old-"
            "<timestamp>, nothing is deleted)."
        )
    if not overwrite:
        _check_fresh_start(directory, found, resume=resume)
    run_id = None
    if resume:
        if resume_from is not None:
            run_id = _check_resume_source(directory, Path(resume_from), found)
        elif found:
            run_id = read_checkpoint_state(found[-1]).get("run_id")
        run_id = run_id or folder_run_id(directory)
    elif found and not overwrite:
        raise ExistingRunError(
            f"{directory} already holds a training run ({len(found)} checkpoint(s), newest "
            f"{found[-1].name}). Continue it with --resume (resume=True), start afresh with "
            "--overwrite (overwrite=True: the old run is moved to "
            f"{directory.name}.old-<timestamp>, nothing is deleted), or pick another --output."
        )
    elif found or foreign or run_records(directory):
        aside = move_aside(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock_folder(directory)
    if run_id is None or folder_run_id(directory) != run_id or found:
        _mark(directory, run_id or new_run_id(), checkpointed=bool(found))
    clean_interrupted_writes(directory)
    return aside


@contextmanager
def output_folder(
    directory: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    resume_from: str | Path | None = None,
) -> Iterator[Path | None]:
    """:func:`claim_output_folder` for the length of a ``with`` block, which holds the folder's
    lock: a second process is refused until the block ends, and a claim inside the block (the
    loop's, when ``pretrain`` calls it) leaves the folder as this one made it. Yields where an
    overwritten folder was moved (or None)."""
    aside = claim_output_folder(
        directory, resume=resume, overwrite=overwrite, resume_from=resume_from
    )
    lock_folder(directory, scoped=True)
    try:
        yield aside
    finally:
        release_folder(directory)


class FolderClaim:
    """The generic loop's hold on its folder (:func:`hold_output_folder`): the lock is kept
    until :meth:`release`, or until the object is dropped (the loop returned or raised)."""

    def __init__(self, directory: Path | None, owned: bool) -> None:
        self.directory, self.owned = directory, owned

    def release(self) -> None:
        """Give the folder back to other processes (nothing when a caller holds it)."""
        if self.owned and self.directory is not None:
            release_unscoped(self.directory)
            self.owned = False

    __del__ = release


def hold_output_folder(
    directory: Path | None,
    *,
    resume: bool,
    overwrite: bool,
    resume_from: str | Path | None = None,
) -> FolderClaim:
    """:func:`claim_output_folder` for code that cannot wrap its work in a ``with`` block (the
    loop): the lock lasts as long as the returned :class:`FolderClaim`. ``None`` (no folder,
    or not this process's to write) claims nothing; inside a caller's :func:`output_folder`
    block the caller's claim stands."""
    if directory is None:
        return FolderClaim(None, owned=False)
    check_output_path(directory)
    nested = directory.is_dir() and held_by_caller(directory)
    claim_output_folder(directory, resume=resume, overwrite=overwrite, resume_from=resume_from)
    return FolderClaim(directory, owned=not nested)


def check_movable(directory: Path) -> None:
    """Refuse to move ``directory`` aside when it is a symbolic link (its target would stay,
    the link would move), the working folder or one above it, or a git repository."""
    if directory.is_symlink():
        raise ExistingRunError(
            f"{directory} is a symbolic link to {directory.resolve()}; --overwrite does not move "
            "a link's target aside. Pass the real folder, or another --output."
        )
    resolved = directory.resolve()
    if resolved == resolved.parent or Path.cwd().resolve().is_relative_to(resolved):
        raise ExistingRunError(
            f"{directory} is the working folder (or holds it); --overwrite does not move it "
            "aside. Pass a subfolder as --output, e.g. --output runs/NAME."
        )
    if (directory / ".git").exists():
        raise ExistingRunError(
            f"{directory} is a git repository; --overwrite does not move it aside. Pass a "
            "folder of its own as --output."
        )


def move_aside(directory: Path) -> Path:
    """Rename ``directory`` to ``DIRECTORY.old-YYYYMMDD-HHMMSS`` (a free name); return it.

    Refused (:func:`check_movable`) for a link, the working folder or a git repository.
    This process's lock on it goes with it and is dropped: the new folder is locked anew.
    """
    check_movable(directory)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = directory.with_name(f"{directory.name}.old-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = directory.with_name(f"{directory.name}.old-{stamp}-{counter}")
    directory.rename(aside)
    release_folder(directory)
    return aside
