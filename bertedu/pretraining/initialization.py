"""Starting points that skip the first, dull phase of pretraining (the model stays BERT)."""

from __future__ import annotations

import math

import torch

from bertedu.model import BertForPreTraining


def sinusoidal_positions(num_positions: int, hidden_size: int) -> torch.Tensor:
    """The Transformer's sinusoids (Vaswani et al. 2017): sin/cos of ``pos / 10000^(2i/d)``."""
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]
    frequency = torch.exp(
        -math.log(10000.0) * torch.arange(0, hidden_size, 2, dtype=torch.float64) / hidden_size
    )
    table = torch.zeros(num_positions, hidden_size, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table.float()


def init_for_pretraining(
    model: BertForPreTraining,
    *,
    unigram_log_probs: torch.Tensor | None = None,
    sinusoidal_position_std: float | None = None,
) -> None:
    """Optional starting points that skip the first, uninteresting phase of pretraining.

    * ``unigram_log_probs``: the MLM output bias starts at the corpus's log
      frequencies, so the untrained model already predicts the unigram
      distribution (loss at the "plateau" instead of ``ln V``) and its first
      updates go to reading the context rather than to counting words;
    * ``sinusoidal_position_std``: the learned position embeddings start as
      sinusoids scaled to this standard deviation. Nearby positions then have
      similar vectors and an offset is a rotation, so an attention head can
      find "the previous token" quickly; the table stays fully trainable.
    Neither changes the architecture: the model is still a plain BERT.
    """
    with torch.no_grad():
        if unigram_log_probs is not None:
            bias = model.cls.predictions.bias
            bias.copy_(unigram_log_probs.to(bias) - unigram_log_probs.mean().to(bias))
        if sinusoidal_position_std is not None:
            table = model.bert.embeddings.position_embeddings.weight
            sinusoids = sinusoidal_positions(*table.shape)
            table.copy_(sinusoids / sinusoids.std() * sinusoidal_position_std)
