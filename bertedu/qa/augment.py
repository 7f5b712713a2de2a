"""Data augmentation for the readers: cloze questions made from the training passages.

The embedded training set has 739 questions; its passages hold many more
facts. A *cloze question* (Lewis et al. 2019, "Unsupervised Question Answering
by Cloze Translation") turns one sentence into a question by replacing a
phrase with a question word, and the phrase is the answer:

    "The Seventh Seal is a 1957 Swedish film."  ->  "The Seventh Seal is a what year
    Swedish film?"  answer "1957"

:func:`template_questions` uses three kinds of phrase a regular expression can
find: a year (``what year``), another number (``how many``) and a run of
capitalised words that does not start the sentence (``who or what``). The
questions are ungrammatical, but each answer is a real span of its passage
with its exact character offset, so the extractive reader gets more
(question, span) pairs on the same passages. Whether that helps is measured on
the held-out set (``benchmarks/qa_experiments.py --augment``), not assumed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from bertedu.qa.datasets import QAExample

_SENTENCE = re.compile(r"[^.!?]+[.!?]")
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_NUMBER = re.compile(r"\b\d+(?:,\d{3})*(?:\.\d+)?\b")
_NAME = re.compile(r"(?<=[a-z,] )[A-Z][a-z]+(?: [A-Z][a-z]+)*")

#: (what finds the answer, the words that replace it in the question)
TEMPLATES = (
    (_YEAR, "what year"),
    (_NUMBER, "how many"),
    (_NAME, "who or what"),
)


def cloze_questions(context: str) -> list[tuple[str, str, int]]:
    """Every ``(question, answer, answer_start)`` the templates find in ``context``.

    Each answer occurs once per question, at ``answer_start`` (a character
    offset into ``context``); a number that is a year is asked as a year only.
    """
    found = []
    for sentence in _SENTENCE.finditer(context):
        text, offset = sentence.group(), sentence.start()
        lead = len(text) - len(text.lstrip())
        years = {m.span() for m in _YEAR.finditer(text)}
        for pattern, words in TEMPLATES:
            for match in pattern.finditer(text):
                if pattern is _NUMBER and match.span() in years:
                    continue
                question = text[lead : match.start()] + words + text[match.end() : -1] + "?"
                found.append((question.strip(), match.group(), offset + match.start()))
    return found


def template_questions(
    examples: Sequence[QAExample], per_passage: int = 5, seed: int = 0
) -> list[QAExample]:
    """Up to ``per_passage`` cloze questions for each distinct passage of ``examples``.

    Drawn at random (``seed``) from :func:`cloze_questions`; ids are
    ``cloze-<passage number>-<k>``. Passages with no year, number or name give
    none.
    """
    if per_passage < 1:
        raise ValueError(f"per_passage must be at least 1, got {per_passage}")
    rng = random.Random(seed)
    passages = list(dict.fromkeys(example.context for example in examples))
    out = []
    for p, context in enumerate(passages):
        candidates = cloze_questions(context)
        for k, (question, answer, start) in enumerate(
            rng.sample(candidates, min(per_passage, len(candidates)))
        ):
            out.append(QAExample(f"cloze-{p}-{k}", question, context, (answer,), (start,)))
    return out
