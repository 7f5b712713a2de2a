"""Answer candidates: the phrases of a passage that a question could ask for.

A question generator needs an answer to ask about. SQuAD's answers are
mostly names, dates, numbers and short noun phrases (Rajpurkar et al. 2016,
table 2), so :func:`answer_candidates` finds those four kinds with
deterministic rules, no tagger and no download:

* ``date``: ``March 3, 1921``, ``3 March 1921``, ``March 1921`` or a year
  (1000-2099) on its own;
* ``number``: digits (``1,200``, ``3.5``) with the word that counts them
  when one follows (``300 million``, ``12 km``, ``14 species``);
* ``name``: a run of capitalised words, joined by ``of``/``the``/``de``/``da``/
  ``von``/``van``/``and`` inside the run (``University of Oxford``), not
  the lone capitalised first word of a sentence;
* ``phrase``: the two or three words after ``a``/``an``/``the`` up to a stop word
  or punctuation (``the largest city`` -> ``largest city``).

Every candidate is a span of the passage with its character offset, and
:func:`sentence_spans` gives the sentence it sits in (pysbd with character
spans, the splitter of :mod:`bertedu.data.sentences`), so a generator can
read the answer's sentence and a reader the whole passage.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass

import pysbd

KINDS = ("name", "date", "number", "phrase")
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
)
_DATE = re.compile(
    rf"\b(?:{_MONTH} \d{{1,2}}, \d{{3,4}}|\d{{1,2}} {_MONTH} \d{{3,4}}|{_MONTH} \d{{4}})\b"
)
_YEAR = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})\b")
_NUMBER = re.compile(
    r"(?<![\w.,\-–/])\d+(?:,\d{3})*(?:\.\d+)?(?![\w\-–/])(?: (?:million|billion|[a-z]{2,12}))?"
)
_CAPITALISED = r"(?:[A-Z][\w\-]*\w|[A-Z]\.)"
_JOINER = r"(?:of|the|de|da|del|von|van|and|of the|de la)"
_NAME = re.compile(rf"{_CAPITALISED}(?: (?:{_JOINER} )?{_CAPITALISED})*")
_ARTICLE = re.compile(r"\b(?:a|an|the) ((?:[a-z][a-z\-]+ ){0,2}[a-z][a-z\-]+)")
#: Words a noun phrase stops before (and never ends with); also words never asked for.
STOP_WORDS = frozenset(
    """a an the and or but of in on at to for from by with as is are was were be been being
    that which who whom whose this these those it its their his her they he she we you i
    not no than then so such into onto over under about after before during between through
    also only most more many much other same both each all any some one first second
    has have had do does did can could may might will would shall should there here when where
    while if because although though since until upon within without""".split()
)
#: Number words that are not units worth asking with (``1900 and``, ``12 of``).
_NUMBER_TAIL_STOP = STOP_WORDS | {"percent"}
MAX_ANSWER_WORDS = 6


@dataclass(frozen=True)
class Candidate:
    """One answer candidate: its text, where it starts in the passage, and its kind."""

    text: str
    start: int
    kind: str  # one of KINDS

    @property
    def end(self) -> int:
        """One past the last character."""
        return self.start + len(self.text)


@functools.cache
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(passage: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the passage's sentences (stripped of spaces)."""
    spans = []
    for span in _segmenter().segment(passage):
        start, end = span.start, span.end
        while start < end and passage[start].isspace():
            start += 1
        while end > start and passage[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def _numbers(sentence: str) -> list[tuple[str, int]]:
    found = []
    for match in _NUMBER.finditer(sentence):
        text = match.group()
        number, _, tail = text.partition(" ")
        if tail and tail in _NUMBER_TAIL_STOP:
            text = number
        if len(text) == 1:  # a lone digit: list items, "1 of 5"
            continue
        found.append((text, match.start()))
    return found


def _names(sentence: str) -> list[tuple[str, int]]:
    found = []
    for match in _NAME.finditer(sentence):
        text = match.group().removesuffix("'s").rstrip(".")
        at_start = match.start() == 0
        if at_start and " " not in text:  # "The", "In": a sentence's first word
            continue
        if at_start and text.split(" ", 1)[0].lower() in STOP_WORDS:
            text = text.split(" ", 1)[1]
            found.append((text, match.start() + match.group().index(text)))
            continue
        found.append((text, match.start()))
    return found


def _phrases(sentence: str) -> list[tuple[str, int]]:
    found = []
    for match in _ARTICLE.finditer(sentence):
        words = match.group(1).split(" ")
        while words and words[-1] in STOP_WORDS:
            words.pop()
        for position, word in enumerate(words):
            if word in STOP_WORDS:
                words = words[:position]
                break
        if len(words) >= 2:  # "the pinnacle": one word alone asks for too little
            found.append((" ".join(words), match.start(1)))
    return found


def answer_candidates(passage: str) -> list[Candidate]:
    """Every candidate answer in ``passage``, in passage order (a span counts once, with its
    first kind in the order date, number, name, phrase).

    Each ``passage[c.start : c.end] == c.text``; answers longer than
    :data:`MAX_ANSWER_WORDS` words, stop words alone and candidates that
    overlap an earlier kind's span are left out.
    """
    out: list[Candidate] = []
    taken: list[tuple[int, int]] = []
    for start, end in sentence_spans(passage):
        sentence = passage[start:end]
        dates = [(m.group(), m.start()) for m in _DATE.finditer(sentence)]
        years = [(m.group(), m.start()) for m in _YEAR.finditer(sentence)]
        finders = (
            ("date", dates + years),
            ("number", _numbers(sentence)),
            ("name", _names(sentence)),
            ("phrase", _phrases(sentence)),
        )
        for kind, found in finders:
            for text, offset in found:
                first, last = start + offset, start + offset + len(text)
                if len(text.split()) > MAX_ANSWER_WORDS or text.lower() in STOP_WORDS:
                    continue
                if any(first < b and a < last for a, b in taken):
                    continue
                taken.append((first, last))
                out.append(Candidate(text, first, kind))
    return sorted(out, key=lambda c: (c.start, c.end))


def choose_candidates(candidates: list[Candidate], count: int, seed: str) -> list[Candidate]:
    """Up to ``count`` candidates with distinct answer texts, the kinds taken in turn.

    The order within each kind, and the order of the kinds, are drawn with
    ``random.Random(seed)`` (a string seed: the same on every machine and
    Python run), so a passage always gets the same choice.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = random.Random(seed)
    by_kind = {kind: [c for c in candidates if c.kind == kind] for kind in KINDS}
    for group in by_kind.values():
        rng.shuffle(group)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    chosen: list[Candidate] = []
    seen: set[str] = set()
    while len(chosen) < count and any(by_kind.values()):
        for kind in kinds:
            while by_kind[kind]:
                candidate = by_kind[kind].pop()
                if candidate.text.lower() not in seen:
                    seen.add(candidate.text.lower())
                    chosen.append(candidate)
                    break
            if len(chosen) == count:
                break
    return sorted(chosen, key=lambda c: c.start)


def sentence_of(passage: str, start: int, end: int) -> tuple[int, int]:
    """The ``(start, end)`` of the sentence holding characters ``[start, end)`` (the whole
    passage when they cross a sentence boundary)."""
    for first, last in sentence_spans(passage):
        if first <= start and end <= last:
            return first, last
    return 0, len(passage)
