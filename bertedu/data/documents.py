"""A document, the unit every corpus yields: sentences plus where they came from.

BERT pretrained on BooksCorpus and English Wikipedia, as *documents*: NSP
negatives must come from another document, so a corpus that forgets where one
document ends and the next begins cannot make honest pairs. Every source of
:mod:`bertedu.data` (the embedded Wikipedia leads, WikiText, the multi-source
mixes, local text files) yields :class:`Document` objects. This module imports
nothing else of :mod:`bertedu.data`, so each of them can import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """One document: its sentences (plain text, tokenized later) and where it came from."""

    sentences: tuple[str, ...]
    title: str = ""
    topic: str = ""
    source: str = ""


def evenly_spread(items: list, limit: int | None) -> list:
    """``limit`` of ``items`` taken every k-th (all of them when ``limit`` is None or larger).

    Sources are sorted by title; every k-th entry keeps a subset's topics as mixed as the whole.
    """
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise ValueError(f"limit must be a positive number of documents or None, got {limit}")
    step = len(items) / limit
    return [items[math.floor(index * step)] for index in range(limit)]


def require_documents(documents: list[Document], where: str) -> list[Document]:
    """Return ``documents``, or raise a ValueError saying what to do when there are none."""
    if not documents:
        raise ValueError(
            f"No documents with any text in {where}. Put plain text in .txt files, with a blank "
            "line between documents, or use bertedu.data.corpus.load_embedded_wikipedia() for the "
            "embedded corpus."
        )
    return documents
