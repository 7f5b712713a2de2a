"""One writer per folder: an advisory lock held while a process writes a folder.

Two processes writing one run folder (a second ``pretrain`` started by mistake,
an export into a folder a run still writes) would interleave their checkpoints,
metrics and ``run.json``. Every writer of the package claims its folder through
:mod:`bertedu.train.run_folder`, which takes this lock first; a second process is
refused with :class:`FolderInUseError` naming the folder.

The lock is ``flock`` on the folder itself (no lock file is written into a
folder that may turn out not to be ours), so the operating system drops it when
the process ends, ``kill -9`` included: a stale lock cannot outlive its writer.
Within one process the lock is re-entrant: ``pretrain`` claims its folder and
the loop it calls claims it again; the inner claim sees the outer one
(:func:`held_by_caller`) and leaves the folder as the outer claim made it.
Where ``fcntl`` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: no advisory locks)
    fcntl = None  # type: ignore[assignment]


class ExistingRunError(FileExistsError):
    """A run was asked to write into a folder that holds another run or other files."""


class FolderInUseError(ExistingRunError):
    """Another process holds the folder's lock: it is writing there now."""


#: Folders this process has locked: resolved path -> (descriptor, held by a caller's block).
_HELD: dict[Path, tuple[int, bool]] = {}


def _key(directory: Path) -> Path:
    return directory.resolve()


def held_by_caller(directory: str | Path) -> bool:
    """Whether a caller of this process holds ``directory``'s lock in a block
    (:func:`~bertedu.train.run_folder.output_folder`): the folder is claimed already."""
    held = _HELD.get(_key(Path(directory)))
    return held is not None and held[1]


def lock_folder(directory: str | Path, *, scoped: bool = False) -> None:
    """Take ``directory``'s lock for this process; :class:`FolderInUseError` when another
    process holds it.

    ``scoped``: the caller releases it at the end of a block (:func:`release_folder`);
    otherwise it stays until this process claims the folder again or ends (the loop's
    own claims, which have no block to end).
    """
    directory = Path(directory)
    key = _key(directory)
    if key in _HELD:
        fd, was_scoped = _HELD[key]
        _HELD[key] = (fd, scoped or was_scoped)
        return
    if fcntl is None:
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise FolderInUseError(
            f"{directory} is being written by another process (a training run or an export "
            "still running): two writers would mix their files. Wait until it ends, or pick "
            "another output folder."
        ) from None
    _HELD[key] = (fd, scoped)


def release_folder(directory: str | Path) -> None:
    """Drop this process's lock on ``directory`` (nothing when it holds none)."""
    held = _HELD.pop(_key(Path(directory)), None)
    if held is not None:
        os.close(held[0])  # closing the descriptor releases the flock


def release_unscoped(directory: str | Path) -> None:
    """Drop a lock this process kept from an earlier, finished claim (not a caller's block):
    a new claim then checks the folder afresh."""
    if not held_by_caller(directory):
        release_folder(directory)
