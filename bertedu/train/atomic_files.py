"""Files written atomically, and the temporaries a killed write leaves behind.

Every file of a checkpoint (and the metrics log when it is rewritten) is first
written to a temporary name ``.NAME.tmp-PID``, flushed to disk and moved into
place with ``os.replace`` (atomic on POSIX and Windows): a reader sees the old
file or the new one, never half of one. A process killed between the two
leaves its temporary behind; :func:`remove_stale_temporaries` deletes those
whose process is gone. safetensors itself writes through a temporary
``.tmpXXXXXX`` of its own; the run folder's cleaning (:mod:`bertedu.train.run_folder`)
removes those with the uncommitted checkpoint that holds them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

#: safetensors reports a failed write as text: "... (os error 28) at path ..."
OS_ERROR = re.compile(r"os error (\d+)")

#: ``.NAME.tmp-PID``: what :func:`write_tensors` and :func:`write_json_atomically` write first.
TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")


def sha256_of_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def temporary_name(path: Path) -> Path:
    """Where ``path`` is written before it is moved into place (``.NAME.tmp-PID``)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def replace_atomically(tmp: Path, final: Path) -> None:
    """Flush ``tmp`` to disk, make it readable by all, and move it to ``final`` in one step."""
    with tmp.open("rb+") as file:
        os.fsync(file.fileno())  # the bytes are on disk before the name points at them
    # safetensors creates owner-only files; a shipped checkpoint must be readable
    os.chmod(tmp, 0o644)
    os.replace(tmp, final)


def write_tensors(
    tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None
) -> None:
    """Write ``tensors`` (made contiguous, on the CPU) to the safetensors file ``path``
    atomically."""
    tmp = temporary_name(path)
    try:
        save_file(
            {name: t.detach().contiguous().cpu() for name, t in tensors.items()},
            str(tmp),
            metadata=metadata,
        )
    except SafetensorError as error:  # a full disk is an OSError, as every other write's
        tmp.unlink(missing_ok=True)
        found = OS_ERROR.search(str(error))
        if found is None:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), str(path)) from error
    replace_atomically(tmp, path)


def write_json_atomically(value: Any, path: Path) -> None:
    """Write ``value`` as indented JSON to ``path`` via a temporary file and ``os.replace``."""
    tmp = temporary_name(path)
    tmp.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    replace_atomically(tmp, path)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (True when that cannot be told: its files are kept)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's) or we cannot tell: keep its files
    return True


def live_temporaries(folder: Path) -> list[Path]:
    """The ``.NAME.tmp-PID`` files in ``folder`` whose process still runs."""
    return [
        path
        for path in folder.iterdir()
        if (match := TEMPORARY.match(path.name)) and process_alive(int(match.group(1)))
    ]


def remove_stale_temporaries_in(folder: Path) -> list[Path]:
    """Delete the ``.NAME.tmp-PID`` files in ``folder`` (not below) whose process is gone."""
    removed = []
    for path in folder.iterdir():
        match = TEMPORARY.match(path.name)
        if (
            match
            and path.is_file()
            and not path.is_symlink()
            and not process_alive(int(match.group(1)))
        ):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
