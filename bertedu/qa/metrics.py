"""Scores for question answering: SQuAD's EM/F1, BLEU and ROUGE-L.

Exact match (EM) and F1 are computed exactly as the official SQuAD v1.1
evaluation script (``evaluate-v1.1.py``) computes them:

1. normalise both strings: lower-case, delete ASCII punctuation, delete the
   articles *a*, *an*, *the* (whole words), collapse whitespace;
2. EM = 1 if the normalised strings are equal; F1 = the harmonic mean of
   token precision and recall, counting shared tokens with multiplicity
   (a bag-of-words overlap, order ignored);
3. a question may have several reference answers (SQuAD's dev set has three):
   take the *maximum* over them;
4. average over the references' questions and report percentages. A question
   without a prediction scores 0 (the official script prints "Unanswered
   question ... will receive score 0."; we warn).

BLEU (sacrebleu, corpus level) and ROUGE-L (rouge-score, longest common
subsequence F-measure) are the usual scores for *generated* answers, which can
be right without being a verbatim span of the passage.
"""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str, ground_truth: str) -> float:
    """1.0 if the two answers are equal after :func:`normalize_answer`, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-level F1 between two answers after :func:`normalize_answer` (0.0 to 1.0)."""
    prediction_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:  # also covers an empty prediction or reference, as in the official script
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def max_over_ground_truths(
    metric: Callable[[str, str], float], prediction: str, ground_truths: Sequence[str]
) -> float:
    """The best score of ``prediction`` against any of the reference answers."""
    return max(metric(prediction, truth) for truth in ground_truths)


def _check_references(references: Mapping[str, Sequence[str]]) -> None:
    if not isinstance(references, Mapping) or not references:
        raise ValueError("references must be a non-empty dict {question id: [answer texts]}.")
    for key, answers in references.items():
        if isinstance(answers, str):
            raise ValueError(
                f"references[{key!r}] is a string; wrap it in a list: [{answers!r}]. "
                "(A bare string would be scored character by character.)"
            )
        if not answers or not all(isinstance(answer, str) for answer in answers):
            raise ValueError(
                f"references[{key!r}] must be a non-empty list of answer strings, got {answers!r}"
            )


def squad_em_f1(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1, in percent.

    ``predictions``: ``{question id: predicted answer text}``;
    ``references``: ``{question id: [reference answer texts]}``. Every
    reference question counts; one without a prediction scores 0 (with a
    warning). Predictions for unknown ids are ignored (with a warning), as
    the official script ignores them.
    """
    _check_references(references)
    if not isinstance(predictions, Mapping):
        raise ValueError("predictions must be a dict {question id: predicted answer text}.")
    for key, text in predictions.items():
        if not isinstance(text, str):
            raise ValueError(f"predictions[{key!r}] must be a string, got {type(text).__name__}")
    missing = [key for key in references if key not in predictions]
    if missing:
        warnings.warn(
            f"{len(missing)} question(s) have no prediction and score 0 (e.g. {missing[0]!r}).",
            stacklevel=2,
        )
    extra = [key for key in predictions if key not in references]
    if extra:
        warnings.warn(
            f"{len(extra)} prediction(s) have no reference and are ignored (e.g. {extra[0]!r}).",
            stacklevel=2,
        )
    exact = f1 = 0.0
    for key, answers in references.items():
        if key in predictions:
            exact += max_over_ground_truths(exact_match_score, predictions[key], answers)
            f1 += max_over_ground_truths(f1_score, predictions[key], answers)
    return {"exact_match": 100.0 * exact / len(references), "f1": 100.0 * f1 / len(references)}


def _as_lists(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> list[list[str]]:
    if isinstance(predictions, str) or not all(isinstance(p, str) for p in predictions):
        raise ValueError(
            "predictions must be a list of strings (one generated answer per question)."
        )
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} reference lists; "
            "give one list of reference answers per prediction."
        )
    if not predictions:
        raise ValueError("predictions is empty: nothing to score.")
    lists = []
    for index, answers in enumerate(references):
        if isinstance(answers, str):
            raise ValueError(f"references[{index}] is a string; wrap it in a list: [{answers!r}].")
        if not answers or not all(isinstance(answer, str) for answer in answers):
            raise ValueError(
                f"references[{index}] must be a non-empty list of strings, got {answers!r}"
            )
        lists.append(list(answers))
    return lists


def bleu(
    predictions: Sequence[str], references: Sequence[Sequence[str]], lowercase: bool = True
) -> float:
    """Corpus BLEU (sacrebleu, 13a tokenisation, 0-100) with any number of references per answer.

    ``lowercase=True`` by default because the book's models are uncased: they
    cannot produce capitals, and BLEU should not punish them for it.
    """
    import sacrebleu

    lists = _as_lists(predictions, references)
    width = max(len(answers) for answers in lists)
    # sacrebleu takes reference *streams*; None marks "this question has fewer references".
    streams = [
        [answers[k] if k < len(answers) else None for answers in lists] for k in range(width)
    ]
    return sacrebleu.corpus_bleu(list(predictions), streams, lowercase=lowercase).score


def rouge_l(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean ROUGE-L F-measure (rouge-score, 0-100), the best reference per answer.

    ROUGE-L scores the longest common subsequence of words: order matters
    (unlike SQuAD F1) but gaps are allowed (unlike BLEU's n-grams). rouge-score
    lower-cases and keeps only ``[a-z0-9]`` tokens.
    """
    from rouge_score import rouge_scorer

    lists = _as_lists(predictions, references)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    total = sum(
        max(scorer.score(answer, prediction)["rougeL"].fmeasure for answer in answers)
        for prediction, answers in zip(predictions, lists, strict=True)
    )
    return 100.0 * total / len(lists)


def generation_scores(
    predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """BLEU, ROUGE-L, EM and F1 (all 0-100) of generated answers against their references."""
    lists = _as_lists(predictions, references)
    ids = [str(index) for index in range(len(lists))]
    squad = squad_em_f1(
        dict(zip(ids, predictions, strict=True)), dict(zip(ids, lists, strict=True))
    )
    return {"bleu": bleu(predictions, lists), "rouge_l": rouge_l(predictions, lists), **squad}
