"""The pointer-generator's copy mechanism (See et al. 2017, "Get To The Point").

A plain decoder can only *generate*: its next token comes from a softmax over
the 30,522-word vocabulary, and a small model trained on a few hundred answers
learns the answers it saw, not how to find a new one in the passage. A
pointer-generator adds a second way to produce a token: **copy** one of the
passage's tokens, with the probability the decoder's cross-attention gives it.
At every decoder step ``t`` a learned gate ``p_gen`` in (0, 1) mixes the two::

    P(w) = p_gen * P_vocab(w) + (1 - p_gen) * sum_{i : x_i = w} a_t[i]

where ``a_t`` is the cross-attention distribution over the source positions
``i`` (the last decoder block's, averaged over its heads, restricted to the
passage's tokens) and ``x_i`` the source token at position ``i``. The gate
reads what the step knows: ``p_gen = sigmoid(w . [s_t; c_t; y_t] + b)`` with
``s_t`` the decoder state, ``c_t = sum_i a_t[i] h_i`` the passage summary the
attention read, and ``y_t`` the embedding of the decoder's input token.

A word that occurs twice in the passage collects the attention of both
positions (the ``sum``). A word absent from the passage can still be written
from the vocabulary, so free-form answers (MS MARCO) stay possible.
"""

from __future__ import annotations

import torch
from torch import nn

from bertedu.constants import CLS_ID, PAD_ID, SEP_ID

#: Probabilities are clamped to this before the log: a token neither generated nor copied.
MIN_PROBABILITY = 1e-12


def passage_mask(
    input_ids: torch.Tensor,
    token_type_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``[batch, source]``: the positions the decoder may copy from.

    The passage's tokens: segment 1 (``token_type_ids``, when given), not
    padding (``attention_mask``), and not ``[CLS]``/``[SEP]``/``[PAD]``
    (the end token must be *generated*, so that stopping is a decision of the
    vocabulary side).
    """
    mask = (input_ids != CLS_ID) & (input_ids != SEP_ID) & (input_ids != PAD_ID)
    if token_type_ids is not None:
        mask &= token_type_ids == 1
    if attention_mask is not None:
        mask &= attention_mask.bool()
    return mask


def copy_attention(cross_weights: torch.Tensor, copy_mask: torch.Tensor) -> torch.Tensor:
    """``[batch, heads, target, source]`` weights -> ``[batch, target, source]`` copy weights.

    The heads' mean, zero outside ``copy_mask`` and renormalised to sum to 1
    over the copyable positions (a row with none stays all zeros).
    """
    weights = cross_weights.mean(dim=1) * copy_mask[:, None, :]
    return weights / weights.sum(dim=-1, keepdim=True).clamp_min(MIN_PROBABILITY)


def copy_distribution(
    weights: torch.Tensor, source_ids: torch.Tensor, vocab_size: int
) -> torch.Tensor:
    """Scatter ``[batch, target, source]`` copy weights onto the vocabulary: ``[batch, target,
    vocab]``, where entry ``w`` sums the weights of every source position holding token ``w``."""
    index = source_ids[:, None, :].expand(-1, weights.shape[1], -1)
    out = weights.new_zeros(*weights.shape[:2], vocab_size)
    return out.scatter_add_(-1, index, weights)


class CopyGate(nn.Module):
    """``p_gen = sigmoid(w . [decoder state; attention context; input embedding] + b)``."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * hidden_size, 1)

    def forward(
        self, state: torch.Tensor, context: torch.Tensor, embedded: torch.Tensor
    ) -> torch.Tensor:
        """Three ``[batch, target, hidden]`` tensors -> ``p_gen`` ``[batch, target]``."""
        return torch.sigmoid(self.linear(torch.cat([state, context, embedded], dim=-1)))[..., 0]


def mix_log_probs(
    vocab_logits: torch.Tensor, p_gen: torch.Tensor, copied: torch.Tensor
) -> torch.Tensor:
    """``log(p_gen * softmax(vocab_logits) + (1 - p_gen) * copied)``, ``[batch, target, vocab]``.

    Already normalised: ``log_softmax`` of the result returns it unchanged, so
    the same cross-entropy loss and the same greedy/beam search serve a plain
    and a copying decoder.
    """
    mixed = (
        p_gen[..., None] * vocab_logits.float().softmax(dim=-1) + (1 - p_gen[..., None]) * copied
    )
    return mixed.clamp_min(MIN_PROBABILITY).log()
