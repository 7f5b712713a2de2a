"""bertviz's "head view", drawn with matplotlib.

The tokens stand in two columns, queries on the left and keys on the right, and
a line joins query ``i`` to key ``j`` with opacity equal to the weight ``A_ij``.
A previous-token head draws a staircase of parallel lines one step up; a head
that parks its attention on [SEP] draws a fan into the [SEP] tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from bertedu.viz.attention import one_head
from bertedu.viz.heatmaps import plot_heatmap


def head_view_lines(
    matrix: np.ndarray,
    *,
    query: int | None = None,
    threshold: float = 0.01,
    color: str = "tab:blue",
) -> tuple[list, np.ndarray]:
    """The head view's line segments (query ``i`` at ``y=-i`` on the left, key ``j`` on the right)
    and RGBA colours."""
    n = matrix.shape[-1]
    rows = range(n) if query is None else [query]
    segments, alphas = [], []
    for i in rows:
        for j in range(n):
            if matrix[i, j] >= threshold:
                segments.append([(0.0, -i), (1.0, -j)])
                alphas.append(min(float(matrix[i, j]), 1.0))
    rgba = np.zeros((len(segments), 4))
    rgba[:, :3] = to_rgb(color)
    rgba[:, 3] = alphas
    return segments, rgba


def plot_head_view(
    attention,
    tokens: Sequence[str],
    *,
    query: int | None = None,
    threshold: float = 0.01,
    ax=None,
    title: str | None = None,
    color: str = "tab:blue",
) -> Figure:
    """Lines from each query token (left) to each key token (right), opacity = weight.

    ``query`` draws only the lines of that query position (and marks it), as
    hovering a token does in bertviz. Lines lighter than ``threshold`` are not
    drawn (they would be invisible anyway); the lines are ``ax.collections[0]``,
    one segment per drawn weight.
    """
    matrix = one_head(attention, tokens, "plot_head_view")
    n = len(tokens)
    if query is not None and not 0 <= query < n:
        raise IndexError(f"query={query} is not a position of these {n} tokens (0-{n - 1}).")
    if ax is None:
        fig, ax = plt.subplots(
            figsize=(4.2, float(np.clip(0.24 * n + 0.9, 2.5, 30.0))), constrained_layout=True
        )
    fig = ax.figure
    segments, rgba = head_view_lines(matrix, query=query, threshold=threshold, color=color)
    ax.add_collection(LineCollection(segments, colors=rgba, linewidths=2.0))
    fontsize = float(np.clip(13 - n / 8, 6, 11))
    for i, token in enumerate(tokens):
        weight = "bold" if i == query else "normal"
        ax.text(-0.05, -i, token, ha="right", va="center", fontsize=fontsize, fontweight=weight)
        ax.text(1.05, -i, token, ha="left", va="center", fontsize=fontsize)
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylim(-n + 0.4, 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig


def plot_head(
    attention,
    tokens: Sequence[str],
    *,
    title: str | None = None,
    threshold: float = 0.01,
    vmax: float | None = None,
) -> Figure:
    """One head two ways, side by side: :func:`plot_heatmap` and :func:`plot_head_view`.

    Returns a new figure with three axes: the heatmap, its colour bar and the lines.
    """
    one_head(attention, tokens, "plot_head")
    n = len(tokens)
    side = float(np.clip(0.22 * n + 2.0, 3.5, 9.0))
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(side + 5.5, side), width_ratios=[side + 1.0, 4.5], constrained_layout=True
    )
    plot_heatmap(attention, tokens, ax=left, vmax=vmax, title="heatmap")
    plot_head_view(attention, tokens, ax=right, threshold=threshold, title="head view")
    if title:
        fig.suptitle(title)
    return fig
