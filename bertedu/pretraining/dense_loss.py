"""The MLM loss the textbook way, from dense logits at every position, a few rows at a time.

Chapter 5 checks the model's sparse MLM loss (only the masked rows reach the
vocabulary projection) against the definition: logits at every position, then
the cross-entropy at the masked ones. For a whole batch the dense logits are
``batch x seq x vocab`` floats: 256 x 128 x 30,522 in fp32 is 4 GB for the gpu
recipe's batch. :func:`dense_mlm_loss` computes the very same number from
``chunk_rows`` sequences at a time, keeping only each chunk's summed loss, so the
largest tensor is ``chunk_rows x seq x vocab`` (125 MB for 8 rows of 128).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from bertedu.constants import IGNORE_INDEX
from bertedu.model import BertForPreTraining


def _rows(batch: Mapping[str, torch.Tensor], rows: slice) -> dict[str, torch.Tensor]:
    return {name: value[rows] for name, value in batch.items()}


def dense_mlm_loss(
    model: BertForPreTraining, batch: Mapping[str, torch.Tensor], *, chunk_rows: int = 8
) -> torch.Tensor:
    """Mean cross-entropy at the labelled positions, from the dense ``[rows, seq, vocab]`` logits.

    Equals ``F.cross_entropy(dense[masked], labels[masked])`` for the whole
    batch, without ever holding the whole batch's logits. Runs without
    gradients, on the batch's device.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    labels = batch["labels"]
    count = int((labels != IGNORE_INDEX).sum())
    if count == 0:
        raise ValueError(
            "The batch has no MLM label (every label is IGNORE_INDEX): nothing to score."
        )
    total = torch.zeros((), dtype=torch.float64)
    with torch.no_grad():
        for first in range(0, labels.shape[0], chunk_rows):
            chunk = _rows(batch, slice(first, first + chunk_rows))
            dense = model(
                chunk["input_ids"], chunk.get("token_type_ids"), chunk.get("attention_mask")
            ).mlm_logits  # [chunk, seq, vocab]: every position of these rows
            chunk_labels = chunk["labels"]
            masked = chunk_labels != IGNORE_INDEX
            total += F.cross_entropy(
                dense[masked].float(), chunk_labels[masked].long(), reduction="sum"
            ).double()
    return (total / count).float()
