"""Clean raw text and split it into sentences.

NSP pairs are built from whole sentences, so the splitter matters: splitting on
every "." (as naive code does) cuts "Dr. Smith", "3.14" and "J. R. R. Tolkien"
into fragments, and the model would then learn that a "next sentence" may start
mid-phrase. pysbd (Sadvilkar and Neumann 2020) is a rule-based splitter that
handles abbreviations, decimals and initials, and needs no model download.
"""

from __future__ import annotations

import functools
import multiprocessing
import re
import unicodedata
from collections.abc import Sequence

import pysbd
import torch

_WHITESPACE = re.compile(r"\s+")


def _is_control(char: str) -> bool:
    # Same rule as BERT's BasicTokenizer: Unicode categories Cc (controls such as NUL or
    # ESC) and Cf (format: zero-width spaces, soft hyphens, direction marks) carry no text.
    return unicodedata.category(char) in ("Cc", "Cf") and char not in "\t\n\r"


def clean_text(text: str) -> str:
    """NFC-normalise, drop control/format characters and U+FFFD, and collapse whitespace to single
    spaces."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(char for char in text if char != "\ufffd" and not _is_control(char))
    return _WHITESPACE.sub(" ", text).strip()


#: The most characters pysbd is given at once. Its work on one text grows with the square of
#: the text's length (each abbreviation it finds rescans the whole text, and so does the search
#: for each sentence's offset: 40,000 unpunctuated words took 36 s); in pieces of at most this
#: many characters it is linear. Every paragraph of the shipped sources is shorter (the
#: longest, in Austen, has 14,653), so their sentences are those of a single call.
WINDOW = 20_000


@functools.cache
def _segmenter(language: str) -> pysbd.Segmenter:
    # clean=False: keep the text as it is (pysbd's cleaner rewrites it); char_span=True: each
    # sentence with its offset, where the next piece starts. Building a Segmenter compiles
    # many rules, so one per language is reused.
    return pysbd.Segmenter(language=language, clean=False, char_span=True)


def _piece_end(text: str, start: int) -> int:
    """Where the piece of ``text`` from ``start`` ends: the text's end, or the last space
    within :data:`WINDOW` characters (a word longer than that is cut)."""
    if len(text) - start <= WINDOW:
        return len(text)
    space = text.rfind(" ", start + 1, start + WINDOW)
    return space if space > start else start + WINDOW


def split_sentences(text: str, language: str = "en") -> list[str]:
    """The sentences of ``text`` after :func:`clean_text`, stripped, none empty.

    A text longer than :data:`WINDOW` is split a piece at a time: pysbd splits a window,
    every sentence but the last is kept, and the next window starts where that last one
    did, so each boundary is decided with the text on both sides of it, as in one call. A
    window holding a single sentence (no boundary in :data:`WINDOW` characters) is kept
    whole, cut between two words. One decision of pysbd is not local: it never splits
    inside a quotation, however long, so a quotation that crosses a window's edge is split
    where a single call would have kept it as one "sentence" of thousands of characters.
    """
    text = clean_text(text)
    segmenter = _segmenter(language)
    found: list[str] = []
    start = 0
    while start < len(text):
        end = _piece_end(text, start)
        spans = segmenter.segment(text[start:end])
        if end < len(text) and len(spans) > 1 and spans[-1].start > 0:  # > 0: always advance
            spans, start = spans[:-1], start + spans[-1].start
        else:
            start = end
        found += [span.sent.strip() for span in spans]
    return [sentence for sentence in found if sentence]


def pool_start_method() -> str:
    """How to start the sentence-splitting processes: ``fork`` while that is safe, else ``spawn``.

    Forking is the fast way (the children share the parent's memory and imports),
    but a process that has started CUDA or joined a ``torch.distributed`` group
    (NCCL, gloo) has threads and driver state that a fork copies half-way: the
    children can hang or crash. Then the pool is started with ``spawn``: fresh
    interpreters that import only this module.
    """
    cuda_started = torch.cuda.is_available() and torch.cuda.is_initialized()
    group_started = torch.distributed.is_available() and torch.distributed.is_initialized()
    if cuda_started or group_started or "fork" not in multiprocessing.get_all_start_methods():
        return "spawn"
    return "fork"


def split_many(texts: Sequence[str], *, num_proc: int = 1) -> list[list[str]]:
    """:func:`split_sentences` over many texts, in ``num_proc`` processes (pysbd is pure Python:
    ~0.2 MB/s a core)."""
    if num_proc <= 1 or len(texts) < 100:
        return [split_sentences(text) for text in texts]
    with multiprocessing.get_context(pool_start_method()).Pool(num_proc) as pool:
        return pool.map(split_sentences, texts, chunksize=max(1, len(texts) // (8 * num_proc)))
