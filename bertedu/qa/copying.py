"""The pointer-generator's copy mechanism (See et al. 2017, "Get To The Point").

A plain decoder can only *generate*: its next token comes from a softmax over
the 30,522-word vocabulary, and a small model trained on a few hundred answers
learns the answers it saw, not how to find a new one in the passage. A
pointer-generator adds a second way to produce a token: **copy** one of the
passage's tokens, with the probability the decoder's cross-attention gives it.
At every decoder step ``t`` a learned gate ``p_gen`` in (0, 1) mixes the two::

    P(w) = p_gen * P_vocab(w) + (1 - p_gen) * sum_{i : x_i = w} a_t[i]

where ``a_t`` is the **pointer**: one attention head from the last decoder
block's state ``s_t`` to the encoder's states ``h_i``, over the passage's
positions only, ``a_t = softmax_i((W_q s_t) . (W_k h_i) / sqrt(d))``, and
``x_i`` the source token at position ``i``. The gate reads what the step
knows: ``p_gen = sigmoid(w . [s_t; c_t; y_t] + b)`` with ``c_t = sum_i a_t[i]
h_i`` the passage summary the pointer read and ``y_t`` the embedding of the
decoder's input token.

Why a head of its own, as in See et al. (whose model has one attention)? The
decoder's cross-attention has many heads (MiniLM: 12) that read the passage
for the decoder's state; using their *mean* as the copy distribution (a first
version of this module did) can point sharply only when every head looks at
the same token, and pulls all of them away from reading. With a 12-head
MiniLM that version had not learned to copy after 30 updates on 16 questions
(training loss 2.25), where the single pointer head can put its mass on one
token from the first updates.

Copying a span word after word needs one more thing: knowing *where* the
last word came from, so that the pointer can move to the next position. The
decoder's input token ``y_t`` says which word was written, not where it sits
in the passage. CopyNet's **selective read** (Gu et al. 2016, "Incorporating
Copying Mechanism in Sequence-to-Sequence Learning") adds it: the decoder's
input at step ``t`` also gets ``W_r r_t``, with ``r_t`` the mean of the encoder
states ``h_i`` at the passage positions holding ``y_t`` (zero when it holds
none, e.g. for ``[CLS]``). The encoder's states carry their positions, so
"point just after ``r_t``" becomes a function the pointer can learn.

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


class PointerAttention(nn.Module):
    """The copy distribution: one attention head from the decoder's states to the passage."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.scale = hidden_size**-0.5

    def forward(
        self, state: torch.Tensor, encoder_states: torch.Tensor, copy_mask: torch.Tensor
    ) -> torch.Tensor:
        """``[batch, target, hidden]`` states, ``[batch, source, hidden]`` encoder states and the
        ``[batch, source]`` copyable positions -> ``[batch, target, source]`` weights.

        Each row sums to 1 over the copyable positions and is 0 elsewhere (a row
        with no copyable position is all zeros).
        """
        scores = self.query(state) @ self.key(encoder_states).transpose(1, 2) * self.scale
        scores = scores.float().masked_fill(~copy_mask[:, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)
        return weights.nan_to_num(0.0)  # all -inf (nothing to copy) gives NaN rows: 0 instead


def copy_distribution(
    weights: torch.Tensor, source_ids: torch.Tensor, vocab_size: int
) -> torch.Tensor:
    """Scatter ``[batch, target, source]`` copy weights onto the vocabulary: ``[batch, target,
    vocab]``, where entry ``w`` sums the weights of every source position holding token ``w``."""
    index = source_ids[:, None, :].expand(-1, weights.shape[1], -1)
    out = weights.new_zeros(*weights.shape[:2], vocab_size)
    return out.scatter_add_(-1, index, weights)


def selective_read(
    input_ids: torch.Tensor,
    source_ids: torch.Tensor,
    copy_mask: torch.Tensor,
    encoder_states: torch.Tensor,
) -> torch.Tensor:
    """``r_t``: the mean encoder state of the copyable positions holding each decoder input token.

    ``[batch, target]`` decoder input ids, ``[batch, source]`` source ids and
    copyable positions, ``[batch, source, hidden]`` states -> ``[batch, target,
    hidden]``; a row is zero where the token occurs at no copyable position.
    """
    match = (input_ids[:, :, None] == source_ids[:, None, :]) & copy_mask[:, None, :]
    weights = match.to(encoder_states.dtype)
    weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1.0)
    return weights @ encoder_states


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
