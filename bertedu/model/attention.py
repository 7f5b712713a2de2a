"""Multi-head scaled dot-product attention, with masks done right.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_head) + M) V

``M`` is an *additive* mask: 0 where a query may look at a key, and the most
negative number of the dtype (``torch.finfo(dtype).min``) where it may not.
After the softmax, ``exp(min - max)`` underflows to exactly 0, so a padded key
gets exactly zero weight. Filling with a small constant such as ``1e-9`` (what
a common first implementation does) leaves the score almost unchanged: the
padded key keeps its weight. The dtype's minimum, unlike ``-inf``, never turns a fully masked
row into ``NaN`` (``-inf - -inf``); such a row just becomes uniform.

Masks are passed around as *boolean* tensors (True = may attend) that
broadcast to ``[batch, heads, query, key]``; :func:`padding_mask` and
:func:`causal_mask` build the two kinds BERT and a Transformer decoder need,
and ``&`` combines them. :class:`MultiHeadAttention` does self-attention and,
given ``key_value_states``, cross-attention, so a decoder reuses it as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``[batch, key]`` 1/0 (or True/False) mask -> boolean ``[batch, 1, 1, key]``.

    The two singleton axes broadcast over heads and queries: every query may
    attend to every real key and to no padded one.
    """
    if attention_mask.dim() != 2:
        raise ValueError(
            f"attention_mask must be [batch, seq], got shape {tuple(attention_mask.shape)}"
        )
    return attention_mask.bool()[:, None, None, :]


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``[1, 1, seq, seq]`` lower-triangular mask: query ``i`` sees keys ``0..i``.

    A decoder combines it with a padding mask: ``causal_mask(L) & padding_mask(m)``.
    """
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()[None, None]


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean mask (True = attend) -> additive float mask (0 or ``finfo(dtype).min``)."""
    if mask.dtype != torch.bool:
        raise ValueError(f"expected a boolean mask (True = may attend), got dtype {mask.dtype}")
    zeros = torch.zeros((), dtype=dtype, device=mask.device)
    return torch.where(mask, zeros, torch.finfo(dtype).min)


def attention_weights(
    query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``softmax(Q K^T / sqrt(d) + M)``: ``[..., q, d]``, ``[..., k, d]`` -> ``[..., q, k]``.

    ``mask`` is boolean (True = may attend), broadcastable to ``[..., q, k]``.
    """
    scores = query @ key.transpose(-2, -1) * query.shape[-1] ** -0.5
    if mask is not None:
        scores = scores + additive_mask(mask, scores.dtype)
    return scores.softmax(dim=-1)


class MultiHeadAttention(nn.Module):
    """``num_heads`` attention heads run in parallel on slices of the hidden vector.

    Multi-head attention is a reshape: project to ``hidden_size``, view the last
    axis as ``[heads, head_dim]``, attend per head, then merge the heads back
    and mix them with one output projection. Parameter names (``query``,
    ``key``, ``value``, ``output``) mirror transformers' ``attention.self.*``
    and ``attention.output.dense``.
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})"
            )
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.dropout = dropout

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, seq, hidden]`` -> ``[batch, heads, seq, head_dim]``."""
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2)

    @staticmethod
    def merge_heads(x: torch.Tensor) -> torch.Tensor:
        """``[batch, heads, seq, head_dim]`` -> ``[batch, seq, hidden]``."""
        batch, heads, seq_len, head_dim = x.shape
        return x.transpose(1, 2).reshape(batch, seq_len, heads * head_dim)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``hidden_states`` to ``key_value_states`` (itself by default).

        Returns ``(output [batch, q, hidden], weights [batch, heads, q, k] or None)``.
        Without ``output_attentions`` the fused kernel
        (``F.scaled_dot_product_attention``) runs; with it, the explicit
        formula, whose weights we can return. Both use the same additive mask.
        """
        source = hidden_states if key_value_states is None else key_value_states
        q = self.split_heads(self.query(hidden_states))
        k = self.split_heads(self.key(source))
        v = self.split_heads(self.value(source))
        dropout_p = self.dropout if self.training else 0.0
        if output_attentions:
            weights = attention_weights(q, k, mask)
            context = F.dropout(weights, p=dropout_p) @ v
        else:
            weights = None
            bias = None if mask is None else additive_mask(mask, q.dtype)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
        return self.output(self.merge_heads(context)), weights
