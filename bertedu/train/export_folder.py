"""A folder an export writes (the shipped model, the browser model): claimed like a run's.

``scripts/export_pretrained.py`` and ``scripts/export_onnx.py`` write a handful of files
with common names (``config.json``, ``manifest.json``, ``MODEL_CARD.md``) into a folder
the user names. :func:`export_folder` claims it the way :mod:`bertedu.train.run_folder`
claims a run's:

* a folder that is not empty is written only when the export made it before (its own
  manifest says so: ``recognised(folder)``); a user's folder is refused, untouched;
* the folder is locked while the export writes (a second writer is refused);
* everything is written into a staging folder inside it, ``.export.tmp-PID/``, so that
  even an intermediate file (the raw ONNX graph) has a temporary name; only when the
  export succeeds are the files moved into place, one ``os.replace`` each, and a failed
  export leaves the folder as it was. Staging folders of dead processes are removed;
* files of the folder that the export does not write (a user's ``NOTES.txt``) stay.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bertedu.train.atomic_files import TEMPORARY, process_alive
from bertedu.train.folder_lock import ExistingRunError, lock_folder, release_folder
from bertedu.train.run_folder import check_no_links_out

STAGING = ".export"


def _stale_staging(directory: Path) -> list[Path]:
    """Staging folders of exports whose process is gone."""
    return [
        path
        for path in directory.iterdir()
        if path.is_dir()
        and not path.is_symlink()
        and (match := TEMPORARY.match(path.name))
        and path.name.startswith(f"{STAGING}.tmp-")
        and not process_alive(int(match.group(1)))
    ]


@contextmanager
def export_folder(
    directory: str | Path, *, recognised: Callable[[Path], bool], what: str
) -> Iterator[Path]:
    """Claim ``directory`` for an export and yield the staging folder to write into.

    ``recognised(directory)`` says whether a non-empty folder was made by this export (its
    manifest); ``what`` names the export in messages. When the block ends without an error,
    every file of the staging folder replaces its namesake in ``directory``; on an error the
    staging folder is removed and ``directory`` is as it was.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} is a file; pass a folder for {what}.")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    lock_folder(directory, scoped=True)
    try:
        for stale in _stale_staging(directory):
            shutil.rmtree(stale)
        if any(directory.iterdir()) and not recognised(directory):
            names = sorted(p.name for p in directory.iterdir())
            shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
            raise ExistingRunError(
                f"{directory} is not empty ({shown}) and was not made by {what} (it has no "
                "manifest of it): writing there would replace those files. Pick a new or "
                "empty folder, or move these files away."
            )
        staging = directory / f"{STAGING}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            yield staging
            check_no_links_out(directory, tuple(p.name for p in staging.iterdir()))
            for path in sorted(staging.iterdir()):
                os.replace(path, directory / path.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        release_folder(directory)
        if created and not any(directory.iterdir()):
            directory.rmdir()  # a failed export leaves no empty folder behind
