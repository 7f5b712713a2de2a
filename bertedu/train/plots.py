"""Loss curves from a metrics log (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bertedu.train.metrics_log import read_metrics


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing, unbiased at the
    start)."""
    out, average = [], 0.0
    for index, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**index))
    return out


def plot_training(
    records: str | Path | list[dict[str, Any]],
    *,
    keys: Sequence[str] = ("loss", "mlm_loss", "nsp_loss"),
    eval_keys: Sequence[str] = ("mask_loss", "nsp_loss"),
    reference_lines: dict[str, float] | None = None,
    smoothing: float = 0.8,
    ax=None,
    title: str | None = None,
):
    """Plot train losses (raw, faint; smoothed, solid) and evaluation losses (markers) against the
    step.

    ``records`` is a metrics-log path or its records; ``reference_lines`` draws
    labelled horizontal lines (e.g. ``{"unigram plateau": 6.9}``). Returns the axes.
    """
    import matplotlib.pyplot as plt

    if not isinstance(records, list):
        records = read_metrics(records)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    train = [r for r in records if r.get("split") == "train"]
    evaluation = [r for r in records if r.get("split") == "eval"]
    for index, key in enumerate(k for k in keys if any(k in r for r in train)):
        steps = [r["step"] for r in train if key in r]
        values = [r[key] for r in train if key in r]
        color = f"C{index}"
        ax.plot(steps, values, color=color, alpha=0.25, linewidth=1)
        ax.plot(steps, smooth(values, smoothing), color=color, linewidth=2, label=f"train {key}")
        if key in eval_keys and any(key in r for r in evaluation):
            ax.plot(
                [r["step"] for r in evaluation if key in r],
                [r[key] for r in evaluation if key in r],
                "o--",
                color=color,
                markersize=5,
                label=f"held-out {key}",
            )
    for label, value in (reference_lines or {}).items():
        ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        ax.annotate(
            label,
            (ax.get_xlim()[0], value),
            textcoords="offset points",
            xytext=(4, 3),
            fontsize=8,
            color="grey",
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title(title or "Training curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
