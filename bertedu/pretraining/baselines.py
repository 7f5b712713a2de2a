"""What a model that ignores the context scores: corpus token frequencies.

:func:`unigram_baseline` is the score of a model that always predicts the
token distribution of the corpus: a BERT whose MLM loss sits at this value has
learned word frequencies, nothing more (the "unigram plateau").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from bertedu.constants import IGNORE_INDEX
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


def unigram_baseline(
    train_instances: Sequence[Instance], held_out: Iterable[Batch], *, vocab_size: int = 30522
) -> dict[str, float]:
    """Held-out MLM loss and accuracy of predicting every masked token from frequencies alone.

    The distribution is the add-one-smoothed frequency of each WordPiece in the
    training instances; accuracy is that of always guessing the most frequent
    one (for English text, "the"). A model stuck at this loss has not yet
    learned to read the context: the "unigram plateau".
    """
    counts = token_counts(train_instances)
    total = sum(counts.values())
    top = counts.most_common(1)[0][0]
    loss = correct = count = 0.0
    for batch in held_out:
        for token in batch["labels"][batch["labels"] != IGNORE_INDEX].tolist():
            loss -= math.log((counts.get(token, 0) + 1) / (total + vocab_size))
            correct += token == top
            count += 1
    return {
        "mlm_loss": loss / count,
        "mlm_perplexity": math.exp(loss / count),
        "mlm_accuracy": correct / count,
        "top_token_id": top,
    }
