"""Attention as images: one head with its tokens, or every head of a model at once."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bertedu.viz.attention import as_layers_heads, one_head


def _token_fontsize(n: int) -> float:
    return float(np.clip(13 - n / 6, 5, 10))


def plot_heatmap(
    attention,
    tokens: Sequence[str],
    *,
    ax=None,
    title: str | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    cmap: str = "viridis",
) -> Figure:
    """One head's ``[seq, seq]`` map, queries down the side and keys along the top.

    The colour scale runs from 0 to ``vmax`` (default: the map's largest weight, so
    a pattern stays visible when most weight sits on [SEP]; pass ``vmax=1`` to
    compare heads on one scale). Returns the figure (a new one unless ``ax`` is given).
    """
    matrix = one_head(attention, tokens, "plot_heatmap")
    n = len(tokens)
    if ax is None:
        side = float(np.clip(0.22 * n + 2.0, 3.5, 9.0))
        fig, ax = plt.subplots(
            figsize=(side + (1.0 if colorbar else 0.0), side), constrained_layout=True
        )
    fig = ax.figure
    top = float(matrix.max()) if vmax is None else vmax
    image = ax.imshow(
        matrix, cmap=cmap, vmin=0.0, vmax=top if top > 0 else 1.0, interpolation="nearest"
    )
    fontsize = _token_fontsize(n)
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), tokens, fontsize=fontsize)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="attention weight")
    return fig


def mosaic(attention, gap: int = 1) -> np.ndarray:
    """Tile ``[layers, heads, seq, seq]`` into one image, NaN in the ``gap`` between tiles."""
    a = as_layers_heads(attention)
    layers, heads, n, _ = a.shape
    step = n + gap
    image = np.full((layers * step - gap, heads * step - gap), np.nan)
    for layer in range(layers):
        for head in range(heads):
            image[layer * step : layer * step + n, head * step : head * step + n] = a[layer, head]
    return image


def tile_corner(layer: int, head: int, seq_len: int) -> tuple[float, float]:
    """Lower-left corner (in image pixels) of the frame around one head's tile in :func:`mosaic`."""
    step = seq_len + 1
    return head * step - 1, layer * step - 1


def plot_grid(
    attention,
    *,
    highlight: tuple[int, int] | None = None,
    title: str | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    ax=None,
) -> Figure:
    """Every head of every layer as a thumbnail: rows are layers, columns are heads.

    All heads share one colour scale (0 to ``vmax``, default the largest weight),
    so bright thumbnails are focused heads and dim, even ones are broad heads.
    The thumbnails are tiles of a single image (one axes, fast to draw even for
    12 x 12 heads); ``highlight=(layer, head)`` frames one of them.
    """
    a = as_layers_heads(attention)
    layers, heads, n, _ = a.shape
    if highlight is not None and not (0 <= highlight[0] < layers and 0 <= highlight[1] < heads):
        raise IndexError(
            f"highlight={tuple(highlight)} is not a head of this model: it has layers "
            f"0-{layers - 1} and heads 0-{heads - 1}."
        )
    if ax is None:
        width = float(np.clip(0.75 * heads + 1.5, 4.0, 12.0))
        fig, ax = plt.subplots(
            figsize=(width, width * layers / heads + 0.8), constrained_layout=True
        )
    fig = ax.figure
    image = mosaic(a)
    top = float(a.max()) if vmax is None else vmax
    shown = ax.imshow(
        image, cmap=cmap, vmin=0.0, vmax=top if top > 0 else 1.0, interpolation="nearest"
    )
    step = n + 1
    ax.set_xticks([h * step + (n - 1) / 2 for h in range(heads)], [str(h) for h in range(heads)])
    ax.set_yticks(
        [layer * step + (n - 1) / 2 for layer in range(layers)],
        [str(layer) for layer in range(layers)],
    )
    ax.tick_params(length=0)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    for side in ax.spines.values():
        side.set_visible(False)
    if highlight is not None:
        ax.add_patch(
            Rectangle(
                tile_corner(*highlight, n), n + 1, n + 1, fill=False, edgecolor="red", linewidth=2
            )
        )
    if title:
        ax.set_title(title)
    fig.colorbar(shown, ax=ax, fraction=0.03, pad=0.02, label="attention weight")
    return fig
