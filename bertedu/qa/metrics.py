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

``unicode=True`` (:func:`squad_em_f1`) is an opt-in variant that first folds both
answers to NFKC without invisible format characters; the default is the official
script's normalisation, character for character.

BLEU (sacrebleu, corpus level) and ROUGE-L (rouge-score's longest common
subsequence F-measure, with tokens of every script) are the usual scores for
*generated* answers, which can be right without being a verbatim span of the
passage. BLEU reads Chinese and Japanese by character (:func:`split_cjk`);
ROUGE-L reads every script written without spaces by character and each emoji
as one token (:func:`rouge_tokens`); :func:`bleu` says when BLEU-4 is undefined (answers
too short for 4-grams) and offers sacrebleu's effective order. :func:`sentence_bleu`
shows why corpus and sentence BLEU differ on short answers;
:func:`ms_marco_rouge_l` and :func:`bleu_1` follow MS MARCO's official scores (the
ROUGE-L over SQuAD-normalised words, not the official tokens);
:func:`bootstrap_ci` gives a 95% interval for any per-question score.

:func:`bertscore` (Zhang et al. 2020) compares answers by meaning rather than
by words: every token of the answer is matched with its most similar reference
token by the cosine of their contextual vectors (and back), which gives a
precision, a recall and their F1. It runs offline with the shipped MiniLM
through the ``bert-score`` package: a local model path needs an explicit
``num_layers`` (we take MiniLM's last, the 6th: the layer its sentence
embeddings are trained on). Published BERTScores are often *rescaled* with a
baseline per model (the score of unrelated sentence pairs mapped to 0); no
such baseline exists for this MiniLM, so ours are raw cosines, and only
differences between systems scored the same way mean anything.
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import regex

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def fold_unicode(text: str) -> str:
    """``text`` in NFKC with every invisible format character (category Cf) deleted.

    NFKC writes one character one way: a letter and its combining accent become the
    precomposed letter (``e`` + U+0301 -> ``é``), full-width forms become ASCII
    (``１９６９`` -> ``1969``, ``！`` -> ``!``) and ligatures their letters (``ﬁ`` -> ``fi``).
    Format characters (zero-width space and joiners, the byte-order mark, the soft hyphen,
    direction marks) are invisible in print but make ``Bei\u200bjing`` another string.
    Accents are kept: ``café`` is not ``cafe``.
    """
    text = unicodedata.normalize("NFKC", text)
    return "".join(char for char in text if unicodedata.category(char) != "Cf")


def normalize_answer(text: str, *, unicode: bool = False) -> str:
    """SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces.

    ``unicode=True`` first applies :func:`fold_unicode` (see :func:`squad_em_f1`); the
    default is the official script's normalisation, character for character.
    """
    if unicode:
        text = fold_unicode(text)
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str, ground_truth: str, *, unicode: bool = False) -> float:
    """1.0 if the two answers are equal after :func:`normalize_answer`, else 0.0."""
    return float(
        normalize_answer(prediction, unicode=unicode)
        == normalize_answer(ground_truth, unicode=unicode)
    )


def f1_score(prediction: str, ground_truth: str, *, unicode: bool = False) -> float:
    """Token-level F1 between two answers after :func:`normalize_answer` (0.0 to 1.0)."""
    prediction_tokens = normalize_answer(prediction, unicode=unicode).split()
    truth_tokens = normalize_answer(ground_truth, unicode=unicode).split()
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


def _check_strings(texts: Sequence[str], what: str) -> None:
    """A TypeError naming ``what`` unless ``texts`` is a list (or tuple) of strings."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"{what} must be a list of strings, got {type(texts).__name__}.")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{index}] must be a string, got {type(text).__name__}.")


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
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    *,
    unicode: bool = False,
) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1, in percent.

    ``predictions``: ``{question id: predicted answer text}``;
    ``references``: ``{question id: [reference answer texts]}``. Every
    reference question counts; one without a prediction scores 0 (with a
    warning). Predictions for unknown ids are ignored (with a warning), as
    the official script ignores them.

    **Unicode.** By default the answers are normalised exactly as the official
    v1.1 script does (and v2.0's, which differs only in scoring two empty answers):
    lower case, ASCII punctuation (``string.punctuation``) deleted, articles
    deleted, split on whitespace, and nothing else. So ``１９６９`` (full-width
    digits) is not ``1969``, ``ﬁnance`` (a ligature) not ``finance``, ``Bei\u200bjing``
    (a zero-width space) not ``Beijing``, and ``e`` + a combining accent not the
    precomposed ``é``, although each pair looks the same. These are the published
    numbers' rules, so they stay the default. ``unicode=True`` first folds both
    answers with :func:`fold_unicode` (NFKC, invisible format characters deleted),
    so such pairs match; it departs from the official script only on text that
    NFKC changes or that holds format characters, and its numbers are not
    comparable with published SQuAD scores. Use it to see how much a model's
    score depends on how its text is encoded, not to report a SQuAD result.
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
            exact += max(
                exact_match_score(predictions[key], truth, unicode=unicode) for truth in answers
            )
            f1 += max(f1_score(predictions[key], truth, unicode=unicode) for truth in answers)
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


def _is_cjk(char: str) -> bool:
    """A Chinese or Japanese character: Han (CJK ideographs and their extensions), hiragana,
    katakana. These scripts write no spaces between words."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x20000 <= code <= 0x2FA1F  # extensions B-F, compatibility supplement
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x31F0 <= code <= 0x31FF  # katakana phonetic extensions
    )


def split_cjk(text: str) -> str:
    """``text`` with a space on each side of every Chinese or Japanese character, so that a
    word tokenizer makes each one a token (what sacrebleu's ``zh`` tokenizer and MLQA's
    ``mixed_segmentation`` do for Chinese); text without them is returned unchanged."""
    if not any(_is_cjk(char) for char in text):
        return text
    return "".join(f" {char} " if _is_cjk(char) else char for char in text)


def bleu(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    lowercase: bool = True,
    effective_order: bool = False,
) -> float:
    """Corpus BLEU (sacrebleu, 13a tokenisation, 0-100) with any number of references per answer.

    ``lowercase=True`` by default because the book's models are uncased: they
    cannot produce capitals, and BLEU should not punish them for it.

    **Short answers.** BLEU-4 is the geometric mean of the 1- to 4-gram
    precisions. When *no* answer of the whole corpus has n-grams of some order
    (every answer is one word, say), that precision is 0/0: BLEU-4 is undefined
    there, and sacrebleu (like the papers' scorers) reports 0, so
    ``bleu(["Paris"], [["Paris"]])`` is 0 although the answer is right. A warning
    now says so. ``effective_order=True`` (sacrebleu's option) takes the mean over
    the orders that exist instead (``bleu(["Paris"], [["Paris"]], effective_order=True)``
    is 100); an order that exists but never matches still counts. The default stays
    the standard corpus BLEU-4, the number papers report; :func:`sentence_bleu`
    scores each answer alone.

    **Chinese and Japanese** characters are one token each (:func:`split_cjk`, what
    sacrebleu's ``zh`` tokenizer does for Chinese); 13a alone would make a whole
    unspaced sentence one token. Text without them is tokenised exactly as before.
    """
    from sacrebleu.metrics import BLEU

    lists = _as_lists(predictions, references)
    width = max(len(answers) for answers in lists)
    # sacrebleu takes reference *streams*; None marks "this question has fewer references".
    streams = [
        [split_cjk(answers[k]) if k < len(answers) else None for answers in lists]
        for k in range(width)
    ]
    scorer = BLEU(lowercase=lowercase, effective_order=effective_order)
    result = scorer.corpus_score([split_cjk(p) for p in predictions], streams)
    missing = [n + 1 for n, total in enumerate(result.totals) if total == 0]
    if missing and not effective_order:
        warnings.warn(
            f"BLEU-4 is undefined for these answers: none has {missing[0]} or more tokens, so "
            f"the {'/'.join(map(str, missing))}-gram precision is 0/0 and the score is reported "
            "as 0. Pass effective_order=True to average over the n-gram orders that exist, or "
            "use sentence_bleu.",
            stacklevel=2,
        )
    return result.score


# Scripts written without spaces between words, read one character at a time: Chinese
# (Han, Bopomofo), Japanese (kana), Korean (Hangul, as KorQuAD's character F1 reads it), Yi,
# Tangut, Nushu, Khitan, and the scripts of South-East Asia. Script_Extensions, so that the
# kana's prolonged sound mark and the ideographic iteration mark count too.
_UNSPACED = regex.compile(
    r"\p{scx=Han}|\p{scx=Bopomofo}|\p{scx=Hiragana}|\p{scx=Katakana}|\p{scx=Hangul}"
    r"|\p{scx=Yi}|\p{scx=Tangut}|\p{scx=Nushu}|\p{scx=Khitan_Small_Script}"
    r"|\p{scx=Thai}|\p{scx=Lao}|\p{scx=Khmer}|\p{scx=Myanmar}|\p{scx=Tai_Tham}"
)
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]")
# Variation selectors (an emoji's text or picture form) and invisible format characters,
# except the joiner and the tags that build emoji sequences.
_IGNORED = regex.compile(r"[\ufe0e\ufe0f]|(?![\u200d\U000e0020-\U000e007f])\p{Cf}")


def rouge_tokens(text: str) -> list[str]:
    """ROUGE-L's tokens: lower-cased words of letters, marks and digits of any script; each
    character of a script written without spaces alone; each emoji alone; everything else
    separates.

    On ASCII text these are exactly rouge-score's tokens (``[a-z0-9]+`` after
    lower-casing), so English scores do not change. rouge-score drops every
    other character, so two identical Chinese, Thai or emoji answers scored 0.
    Scripts without spaces between words (Chinese, Japanese, Korean, Thai, Lao,
    Khmer, Myanmar...: :data:`_UNSPACED`) would otherwise make a whole answer one
    token, right or wrong; they are read by character, as the multilingual ROUGE
    and MLQA evaluations read Chinese, and KorQuAD's F1 reads Korean. A
    "character" is what a reader sees as one (an extended grapheme cluster: a
    Thai consonant with its vowel and tone marks, a Hangul syllable written as
    jamo). An emoji is one token however it is built (a ZWJ family, a skin tone,
    a flag); a different skin tone is a different emoji. The text is NFKC first
    (half-width katakana, full-width letters and compatibility ideographs become
    their usual forms), without variation selectors and invisible format
    characters (a zero-width space inside a word no longer splits it).
    """
    text = _IGNORED.sub("", unicodedata.normalize("NFKC", text).lower())
    tokens: list[str] = []
    word: list[str] = []
    for cluster in regex.findall(r"\X", text):
        alone = _EMOJI.match(cluster) or (_WORD.match(cluster) and _UNSPACED.match(cluster))
        if not alone and _WORD.match(cluster):
            word.append(cluster.replace("\u200d", ""))
            continue
        if word:
            tokens.append("".join(word))
            word = []
        if alone:
            tokens.append(cluster)
    if word:
        tokens.append("".join(word))
    return tokens


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Bit-parallel (Allison and Dix 1986; Hyyrö 2004): the row of the usual
    dynamic-programming table is held as the bits of one Python integer, and
    each token of ``b`` updates the whole row with a few big-integer operations,
    so two 20,000-word answers take a fraction of a second instead of minutes.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[str, int] = {}
    for position, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(a)) - 1
    row = full  # a 1 bit: no match counted yet at that position
    for token in b:
        matches = row & masks.get(token, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(a) - row.bit_count()


def rouge_l(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean ROUGE-L F-measure (0-100), the best reference per answer.

    ROUGE-L scores the longest common subsequence of words: order matters
    (unlike SQuAD F1) but gaps are allowed (unlike BLEU's n-grams). Per answer,
    ``P = LCS / len(answer)``, ``R = LCS / len(reference)``, ``F = 2PR / (P + R)``,
    as rouge-score computes it (and equal to it on ASCII text, where the tokens
    agree); tokens are :func:`rouge_tokens` (any script, Chinese and Japanese by
    character) and the LCS is :func:`lcs_length` (fast on long answers).
    """
    lists = _as_lists(predictions, references)
    total = 0.0
    for prediction, answers in zip(predictions, lists, strict=True):
        candidate = rouge_tokens(prediction)
        best = 0.0
        for answer in answers:
            reference = rouge_tokens(answer)
            common = lcs_length(reference, candidate) if candidate and reference else 0
            if common:
                precision, recall = common / len(candidate), common / len(reference)
                best = max(best, 2 * precision * recall / (precision + recall))
        total += best
    return 100.0 * total / len(lists)


#: MiniLM's last layer: the one BERTScore reads (see the module docstring).
BERTSCORE_LAYER = 6


def _check_bertscore_model(model_path: str, num_layers: int) -> None:
    """A ValueError unless ``model_path`` is a local model folder with at least ``num_layers``
    layers (``bert-score`` would take a missing folder for a Hub repository id, offline)."""
    import json
    from pathlib import Path

    folder = Path(model_path)
    if not folder.is_dir():
        raise ValueError(
            f"model_path {model_path!r} is not a folder: BERTScore runs offline here, so give a "
            "local model folder (one with config.json and weights), or leave model_path out for "
            "the shipped MiniLM."
        )
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(
            f"model_path {model_path!r} has no config.json: it is not a transformers model "
            "folder. Give the folder that holds config.json and the weights."
        )
    layers = json.loads(config.read_text(encoding="utf-8")).get("num_hidden_layers", num_layers)
    if (
        not isinstance(num_layers, int)
        or isinstance(num_layers, bool)
        or not (1 <= num_layers <= layers)
    ):
        raise ValueError(
            f"num_layers must be a whole number from 1 to {layers} (the layers of "
            f"{folder.name}), got {num_layers!r}."
        )


def per_question_bertscore(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    model_path: str | None = None,
    num_layers: int = BERTSCORE_LAYER,
    batch_size: int = 32,
) -> list[float]:
    """Each answer's BERTScore F1 (0-100, the best over its references), offline.

    ``model_path`` (default: the shipped MiniLM) is a local folder that
    transformers can load; ``num_layers`` is the layer whose vectors are
    compared. An empty answer scores 0, as ``bert-score`` itself sets it (its
    own empty-string path fails with transformers 5, so we skip the call). An empty reference,
    a ``model_path`` that is not a model folder and a layer the model lacks are refused here,
    before ``bert-score`` fails on them with its own confusing error.
    """
    from bert_score import score

    if model_path is None:
        from bertedu.tokenization import minilm_path

        model_path = str(minilm_path())
    lists = _as_lists(predictions, references)
    for index, answers in enumerate(lists):
        for k, answer in enumerate(answers):
            if not answer.strip():
                raise ValueError(
                    f"references[{index}][{k}] is empty: BERTScore compares the answer with each "
                    "reference's tokens, and an empty reference has none. Remove it (keep the "
                    "question's other references) or drop the question."
                )
    _check_bertscore_model(model_path, num_layers)
    kept = [i for i, prediction in enumerate(predictions) if prediction.strip()]
    out = [0.0] * len(lists)
    if kept:
        from transformers.utils import logging as hf_logging

        bar_was_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # transformers' "Loading weights" bar is noise here
        try:
            _, _, f1 = score(
                [predictions[i] for i in kept],
                [lists[i] for i in kept],
                model_type=model_path,
                num_layers=num_layers,
                batch_size=batch_size,
                device="cpu",
            )
        finally:
            if bar_was_enabled:
                hf_logging.enable_progress_bar()
        for i, value in zip(kept, f1.tolist(), strict=True):
            out[i] = 100.0 * value
    return out


def bertscore(predictions: Sequence[str], references: Sequence[Sequence[str]], **options) -> float:
    """Mean BERTScore F1 (0-100, raw: no rescaling baseline exists for MiniLM) of the answers;
    ``options`` as :func:`per_question_bertscore`."""
    values = per_question_bertscore(predictions, references, **options)
    return sum(values) / len(values)


def generation_scores(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    with_bertscore: bool = False,
) -> dict[str, float]:
    """BLEU, ROUGE-L, MS MARCO-style ROUGE-L, BLEU-1, EM and F1 (all 0-100) of generated answers
    against their references; ``with_bertscore`` adds :func:`bertscore` (it runs MiniLM over
    every answer and reference: seconds per hundred on a CPU)."""
    lists = _as_lists(predictions, references)
    ids = [str(index) for index in range(len(lists))]
    squad = squad_em_f1(
        dict(zip(ids, predictions, strict=True)), dict(zip(ids, lists, strict=True))
    )
    return {
        "bleu": bleu(predictions, lists),
        "rouge_l": rouge_l(predictions, lists),
        "ms_marco_rouge_l": ms_marco_rouge_l(predictions, lists),
        "bleu_1": bleu_1(predictions, lists),
        **squad,
        **({"bertscore": bertscore(predictions, lists)} if with_bertscore else {}),
    }


def sentence_bleu(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean sentence-level BLEU (sacrebleu, exponential smoothing, lower-cased, 0-100).

    Not the same number as :func:`bleu`. Corpus BLEU pools the n-gram counts
    of all answers before taking the four precisions (sacrebleu's default
    exponential smoothing only touches an order with n-grams but no match):
    gold answers score 100, but a set of short answers with no matching 4-gram
    anywhere scores 0 however many words are right. Sentence BLEU scores each
    answer alone over the n-gram orders it has (sacrebleu's ``effective_order``,
    so a one-word answer is scored on unigrams; exponential smoothing for an
    order without a match), and averages: exact answers still score 100 each,
    partly right ones get credit.
    """
    import sacrebleu

    lists = _as_lists(predictions, references)
    total = sum(
        sacrebleu.sentence_bleu(prediction, answers, lowercase=True).score
        for prediction, answers in zip(predictions, lists, strict=True)
    )
    return total / len(lists)


def ms_marco_rouge_l(
    predictions: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2
) -> float:
    """An MS MARCO-style ROUGE-L (0-100): the formula of pycocoevalcap's ``Rouge``, which
    the official ``ms_marco_eval.py`` calls, over SQuAD-normalised words.

    Per answer: the longest common subsequence with each reference gives a
    precision and a recall; the *maxima over references* are combined as
    ``(1 + beta^2) P R / (R + beta^2 P)`` with ``beta = 1.2`` (recall weighs
    more). Tokens are :func:`normalize_answer`'s words (no articles, no
    punctuation), where the official script only tokenises (spaCy) and
    lower-cases: the numbers are not the leaderboard's. Differs from
    :func:`rouge_l` (rouge-score: beta 1, best reference by F-measure).
    """
    lists = _as_lists(predictions, references)
    total = 0.0
    for prediction, answers in zip(predictions, lists, strict=True):
        candidate = normalize_answer(prediction).split()
        if not candidate:
            continue
        precision = recall = 0.0
        for answer in answers:
            reference = normalize_answer(answer).split()
            lcs = lcs_length(reference, candidate)
            precision = max(precision, lcs / len(candidate))
            recall = max(recall, lcs / max(len(reference), 1))
        if precision and recall:
            total += (1 + beta**2) * precision * recall / (recall + beta**2 * precision)
    return 100.0 * total / len(lists)


def bleu_1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-1 (0-100), MS MARCO's other official score: clipped unigram precision times
    the brevity penalty (closest reference length), sacrebleu with ``max_ngram_order=1``."""
    from sacrebleu.metrics import BLEU

    lists = _as_lists(predictions, references)
    width = max(len(answers) for answers in lists)
    streams = [
        [answers[k] if k < len(answers) else None for answers in lists] for k in range(width)
    ]
    return BLEU(max_ngram_order=1, lowercase=True).corpus_score(list(predictions), streams).score


def per_question_squad(
    predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, list[float]]:
    """Each question's EM and F1 (0-100), for :func:`bootstrap_ci`."""
    lists = _as_lists(predictions, references)
    pairs = list(zip(predictions, lists, strict=True))
    return {
        "exact_match": [100 * max_over_ground_truths(exact_match_score, p, r) for p, r in pairs],
        "f1": [100 * max_over_ground_truths(f1_score, p, r) for p, r in pairs],
    }


def bootstrap_ci(
    scores: Sequence[float],
    groups: Sequence[str] | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(mean, low, high)``: a percentile bootstrap confidence interval of a mean score.

    Resamples questions with replacement (``n_resamples`` times). With
    ``groups`` (e.g. each question's passage) it resamples whole groups: the
    254 held-out questions come from 43 passages, and questions on one
    passage are not independent, so the group bootstrap gives the honest
    (wider) interval.
    """
    import numpy as np

    values = np.asarray(scores, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("scores must be a non-empty list of per-question numbers.")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"scores[{bad[0]}] is {values[bad[0]]} ({bad.size} score(s) not finite): every score "
            "must be a finite number, or the interval is NaN. Score the failed questions (0 for "
            "no answer) or drop them from scores and groups alike."
        )
    if not isinstance(n_resamples, int) or isinstance(n_resamples, bool) or n_resamples < 1:
        raise ValueError(
            "n_resamples must be a whole number of at least 1 (2,000 is usual), "
            f"got {n_resamples!r}."
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    rng = np.random.default_rng(seed)
    if groups is None:
        draws = rng.integers(0, values.size, size=(n_resamples, values.size))
        means = values[draws].mean(axis=1)
    else:
        if len(groups) != values.size:
            raise ValueError(f"{len(groups)} groups for {values.size} scores; give one each.")
        names = sorted(set(groups))
        index = {name: i for i, name in enumerate(names)}
        codes = np.array([index[g] for g in groups])
        sums = np.bincount(codes, weights=values, minlength=len(names))
        counts = np.bincount(codes, minlength=len(names))
        draws = rng.integers(0, len(names), size=(n_resamples, len(names)))
        means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def found_in_passage(predictions: Sequence[str], contexts: Sequence[str]) -> float:
    """Percent of non-empty answers that occur in their passage (after :func:`normalize_answer`,
    on word boundaries): how often a generative reader reads rather than recites."""
    _check_strings(predictions, "answers")
    _check_strings(contexts, "passages")
    if len(predictions) != len(contexts):
        raise ValueError(f"{len(predictions)} answers but {len(contexts)} passages; give one each.")
    pairs = [
        (normalize_answer(p), normalize_answer(c))
        for p, c in zip(predictions, contexts, strict=True)
    ]
    pairs = [(p, c) for p, c in pairs if p]
    if not pairs:
        return 0.0
    return 100.0 * sum(f" {p} " in f" {c} " for p, c in pairs) / len(pairs)
