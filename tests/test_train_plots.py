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
    assert _lines(ax) == {"held-out mask_accuracy": ([20, 30], [0.1, 0.2])}
    plt.close(ax.figure)


def test_default_draws_held_out_mask_loss_beside_the_training_losses():
    ax = plot_training(RECORDS)
    lines = _lines(ax)
    assert set(lines) == {
        "train loss",
        "train mlm_loss",
        "train nsp_loss",
        "held-out mask_loss",
        "held-out nsp_loss",
    }
    assert lines["held-out mask_loss"] == ([20, 30], [7.0, 6.5])
    colours = {line.get_label(): line.get_color() for line in ax.get_lines()}
    # a held-out metric with a training twin shares its colour; one without gets its own
    assert colours["held-out nsp_loss"] == colours["train nsp_loss"]
    assert colours["held-out mask_loss"] not in {
        colours[k] for k in ("train loss", "train mlm_loss", "train nsp_loss")
    }
    plt.close(ax.figure)


def test_minutes_put_an_evaluation_at_the_clock_of_the_update_before_it():
    assert eval_minutes(RECORDS) == {20: 1.0, 30: 1.6}
    ax = plot_training(RECORDS, keys=("loss",), eval_keys=("mask_loss",), x="minutes")
    lines = _lines(ax)
    assert lines["held-out mask_loss"][0] == [1.0, 1.6]
    assert lines["train loss"][0] == [0.5, 1.0, 1.6]
    assert ax.get_xlabel() == "wall-clock minutes"
    plt.close(ax.figure)


def test_reference_lines_and_bad_axes():
    ax = plot_training(RECORDS, keys=(), reference_lines={"unigram rule": 7.08})
    assert [line.get_ydata()[0] for line in ax.get_lines()][-1] == 7.08
    assert any(text.get_text() == "unigram rule" for text in ax.texts)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="x must be one of"):
        plot_training(RECORDS, x="hours")
    without_clock = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in RECORDS]
    with pytest.raises(ValueError, match="elapsed_s"):
        plot_training(without_clock, x="minutes")


def test_smooth_is_unbiased_at_the_start():
    assert smooth([4.0, 4.0, 4.0]) == pytest.approx([4.0, 4.0, 4.0])
