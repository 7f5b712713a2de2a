"""bertedu.train.plots: which curves plot_training draws, and where."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from bertedu.train.plots import eval_minutes, plot_training, smooth

RECORDS = [
    {"split": "train", "step": 10, "loss": 9.0, "mlm_loss": 8.3, "nsp_loss": 0.7, "elapsed_s": 30},
    {"split": "train", "step": 20, "loss": 8.0, "mlm_loss": 7.4, "nsp_loss": 0.6, "elapsed_s": 60},
    {"split": "eval", "step": 20, "mask_loss": 7.0, "mask_accuracy": 0.1, "nsp_loss": 0.65},
    {"split": "train", "step": 30, "loss": 7.5, "mlm_loss": 6.9, "nsp_loss": 0.6, "elapsed_s": 96},
    {"split": "eval", "step": 30, "mask_loss": 6.5, "mask_accuracy": 0.2, "nsp_loss": 0.6},
]


def _lines(ax) -> dict[str, tuple[list[float], list[float]]]:
    return {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }


def test_held_out_metrics_without_a_training_twin_are_drawn():
    ax = plot_training(RECORDS, keys=(), eval_keys=("mask_accuracy",), ylabel="accuracy")
    assert _lines(ax) == {"held-out accuracy at [MASK]": ([20, 30], [0.1, 0.2])}
    plt.close(ax.figure)


def test_default_draws_held_out_mask_loss_beside_the_training_losses():
    ax = plot_training(RECORDS)
    lines = _lines(ax)
    # the legend names the metrics in words, not by their field names
    assert set(lines) == {
        "training total loss",
        "training MLM loss",
        "training NSP loss",
        "held-out loss at [MASK]",
        "held-out NSP loss",
    }
    assert lines["held-out loss at [MASK]"] == ([20, 30], [7.0, 6.5])
    colours = {line.get_label(): line.get_color() for line in ax.get_lines()}
    # a held-out metric with a training twin shares its colour; one without gets its own
    assert colours["held-out NSP loss"] == colours["training NSP loss"]
    assert colours["held-out loss at [MASK]"] not in {
        colours[k] for k in ("training total loss", "training MLM loss", "training NSP loss")
    }
    plt.close(ax.figure)


def test_minutes_put_an_evaluation_at_the_clock_of_the_update_before_it():
    assert eval_minutes(RECORDS) == {20: 1.0, 30: 1.6}
    ax = plot_training(RECORDS, keys=("loss",), eval_keys=("mask_loss",), x="minutes")
    lines = _lines(ax)
    assert lines["held-out loss at [MASK]"][0] == [1.0, 1.6]
    assert lines["training total loss"][0] == [0.5, 1.0, 1.6]
    assert ax.get_xlabel() == "wall-clock minutes"
    plt.close(ax.figure)


def test_names_override_the_legend_and_reference_lines_are_named_in_it():
    ax = plot_training(
        RECORDS,
        keys=(),
        eval_keys=("mask_accuracy",),
        names={"mask_accuracy": "right at [MASK]"},
        reference_lines={"unigram rule": 0.06, "shipped model": 0.36},
    )
    lines = _lines(ax)
    assert set(lines) == {"held-out right at [MASK]", "unigram rule", "shipped model"}
    assert lines["unigram rule"][1] == [0.06, 0.06]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["held-out right at [MASK]", "unigram rule", "shipped model"]
    styles = {line.get_label(): (line.get_color(), line.get_linestyle()) for line in ax.lines}
    assert styles["unigram rule"] != styles["shipped model"]  # told apart in the legend
    plt.close(ax.figure)


def test_bad_axes():
    with pytest.raises(ValueError, match="x must be one of"):
        plot_training(RECORDS, x="hours")
    without_clock = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in RECORDS]
    with pytest.raises(ValueError, match="elapsed_s"):
        plot_training(without_clock, x="minutes")


def test_smooth_is_unbiased_at_the_start():
    assert smooth([4.0, 4.0, 4.0]) == pytest.approx([4.0, 4.0, 4.0])
