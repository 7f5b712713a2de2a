"""SQuAD v1.1 EM/F1 (hand-computed cases that follow the official script), BLEU, ROUGE-L, evaluate
modules."""

from __future__ import annotations

import math

import pytest

from bertedu.metrics import METRIC_NAMES, metric_path, metric_paths
from bertedu.qa.metrics import (
    bleu,
    exact_match_score,
    f1_score,
    generation_scores,
    normalize_answer,
    rouge_l,
    squad_em_f1,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The  Eiffel Tower!", "eiffel tower"),  # lower, punctuation, article, spaces
        ("An apple a day", "apple day"),  # every article, as whole words only
        ("theatre anatomy", "theatre anatomy"),  # "the"/"an" inside words stay
        ("state-of-the-art", "stateoftheart"),  # punctuation is deleted, not replaced by a space
        ("Google's AI team", "googles ai team"),
        ("  a  ", ""),
        ("Ünïcode café", "ünïcode café"),  # no accent stripping in v1.1
        ("“quoted”", "“quoted”"),  # only ASCII punctuation (string.punctuation) goes
    ],
)
def test_normalize_answer_follows_squad_v11(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_after_normalisation():
    assert exact_match_score("the Eiffel Tower.", "Eiffel Tower") == 1.0
    assert exact_match_score("Eiffel", "Eiffel Tower") == 0.0
    assert exact_match_score("a", "the") == 1.0  # both normalise to ""


def test_f1_hand_computed():
    # "google ai team" vs "googles ai team": 2 shared of 3 and 3 -> P = R = 2/3.
    assert f1_score("Google AI team", "Google's AI team") == pytest.approx(2 / 3)
    # Shared tokens count with multiplicity: pred [cat, cat] vs [cat] -> P = 1/2, R = 1, F1 = 2/3.
    assert f1_score("the cat cat", "cat") == pytest.approx(2 / 3)
    # "in 1969" vs "1969": P = 1/2, R = 1.
    assert f1_score("in 1969", "1969") == pytest.approx(2 / 3)
    assert f1_score("Paris", "London") == 0.0
    # Order does not matter for F1 (a bag of words).
    assert f1_score("team ai google", "google ai team") == 1.0


def test_empty_strings_score_as_the_official_script_scores_them():
    assert f1_score("", "something") == 0.0
    assert f1_score("", "") == 0.0  # no shared token -> 0, even though EM is 1
    assert exact_match_score("", "") == 1.0


def test_squad_em_f1_takes_the_best_reference_and_averages_in_percent():
    predictions = {"q1": "1969", "q2": "Google", "q3": "the moon landing"}
    references = {
        "q1": ["in 1969", "July 1969"],
        "q2": ["Google", "Google's AI team"],
        "q3": ["Apollo 11"],
    }
    scores = squad_em_f1(predictions, references)
    # q1: EM 0, F1 2/3 (either reference); q2: EM 1, F1 1; q3: 0, 0.
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (2 / 3 + 1) / 3)


def test_missing_prediction_scores_zero_with_a_warning():
    with pytest.warns(UserWarning, match="no prediction"):
        scores = squad_em_f1({"q1": "Paris"}, {"q1": ["Paris"], "q2": ["Rome"]})
    assert scores == {"exact_match": 50.0, "f1": 50.0}
    with pytest.warns(UserWarning, match="no reference"):
        assert squad_em_f1({"q1": "Paris", "zz": "x"}, {"q1": ["Paris"]})["exact_match"] == 100.0


@pytest.mark.parametrize(
    "references, match",
    [
        ({"q1": "Paris"}, "wrap it in a list"),
        ({"q1": []}, "non-empty list"),
        ({}, "non-empty dict"),
    ],
)
def test_bad_references_are_explained(references, match):
    with pytest.raises(ValueError, match=match):
        squad_em_f1({"q1": "Paris"}, references)


def test_bleu_and_rouge_l():
    assert bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]) == pytest.approx(100.0)
    assert bleu(["The Cat sat on the mat"], [["the cat sat on the mat"]]) == pytest.approx(
        100.0
    )  # lower-cased
    assert bleu(["a b c d"], [["w x y z"]]) == 0.0
    # Several references, a different number per prediction: the best match counts.
    assert bleu(
        ["the cat sat on the mat", "a dog ran in the park"],
        [["the cat sat on the mat"], ["x", "a dog ran in the park"]],
    ) == pytest.approx(100.0)
    # rouge-score tokenises "Google's AI team" as [google, s, ai, team]: LCS 3, P = 1, R = 3/4.
    assert rouge_l(["google ai team"], [["Google's AI team"]]) == pytest.approx(
        100 * 2 * 0.75 / 1.75
    )
    assert rouge_l(["ai team google"], [["google ai team"]]) == pytest.approx(
        100 * 2 / 3
    )  # order matters
    assert rouge_l(["x"], [["y", "x"]]) == pytest.approx(100.0)


def test_generation_scores_bundle_all_six():
    scores = generation_scores(["google", "paris"], [["Google"], ["Rome"]])
    assert set(scores) == {"bleu", "rouge_l", "ms_marco_rouge_l", "bleu_1", "exact_match", "f1"}
    assert scores["exact_match"] == 50.0 and scores["rouge_l"] == pytest.approx(50.0)


def test_generation_scores_check_lengths():
    with pytest.raises(ValueError, match="2 predictions but 1"):
        generation_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="wrap it in a list"):
        bleu(["a"], ["a"])


def test_local_evaluate_modules_work_offline():
    evaluate = pytest.importorskip("evaluate")
    assert set(metric_paths()) == set(METRIC_NAMES)
    predictions, references = (
        ["Google", "the cat sat on the mat"],
        [["Google", "Google AI"], ["a cat sat on a mat"]],
    )
    squad = evaluate.load(metric_path("squad_em_f1")).compute(
        predictions=predictions, references=references
    )
    ids = ["0", "1"]
    assert squad == pytest.approx(
        squad_em_f1(
            dict(zip(ids, predictions, strict=True)), dict(zip(ids, references, strict=True))
        )
    )
    assert squad["exact_match"] == 100.0
    result = evaluate.load(metric_path("bleu")).compute(
        predictions=predictions, references=references
    )
    assert math.isclose(result["bleu"], bleu(predictions, references))
    result = evaluate.load(metric_path("rouge_l")).compute(
        predictions=predictions, references=references
    )
    assert math.isclose(result["rouge_l"], rouge_l(predictions, references))


def test_unknown_local_metric():
    with pytest.raises(ValueError, match="squad_em_f1, bleu, rouge_l"):
        metric_path("bertscore")


def test_corpus_and_sentence_bleu_agree_on_gold_answers_not_on_short_ones():
    from bertedu.qa.metrics import bleu, sentence_bleu

    gold = ["1998", "Ingmar Bergman", "the Nobel Prize in Physics"]
    references = [[g] for g in gold]
    assert bleu(gold, references) == pytest.approx(100.0)
    assert sentence_bleu(gold, references) == pytest.approx(100.0)  # exact answers: 100 each
    short = ["1998", "Bergman", "Nobel Prize"]  # right but shorter than the references
    assert bleu(short, references) == 0.0  # no 4-gram matches in the whole corpus
    assert 40 < sentence_bleu(short, references) < 100


def test_ms_marco_rouge_l_by_hand():
    from bertedu.qa.metrics import ms_marco_rouge_l

    # candidate "red blue green" vs reference "red green": LCS 2, P = 2/3, R = 1.
    p, r, beta = 2 / 3, 1.0, 1.2
    expected = 100 * (1 + beta**2) * p * r / (r + beta**2 * p)
    assert ms_marco_rouge_l(["red blue green"], [["red green"]]) == pytest.approx(expected)
    # Maxima over references are taken separately for precision and recall.
    two = ms_marco_rouge_l(["red blue"], [["red blue green yellow", "red"]])
    p, r = 1.0, 1.0  # P from either, R = 1/1 from "red"
    assert two == pytest.approx(100.0 * (1 + beta**2) * p * r / (r + beta**2 * p))
    assert ms_marco_rouge_l([""], [["red"]]) == 0.0


def test_bleu_1_is_unigram_precision_times_brevity_penalty():
    from bertedu.qa.metrics import bleu_1

    assert bleu_1(["a b c d"], [["a b x y"]]) == pytest.approx(50.0)
    # shorter than the reference: brevity penalty exp(1 - 4/2)
    assert bleu_1(["a b"], [["a b c d"]]) == pytest.approx(100 * math.exp(1 - 2), rel=1e-6)


def test_bootstrap_interval_covers_the_mean_and_groups_widen_it():
    from bertedu.qa.metrics import bootstrap_ci

    scores = [100.0] * 50 + [0.0] * 50
    mean, low, high = bootstrap_ci(scores)
    assert mean == 50.0 and 38 < low < 45 and 55 < high < 62  # ~ mean +/- 1.96 * 5
    # The same scores in 4 passages of 25 identical answers: far fewer independent units.
    groups = ["a"] * 25 + ["b"] * 25 + ["c"] * 25 + ["d"] * 25
    _, glow, ghigh = bootstrap_ci(scores, groups)
    assert ghigh - glow > 2 * (high - low)
    assert bootstrap_ci([70.0] * 10) == (70.0, 70.0, 70.0)
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="one each"):
        bootstrap_ci([1.0, 2.0], ["a"])


def test_found_in_passage_counts_whole_words_after_normalisation():
    from bertedu.qa.metrics import found_in_passage

    context = "BERT was developed by Google's AI team."
    assert found_in_passage(["Google's AI team", "google s", "goo", ""], [context] * 4) == (
        pytest.approx(100 * 1 / 3)
    )
    with pytest.raises(ValueError, match="one each"):
        found_in_passage(["a"], [])


def test_bertscore_runs_offline_with_minilm_and_ranks_meaning():
    from bertedu.qa.metrics import bertscore, generation_scores, per_question_bertscore

    scores = per_question_bertscore(
        ["Google's AI team", "the Google team", "a red bicycle", ""],
        [["Google's AI team"], ["Google's AI team"], ["Google's AI team"], ["2018"]],
    )
    assert scores[0] == pytest.approx(100.0, abs=1e-3)
    assert scores[0] > scores[1] > scores[2] and scores[3] == 0.0
    best_of_two = per_question_bertscore(["in 2018"], [["Ingmar Bergman", "in 2018"]])
    assert best_of_two[0] == pytest.approx(100.0, abs=1e-3)  # the best reference counts
    assert bertscore(["2018", ""], [["2018"], ["x"]]) == pytest.approx(50.0, abs=1e-3)
    with_it = generation_scores(["2018"], [["2018"]], with_bertscore=True)
    assert with_it["bertscore"] == pytest.approx(100.0, abs=1e-3)
    assert "bertscore" not in generation_scores(["2018"], [["2018"]])


# ------------------------------------------------------------------ every script, long answers


def test_rouge_l_reads_every_script():
    from bertedu.qa.metrics import rouge_tokens

    assert rouge_l(["巴黎是法国的首都"], [["巴黎是法国的首都"]]) == pytest.approx(100.0)
    assert rouge_l(["القاهرة هي العاصمة"], [["القاهرة هي العاصمة"]]) == pytest.approx(100.0)
    assert rouge_l(["Привет, мир"], [["привет мир"]]) == pytest.approx(100.0)
    # Chinese by character: 巴黎 against 巴黎是首都 has LCS 2, P = 1, R = 2/5.
    assert rouge_l(["巴黎"], [["巴黎是首都"]]) == pytest.approx(100 * 2 * 0.4 / 1.4)
    assert rouge_tokens("Tokyo は東京, 2018!") == ["tokyo", "は", "東", "京", "2018"]
    scores = generation_scores(["巴黎是法国的首都", "القاهرة"], [["巴黎是法国的首都"], ["القاهرة"]])
    assert scores["exact_match"] == 100.0 and scores["rouge_l"] == pytest.approx(100.0)


def test_rouge_l_equals_rouge_score_on_english():
    import random

    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "mat", "Google's", "AI", "team", "2018", "x_y", "(a)"]
    for _ in range(300):
        prediction = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 8)))
        reference = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 8)))
        expected = 100 * scorer.score(reference, prediction)["rougeL"].fmeasure
        assert rouge_l([prediction], [[reference]]) == pytest.approx(expected, abs=1e-9)


def test_lcs_length_equals_dynamic_programming():
    import random

    from bertedu.qa.metrics import lcs_length

    def by_table(a, b):
        previous = [0] * (len(b) + 1)
        for x in a:
            current = [0]
            for j, y in enumerate(b):
                current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
            previous = current
        return previous[-1]

    rng = random.Random(1)
    for _ in range(500):
        a = [rng.choice("abcd") for _ in range(rng.randrange(0, 40))]
        b = [rng.choice("abcd") for _ in range(rng.randrange(0, 40))]
        assert lcs_length(a, b) == by_table(a, b) == lcs_length(b, a)


def test_rouge_l_of_a_20000_word_answer_takes_seconds_not_minutes():
    import random
    import time

    from bertedu.qa.metrics import ms_marco_rouge_l

    rng = random.Random(0)
    words = [f"w{i}" for i in range(500)]
    long_a = " ".join(rng.choice(words) for _ in range(20000))
    long_b = " ".join(rng.choice(words) for _ in range(20000))
    start = time.perf_counter()
    value = rouge_l([long_a], [[long_b]])
    marco = ms_marco_rouge_l([long_a], [[long_b]])
    # rouge-score's pure-Python table took 83 s on an idle machine (400 s on a shared one).
    assert time.perf_counter() - start < 20
    assert value == pytest.approx(8.505, abs=1e-3) and 0 < marco < 100


def test_single_word_bleu_is_undefined_and_says_so():
    with pytest.warns(UserWarning, match="undefined.*effective_order=True"):
        assert bleu(["Paris"], [["Paris"]]) == 0.0
    assert bleu(["Paris"], [["Paris"]], effective_order=True) == pytest.approx(100.0)
    assert bleu(["Paris", "Rome"], [["Paris"], ["Paris"]], effective_order=True) == (
        pytest.approx(50.0)
    )
    # with a 4-gram anywhere in the corpus, effective order changes nothing
    two = (["google ai team in 2018", "paris"], [["google ai team in 2018"], ["rome"]])
    assert bleu(*two, effective_order=True) == pytest.approx(bleu(*two))


def test_bleu_reads_chinese_by_character():
    assert bleu(["巴黎是法国的首都"], [["巴黎是法国的首都"]]) == pytest.approx(100.0)
    partly = bleu(["巴黎是法国首都"], [["巴黎是法国的首都"]])
    assert 0 < partly < 100
