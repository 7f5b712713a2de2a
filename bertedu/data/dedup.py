"""Deduplication across sources: repeated paragraphs and near-duplicate documents.

Free text collections copy each other: FOLDOC contains most of the Jargon File, the Python
docstrings repeat the documentation, the Factbook repeats its own boilerplate. A held-out
document whose text was trained on under another name is not held out, so the mix drops
text that appeared earlier: exact paragraphs (after lower-casing and dropping punctuation)
and documents most of whose word 8-grams were seen before, found with a deterministic
sample of the 8-grams' CRC32 (MinHash-style containment, without the quadratic comparison).
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

_NON_WORD = re.compile(r"[^\w]+")


def normalise_paragraph(text: str) -> str:
    """The key two copies of a paragraph share: lower case, words only, single spaces."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def _sampled_shingles(words: list[str], size: int, every: int) -> set[int]:
    # A deterministic 1-in-`every` sample of the document's word n-grams (by their CRC32),
    # so two documents share sampled shingles in proportion to the n-grams they share.
    shingles = set()
    for start in range(len(words) - size + 1):
        value = zlib.crc32(" ".join(words[start : start + size]).encode())
        if value % every == 0:
            shingles.add(value)
    return shingles


@dataclass
class DedupStats:
    """What deduplication removed, per source (counts of paragraphs, documents and words)."""

    paragraphs_in: Counter = field(default_factory=Counter)
    duplicate_paragraphs: Counter = field(default_factory=Counter)
    duplicate_paragraphs_of: Counter = field(default_factory=Counter)  # (source, earlier one)
    documents_in: Counter = field(default_factory=Counter)
    near_duplicate_documents: Counter = field(default_factory=Counter)
    near_duplicate_documents_of: Counter = field(default_factory=Counter)
    short_documents: Counter = field(default_factory=Counter)


def deduplicate(
    sources: Sequence[tuple[str, Sequence[T]]],
    *,
    min_words: int = 8,
    min_duplicate_words: int = 6,
    shingle_size: int = 8,
    sample_every: int = 4,
    near_duplicate_share: float = 0.5,
) -> tuple[list[tuple[str, T]], DedupStats]:
    """Drop repeated paragraphs, then near-empty and near-duplicate documents, in mix order.

    ``sources`` is ``(source name, documents)`` pairs in priority order; a document is any
    dataclass with ``paragraphs`` (a tuple of paragraphs, each a tuple of sentences). A
    paragraph of at least ``min_duplicate_words`` words whose normalised text appeared earlier
    (in any source) is removed: shorter ones ('"Yes," said he.') repeat by chance. A document
    left with fewer than ``min_words`` words is dropped, and so is one whose sampled word
    ``shingle_size``-grams are at least ``near_duplicate_share`` shared with earlier documents
    (an entry copied with small edits). Returns the kept ``(source, document)`` pairs.
    """
    stats = DedupStats()
    first_source: dict[str, str] = {}  # paragraph key -> source that had it first
    shingle_source: dict[int, str] = {}
    kept = []
    for name, documents in sources:
        for doc in documents:
            stats.documents_in[name] += 1
            paragraphs = []
            for paragraph in doc.paragraphs:
                stats.paragraphs_in[name] += 1
                key = normalise_paragraph(" ".join(paragraph))
                if key.count(" ") + 1 < min_duplicate_words:
                    paragraphs.append(paragraph)
                    continue
                if key in first_source:
                    stats.duplicate_paragraphs[name] += 1
                    stats.duplicate_paragraphs_of[(name, first_source[key])] += 1
                    continue
                first_source[key] = name
                paragraphs.append(paragraph)
            words = normalise_paragraph(" ".join(s for p in paragraphs for s in p)).split()
            if len(words) < min_words:
                stats.short_documents[name] += 1
                continue
            shingles = _sampled_shingles(words, shingle_size, sample_every)
            seen = Counter(shingle_source[s] for s in shingles if s in shingle_source)
            if shingles and sum(seen.values()) >= near_duplicate_share * len(shingles):
                stats.near_duplicate_documents[name] += 1
                stats.near_duplicate_documents_of[(name, seen.most_common(1)[0][0])] += 1
                continue
            for shingle in shingles:
                shingle_source.setdefault(shingle, name)
            kept.append((name, dataclasses.replace(doc, paragraphs=tuple(paragraphs))))
    return kept, stats
