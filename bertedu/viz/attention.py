"""Getting attention maps out of a model, and shaping them for plots and statistics.

Everything in :mod:`bertedu.viz` takes an attention map in one of these shapes:

* ``[seq, seq]``: one head; row ``i`` is query token ``i``, column ``j`` key token ``j``;
* ``[heads, seq, seq]``: one layer;
* ``[layers, heads, seq, seq]``: a whole model;
* a model's ``outputs.attentions``: a tuple with one ``[batch, heads, seq, seq]`` tensor
  per layer, for a batch of one example (index a larger batch first).

:func:`as_attention_array` turns any of these into a NumPy array, so the rest of the
package never has to care whether it got a tensor, an array or a tuple.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: The tokens that "hide special tokens" removes: they carry no words of the input.
SPECIAL_TOKENS: tuple[str, ...] = ("[CLS]", "[SEP]", "[PAD]")


def as_attention_array(attention, tokens: Sequence[str] | None = None) -> np.ndarray:
    """Any attention input (see the module docstring) -> a float64 NumPy array.

    The result keeps the rank it was given (2, 3 or 4); a tuple of per-layer
    tensors becomes ``[layers, heads, seq, seq]`` (a nested list of numbers is one
    array). With ``tokens``, their number must match ``seq``: a mismatch would label
    the plot's axes wrongly. An empty map (nothing to draw: a blank figure or numpy's
    zero-size error) and NaN or infinite weights (blank tiles) are refused.
    """
    if isinstance(attention, (tuple, list)) and not _holds_numbers(attention):
        if not attention:
            raise ValueError(
                "The attention tuple is empty. A transformers model loaded with "
                "attn_implementation='sdpa' returns no maps: load it with "
                "attn_implementation='eager' and call it with output_attentions=True."
            )
        layers = [as_attention_array(layer) for layer in attention]
        if layers[0].ndim == 4:
            if layers[0].shape[0] != 1:
                raise ValueError(
                    f"outputs.attentions holds a batch of {layers[0].shape[0]} examples; pick "
                    "one first: [layer[i] for layer in outputs.attentions]."
                )
            layers = [layer[0] for layer in layers]
        array = np.stack(layers)
    elif isinstance(attention, torch.Tensor):
        array = attention.detach().to("cpu", torch.float64).numpy()
    else:
        try:
            array = np.asarray(attention, dtype=np.float64)
        except ValueError as error:
            raise ValueError(
                "The attention map is not a rectangular array of numbers: its nested lists "
                f"are ragged (rows of different lengths) or hold something else ({error}). "
                "Give one weight per query and key."
            ) from None
    if array.ndim not in (2, 3, 4) or array.shape[-1] != array.shape[-2]:
        raise ValueError(
            f"Expected an attention map [seq, seq], [heads, seq, seq] or "
            f"[layers, heads, seq, seq], got shape {array.shape}."
        )
    if array.size == 0:
        raise ValueError(
            f"The attention map is empty (shape {array.shape}): nothing to draw or measure. If "
            "every token was hidden (hide_tokens), hide fewer (hidden=('[CLS]', '[SEP]') keeps "
            "the words); otherwise pass the map of an input with at least one token."
        )
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        names = ("layer", "head", "query", "key")[4 - array.ndim :]
        where = ", ".join(f"{name} {int(i)}" for name, i in zip(names, bad[0], strict=True))
        raise ValueError(
            f"{len(bad)} attention weight(s) are not finite (NaN or infinite), the first at "
            f"{where}: they would draw as blank tiles. Check the model's output (a NaN loss, "
            "a mask of -inf on every key)."
        )
    if tokens is not None and len(tokens) != array.shape[-1]:
        raise ValueError(
            f"{len(tokens)} tokens for an attention map over {array.shape[-1]} positions; "
            "pass the tokens of the same input."
        )
    return array


def _holds_numbers(attention: tuple | list) -> bool:
    """True for a nested list of numbers (one map), False for a tuple of per-layer tensors."""
    first = attention
    while isinstance(first, (tuple, list)) and first:
        first = first[0]
    return not isinstance(first, (torch.Tensor, np.ndarray, tuple, list))


def one_head(attention, tokens: Sequence[str], what: str) -> np.ndarray:
    """``attention`` as one head's ``[seq, seq]`` array over ``tokens``; a ValueError naming the
    plotting function ``what`` for any other shape (checked before a figure is made, so a
    refused call leaves no blank figure behind)."""
    matrix = as_attention_array(attention, tokens)
    if matrix.ndim != 2:
        raise ValueError(
            f"{what} draws one head ([seq, seq]), got shape {matrix.shape}: "
            "pick one with attention[layer, head] or bertedu.viz.select_head."
        )
    return matrix


def as_layers_heads(attention, tokens: Sequence[str] | None = None) -> np.ndarray:
    """Any attention input -> ``[layers, heads, seq, seq]`` (a lone head is layer 0, head 0)."""
    array = as_attention_array(attention, tokens)
    return array.reshape((1,) * (4 - array.ndim) + array.shape)


def select_head(attention, layer: int, head: int) -> np.ndarray:
    """The ``[seq, seq]`` map of one head of a ``[layers, heads, seq, seq]`` attention."""
    array = as_layers_heads(attention)
    layers, heads = array.shape[:2]
    if not (0 <= layer < layers and 0 <= head < heads):
        raise IndexError(
            f"layer {layer}, head {head} does not exist: this model has layers 0-{layers - 1} "
            f"and heads 0-{heads - 1}."
        )
    return array[layer, head]


def hide_tokens(attention, tokens: Sequence[str], hidden: Sequence[str] = SPECIAL_TOKENS):
    """Drop the rows and columns of the ``hidden`` tokens (by default [CLS], [SEP], [PAD]).

    Returns ``(attention, tokens, positions)``: the sub-map over the kept tokens
    (same type and leading axes as the input), their strings, and their positions in
    the full sequence. Rows are *not* renormalised, so a row's sum is the share of
    that token's attention that went to the kept tokens: a head that looks at [SEP]
    turns dark instead of being blown up into a fake pattern.
    """
    if not isinstance(attention, (torch.Tensor, np.ndarray)):
        attention = as_attention_array(attention)
    if len(tokens) != attention.shape[-1]:
        raise ValueError(
            f"{len(tokens)} tokens for an attention map over {attention.shape[-1]} positions."
        )
    positions = [i for i, token in enumerate(tokens) if token not in set(hidden)]
    index = (
        torch.tensor(positions, dtype=torch.long)
        if isinstance(attention, torch.Tensor)
        else np.array(positions, dtype=np.int64)
    )
    kept = attention[..., index, :][..., index]
    return kept, [tokens[i] for i in positions], positions


@dataclass(frozen=True)
class AttentionResult:
    """What :func:`attention_for` returns: one input and every attention map of the model."""

    tokens: list[str]  # WordPieces, with [CLS]/[SEP]
    attentions: torch.Tensor  # [layers, heads, seq, seq], float32 on the CPU
    token_type_ids: list[int]  # 0 for [CLS] A [SEP], 1 for B [SEP]
    truncated: bool = False
    note: str | None = None  # what was cut, when truncated

    @property
    def num_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[1]


def _model_config(model):
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "num_hidden_layers"):
        raise TypeError(
            "Expected a BERT model with a .config (bertedu or transformers), got "
            f"{type(model).__name__}."
        )
    return config


def encode_for(
    model, tokenizer, text_a: str, text_b: str | None = None, max_length: int = 128
) -> tuple[dict, bool, str | None]:
    """Tokenize a sentence (pair) for ``model`` the way :func:`attention_for` does.

    Returns ``(encoded, truncated, note)``: the tokenizer's tensors (batch of one),
    whether WordPieces were cut to fit ``max_length`` (capped at the model's position
    table), and a note saying what was cut. An empty ``text_a`` raises a
    ``ValueError``; an empty ``text_b`` means "no second sentence".
    """
    if not isinstance(text_a, str) or not text_a.strip():
        raise ValueError("Sentence A is empty: type a sentence to see its attention maps.")
    if not tokenizer.tokenize(text_a):
        raise ValueError(
            f"Sentence A ({text_a!r}) has no WordPieces after tokenization "
            "(only whitespace or control characters): type some words."
        )
    if text_b is not None and (
        not isinstance(text_b, str) or not text_b.strip() or not tokenizer.tokenize(text_b)
    ):
        text_b = None
    config = _model_config(model)
    limit = min(int(max_length), config.max_position_embeddings)
    minimum = 3 if text_b is None else 5  # [CLS] a [SEP] (b [SEP]): at least one WordPiece each
    if limit < minimum:
        raise ValueError(
            f"max_length={max_length} leaves no room for text: use at least {minimum}."
        )

    full_length = len(tokenizer(text_a, text_b, truncation=False, verbose=False)["input_ids"])
    encoded = tokenizer(
        text_a, text_b, truncation="longest_first", max_length=limit, return_tensors="pt"
    )
    kept = encoded["input_ids"].shape[1]
    truncated = kept < full_length
    note = None
    if truncated:
        where = "the end of the longer sentence" if text_b is not None else "the end"
        note = (
            f"Input truncated: it has {full_length} tokens, the model is shown the first {kept} "
            f"(max_length={limit}); WordPieces were cut from {where}."
        )
    return encoded, truncated, note


def attention_for(
    model, tokenizer, text_a: str, text_b: str | None = None, max_length: int = 128
) -> AttentionResult:
    """Tokenize ``text_a`` (and ``text_b``), run ``model`` and return every attention map.

    ``model`` is a bertedu ``BertModel``/``BertForPreTraining`` or a transformers
    ``BertModel`` loaded with ``attn_implementation="eager"``. Input longer than
    ``max_length`` WordPieces (capped at the model's position table) is truncated,
    never refused: ``result.truncated`` and ``result.note`` say what was cut. An empty
    ``text_a`` raises a ``ValueError``; an empty ``text_b`` means "no second sentence".
    """
    encoded, truncated, note = encode_for(model, tokenizer, text_a, text_b, max_length)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # dropout off: attention maps must not change from one call to the next
    try:
        with torch.no_grad():
            outputs = model(
                input_ids=encoded["input_ids"].to(device),
                token_type_ids=encoded["token_type_ids"].to(device),
                attention_mask=encoded["attention_mask"].to(device),
                output_attentions=True,
            )
    finally:
        model.train(was_training)
    if not outputs.attentions:
        raise ValueError(
            "The model returned no attention maps. A transformers model must be loaded with "
            "attn_implementation='eager' (the 'sdpa' kernel does not compute them)."
        )
    attentions = torch.stack([layer[0] for layer in outputs.attentions]).float().cpu()
    return AttentionResult(
        tokens=tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist()),
        attentions=attentions,
        token_type_ids=encoded["token_type_ids"][0].tolist(),
        truncated=truncated,
        note=note,
    )
