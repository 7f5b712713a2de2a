"""What the attention explorer stores: every layer and head of a few inputs, as page data.

An :class:`ExplorerExample` is one input as the explorer shows it (its tokens and its
``[layers, heads, queries, keys]`` weights). :func:`explorer_data` turns the examples of
several models into the JSON the explorer's JavaScript draws (``assets/explorer.js``):
each head's weights in 255 steps of its largest weight, one byte each, base64-encoded.
The widget :class:`bertedu.viz.widget.AttentionExplorer` carries that data as a trait, so
a notebook saved with its widget state carries it into the static book.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from bertedu.viz.attention import SPECIAL_TOKENS, attention_for
from bertedu.viz.browser_model import MAX_POSITIONS

#: The explorer's views: (key the page uses, the label it shows).
VIEWS: tuple[tuple[str, str], ...] = (
    ("head", "head view"),
    ("heatmap", "heatmap"),
    ("model", "model view"),
)
#: A head-view line is drawn for a weight of at least this (as in ``plot_head_view``).
LINE_THRESHOLD = 0.01
#: Levels of a stored weight (one byte each; see :func:`quantise`).
LEVELS = 255
STATIC_NOTE = (
    "Runs in your browser, with no kernel: the model, example, layer, head, view and "
    "hide controls redraw from the attention maps of every layer and head of these "
    "examples, stored in this page (each head's weights in 255 steps)."
)
#: Where the browser model's files sit under the built book's ``_static/`` folder.
BROWSER_FILES = {"ort": "vendor/ort/", "model": "bert-tiny/"}
BROWSER_NOTE = (
    "Type a sentence (and, if you like, a second one) and press the button: BERT-Tiny runs "
    "in your browser through onnxruntime-web, from this book's own files, with no kernel and "
    "no network. The first press loads the runtime and the model, once. Write [MASK] where "
    "a word is hidden to see the model's top 5; with two sentences it also says how likely "
    "B is to follow A. Input longer than {max_length} WordPieces is truncated, with a note."
)


def quantise(attentions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[layers, heads, q, k]`` weights in ``[0, 1]`` -> ``(codes, scales)``.

    Each head's map is stored relative to its own largest weight ``scales[layer, head]``:
    ``codes = round(weight / scale * 255)`` as ``uint8``. A heatmap's colour scale runs
    from 0 to that same largest weight, so a broad head whose weights are all near
    ``1/n`` keeps 255 levels instead of the few that ``weight * 255`` would leave it.
    The error is at most ``scale / 510`` per weight.
    """
    array = np.asarray(attentions, dtype=np.float64)
    if array.ndim != 4:
        raise ValueError(
            f"Expected [layers, heads, queries, keys] weights, got shape {array.shape}."
        )
    if not np.isfinite(array).all():
        raise ValueError(
            "Attention weights must be finite numbers; some are not finite (NaN or infinite), "
            "and the page would draw them as zero. Check the model's output."
        )
    if array.size and (array.min() < -1e-6 or array.max() > 1 + 1e-6):
        raise ValueError(
            "Attention weights must lie in [0, 1] (rows of a softmax); got values from "
            f"{array.min():.3g} to {array.max():.3g}."
        )
    array = np.clip(array, 0.0, 1.0)
    scales = array.max(axis=(-2, -1)) if array.size else np.zeros(array.shape[:2])
    safe = np.where(scales > 0, scales, 1.0)[..., None, None]
    return np.rint(array / safe * LEVELS).astype(np.uint8), scales


def dequantise(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``(codes, scales)`` -> the weights the page draws: ``code / 255 * scale``."""
    return np.asarray(codes, dtype=np.float64) / LEVELS * np.asarray(scales)[..., None, None]


def colormap_hex(name: str = "viridis", size: int = 256) -> str:
    """A matplotlib colour map as ``size`` concatenated ``rrggbb`` strings (the page's palette)."""
    cmap = colormaps[name].resampled(size)
    return "".join(to_hex(cmap(i))[1:] for i in range(size))


@dataclass(frozen=True)
class ExplorerExample:
    """One input as the explorer shows it: its tokens and every layer x head map."""

    label: str  # the example menu's entry
    queries: list[str]  # row tokens (the attending side)
    keys: list[str]  # column tokens (the attended side; the queries for self-attention)
    attentions: np.ndarray  # [layers, heads, queries, keys], weights in [0, 1]
    note: str | None = None  # shown above the picture, e.g. a truncation note

    def __post_init__(self) -> None:
        shape = np.shape(self.attentions)
        if len(shape) != 4 or shape[2:] != (len(self.queries), len(self.keys)):
            raise ValueError(
                f"Example {self.label!r}: attentions of shape {tuple(shape)} do not match "
                f"{len(self.queries)} query and {len(self.keys)} key tokens; expected "
                "[layers, heads, queries, keys]."
            )
        if 0 in shape:
            raise ValueError(
                f"Example {self.label!r}: the attention map is empty (shape {tuple(shape)}): "
                "the explorer would draw a blank picture. Give an input with at least one "
                "token, from a model with at least one layer and head."
            )

    def entry(self) -> dict[str, Any]:
        """The example as the page stores it (weights quantised, base64-encoded)."""
        codes, scales = quantise(self.attentions)
        entry = {
            "label": self.label,
            "queries": self.queries,
            "note": self.note,
            "weights": base64.b64encode(codes.tobytes()).decode(),
            "scales": scales.ravel().tolist(),
        }
        if self.keys != self.queries:
            entry["keys"] = self.keys
        return entry


def shorten(text: str, limit: int = 70) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def sentence_example(model, tokenizer, text_a: str, text_b: str | None, max_length: int):
    """:func:`attention_for` of a sentence (pair) as an :class:`ExplorerExample`."""
    result = attention_for(model, tokenizer, text_a, text_b, max_length=max_length)
    label = shorten(text_a if not text_b else f"{text_a} | {text_b}")
    return ExplorerExample(
        label, list(result.tokens), list(result.tokens), result.attentions.numpy(), result.note
    )


def pack_models(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its models as one JSON string in which every ``<``, ``>``, ``&`` is escaped.

    A notebook's widget state is stored in the page inside a ``<script>`` element, and the
    book's renderer escapes only ``</script>`` there: a token or label such as
    ``<!--<script>`` would switch the HTML parser into the state where the element's own end
    tag no longer ends it, and the page would lose every widget. Escaped, the stored text
    holds none of those characters; ``JSON.parse`` reads the same strings back.
    """
    text = json.dumps(data["models"], separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return {**data, "models": text}


def explorer_data(
    examples: dict[str, list[ExplorerExample]],
    *,
    title: str | None,
    axes: tuple[str, str],
    kernel_note: str,
    browser_model: str | None,
    kernel_input: bool,
) -> dict[str, Any]:
    """Everything the explorer's JavaScript draws from, as JSON-ready data.

    ``browser_model`` names the model whose text box runs in the built book's page (the
    shipped BERT-Tiny, see :mod:`bertedu.viz.browser_model`); ``kernel_input`` says that
    the kernel can run the models on typed text (the text box in Jupyter).
    """
    names = list(examples)
    if not names:
        raise ValueError("explorer_data got no model: give {model name: [examples]}.")
    models = []
    for name, items in examples.items():
        if not items:
            raise ValueError(f"Model {name!r} has no examples: give it at least one input.")
        layers, heads = items[0].attentions.shape[:2]
        entries = [item.entry() for item in items]
        models.append(
            {"name": name, "layers": int(layers), "heads": int(heads), "examples": entries}
        )
    browser = None
    if browser_model is not None:
        browser = {
            "model": names.index(browser_model),
            "files": BROWSER_FILES,
            "max_length": MAX_POSITIONS,
            "note": BROWSER_NOTE.format(max_length=MAX_POSITIONS),
        }
    return {
        "title": title,
        "axes": list(axes),
        "views": [list(view) for view in VIEWS],
        "special": list(SPECIAL_TOKENS),
        "threshold": LINE_THRESHOLD,
        "colormap": colormap_hex(),
        "kernel_note": kernel_note,
        "models": models,
        "browser": browser,
        "kernel_input": kernel_input,
    }
