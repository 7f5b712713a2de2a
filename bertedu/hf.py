"""Move weights between bertedu's BERT and transformers' BERT.

``from_hf`` proves our implementation right: a real pretrained checkpoint,
loaded into our modules, must give the same numbers as transformers.
``to_hf`` lets a model trained in the book use transformers' tooling
(``pipeline("fill-mask")``, ``pipeline("question-answering")``, ``save_pretrained``, the
hub).

Most state-dict names are already equal (``embeddings.*``, ``pooler.dense.*``,
``cls.predictions.transform.*``, ``cls.predictions.bias``,
``cls.seq_relationship.*``). Only the inside of an encoder block is spelled
differently; :data:`LAYER_RENAMES` is the whole mapping.
"""

from __future__ import annotations

import warnings

import torch
import transformers
from torch import nn

from bertedu.model import BertConfig, BertForPreTraining, BertModel

#: (transformers name, bertedu name) of each tensor group inside ``encoder.layer.<i>.``
LAYER_RENAMES: tuple[tuple[str, str], ...] = (
    ("attention.self.query.", "attention.query."),
    ("attention.self.key.", "attention.key."),
    ("attention.self.value.", "attention.value."),
    ("attention.output.dense.", "attention.output."),
    ("attention.output.LayerNorm.", "attention_norm."),
    ("intermediate.dense.", "ffn.intermediate."),
    ("output.dense.", "ffn.output."),
    ("output.LayerNorm.", "ffn_norm."),
)

_CONFIG_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
)


def _rename(name: str, direction: int) -> str:
    """Rename one state-dict key; ``direction`` 0 = transformers -> bertedu, 1 = back."""
    head, sep, rest = name.partition("encoder.layer.")
    if not sep:
        return name
    index, _, suffix = rest.partition(".")
    for pair in LAYER_RENAMES:
        source, target = pair[direction], pair[1 - direction]
        if suffix.startswith(source):
            return f"{head}encoder.layer.{index}.{target}{suffix[len(source) :]}"
    raise KeyError(f"no mapping for the encoder weight {name!r}")


def config_from_hf(hf_config: transformers.BertConfig) -> BertConfig:
    """Convert a transformers ``BertConfig``; refuse what our model does not implement."""
    model_type = getattr(hf_config, "model_type", None)
    if model_type != "bert":
        raise ValueError(f"Only BERT configs can be converted, got model_type={model_type!r}")
    position_type = getattr(hf_config, "position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ValueError(
            f"position_embedding_type={position_type!r} is not supported: bertedu's "
            "BERT has learned absolute position embeddings only."
        )
    if hf_config.hidden_act != "gelu":
        raise ValueError(
            f"hidden_act={hf_config.hidden_act!r} is not supported: bertedu's BERT uses "
            "the exact erf GELU ('gelu'); 'gelu_new', 'relu' etc. would give other numbers."
        )
    if getattr(hf_config, "is_decoder", False) or getattr(hf_config, "add_cross_attention", False):
        raise ValueError(
            "Decoder BERT configs (is_decoder / add_cross_attention) are not supported: "
            "bertedu's BertModel is a bidirectional encoder."
        )
    values = {name: getattr(hf_config, name) for name in _CONFIG_FIELDS}
    pad = getattr(hf_config, "pad_token_id", None)
    values["pad_token_id"] = 0 if pad is None else pad
    return BertConfig(**values)


def config_to_hf(config: BertConfig, attn_implementation: str = "eager") -> transformers.BertConfig:
    """Our config as a transformers ``BertConfig`` (exact GELU, tied word embeddings)."""
    return transformers.BertConfig(
        **config.to_dict(),
        hidden_act="gelu",
        tie_word_embeddings=True,
        attn_implementation=attn_implementation,
    )


#: Modules a transformers task model may lack; from_hf leaves them freshly initialised.
MAY_BE_UNTRAINED = ("bert.pooler.", "pooler.", "cls.seq_relationship.")


def _target_class(hf_model: nn.Module) -> type[nn.Module]:
    """bertedu's class for a transformers BERT model (the task head decides)."""
    if isinstance(hf_model, (transformers.BertForPreTraining, transformers.BertForMaskedLM)):
        return BertForPreTraining
    if isinstance(hf_model, transformers.BertForQuestionAnswering):
        from bertedu.qa.extractive import BertForQuestionAnswering

        return BertForQuestionAnswering
    if isinstance(hf_model, transformers.BertModel):
        return BertModel
    raise TypeError(
        "from_hf supports transformers BertModel, BertForPreTraining, BertForMaskedLM and "
        f"BertForQuestionAnswering, got {type(hf_model).__name__}. For another BERT task "
        "model, pass its encoder (model.bert) to get a BertModel and put your own head on it."
    )


def from_hf(hf_model: nn.Module) -> nn.Module:
    """transformers BERT -> bertedu's model with the same weights.

    * ``BertModel`` -> :class:`~bertedu.model.BertModel`;
    * ``BertForPreTraining`` and ``BertForMaskedLM`` -> :class:`~bertedu.model.BertForPreTraining`;
    * ``BertForQuestionAnswering`` -> :class:`bertedu.qa.extractive.BertForQuestionAnswering`.

    What the source does not have (``BertForMaskedLM`` has neither a pooler nor
    the NSP head; ``BertForQuestionAnswering`` and ``add_pooling_layer=False``
    have no pooler) keeps a fresh initialisation: its parameter names are in
    the result's ``untrained_parameters`` and a warning says so. The result has
    the source's dtype, device and train/eval mode. Weights with NaN or infinite
    values are refused, naming the tensor.
    """
    ours_cls = _target_class(hf_model)
    config = config_from_hf(hf_model.config)
    source = hf_model.state_dict()
    if ours_cls is BertForPreTraining:
        decoder = hf_model.cls.predictions.decoder.weight
        if not torch.equal(decoder, hf_model.bert.embeddings.word_embeddings.weight):
            raise ValueError(
                "The MLM decoder is not tied to the word embeddings; bertedu's "
                "BertForPreTraining always ties them, so these weights cannot be represented."
            )
        source.pop("cls.predictions.decoder.bias", None)  # the same tensor as cls.predictions.bias
    for name, tensor in source.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(
                f"{type(hf_model).__name__}'s tensor {name!r} holds NaN or infinite values: the "
                "weights are damaged or come from a run that diverged. Load another copy (or an "
                "earlier checkpoint) of the model."
            )
    state = {_rename(name, 0): tensor for name, tensor in source.items()}
    first = next(hf_model.parameters())
    model = ours_cls(config).to(dtype=first.dtype, device=first.device)
    missing, unexpected = model.load_state_dict(state, strict=False)
    not_allowed = [name for name in missing if not name.startswith(MAY_BE_UNTRAINED)]
    if unexpected or not_allowed:
        raise ValueError(
            f"The weights of this {type(hf_model).__name__} do not fit bertedu's "
            f"{ours_cls.__name__}: missing {not_allowed[:5]}, unexpected {unexpected[:5]}."
        )
    model.untrained_parameters = tuple(missing)
    if missing:
        modules = sorted({name.rsplit(".", 1)[0] for name in missing})
        warnings.warn(
            f"{type(hf_model).__name__} has no {', '.join(modules)}: in the converted "
            f"{ours_cls.__name__} they are freshly initialised (untrained; see "
            "model.untrained_parameters). Fine-tune them before relying on their outputs.",
            stacklevel=2,
        )
    return model.train(hf_model.training)


def to_hf(
    model: nn.Module,
    masked_lm: bool = False,
    attn_implementation: str = "eager",
) -> transformers.PreTrainedModel:
    """Our model -> the transformers model of the same kind, with the same weights.

    * :class:`~bertedu.model.BertModel` -> ``BertModel``;
    * :class:`~bertedu.model.BertForPreTraining` -> ``BertForPreTraining``, or with
      ``masked_lm=True`` a ``BertForMaskedLM``: transformers' ``pipeline("fill-mask")``
      reads ``outputs.logits``, which ``BertForPreTraining`` does not have;
    * a reader, :class:`bertedu.qa.extractive.BertForQuestionAnswering` ->
      ``BertForQuestionAnswering``, which ``pipeline("question-answering")`` runs.
      transformers' span model has no pooler (a reader never uses it), so ours is left out.

    ``eager`` attention is the default because transformers' ``sdpa`` path returns no
    attention maps.
    """
    from bertedu.qa.extractive import BertForQuestionAnswering

    if isinstance(model, BertForQuestionAnswering):
        if masked_lm:
            raise ValueError("masked_lm=True needs a BertForPreTraining: a reader has no MLM head.")
        hf_cls = transformers.BertForQuestionAnswering
    elif isinstance(model, BertForPreTraining):
        hf_cls = transformers.BertForMaskedLM if masked_lm else transformers.BertForPreTraining
    elif isinstance(model, BertModel):
        if masked_lm:
            raise ValueError(
                "masked_lm=True needs a BertForPreTraining: a BertModel has no MLM head."
            )
        hf_cls = transformers.BertModel
    else:
        raise TypeError(
            "to_hf supports bertedu's BertModel, BertForPreTraining and (extractive) "
            f"BertForQuestionAnswering, got {type(model).__name__}. A generative reader "
            "(BertEncoderDecoder) has no transformers counterpart."
        )
    hf_model = hf_cls(config_to_hf(model.config, attn_implementation))
    state = {_rename(name, 1): tensor for name, tensor in model.state_dict().items()}
    if isinstance(model, BertForPreTraining):
        state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"]
    if isinstance(model, BertForQuestionAnswering):  # built with add_pooling_layer=False
        state = {
            name: tensor for name, tensor in state.items() if not name.startswith("bert.pooler.")
        }
    if masked_lm:  # BertForMaskedLM has neither a pooler nor the NSP head
        state = {
            name: tensor
            for name, tensor in state.items()
            if not name.startswith(("bert.pooler.", "cls.seq_relationship."))
        }
    first = next(model.parameters())
    hf_model.to(dtype=first.dtype, device=first.device)
    hf_model.load_state_dict(state, strict=True)
    return hf_model.train(model.training)
