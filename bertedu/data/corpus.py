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

from bertedu.data.corpus_digest import corpus_files
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
    """A corpus file's text, UTF-8 with its line endings made ``\\n``; anything else is refused,
    saying what to do.

    A FIFO or a device (``/dev/zero``) is refused before it is opened: reading one waits for
    a writer or never ends. A binary file (more than a third of its visible characters are
    control characters or invalid UTF-8: an image, an archive) is named as such. Bytes that
    are not UTF-8 in a text file (Latin-1, Windows-1252) are named with their offset instead
    of being dropped: "café" silently read as "caf" is a corpus with holes. A byte-order mark
    is skipped. Windows (CRLF) and old Mac (CR) line endings become ``\\n``, so a blank line
    separates documents whatever editor wrote the file.
    """
    if not file.is_file():
        raise ValueError(
            f"{file} is not a regular file (a FIFO, a device or a socket: reading it would wait "
            "or never end). Pass a .txt file or a folder of .txt files."
        )
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        _refuse_binary(file, raw.decode("utf-8", errors="replace"))
        raise ValueError(
            f"{file} is not UTF-8 text (byte {raw[error.start]:#04x} at offset {error.start}; "
            "Latin-1 or Windows-1252?). Save it as UTF-8 (for example: iconv -f latin1 -t utf-8 "
            "OLD.txt > NEW.txt)."
        ) from None
    _refuse_binary(file, text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _refuse_binary(file: Path, text: str) -> None:
    """Raise a ValueError when ``text`` is mostly control characters or U+FFFD: no text at all."""
    visible = [char for char in text if not char.isspace()]
    bad = sum(char == "\ufffd" or unicodedata.category(char) == "Cc" for char in visible)
    if len(visible) >= 64 and bad > len(visible) / 3:
        raise ValueError(
            f"{file} is not a text file ({bad} of its {len(visible)} visible characters are "
            "control characters or invalid UTF-8: an image, archive or other binary file?). "
            "Pass plain UTF-8 .txt files."
        )


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
    files = corpus_files(path)
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
