"""BERT's input layer: token + learned position + segment embeddings, LayerNorm, dropout.

    E = Dropout(LayerNorm(W_tok[input_ids] + W_pos[0..L-1] + W_seg[token_type_ids]))

Positions are *learned* vectors (one per index up to ``max_position_embeddings``),
not the sinusoids of the original Transformer; the LayerNorm normalises each
token's ``hidden_size``-dimensional vector (not the sequence).
"""

from __future__ import annotations

import torch
from torch import nn

from bertedu.model.config import BertConfig
from bertedu.model.input_checks import describe_shape, require_shape_of_input_ids


class BertEmbeddings(nn.Module):
    """Turn token ids (and segment ids) into the vectors the encoder reads."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings), persistent=False
        )

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[batch, seq]`` ids -> ``[batch, seq, hidden]`` embeddings.

        ``token_type_ids`` defaults to all zeros (a single segment).
        """
        checked = not torch.compiler.is_compiling()  # no data-dependent checks in compiled code
        if checked:
            validate_input_ids(input_ids, self.config)
        seq_len = input_ids.shape[1]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        elif checked:
            validate_token_type_ids(token_type_ids, input_ids, self.config)
        positions = self.position_ids[:seq_len]
        # Summed in transformers' order (token + segment, then + position): float addition is
        # not associative, and the same order makes our outputs bit-identical to the reference.
        summed = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(positions)[None, :, :]
        )
        return self.dropout(self.LayerNorm(summed))


def validate_input_ids(input_ids: torch.Tensor, config: BertConfig) -> None:
    """Raise a ``ValueError`` that says how to fix ids the model cannot embed."""
    if not isinstance(input_ids, torch.Tensor):
        raise ValueError(
            f"input_ids must be a torch tensor of token ids, got a {type(input_ids).__name__}; "
            "build one with torch.tensor([[101, 102]]) (a batch of one sequence) or "
            "tokenizer(text, return_tensors='pt')."
        )
    if input_ids.dim() != 2:
        raise ValueError(
            f"input_ids must be a 2-D tensor [batch, seq], got {describe_shape(input_ids)}; "
            "add a batch dimension with input_ids.unsqueeze(0)."
        )
    if input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    batch, seq_len = input_ids.shape
    if seq_len == 0 or batch == 0:
        raise ValueError("input_ids is empty: tokenize at least one token ([CLS] ... [SEP]).")
    if seq_len > config.max_position_embeddings:
        raise ValueError(
            f"Sequence length {seq_len} is longer than the position table "
            f"(max_position_embeddings={config.max_position_embeddings}). Truncate the input "
            f"(tokenizer(..., truncation=True, max_length={config.max_position_embeddings})) "
            "or split it into windows."
        )
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= config.vocab_size:
        raise ValueError(
            f"Token ids must lie in [0, {config.vocab_size}) (vocab_size); these run from {low} "
            f"to {high}. "
            "Was the text tokenized with a different vocabulary than the model's?"
        )


def validate_token_type_ids(
    token_type_ids: torch.Tensor, input_ids: torch.Tensor, config: BertConfig
) -> None:
    """Raise a ``ValueError`` for segment ids of the wrong dtype, shape or range."""
    if token_type_ids.dtype == torch.bool or token_type_ids.is_floating_point():
        raise ValueError(
            f"token_type_ids must hold integer segment ids (0 for sentence A, 1 for sentence B), "
            f"got dtype {token_type_ids.dtype}; convert with token_type_ids.long()."
        )
    require_shape_of_input_ids(
        "token_type_ids",
        token_type_ids,
        input_ids,
        "; they must match (one segment id per token).",
    )
    low, high = int(token_type_ids.min()), int(token_type_ids.max())
    if low < 0 or high >= config.type_vocab_size:
        raise ValueError(
            f"token_type_ids must lie in [0, {config.type_vocab_size}); these run from {low} "
            f"to {high}: "
            "0 for sentence A, 1 for sentence B."
        )
