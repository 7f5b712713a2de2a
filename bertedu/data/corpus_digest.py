"""A local corpus named by its content: the files it is read from and a digest of their bytes.

A corpus given as a path is known by what it holds, not by how its path is spelled or when
it was last touched: the sentence-split cache is keyed on the digest (an edit that keeps a
file's size and modification time is still seen), and a resumed pretraining run compares it
with the one its checkpoint recorded (the same bytes moved elsewhere, or named from another
working folder, resume; changed bytes are refused before any data is prepared).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Corpus names that are not paths (``mix:NAME`` neither): :func:`corpus_digest` is None.
NAMED_CORPORA = ("embedded", "wikitext-2", "wikitext-103")


def is_corpus_path(name: str) -> bool:
    """Whether ``--corpus`` names files (a path, existing or not) rather than a named corpus."""
    return name not in NAMED_CORPORA and not name.startswith("mix:")


def corpus_files(path: Path) -> list[Path]:
    """The files a corpus path is read from: itself, or every ``*.txt`` under a folder (sorted,
    recursive)."""
    return sorted(path.rglob("*.txt")) if path.is_dir() else [path]


def file_digest(path: Path) -> str:
    """BLAKE2b (128 bits) of a file's bytes, read in blocks of 1 MiB (a large corpus is never
    held in memory twice)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def corpus_digest(name: str) -> str | None:
    """``blake2b:<hex>`` of a local corpus's files (their paths inside the corpus and their
    bytes); None for a named corpus or a path that does not exist.

    Only regular files are read: a FIFO or a device is left to the corpus reader, which
    refuses it with a message (reading one here would wait or never end).
    """
    path = Path(name).expanduser()
    if not is_corpus_path(name) or not path.exists():
        return None
    digest = hashlib.blake2b(digest_size=16)
    for file in corpus_files(path):
        relative = file.relative_to(path).as_posix() if file != path else ""
        content = file_digest(file) if file.is_file() else "not a regular file"
        digest.update(f"{relative}\0{content}\n".encode())
    return f"blake2b:{digest.hexdigest()}"
