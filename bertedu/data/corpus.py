"""Documents to pretrain on, by name: ``load_corpus("embedded" | "mix:NAME" | "wikitext-2" |
"wikitext-103" | PATH)``, and local text files.

Each source lives in its own module (the embedded Wikipedia leads in
:mod:`bertedu.data.embedded`, the multi-source mixes in :mod:`bertedu.data.sources`,
WikiText in :mod:`bertedu.data.wikitext`), all yielding the
:class:`~bertedu.data.documents.Document` of :mod:`bertedu.data.documents`. This
module stands above them and imports them; none of them imports it. The names the
book imports from here (``Document``, ``WIKIPEDIA_ATTRIBUTION``,
``load_embedded_wikipedia``, ...) are re-exported.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from bertedu.data.documents import Document, evenly_spread, require_documents
from bertedu.data.embedded import (
    WIKIPEDIA_ATTRIBUTION,
    embedded_wikipedia_path,
    load_embedded_wikipedia,
)
from bertedu.data.sentences import split_many
from bertedu.data.sources import load_mix
from bertedu.data.wikitext import load_wikitext

__all__ = [
    "WIKIPEDIA_ATTRIBUTION",
    "Document",
    "embedded_wikipedia_path",
    "load_corpus",
    "load_embedded_wikipedia",
    "load_text_documents",
    "require_documents",
]

_DOCUMENT_BREAK = re.compile(r"\n[ \t]*\n")


def read_text_file(file: Path) -> str:
    """A corpus file's text; a binary file is refused, saying so.

    Decoding uses ``errors="replace"``: one bad byte should not lose a corpus, and
    ``clean_text`` drops the U+FFFD (and a stray NUL) it leaves. A file where more than
    a third of the visible characters are control characters or invalid UTF-8 is no
    text at all (an image, an archive): reading it would give a corpus of garbage.
    """
    text = file.read_bytes().decode("utf-8", errors="replace")
    visible = [char for char in text if not char.isspace()]
    bad = sum(char == "\ufffd" or unicodedata.category(char) == "Cc" for char in visible)
    if len(visible) >= 64 and bad > len(visible) / 3:
        raise ValueError(
            f"{file} is not a text file ({bad} of its {len(visible)} visible characters are "
            "control characters or invalid UTF-8: an image, archive or other binary file?). "
            "Pass plain UTF-8 .txt files."
        )
    return text


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
        chunks = _DOCUMENT_BREAK.split(read_text_file(file))
        for number, chunk in enumerate(chunk for chunk in chunks if chunk.strip()):
            texts.append(chunk)
            titles.append(f"{file.name}#{number}")
    documents = [
        Document(tuple(doc), title, "", str(path))
        for title, doc in zip(titles, split_many(texts, num_proc=num_proc), strict=True)
        if doc
    ]
    return require_documents(documents, f"{path} ({len(files)} .txt file(s))")


def load_corpus(name: str, *, limit: int | None = None, num_proc: int = 1) -> list[Document]:
    """Documents of ``embedded``, ``mix:NAME`` (a multi-source mix of :mod:`bertedu.data.sources`,
    e.g. ``mix:prose``), ``wikitext-2``, ``wikitext-103`` or a path to ``.txt`` files."""
    if name == "embedded":
        return load_embedded_wikipedia(limit, num_proc=num_proc)
    if name.startswith("mix:"):
        return evenly_spread(load_mix(name.removeprefix("mix:"), num_proc=num_proc), limit)
    if name in ("wikitext-2", "wikitext-103"):
        return load_wikitext(f"{name}-raw-v1", limit=limit, num_proc=num_proc)
    if Path(name).expanduser().exists():
        documents = load_text_documents(name, num_proc=num_proc)
        return documents[:limit] if limit else documents
    if name.endswith(".txt") or "/" in name or "\\" in name:
        raise FileNotFoundError(
            f"The corpus file {name!r} does not exist; pass an existing .txt file or a folder of "
            ".txt files (or embedded, mix:NAME, wikitext-2, wikitext-103)."
        )
    raise ValueError(
        f"Unknown corpus {name!r}: use embedded, mix:NAME, wikitext-2, wikitext-103, or a path "
        "to a .txt file or a folder of .txt files."
    )
