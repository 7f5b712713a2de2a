"""BertModel: embeddings -> encoder -> pooler.

    E = Embeddings(input_ids, token_type_ids)         [batch, seq, hidden]
    H = Encoder(E, padding mask)                       [batch, seq, hidden]
    p = tanh(W_p H[:, 0] + b_p)                        [batch, hidden]

The pooler reads only the first token, [CLS]. Because pretraining's
next-sentence task is predicted from ``p``, [CLS] learns to summarise the pair,
and sentence-level fine-tuning heads (classification, NSP) sit on ``p``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from bertedu.model.attention import padding_mask
from bertedu.model.config import BertConfig
from bertedu.model.embeddings import BertEmbeddings, validate_input_ids
from bertedu.model.encoder import BertEncoder
from bertedu.model.input_checks import require_shape_of_input_ids
from bertedu.nn_utils import num_parameters


@dataclass
class BertModelOutput:
    """What :class:`BertModel` returns."""

    last_hidden_state: torch.Tensor  # [batch, seq, hidden]
    pooler_output: torch.Tensor  # [batch, hidden]
    attentions: tuple[torch.Tensor, ...] | None = None  # per layer [batch, heads, seq, seq]


class BertPooler(nn.Module):
    """``tanh(dense(h_[CLS]))``: one vector per sequence, for sentence-level heads."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """``[batch, seq, hidden]`` -> ``[batch, hidden]`` from position 0."""
        return torch.tanh(self.dense(hidden_states[:, 0]))


def init_bert_weights(module: nn.Module, std: float) -> None:
    """BERT's initialisation: N(0, std) weights, zero biases, LayerNorm weight 1 / bias 0.

    Apply with ``model.apply(lambda m: init_bert_weights(m, config.initializer_range))``.
    The padding token's embedding starts at zero, as in transformers.
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def validate_attention_mask(attention_mask: torch.Tensor, input_ids: torch.Tensor) -> None:
    """Raise a ``ValueError`` for a padding mask the model would misread."""
    require_shape_of_input_ids(
        "attention_mask",
        attention_mask,
        input_ids,
        "; they must match: 1 for a real token, 0 for padding.",
    )
    if attention_mask.dtype != torch.bool and not bool(
        ((attention_mask == 0) | (attention_mask == 1)).all()
    ):
        raise ValueError(
            "attention_mask must hold only 0 (padding) and 1 (real token); "
            "pass the tokenizer's attention_mask, not an additive -inf mask."
        )
    if not bool(attention_mask.bool().any(dim=1).all()):
        raise ValueError(
            "attention_mask has a row with no real token (all zeros); "
            "every sequence needs at least [CLS]."
        )


def parameter_count(config: BertConfig) -> int:
    """Parameters of :class:`BertModel` computed from the config alone (no model built).

    embeddings  (V + P + T) H + 2H               token, position, segment tables + LayerNorm
    per layer   4 (H^2 + H) + 2 (2H)             Q, K, V, output projections + 2 LayerNorms
                + (H I + I) + (I H + H)          the two FFN linears
    pooler      H^2 + H
    """
    h, i = config.hidden_size, config.intermediate_size
    embeddings = (
        config.vocab_size + config.max_position_embeddings + config.type_vocab_size
    ) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * (2 * h) + (h * i + i) + (i * h + h)
    pooler = h * h + h
    return embeddings + config.num_hidden_layers * layer + pooler


class BertModel(nn.Module):
    """The BERT encoder with its pooler. Submodule names mirror transformers' ``BertModel``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)
        self.apply(lambda module: init_bert_weights(module, config.initializer_range))

    def with_dropout(self, probability: float) -> BertModel:
        """A copy of this encoder, the same weights, whose hidden and attention dropout is
        ``probability``.

        A pretraining run on a CPU budget switches dropout off (a few thousand updates on
        fresh masks do not overfit); its config then says 0, and a reader fine-tuned from it
        on a few thousand questions would train without dropout, which memorises them.
        """
        config = dataclasses.replace(
            self.config, hidden_dropout_prob=probability, attention_probs_dropout_prob=probability
        )
        copy = BertModel(config).to(next(self.parameters()).device)
        copy.load_state_dict(self.state_dict())
        return copy.train(self.training)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> BertModelOutput:
        """Encode ``[batch, seq]`` ids; ``attention_mask`` is 1 for real tokens, 0 for padding.

        ``output_attentions=True`` returns each layer's attention weights (and
        uses the explicit attention formula instead of the fused kernel).
        """
        # The checks read values (a data-dependent branch): torch.compile would split its graph at
        # each one, so compiled code (a training run on checked batches) skips them.
        checked = not torch.compiler.is_compiling()
        if checked:
            validate_input_ids(input_ids, self.config)
        mask = None
        if attention_mask is not None:
            if checked:
                validate_attention_mask(attention_mask, input_ids)
            mask = padding_mask(attention_mask)
        hidden = self.embeddings(input_ids, token_type_ids)
        hidden, attentions = self.encoder(hidden, mask=mask, output_attentions=output_attentions)
        return BertModelOutput(
            last_hidden_state=hidden, pooler_output=self.pooler(hidden), attentions=attentions
        )

    def num_parameters(self) -> int:
        """Number of distinct parameters (a tied tensor counts once)."""
        return num_parameters(self)
