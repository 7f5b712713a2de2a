"""An output path a run can write to, checked before anything is made there.

Two spellings of ``--output`` fail deep inside ``mkdir`` with a raw ``OSError``: a symbolic
link whose target is gone (``File exists``: the link is there, the folder is not) and a
name longer than a file system allows in one name (``File name too long``, after the
folders above it were made). :func:`check_output_path` refuses both first, saying what to
do; the folder claim (:func:`bertedu.train.run_folder.claim_output_folder`) calls it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The most bytes one name in a path may have (Linux's NAME_MAX, on every common file system).
NAME_MAX = 255


class OutputPathError(ValueError):
    """The output path cannot be a folder on this file system (a name too long)."""


def check_output_path(directory: Path) -> None:
    """Refuse an output path no run can make: a name of more than :data:`NAME_MAX` bytes
    (:class:`OutputPathError`), or a symbolic link to nothing (``FileNotFoundError``)."""
    for name in directory.parts:
        size = len(os.fsencode(name))
        if size > NAME_MAX:
            shown = name if len(name) <= 40 else f"{name[:20]}...{name[-10:]}"
            raise OutputPathError(
                f"The output folder's name {shown!r} is too long for a file system: {size} "
                f"bytes, where one name may have at most {NAME_MAX} bytes. Pick a shorter "
                "--output (output_dir / checkpoint_dir)."
            )
    if directory.is_symlink() and not directory.exists():
        raise FileNotFoundError(
            f"The output folder {directory} is a symbolic link to {os.readlink(directory)}, "
            "which does not exist: a run cannot write there. Create the folder it leads to, "
            "remove the link, or pick another --output (output_dir / checkpoint_dir)."
        )
