"""What rules that read no context, or only word overlap, score on the held-out batches.

A pretraining metric means little without the score of a rule that could not
have learned anything, measured on exactly the same positions:

* :func:`unigram_baseline`: always predict the corpus's token distribution
  (accuracy: always its most frequent WordPiece). A BERT whose MLM loss sits at
  this value has learned word frequencies, nothing more (the "unigram plateau").
* :func:`copy_rule_baseline`: predict the visible token, or the most frequent
  WordPiece where the input shows ``[MASK]``. It is right at every kept
  position (10% of BERT's labels), which is why the pooled "MLM accuracy" of
  an untrained-looking model can look respectable.
* :func:`nsp_majority_baseline` and :class:`WordOverlapRule` for next-sentence
  prediction: always the majority class, and "B continues A when they share
  rare words" (an IDF-weighted overlap with a threshold fitted on training
  pairs). A random B comes from another document, so it rarely shares A's
  names; a model must beat this rule before its NSP says anything about
  coherence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from bertedu.constants import IGNORE_INDEX, MASK_ID
from bertedu.data.nsp import Instance
from bertedu.train.batches import Batch


def token_counts(instances: Iterable[Instance]) -> Counter:
    """How often each WordPiece occurs in the instances (both segments)."""
    return Counter(
        token for instance in instances for token in (*instance.tokens_a, *instance.tokens_b)
    )


def unigram_log_probabilities(instances: Iterable[Instance], vocab_size: int) -> torch.Tensor:
    """Add-one-smoothed ``log p(token)`` over the vocabulary, from the instances' token counts."""
    counts = torch.ones(vocab_size, dtype=torch.float64)
    for token, count in token_counts(instances).items():
        counts[token] += count
    return (counts / counts.sum()).log().float()


def _labelled(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """``(visible input, target)`` at the labelled positions of a batch."""
    selected = batch["labels"] != IGNORE_INDEX
    return batch["input_ids"][selected], batch["labels"][selected]


def unigram_baseline(
    train_instances: Sequence[Instance],
    held_out: Iterable[Batch],
    *,
    vocab_size: int = 30522,
    mask_token_id: int = MASK_ID,
) -> dict[str, float]:
    """Held-out MLM loss and accuracy of predicting every masked token from frequencies alone.

    The distribution is the add-one-smoothed frequency of each WordPiece in the
    training instances; accuracy is that of always guessing the most frequent
    one. ``mask_*`` at ``[MASK]`` positions (compare with
    :func:`~bertedu.pretraining.evaluation.evaluate_pretraining`'s headline),
    ``labelled_*`` over every labelled position.
    """
    top = token_counts(train_instances).most_common(1)[0][0]
    log_probs = unigram_log_probabilities(train_instances, vocab_size).double()
    sums = {"mask": [0.0, 0, 0], "labelled": [0.0, 0, 0]}  # loss, correct, count
    for batch in held_out:
        visible, targets = _labelled(batch)
        for kind, where in (("labelled", slice(None)), ("mask", visible == mask_token_id)):
            chosen = targets[where]
            sums[kind][0] -= float(log_probs[chosen].sum())
            sums[kind][1] += int((chosen == top).sum())
            sums[kind][2] += len(chosen)
    if not sums["mask"][2]:
        raise ValueError("No [MASK] position in the held-out batches; pass masked batches.")
    result: dict[str, float] = {"top_token_id": top}
    for kind, (loss, correct, count) in sums.items():
        result[f"{kind}_loss"] = loss / count
        result[f"{kind}_perplexity"] = math.exp(loss / count)
        result[f"{kind}_accuracy"] = correct / count
    return result


def copy_rule_baseline(
    held_out: Iterable[Batch], *, top_token_id: int, mask_token_id: int = MASK_ID
) -> dict[str, float]:
    """Accuracy of "the visible token, else the most frequent WordPiece", by kind of position.

    ``top_token_id`` is the most frequent training WordPiece
    (``unigram_baseline(...)["top_token_id"]``). At ``[MASK]`` positions the rule
    is the unigram guess; at kept positions it is always right; at random ones
    almost never.
    """
    right = Counter()
    seen = Counter()
    for batch in held_out:
        visible, targets = _labelled(batch)
        masked = visible == mask_token_id
        guess = torch.where(masked, torch.full_like(visible, top_token_id), visible)
        kept = ~masked & (visible == targets)
        for kind, where in (
            ("mask", masked),
            ("kept", kept),
            ("random", ~masked & ~kept),
            ("labelled", torch.ones_like(masked)),
        ):
            seen[kind] += int(where.sum())
            right[kind] += int((guess == targets)[where].sum())
    return {
        f"{kind}_accuracy": right[kind] / seen[kind] if seen[kind] else math.nan
        for kind in ("mask", "kept", "random", "labelled")
    }


def nsp_majority_baseline(
    train_instances: Sequence[Instance], held_out: Iterable[Batch]
) -> dict[str, float]:
    """Held-out NSP accuracy of always answering the training pairs' majority class."""
    random_share = sum(i.is_random_next for i in train_instances) / len(train_instances)
    majority = int(random_share > 0.5)
    labels = torch.cat([batch["next_sentence_label"] for batch in held_out])
    return {"nsp_accuracy": float((labels == majority).float().mean()), "majority": majority}


def batch_segments(batch: Batch) -> list[tuple[list[int], list[int], bool]]:
    """``(A, B, is_random_next)`` per row of a batch: the visible tokens without specials."""
    rows = []
    for ids, types, attention, label in zip(
        batch["input_ids"],
        batch["token_type_ids"],
        batch["attention_mask"].bool(),
        batch["next_sentence_label"].tolist(),
        strict=True,
    ):
        segment_a = ids[attention & (types == 0)].tolist()[1:-1]  # drop [CLS] and [SEP]
        segment_b = ids[attention & (types == 1)].tolist()[:-1]  # drop the final [SEP]
        rows.append((segment_a, segment_b, bool(label)))
    return rows


@dataclass
class WordOverlapRule:
    """NSP by shared rare words: "B is random" when the IDF-weighted overlap of A and B is low.

    ``score(A, B)`` is the cosine of the two sets of content WordPieces, each
    weighted by its inverse document frequency over the training segments
    (``log((n + 1) / (df + 1))``), so sharing "the" counts for nothing and
    sharing "Tchaikovsky" for much. The threshold maximises accuracy on the
    training pairs (:meth:`fit`); nothing about the held-out pairs is used.
    """

    idf: torch.Tensor
    ignored: frozenset[int]
    threshold: float = 0.0

    @classmethod
    def fit(cls, train_instances: Sequence[Instance], tokenizer) -> WordOverlapRule:
        """IDF weights and the accuracy-maximising threshold from the training pairs."""
        vocab = tokenizer.get_vocab()
        ignored = frozenset(
            index
            for token, index in vocab.items()
            if token in tokenizer.all_special_tokens
            or not any(c.isalpha() for c in token)
            or token.startswith("[unused")
        )
        document_frequency = torch.zeros(len(tokenizer), dtype=torch.float64)
        for instance in train_instances:
            for segment in (instance.tokens_a, instance.tokens_b):
                present = sorted(set(segment) - ignored)
                if present:
                    document_frequency[torch.tensor(present)] += 1
        segments = 2 * len(train_instances)
        rule = cls(torch.log((segments + 1) / (document_frequency + 1)), ignored)
        scores = [rule.score(i.tokens_a, i.tokens_b) for i in train_instances]
        rule.threshold = _best_threshold(scores, [i.is_random_next for i in train_instances])
        return rule

    def score(self, tokens_a: Sequence[int], tokens_b: Sequence[int]) -> float:
        """IDF-weighted cosine overlap of the content WordPieces of A and B, in [0, 1]."""
        set_a, set_b = set(tokens_a) - self.ignored, set(tokens_b) - self.ignored
        shared = set_a & set_b
        if not shared:
            return 0.0
        weight_a, weight_b = self._weight(set_a), self._weight(set_b)
        if weight_a == 0.0 or weight_b == 0.0:  # only words found in every training segment
            return 0.0
        return self._weight(shared) / math.sqrt(weight_a * weight_b)

    def _weight(self, tokens: set[int]) -> float:
        return float(self.idf[sorted(tokens)].sum())

    def predict_random(self, tokens_a: Sequence[int], tokens_b: Sequence[int]) -> bool:
        """True when the pair's overlap is at or below the threshold (B looks random)."""
        return self.score(tokens_a, tokens_b) <= self.threshold

    def accuracy(self, held_out: Iterable[Batch]) -> float:
        """Held-out NSP accuracy on the batches' visible tokens (what the model sees)."""
        rows = [row for batch in held_out for row in batch_segments(batch)]
        return sum(self.predict_random(a, b) == label for a, b, label in rows) / len(rows)


def _best_threshold(scores: Sequence[float], is_random: Sequence[bool]) -> float:
    """The threshold ``t`` maximising the accuracy of "random when score <= t"."""
    pairs = sorted(zip(scores, is_random, strict=True))
    correct = best = sum(not label for _, label in pairs)  # t below every score: all "next"
    threshold = pairs[0][0] - 1.0
    for index, (score, label) in enumerate(pairs):
        correct += 1 if label else -1
        last_of_tie = index + 1 == len(pairs) or pairs[index + 1][0] > score
        if last_of_tie and correct > best:
            best, threshold = correct, score
    return threshold
