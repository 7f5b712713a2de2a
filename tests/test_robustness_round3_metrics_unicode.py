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
    rouge_l,
    rouge_tokens,
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


# ------------------------------------------------------------------ ROUGE-L's tokens

# One character of every block of Chinese, Japanese and Korean writing, written without spaces
# (NFKC first maps compatibility forms: U+F900 and U+2F800 to unified ideographs, half-width
# katakana to full width).
CJK_BLOCKS = {
    "CJK Unified Ideographs": ("\u4e00", "\u4e00"),
    "Extension A": ("\u3400", "\u3400"),
    "Extension B": ("\U00020000", "\U00020000"),
    "Extension C": ("\U0002a700", "\U0002a700"),
    "Extension D": ("\U0002b740", "\U0002b740"),
    "Extension E": ("\U0002b820", "\U0002b820"),
    "Extension F": ("\U0002ceb0", "\U0002ceb0"),
    "Extension G": ("\U00030000", "\U00030000"),
    "Extension H": ("\U00031350", "\U00031350"),
    "Compatibility Ideographs": ("\uf900", "\u8c48"),
    "Compatibility Ideographs Supplement": ("\U0002f800", "\u4e3d"),
    "Kangxi Radicals": ("\u2f00", "\u4e00"),
    "ideographic iteration mark and zero": ("\u3005\u3007", "\u3005 \u3007"),
    "Hiragana": ("\u3042", "\u3042"),
    "Katakana with prolonged sound mark": ("\u30bf\u30ef\u30fc", "\u30bf \u30ef \u30fc"),
    "Half-width Katakana": ("\uff80\uff9c\uff70", "\u30bf \u30ef \u30fc"),
    "Katakana Phonetic Extensions": ("\u31f0", "\u31f0"),
    "Bopomofo": ("\u3105", "\u3105"),
    "Hangul Syllables": ("\uac00", "\uac00"),
    # A syllable written as conjoining jamo (L V) is one character: NFKC composes it.
    "Hangul Jamo": ("\u1100\u1161", "\uac00"),
}


@pytest.mark.parametrize("block", CJK_BLOCKS, ids=list(CJK_BLOCKS))
def test_every_cjk_block_is_read_one_character_at_a_time(block):
    text, expected = CJK_BLOCKS[block]
    assert rouge_tokens("x" + text + text + "y") == ["x", *expected.split(), *expected.split(), "y"]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        # Thai is written without spaces: one token per character as a reader sees it (a
        # consonant with its vowel and tone marks: \u0e17\u0e35\u0e48 is one).
        ("\u0e17\u0e35\u0e48\u0e44\u0e1b", ["\u0e17\u0e35\u0e48", "\u0e44", "\u0e1b"]),
        # Thai and Lao "Lao": spacing vowels are characters of their own.
        (
            "\u0e25\u0e32\u0e27 \u0ea5\u0eb2\u0ea7",
            ["\u0e25", "\u0e32", "\u0e27", "\u0ea5", "\u0eb2", "\u0ea7"],
        ),
        # Each emoji is one token: a ZWJ family, a skin tone, a flag; VS16 is ignored.
        ("I \u2764\ufe0f you", ["i", "\u2764", "you"]),
        (
            "\U0001f468\u200d\U0001f469\u200d\U0001f467!",
            ["\U0001f468\u200d\U0001f469\u200d\U0001f467"],
        ),
        ("\U0001f44d\U0001f3fd\U0001f44d", ["\U0001f44d\U0001f3fd", "\U0001f44d"]),
        (
            "go\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea",
            ["go", "\U0001f1eb\U0001f1f7", "\U0001f1e9\U0001f1ea"],
        ),
        # Mixed scripts: Latin and digits stay words, Han characters stand alone.
        ("BERT\u662f2018\u5e74", ["bert", "\u662f", "2018", "\u5e74"]),
        # Spaced scripts keep their words; a zero-width joiner inside one is not a letter.
        ("Ingmar Berg\u200dman caf\u00e9", ["ingmar", "bergman", "caf\u00e9"]),
        (
            "\u041c\u043e\u0441\u043a\u0432\u0430, 1147",
            ["\u043c\u043e\u0441\u043a\u0432\u0430", "1147"],
        ),
    ],
)
def test_rouge_tokens_of_unspaced_scripts_and_emoji(text, tokens):
    assert rouge_tokens(text) == tokens


def test_rouge_tokens_of_ascii_are_rouge_scores_tokens():
    from rouge_score import tokenize

    text = "The Eiffel Tower, built in 1889 -- state-of-the-art (for its time)!"
    assert rouge_tokens(text) == tokenize.tokenize(text, None)


# (prediction, reference, ROUGE-L F by hand)
ROUGE_CASES = {
    # Thai "go to school" vs "school": school is 7 characters, LCS 7 of 9 and 7:
    # P = 7/9, R = 1, F = 2PR/(P+R) = 14/16.
    "Thai": (
        "\u0e44\u0e1b\u0e42\u0e23\u0e07\u0e40\u0e23\u0e35\u0e22\u0e19",
        "\u0e42\u0e23\u0e07\u0e40\u0e23\u0e35\u0e22\u0e19",
        87.5,
    ),
    # Korean "in Seoul" vs "Seoul": LCS 2 of 4 and 2: P = 1/2, R = 1, F = 2/3.
    "Korean": ("\uc11c\uc6b8\uc5d0\uc11c", "\uc11c\uc6b8", 200 / 3),
    # Extensions B, G and H: LCS 2 of 3 and 2: P = 2/3, R = 1, F = 4/5.
    "Extensions B, G, H": ("\U00020000\U00030000\U00031350", "\U00030000\U00031350", 80.0),
    # Japanese, half-width vs full-width katakana: the same three characters.
    "half-width katakana": ("\uff80\uff9c\uff70", "\u30bf\u30ef\u30fc", 100.0),
    # An emoji answer: LCS 1 of 2 and 1: P = 1/2, R = 1, F = 2/3.
    "emoji": ("\U0001f44d\U0001f3fd great", "\U0001f44d\U0001f3fd", 200 / 3),
    "emoji with and without VS16": ("\u2764\ufe0f", "\u2764", 100.0),
    # Another skin tone, another member of the family: another emoji, no credit.
    "skin tone": ("\U0001f44d\U0001f3ff", "\U0001f44d\U0001f3fd", 0.0),
    "ZWJ family vs one member": ("\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f468", 0.0),
}


@pytest.mark.parametrize("case", ROUGE_CASES, ids=list(ROUGE_CASES))
def test_rouge_l_hand_computed_on_unicode(case):
    prediction, reference, expected = ROUGE_CASES[case]
    assert rouge_l([prediction], [[reference]]) == pytest.approx(expected)
