"""HTML pictures of instances and masked batches, for the book.

A token row is drawn as coloured boxes, one per WordPiece, so a reader sees at
a glance where segment A ends, which positions were chosen for prediction and
what the model was shown there ([MASK], a random token, or the token itself).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from bertedu.constants import IGNORE_INDEX
from bertedu.data.nsp import Instance, encode_instance

COLOURS = {
    "special": "#d4d4d4",  # [CLS], [SEP]
    "a": "#dbeafe",  # segment A
    "b": "#fef3c7",  # segment B
    "mask": "#f87171",  # chosen, shown as [MASK]
    "random": "#a78bfa",  # chosen, shown as a random token
    "kept": "#4ade80",  # chosen, shown unchanged
}
LEGEND = {
    "special": "[CLS] / [SEP]",
    "a": "segment A",
    "b": "segment B",
    "mask": "chosen: [MASK]",
    "random": "chosen: random token",
    "kept": "chosen: unchanged",
}


def _box(text: str, kind: str, tooltip: str = "") -> str:
    title = f' title="{html.escape(tooltip)}"' if tooltip else ""
    style = (
        f"background:{COLOURS[kind]};color:#111;border-radius:3px;padding:1px 3px;"
        "margin:1px;display:inline-block;font-family:monospace;font-size:90%"
    )
    return f'<span{title} style="{style}">{html.escape(text)}</span>'


def legend_html(kinds: Sequence[str] = tuple(LEGEND)) -> str:
    """A one-line key for the colours used by :func:`tokens_html`."""
    return "<div>" + " ".join(_box(LEGEND[kind], kind) for kind in kinds) + "</div>"


def token_kinds(
    token_type_ids: Sequence[int],
    special_tokens_mask: Sequence[int],
    original_ids: Sequence[int] | None = None,
    shown_ids: Sequence[int] | None = None,
    labels: Sequence[int] | None = None,
    mask_token_id: int | None = None,
) -> list[str]:
    """The colour key of every position: special, a, b, or (predicted) mask/random/kept."""
    kinds = []
    for position, (segment, special) in enumerate(
        zip(token_type_ids, special_tokens_mask, strict=True)
    ):
        kind = "special" if special else ("a", "b")[segment]
        if labels is not None and labels[position] != IGNORE_INDEX:
            if shown_ids[position] == mask_token_id:
                kind = "mask"
            else:
                kind = "kept" if shown_ids[position] == original_ids[position] else "random"
        kinds.append(kind)
    return kinds


def tokens_html(
    tokens: Sequence[str], kinds: Sequence[str], tooltips: Sequence[str] | None = None
) -> str:
    """One row of coloured token boxes (``kinds`` from :func:`token_kinds`; tooltips on hover)."""
    tooltips = tooltips or [""] * len(tokens)
    return (
        '<div style="line-height:1.9">'
        + "".join(
            _box(token, kind, tip) for token, kind, tip in zip(tokens, kinds, tooltips, strict=True)
        )
        + "</div>"
    )


def instance_html(tokenizer: PreTrainedTokenizerBase, instance: Instance) -> str:
    """An NSP instance as ``[CLS] A [SEP] B [SEP]`` boxes, A and B in their own colours."""
    features = encode_instance(
        instance, cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id
    )
    kinds = token_kinds(features["token_type_ids"], features["special_tokens_mask"])
    return tokens_html(tokenizer.convert_ids_to_tokens(features["input_ids"]), kinds)


def masked_row_html(
    tokenizer: PreTrainedTokenizerBase, batch: dict[str, torch.Tensor], row: int
) -> str:
    """One row of a collated batch as the model sees it; predicted positions read
    ``shown→original``."""
    length = int(batch["attention_mask"][row].sum())
    shown = batch["input_ids"][row, :length]
    labels = batch["labels"][row, :length]
    original = torch.where(
        labels != IGNORE_INDEX, labels, shown
    ).tolist()  # labels hold the hidden tokens
    special = [
        int(token_id in (tokenizer.cls_token_id, tokenizer.sep_token_id)) for token_id in original
    ]
    kinds = token_kinds(
        batch["token_type_ids"][row, :length].tolist(),
        special,
        original,
        shown.tolist(),
        labels.tolist(),
        tokenizer.mask_token_id,
    )
    texts = tokenizer.convert_ids_to_tokens(shown.tolist())
    originals = tokenizer.convert_ids_to_tokens(original)
    labelled = [
        f"{text}→{source}" if kind in ("mask", "random") else text
        for text, source, kind in zip(texts, originals, kinds, strict=True)
    ]
    return tokens_html(labelled, kinds, [f"original: {source}" for source in originals])
