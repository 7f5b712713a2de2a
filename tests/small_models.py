"""Small models and batches that several test modules build the same way.

Import it like ``tests/hub_datasets.py`` (pytest puts ``tests/`` on the path):
``from small_models import TINY_NO_DROPOUT, masked_batch, small_hf_config``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import transformers

from bertedu.constants import IGNORE_INDEX
from bertedu.model import BertConfig

# BERT-Tiny with a 300-token vocabulary, 32 positions and no dropout: a forward pass is
# deterministic, so two runs (eager and compiled, one process and two) can be compared exactly.
TINY_NO_DROPOUT = BertConfig.tiny(
    vocab_size=300,
    max_position_embeddings=32,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def small_hf_config(**overrides: object) -> transformers.BertConfig:
    """A two-layer, 32-wide transformers config with eager attention (whose weights can be
    returned), bert-base-uncased's vocabulary unless ``overrides`` say otherwise."""
    values: dict[str, object] = dict(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        attn_implementation="eager",
    )
    values.update(overrides)
    return transformers.BertConfig(**values)


def masked_batch(
    per_row: Sequence[int],
    next_sentence_label: Sequence[int],
    *,
    seq: int = 16,
    vocab_size: int = TINY_NO_DROPOUT.vocab_size,
) -> dict[str, torch.Tensor]:
    """A pretraining batch of random ids (seed 0), one row per entry of ``per_row``.

    Row ``i`` has ``per_row[i]`` MLM labels at random positions, never the first or the last
    (where [CLS] and [SEP] would stand); every other label is ``IGNORE_INDEX``. One segment,
    no padding.
    """
    if len(next_sentence_label) != len(per_row):
        raise ValueError(f"{len(per_row)} rows but {len(next_sentence_label)} next-sentence labels")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab_size, (len(per_row), seq), generator=g)
    labels = torch.full_like(ids, IGNORE_INDEX)
    for row, count in enumerate(per_row):
        positions = torch.randperm(seq - 2, generator=g)[:count] + 1
        labels[row, positions] = ids[row, positions]
    return {
        "input_ids": ids,
        "token_type_ids": torch.zeros_like(ids),
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "next_sentence_label": torch.tensor(list(next_sentence_label)),
    }
