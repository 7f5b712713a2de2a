"""The encoder: a stack of post-LayerNorm Transformer blocks.

One block (BERT's, the original Transformer's "post-LN" order):

    h   = LayerNorm(x + Dropout(MultiHeadAttention(x)))
    out = LayerNorm(h + Dropout(FFN(h)))

The residual ``x + ...`` lets each block learn a *change* to its input; the
LayerNorm after the sum keeps every token vector at a steady scale as blocks
stack up.
"""

from __future__ import annotations

import torch
from torch import nn

from bertedu.model.attention import MultiHeadAttention
from bertedu.model.config import BertConfig
from bertedu.model.feedforward import FeedForward


class BertLayer(nn.Module):
    """One post-LN encoder block: self-attention, then feed-forward, each residual + LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(
            config.hidden_size,
            config.num_attention_heads,
            dropout=config.attention_probs_dropout_prob,
        )
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config.hidden_size, config.intermediate_size)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``[batch, seq, hidden]`` -> same shape, plus the attention weights if asked for."""
        attended, weights = self.attention(x, mask=mask, output_attentions=output_attentions)
        h = self.attention_norm(x + self.dropout(attended))
        out = self.ffn_norm(h + self.dropout(self.ffn(h)))
        return out, weights


class BertEncoder(nn.Module):
    """``num_hidden_layers`` blocks applied in turn; ``layer`` mirrors transformers'
    ``encoder.layer``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """Run every block; collect each block's ``[batch, heads, seq, seq]`` weights if asked."""
        attentions = []
        for block in self.layer:
            x, weights = block(x, mask=mask, output_attentions=output_attentions)
            attentions.append(weights)
        return x, (tuple(attentions) if output_attentions else None)
