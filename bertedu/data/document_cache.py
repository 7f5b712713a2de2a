"""A corpus read and split into sentences once, then memory-mapped from an Arrow file.

Sentence splitting is the slow step of data preparation (WikiText-103: about
90 core-minutes of pysbd). :func:`cached_corpus` does it once and stores the
documents under ``cache_dir`` with ``datasets.Dataset.save_to_disk``; a later
call (another run, or another process of the same ``torchrun`` job) opens the
stored Arrow file, which the operating system maps into memory and shares
between processes, instead of splitting the corpus again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from datasets import Dataset, load_from_disk

from bertedu.data.corpus import load_corpus
from bertedu.data.corpus_digest import corpus_digest
from bertedu.data.documents import Document

CACHE_VERSION = 1  # bump when the splitting or the stored layout changes


def corpus_key(name: str, limit: int | None) -> str:
    """A file name for the corpus ``name`` (``limit`` documents): stable across runs and processes.

    A local path's key is the digest of its files' bytes
    (:func:`~bertedu.data.corpus_digest.corpus_digest`), not its spelling, sizes or
    modification times: any edit is split again, and the same bytes named from another
    working folder (or moved) share the split.
    """
    digest = corpus_digest(name)
    parts: list = [CACHE_VERSION, name if digest is None else digest, limit]
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).name)[:40]
    return f"documents-{safe}-{key}"


def save_documents(documents: list[Document], folder: Path) -> None:
    """Store documents as an Arrow dataset in ``folder``, atomically (a half-written cache is
    never read: the data goes to a temporary folder that is renamed at the end, and removed
    when writing fails)."""
    columns = {
        "sentences": [list(d.sentences) for d in documents],
        "title": [d.title for d in documents],
        "topic": [d.topic for d in documents],
        "source": [d.source for d in documents],
    }
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        Dataset.from_dict(columns).save_to_disk(str(partial))
    except BaseException:  # a full disk, Ctrl-C: the half-written copy would only take space
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def load_documents(folder: Path) -> list[Document]:
    """Documents stored by :func:`save_documents` (the Arrow file is memory-mapped)."""
    dataset = load_from_disk(str(folder))
    return [
        Document(tuple(row["sentences"]), row["title"], row["topic"], row["source"])
        for row in dataset
    ]


def cached_corpus(
    name: str,
    *,
    limit: int | None = None,
    num_proc: int = 1,
    cache_dir: str | Path | None = None,
) -> list[Document]:
    """:func:`bertedu.data.corpus.load_corpus`, split once and then read from ``cache_dir``.

    Without ``cache_dir`` it is ``load_corpus`` itself. Under ``torchrun`` call
    it inside :func:`bertedu.train.distributed.main_process_first`: rank 0 splits
    and writes, the other processes read what rank 0 wrote.
    """
    if cache_dir is None:
        return load_corpus(name, limit=limit, num_proc=num_proc)
    folder = Path(cache_dir) / corpus_key(name, limit)
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        save_documents(load_corpus(name, limit=limit, num_proc=num_proc), folder)
    return load_documents(folder)
