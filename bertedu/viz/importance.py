"""Attention against importance: does the output depend on the weights a head is large on?

A large attention weight need not matter. Clark et al. (2019, section 3.2) took the
gradient of BERT's masked-LM loss with respect to every attention weight and found
that the weight BERT-base parks on [SEP] has small gradients: moving it changes the
loss little, so attending to [SEP] works as a *no-op*. The same check for a sentence
encoder such as all-MiniLM-L6-v2 (which has no MLM head) uses the output it was
trained to produce, the sentence embedding ``e`` (the mean of the last hidden states
over the real tokens, scaled to length 1, as sentence-transformers computes it):

    importance_ij = || d e / d A_ij ||_2    (over the embedding's dimensions)

for every layer, head, query ``i`` and key ``j``: how much ``e`` would move per unit
of weight moved onto key ``j``. It is computed exactly, one backward pass per
embedding dimension (batched), not estimated.

    result = attention_gradients(model, tokenizer, "The cat sat.", "It slept.")
    result.gradients[1, 11]             # [seq, seq] importances of layer 1, head 11
    token_kind_table(result)            # attention and importance per kind of key
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from bertedu.viz.attention import encode_for
from bertedu.viz.stats import is_punctuation

#: The kinds of key token the tables compare, in display order.
TOKEN_KINDS: tuple[str, ...] = ("[CLS]", "[SEP]", "punctuation", "word")


def token_kinds(tokens: Sequence[str]) -> list[str | None]:
    """The kind of each token (one of :data:`TOKEN_KINDS`; ``None`` for [PAD])."""
    kinds: list[str | None] = []
    for token in tokens:
        if token == "[PAD]":
            kinds.append(None)
        elif token in ("[CLS]", "[SEP]"):
            kinds.append(token)
        else:
            kinds.append("punctuation" if is_punctuation(token) else "word")
    return kinds


def sentence_embedding(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` ``[batch, seq, dim]`` over the real tokens, scaled to length 1."""
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return F.normalize(pooled, dim=-1)


@dataclass(frozen=True)
class GradientResult:
    """What :func:`attention_gradients` returns for one input."""

    tokens: list[str]
    attentions: torch.Tensor  # [layers, heads, seq, seq]
    gradients: torch.Tensor  # [layers, heads, seq, seq]: || d e / d A_ij ||_2
    note: str | None = None  # the truncation note, when the input was cut


def attention_gradients(
    model,
    tokenizer,
    text_a: str,
    text_b: str | None = None,
    *,
    max_length: int = 128,
    chunk: int = 64,
) -> GradientResult:
    """Every attention weight of ``model`` on a sentence (pair), and its importance.

    ``model`` is a bertedu ``BertModel`` or ``BertForPreTraining`` (or a transformers
    ``BertModel`` loaded with ``attn_implementation="eager"``): its returned attention
    weights must be the tensors the forward pass multiplied with the values, so the
    gradients flow through them. ``chunk`` embedding dimensions are back-propagated together
    (memory grows with it, the result does not change). Input is tokenized and
    truncated as by :func:`bertedu.viz.attention_for`.
    """
    encoded, _, note = encode_for(model, tokenizer, text_a, text_b, max_length)
    device = next(model.parameters()).device
    inputs = {key: encoded[key].to(device) for key in ("input_ids", "token_type_ids")}
    mask = encoded["attention_mask"].to(device)
    was_training = model.training
    model.eval()  # dropout off: the gradients of the model as it is used
    try:
        with torch.enable_grad():
            outputs = model(**inputs, attention_mask=mask, output_attentions=True)
            hidden = getattr(outputs, "last_hidden_state", None)
            if hidden is None or not outputs.attentions:
                raise TypeError(
                    f"{type(model).__name__} returned no last_hidden_state or no attention "
                    "maps: pass a BERT encoder; a transformers model must be loaded with "
                    "attn_implementation='eager' (the 'sdpa' kernel does not compute them)."
                )
            if not outputs.attentions[0].requires_grad:
                raise ValueError(
                    "The attention weights are not part of the autograd graph: the model's "
                    "parameters must have requires_grad=True."
                )
            embedding = sentence_embedding(hidden, mask)[0]
            squares = [torch.zeros_like(layer[0]) for layer in outputs.attentions]
            basis = torch.eye(embedding.shape[0], device=device, dtype=embedding.dtype)
            for start in range(0, embedding.shape[0], chunk):
                rows = basis[start : start + chunk]
                grads = torch.autograd.grad(
                    embedding,
                    outputs.attentions,
                    grad_outputs=rows,
                    is_grads_batched=True,
                    retain_graph=start + chunk < embedding.shape[0],
                )
                for total, grad in zip(squares, grads, strict=True):
                    total += grad[:, 0].pow(2).sum(0)  # [chunk, 1, heads, q, k] -> [heads, q, k]
    finally:
        model.train(was_training)
    return GradientResult(
        tokens=tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist()),
        attentions=torch.stack([layer[0] for layer in outputs.attentions]).detach().float().cpu(),
        gradients=torch.stack(squares).sqrt().float().cpu(),
        note=note,
    )


def token_kind_table(result: GradientResult) -> pd.DataFrame:
    """Per head and kind of key: the attention it gets and the importance of that attention.

    One row per ``(layer, head, kind)`` (kinds of :data:`TOKEN_KINDS` present in the
    input): ``attention`` is the share of a query's weight that goes to keys of that
    kind (mean over the real query tokens; the kinds' shares sum to 1), and
    ``importance`` the mean of ``|| d e / d A_ij ||`` over those query-key pairs.
    """
    kinds = token_kinds(result.tokens)
    queries = np.array([kind is not None for kind in kinds])  # the real, non-[PAD] tokens
    attention = result.attentions.numpy()[:, :, queries]  # [L, H, real queries, keys]
    importance = result.gradients.numpy()[:, :, queries]
    layers, heads = attention.shape[:2]
    rows = []
    for kind in TOKEN_KINDS:
        keys = np.array([found == kind for found in kinds])
        if not keys.any():
            continue
        share = attention[..., keys].sum(-1).mean(-1)  # [L, H]
        mean_importance = importance[..., keys].mean((-2, -1))
        for layer in range(layers):
            for head in range(heads):
                rows.append(
                    {
                        "layer": layer,
                        "head": head,
                        "kind": kind,
                        "attention": float(share[layer, head]),
                        "importance": float(mean_importance[layer, head]),
                    }
                )
    table = pd.DataFrame(rows)
    table["kind"] = pd.Categorical(table["kind"], categories=TOKEN_KINDS, ordered=True)
    return table


def average_token_kind_table(
    model, tokenizer, pairs: Sequence[tuple[str, str | None]], max_length: int = 128
) -> pd.DataFrame:
    """:func:`token_kind_table` averaged over sentence ``pairs``, indexed by layer, head, kind.

    A kind missing from a pair (no punctuation, say) is averaged over the pairs that have it.
    """
    if not pairs:
        raise ValueError("average_token_kind_table needs at least one sentence pair.")
    tables = [
        token_kind_table(
            attention_gradients(model, tokenizer, text_a, text_b, max_length=max_length)
        )
        for text_a, text_b in pairs
    ]
    return pd.concat(tables).groupby(["layer", "head", "kind"], observed=True).mean()
