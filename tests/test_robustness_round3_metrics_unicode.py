"""SQuAD EM/F1 and ROUGE-L against Unicode (issue 35, item 5): the official score stays the
official script's, bit for bit; an opt-in variant compares answers after NFKC and without
invisible format characters; ROUGE-L reads every script without spaces by character."""

from __future__ import annotations

import re
import string
from collections import Counter

import pytest

from bertedu.qa.metrics import (
    exact_match_score,
    f1_score,
    normalize_answer,
    squad_em_f1,
)


# The official SQuAD v1.1 evaluation script's functions (evaluate-v1.1.py), verbatim but for
# names and line breaks: the oracle that squad_em_f1's default must match exactly.
def official_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def official_exact_match_score(prediction, ground_truth):
    return official_normalize_answer(prediction) == official_normalize_answer(ground_truth)


# (prediction, reference, official EM, official F1, normalised EM, normalised F1)
UNICODE_CASES = {
    # Full-width digits (U+FF11...) are other characters to the official script; NFKC folds
    # them into ASCII digits.
    "full-width digits": ("in １９６９", "1969", 0.0, 0.0, 0.0, 2 / 3),
    "full-width answer": ("１９６９", "1969", 0.0, 0.0, 1.0, 1.0),
    # The ligature "ﬁ" (U+FB01) is one character: "ﬁnance" is not "finance" officially.
    "ligature": ("ﬁnance minister", "finance minister", 0.0, 0.5, 1.0, 1.0),
    # A zero-width space or joiner inside a word splits nothing officially but makes the
    # word another string.
    "zero-width space": ("Bei\u200bjing", "Beijing", 0.0, 0.0, 1.0, 1.0),
    "zero-width joiner": ("Ingmar Berg\u200dman", "Ingmar Bergman", 0.0, 0.5, 1.0, 1.0),
    "byte-order mark": ("\ufeffParis", "Paris", 0.0, 0.0, 1.0, 1.0),
    # "é" as one code point (U+00E9) against "e" + combining acute (U+0301): the same letter.
    "combining accent": ("Emily Bronte\u0308", "Emily Brontë", 0.0, 0.5, 1.0, 1.0),
    "combining accent, one word": ("cafe\u0301", "café", 0.0, 0.0, 1.0, 1.0),
    # NFKC does not strip accents: "cafe" and "café" stay different words.
    "accent kept": ("cafe", "café", 0.0, 0.0, 0.0, 0.0),
    # Full-width punctuation becomes ASCII punctuation, which SQuAD then deletes.
    "full-width punctuation": ("Paris！", "Paris", 0.0, 0.0, 1.0, 1.0),
}


@pytest.mark.parametrize("case", UNICODE_CASES, ids=list(UNICODE_CASES))
def test_default_is_the_official_script_and_the_unicode_variant_folds(case):
    prediction, reference, em, f1, unicode_em, unicode_f1 = UNICODE_CASES[case]
    assert normalize_answer(prediction) == official_normalize_answer(prediction)
    assert exact_match_score(prediction, reference) == official_exact_match_score(
        prediction, reference
    )
    assert f1_score(prediction, reference) == official_f1_score(prediction, reference)
    assert (exact_match_score(prediction, reference), f1_score(prediction, reference)) == (
        pytest.approx(em),
        pytest.approx(f1),
    )
    assert exact_match_score(prediction, reference, unicode=True) == pytest.approx(unicode_em)
    assert f1_score(prediction, reference, unicode=True) == pytest.approx(unicode_f1)


def test_the_evaluate_module_takes_the_same_option():
    evaluate = pytest.importorskip("evaluate")
    from bertedu.metrics import metric_path

    metric = evaluate.load(metric_path("squad_em_f1"))
    official = metric.compute(predictions=["１９６９"], references=[["1969"]])
    folded = metric.compute(predictions=["１９６９"], references=[["1969"]], unicode=True)
    assert (official["exact_match"], folded["exact_match"]) == (0.0, 100.0)


def test_squad_em_f1_is_official_by_default_and_normalised_on_request():
    predictions = {"a": "１９６９", "b": "Bei\u200bjing", "c": "Paris"}
    references = {"a": ["1969"], "b": ["Beijing"], "c": ["Paris"]}
    assert squad_em_f1(predictions, references) == {
        "exact_match": pytest.approx(100 / 3),
        "f1": pytest.approx(100 / 3),
    }
    assert squad_em_f1(predictions, references, unicode=True) == {
        "exact_match": 100.0,
        "f1": 100.0,
    }


@pytest.mark.parametrize(
    "text",
    ["The  Eiffel Tower!", "Ünïcode café", "“quoted”", "state-of-the-art", "１９６９ ﬁ\u200b", ""],
)
def test_unicode_variant_equals_the_official_one_on_nfkc_text(text):
    """On text already in NFKC without format characters, the variant changes nothing."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", text).replace("\u200b", "")
    assert normalize_answer(text, unicode=True) == official_normalize_answer(folded)
