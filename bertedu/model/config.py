"""BertConfig: every size of a BERT in one dataclass.

Field names follow transformers' ``BertConfig`` so that weights and configs map
one to one (see :mod:`bertedu.hf`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class BertConfig:
    """Hyper-parameters of a BERT encoder.

    The defaults are BERT-Base (L=12, H=768, A=12); :meth:`tiny` gives Google's
    BERT-Tiny. ``hidden_size`` must be a multiple of ``num_attention_heads``
    because multi-head attention splits the hidden vector into equal heads.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}): each head gets hidden_size / heads dimensions."
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {value!r}")
        if not (isinstance(self.layer_norm_eps, (int, float)) and 0 < self.layer_norm_eps < 1):
            raise ValueError(
                f"BertConfig.layer_norm_eps must be a small positive number (BERT uses 1e-12), "
                f"got {self.layer_norm_eps!r}: LayerNorm divides by sqrt(variance + eps), and a "
                "negative eps gives NaN for tokens of small variance."
            )
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id {self.pad_token_id} is outside the vocabulary")

    @property
    def head_dim(self) -> int:
        """Dimensions per attention head (``hidden_size / num_attention_heads``)."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def tiny(cls, **overrides: Any) -> BertConfig:
        """Google's BERT-Tiny: 2 layers, hidden 128, 2 heads, FFN 512, 512 positions.

        ``BertConfig.tiny(num_attention_heads=8)`` is the 8-head variant that a
        common first implementation of BERT-Tiny uses (head size 16 instead of 64).
        """
        values = dict(
            hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512
        )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def base(cls, **overrides: Any) -> BertConfig:
        """BERT-Base: 12 layers, hidden 768, 12 heads, FFN 3072 (the paper's defaults)."""
        return cls(**overrides)

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as an indented JSON string, as stored next to checkpoints."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BertConfig:
        """Build a config from a dict, rejecting unknown keys with a clear message."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown BertConfig fields {unknown}; expected a subset of {sorted(known)}"
            )
        return cls(**values)
