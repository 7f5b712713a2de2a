"""A run's output folder: claimed by one run, its checkpoints listed and pruned, the leftovers
of a killed run cleaned.

Nothing a user trained or wrote is deleted or overwritten by accident:

* a fresh run goes only into a new (or empty) folder, or into a folder of its
  own kind that holds no checkpoint yet (a run killed before its first one).
  A folder with checkpoints, or with other files (a user's ``metrics.jsonl``,
  ``notes.txt``), is refused with :class:`ExistingRunError`; ``overwrite``
  moves the whole folder aside to ``DIRECTORY.old-YYYYMMDD-HHMMSS`` (never
  deletes it). A folder a run claimed holds the marker file ``.bertedu-run``;
* a resumption continues the run of its folder: a checkpoint of another run
  (another ``run_id``, recorded in every checkpoint) is refused unless the
  folder is new, so run A's checkpoint never replaces run B's later
  checkpoints, metrics and ``run.json``;
* ``keep`` prunes only older checkpoints of the same run, never the one just
  written, never one behind a symbolic link;
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
from pathlib import Path

from bertedu.train.atomic_files import TEMPORARY, live_temporaries, remove_stale_temporaries_in
from bertedu.train.checkpoint_state import (
    CHECKPOINT_FILES,
    STATE_FILE,
    STEP_DIR,
    read_checkpoint_state,
)

#: The file that marks a folder as claimed by a bertedu run (before its first checkpoint).
MARKER = ".bertedu-run"
#: safetensors writes ``.tmpXXXXXX`` first and renames it; a kill leaves it behind.
SAFETENSORS_TEMPORARY = re.compile(r"^\.tmp[A-Za-z0-9_]+$")


class ExistingRunError(FileExistsError):
    """A run was asked to write into a folder that holds another run or other files."""


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
    missing files. Returns the deleted folders.
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
        shutil.rmtree(old)
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


def folder_run_id(directory: str | Path) -> str | None:
    """The run id the folder's marker records (None: no marker, or one without an id)."""
    try:
        value = json.loads((Path(directory) / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    run_id = value.get("run_id") if isinstance(value, dict) else None
    return run_id if isinstance(run_id, str) else None


def _mark(directory: Path, run_id: str) -> None:
    """Write the marker (a plain write: a torn one still marks the folder as a run's)."""
    (directory / MARKER).write_text(
        json.dumps({"run_id": run_id, "about": "a bertedu training run's folder"}) + "\n",
        encoding="utf-8",
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


def claim_output_folder(
    directory: str | Path,
    *,
    resume: bool,
    overwrite: bool,
    resume_from: str | Path | None = None,
) -> Path | None:
    """Make ``directory`` ready for a run; return where an overwritten folder was moved, else
    None.

    * ``directory`` is a file: refused (a clear message instead of a traceback later).
    * a folder that is neither new, nor a run's (checkpoints or the ``.bertedu-run``
      marker): refused with :class:`ExistingRunError`; a fresh run with ``overwrite``
      moves it aside.
    * ``resume``: the run continues the checkpoints there; ``resume_from`` (a checkpoint
      elsewhere) must belong to the folder's run, or the folder be new.
    * a fresh run, and ``directory`` holds checkpoints: refused, unless ``overwrite``,
      which *moves* the whole folder aside to ``DIRECTORY.old-YYYYMMDD-HHMMSS``.

    The folder is then created and marked as a run's (the marker records the run id a fresh
    start gets, :func:`folder_run_id`), and what a killed run left in it is cleaned
    (:func:`clean_interrupted_writes`).
    """
    directory = Path(directory)
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
    elif found or foreign:
        aside = _move_aside(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if run_id is None or folder_run_id(directory) != run_id:
        _mark(directory, run_id or new_run_id())
    clean_interrupted_writes(directory)
    return aside


def _move_aside(directory: Path) -> Path:
    """Rename ``directory`` to ``DIRECTORY.old-YYYYMMDD-HHMMSS`` (a free name); return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = directory.with_name(f"{directory.name}.old-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = directory.with_name(f"{directory.name}.old-{stamp}-{counter}")
    directory.rename(aside)
    return aside
