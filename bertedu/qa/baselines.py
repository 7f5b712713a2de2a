"""Baselines that answer without learning anything: what a QA model must beat.

* :func:`first_sentence_answer`: the passage's first sentence (Wikipedia leads
  often say the main fact first).
* :func:`sliding_window_answer`: a word-overlap reader in the spirit of the
  sliding-window baseline of Richardson et al. (2013) used in the SQuAD paper:
  a short span of the passage scores the question words found near it (rare
  passage words count more), and spans that repeat question words are
  skipped (the answer to "Who developed BERT?" is not "BERT").
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter

from bertedu.data.sentences import split_sentences

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
#: Function words that say nothing about where an answer is.
STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or is are was were be been being do does did "
    "what which who whom whose when where why how that this these those it its as into than then "
    "there their his her he she they them i you we our your my me not no can could would should "
    "may might will shall has have "
    "had about after before during over under between".split()
)


def first_sentence_answer(context: str) -> str:
    """The first sentence of the passage (pysbd sentence boundaries)."""
    sentences = split_sentences(context)
    return sentences[0] if sentences else ""


def _candidate_spans(blocked: list[bool], max_span_words: int) -> list[tuple[int, int]]:
    """Maximal runs of unblocked words (longer runs: every sub-run of ``max_span_words``)."""
    spans, start = [], None
    for i, is_blocked in enumerate([*blocked, True]):
        if not is_blocked and start is None:
            start = i
        elif is_blocked and start is not None:
            length = i - start
            if length <= max_span_words:
                spans.append((start, i - 1))
            else:
                spans.extend(
                    (s, s + max_span_words - 1) for s in range(start, i - max_span_words + 1)
                )
            start = None
    return spans


def sliding_window_answer(
    question: str, context: str, window: int = 4, max_span_words: int = 4
) -> str:
    """The run of passage words with the most question-word support nearby.

    Candidates are maximal runs of words that are neither stopwords nor
    question words (runs longer than ``max_span_words`` give every sub-run of
    that length): "Ingmar Bergman", "Max von Sydow". A candidate scores
    ``log(1 + 1 / count(w in passage))`` for each distinct question word w
    found within ``window`` words of it; ties go to the candidate closest to
    the question words it matched. Returns the exact characters of the passage.
    """
    words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(context)]
    if not words:
        return ""
    keys = [text.lower() for text, _, _ in words]
    question_words = {w.lower() for w in _WORD.findall(question)} - STOPWORDS
    counts = Counter(keys)
    positions = {
        w: [i for i, key in enumerate(keys) if key == w] for w in question_words if w in counts
    }
    weights = {w: math.log(1 + 1 / counts[w]) for w in positions}
    blocked = [key in STOPWORDS or key in question_words for key in keys]
    best, best_key = None, None
    for start, end in _candidate_spans(blocked, max_span_words):
        matched, distance = [], 0
        for w, weight in weights.items():
            near = [
                p
                for p in positions[w][
                    bisect.bisect_left(positions[w], start - window) : bisect.bisect_right(
                        positions[w], end + window
                    )
                ]
            ]
            if near:
                matched.append(weight)
                distance += min(min(abs(p - start), abs(p - end)) for p in near)
        # fsum is exact, so the score (and a tie) does not depend on the order in which the
        # set of question words is visited, which changes with Python's hash seed.
        key = (math.fsum(matched), -distance, -start)
        if best_key is None or key > best_key:
            best, best_key = (start, end), key
    if best is None:
        return ""
    return context[words[best[0]][1] : words[best[1]][2]]
