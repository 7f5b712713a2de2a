"""Training curves from a metrics log (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bertedu.train.metrics_log import read_metrics

#: What the x axis of :func:`plot_training` can count.
X_AXES = {"step": "optimizer step", "minutes": "wall-clock minutes"}

#: How a legend names the metrics a pretraining log holds (a key not listed keeps its name).
METRIC_NAMES = {
    "loss": "total loss",
    "mlm_loss": "MLM loss",
    "nsp_loss": "NSP loss",
    "mask_loss": "loss at [MASK]",
    "mask_accuracy": "accuracy at [MASK]",
    "nsp_accuracy": "NSP accuracy",
}

#: The styles of the reference lines, in turn: grey and dark, dotted and dashed.
REFERENCE_STYLES = (
    {"color": "grey", "linestyle": ":"},
    {"color": "black", "linestyle": "--"},
    {"color": "tab:brown", "linestyle": "-."},
    {"color": "grey", "linestyle": "--"},
)


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing, unbiased at the
    start)."""
    out, average = [], 0.0
    for index, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**index))
    return out


def eval_minutes(records: list[dict[str, Any]]) -> dict[int, float]:
    """The wall-clock minutes of each evaluation's step: the ``elapsed_s`` of the last train
    record at or before it (evaluation records carry no clock of their own).

    An evaluation before the first train record with a clock is left out.
    """
    clock = sorted(
        (r["step"], r["elapsed_s"])
        for r in records
        if r.get("split") == "train" and "elapsed_s" in r
    )
    minutes = {}
    for record in records:
        if record.get("split") != "eval":
            continue
        before = [seconds for step, seconds in clock if step <= record["step"]]
        if before:
            minutes[record["step"]] = before[-1] / 60
    return minutes


def plot_training(
    records: str | Path | list[dict[str, Any]],
    *,
    keys: Sequence[str] = ("loss", "mlm_loss", "nsp_loss"),
    eval_keys: Sequence[str] = ("mask_loss", "nsp_loss"),
    reference_lines: dict[str, float] | None = None,
    smoothing: float = 0.8,
    x: str = "step",
    ylabel: str = "cross-entropy (nats)",
    ax=None,
    title: str | None = None,
    names: Mapping[str, str] | None = None,
):
    """Plot train metrics (raw, faint; smoothed, solid) and held-out metrics (markers) against the
    step or the wall-clock minutes.

    ``records`` is a metrics-log path or its records. A key of ``eval_keys`` is drawn in the
    colour of its training twin of ``keys`` when it has one (``nsp_loss``), in a colour of
    its own when not (``mask_loss``, ``mask_accuracy``: the held-out metrics have no training
    counterpart); ``keys=()`` draws held-out metrics only. ``x="minutes"`` puts each record at
    the run's wall-clock time (``elapsed_s`` of the train records; an evaluation takes that of
    the last train record before it). ``reference_lines`` draws horizontal lines named in the
    legend (e.g. ``{"unigram rule": 7.08}``). The legend names a metric in words
    (:data:`METRIC_NAMES`, and ``names`` for others or instead): "training MLM loss",
    "held-out loss at [MASK]". Returns the axes.
    """
    import matplotlib.pyplot as plt

    if x not in X_AXES:
        raise ValueError(f"x must be one of {sorted(X_AXES)}, got {x!r}")
    if not isinstance(records, list):
        records = read_metrics(records)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    train = [r for r in records if r.get("split") == "train"]
    evaluation = [r for r in records if r.get("split") == "eval"]
    if x == "minutes":
        if not any("elapsed_s" in r for r in train):
            raise ValueError(
                "x='minutes' needs train records with elapsed_s (bertedu.train logs it); this "
                "log has none: plot against x='step'."
            )
        train = [r for r in train if "elapsed_s" in r]
        minutes = eval_minutes(records)
        evaluation = [r for r in evaluation if r["step"] in minutes]

    def position(record: dict[str, Any]) -> float:
        if x == "step":
            return record["step"]
        if record.get("split") == "train":
            return record["elapsed_s"] / 60
        return minutes[record["step"]]

    names = {**METRIC_NAMES, **(names or {})}
    colors: dict[str, str] = {}
    for key in (k for k in keys if any(k in r for r in train)):
        color = colors[key] = f"C{len(colors)}"
        values = [r[key] for r in train if key in r]
        where = [position(r) for r in train if key in r]
        ax.plot(where, values, color=color, alpha=0.25, linewidth=1)
        name = f"training {names.get(key, key)}"
        ax.plot(where, smooth(values, smoothing), color=color, linewidth=2, label=name)
    for key in (k for k in eval_keys if any(k in r for r in evaluation)):
        color = colors.get(key) or colors.setdefault(key, f"C{len(colors)}")
        ax.plot(
            [position(r) for r in evaluation if key in r],
            [r[key] for r in evaluation if key in r],
            "o--",
            color=color,
            markersize=5,
            label=f"held-out {names.get(key, key)}",
        )
    for index, (label, value) in enumerate((reference_lines or {}).items()):
        style = REFERENCE_STYLES[index % len(REFERENCE_STYLES)]
        ax.axhline(value, linewidth=1.2, label=label, **style)
    ax.set_xlabel(X_AXES[x])
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Training curves")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return ax
