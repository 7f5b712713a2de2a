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
from bertedu.qa.metrics import normalize_answer

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
#: Function words that say nothing about where an answer is.
STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or is are was were be been being do does did what which "
    "who whom whose when where why how that this these those it its as into than then there their his her "
    "he she they them i you we our your my me not no can could would should may might will shall has have "
    "had about after before during over under between".split())


def first_sentence_answer(context: str) -> str:
    """The first sentence of the passage (pysbd sentence boundaries)."""
    sentences = split_sentences(context)
    return sentences[0] if sentences else ""


def sliding_window_answer(question: str, context: str, window: int = 8, max_span_words: int = 4) -> str:
    """The span of up to ``max_span_words`` passage words with the most question-word support nearby.

    score(span) = sum over distinct question words w found within ``window``
    words of the span of ``log(1 + 1 / count(w in passage))``; spans holding a
    question word or a stopword at either edge are not candidates; ties go to
    the shorter, then the earlier span. Returns the exact characters of the passage.
    """
    words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(context)]
    if not words:
        return ""
    keys = [normalize_answer(text) for text, _, _ in words]
    question_words = {normalize_answer(w) for w in _WORD.findall(question)} - STOPWORDS - {""}
    counts = Counter(keys)
    positions = {w: [i for i, key in enumerate(keys) if key == w] for w in question_words if w in counts}
    weights = {w: math.log(1 + 1 / counts[w]) for w in positions}
    best = (float("-inf"), 0, 0, 0)
    for start in range(len(words)):
        for end in range(start, min(start + max_span_words, len(words))):
            span = keys[start:end + 1]
            if any(key in question_words for key in span) or span[0] in STOPWORDS or span[-1] in STOPWORDS:
                continue
            low, high = start - window, end + window
            score = sum(weight for w, weight in weights.items()
                        if bisect.bisect_left(positions[w], low) < bisect.bisect_right(positions[w], high))
            key = (score, -(end - start), -start)
            if key > best[:3]:
                best = (*key, end)
    if best[0] == float("-inf"):
        return words[0][0]
    start, end = -best[2], best[3]
    return context[words[start][1]:words[end][2]]
