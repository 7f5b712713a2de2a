"""Cloze-question augmentation: real spans with exact offsets, a fixed number per passage."""

from __future__ import annotations

import pytest

from bertedu.qa.augment import cloze_questions, template_questions
from bertedu.qa.datasets import QAExample

CONTEXT = "The Seventh Seal is a 1957 Swedish film. It has 12 actors."


def test_cloze_questions_replace_the_answer_with_a_question_word():
    found = cloze_questions(CONTEXT)
    assert ("The Seventh Seal is a what year Swedish film?", "1957", 22) in found
    assert ("It has how many actors?", "12", CONTEXT.index("12")) in found
    assert ("The who or what is a 1957 Swedish film?", "Seventh Seal", 4) in found
    assert not any(answer == "1957" and "how many" in q for q, answer, _ in found)  # a year
    for _, answer, start in found:
        assert CONTEXT[start : start + len(answer)] == answer


def test_template_questions_per_passage_are_extractive_and_reproducible():
    examples = [
        QAExample("a", "Q?", CONTEXT, ("1957",), (22,)),
        QAExample("b", "Q2?", CONTEXT, ("12",), (CONTEXT.index("12"),)),
        QAExample("c", "Q?", "no facts here.", ("no",), (0,)),
    ]
    made = template_questions(examples, per_passage=2, seed=3)
    assert len(made) == 2 and all(e.context == CONTEXT and e.is_extractive for e in made)
    assert made == template_questions(examples, per_passage=2, seed=3)
    assert len({e.id for e in made}) == 2
    with pytest.raises(ValueError, match="at least 1"):
        template_questions(examples, per_passage=0)
