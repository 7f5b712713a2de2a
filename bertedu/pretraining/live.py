"""A pretraining run watched as it learns: held-out curves and three fill-in sentences, redrawn at
every evaluation.

:class:`LiveView` is an ``on_evaluation`` hook for :func:`~bertedu.pretraining.run.pretrain`
(the loop calls it at update 0 and after every evaluation). At each call it keeps the held-out
metrics, asks the model for its best guesses at three fixed sentences with a ``[MASK]``, and
shows both: in Jupyter, one figure and one table that are replaced in place (display handles),
so the cell ends with the finished curves shown once; elsewhere, it prints the guesses.

The figure has one panel per :class:`Panel`, each with the rules that read no context drawn as
lines: a curve means something only next to what a model that learned nothing scores on the
same positions (:mod:`bertedu.pretraining.baselines`).
"""

from __future__ import annotations

import contextlib
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from torch import nn

from bertedu.pretraining.inference import fill_mask
from bertedu.tables import Table, show_table
from bertedu.train.plots import plot_training

#: The panels of :func:`live_panels`: the metric and what it is, in words.
PANEL_TITLES = {
    "mask_accuracy": "accuracy at [MASK]",
    "mask_loss": "loss at [MASK] (nats)",
    "nsp_accuracy": "next-sentence accuracy",
}

#: Between two guesses in the table of fill-in sentences (a guess may itself be "," or ".").
GUESS_SEPARATOR = " · "


@dataclass(frozen=True)
class Panel:
    """One panel of the live figure: a held-out metric and the levels it is read against."""

    key: str  # the metric, as evaluate_pretraining names it
    title: str  # what it is, in words
    lines: Mapping[str, float] = field(default_factory=dict)  # name in the legend -> level
    percent: bool = False  # an accuracy: its axis reads in percent


def live_panels(
    baselines: Mapping[str, Mapping[str, float]],
    reference: Mapping[str, float] | None = None,
    reference_name: str = "shipped BERT-Tiny",
) -> list[Panel]:
    """Accuracy and loss at ``[MASK]`` and NSP accuracy, against the rules and a trained model.

    ``baselines`` is ``PretrainingData.stats["baselines"]`` (the rules scored on the run's own
    held-out batches); ``reference`` the held-out metrics of a trained model on the same
    batches (the shipped model's card), drawn as the level a longer run reaches, or None.
    """
    unigram, nsp = baselines["unigram"], "nsp_accuracy"
    levels = {
        "mask_accuracy": {"unigram rule = copy rule": unigram["mask_accuracy"]},
        "mask_loss": {"unigram rule": unigram["mask_loss"]},
        nsp: {
            "majority class": baselines["nsp_majority"][nsp],
            "word-overlap rule": baselines["nsp_word_overlap"][nsp],
        },
    }
    panels = []
    for key, title in PANEL_TITLES.items():
        # the trained model first, so it has the same line style in every panel
        named = {**({reference_name: reference[key]} if reference else {}), **levels[key]}
        shown = "{:.2f}" if key == "mask_loss" else "{:.1%}"
        lines = {f"{name} ({shown.format(value)})": value for name, value in named.items()}
        panels.append(Panel(key, title, lines, percent=key != "mask_loss"))
    return panels


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where output can be replaced in place)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the book's requirements
        return False
    shell = get_ipython()
    return shell is not None and shell.has_trait("kernel")


class LiveView:
    """The ``on_evaluation`` hook that draws a run's held-out curves and fill-in guesses.

    ``sentences`` each hold one ``[MASK]``; ``panels`` say what to draw (:func:`live_panels`);
    ``total_steps`` fixes the x axis, so the curve grows from the left instead of the axis
    rescaling. ``notebook`` (default: detected) chooses between display handles and printing.
    Used as a context manager in a notebook, it also keeps the loop's one-line report of each
    evaluation (the same numbers as the figure) out of the cell, in :attr:`log`.
    """

    def __init__(
        self,
        tokenizer: Any,
        sentences: Sequence[str],
        panels: Sequence[Panel],
        *,
        total_steps: int,
        top_k: int = 3,
        notebook: bool | None = None,
    ) -> None:
        for sentence in sentences:
            if sentence.count(tokenizer.mask_token) != 1:
                raise ValueError(
                    f"Each fill-in sentence needs exactly one {tokenizer.mask_token}, got "
                    f"{sentence!r}: write it where the hidden word stands."
                )
        if not panels:
            raise ValueError("LiveView needs at least one Panel to draw (see live_panels).")
        self.tokenizer, self.sentences, self.panels = tokenizer, list(sentences), list(panels)
        self.total_steps, self.top_k = total_steps, top_k
        self.notebook = in_notebook() if notebook is None else notebook
        self.records: list[dict[str, float]] = []  # one per evaluation, as the metrics log has
        self.guesses: dict[int, list[list[str]]] = {}  # update -> best guesses per sentence
        self.log = ""  # the loop's own reports while the view was shown in a notebook
        self._handles: tuple[Any, Any] | None = None
        self._buffer: io.StringIO | None = None
        self._redirect: contextlib.redirect_stdout | None = None

    def __call__(self, step: int, model: nn.Module, metrics: Mapping[str, float]) -> None:
        """Record one evaluation, ask the model about the sentences, and show both."""
        self.records.append({"split": "eval", "step": step, **metrics})
        self.guesses[step] = [
            [p.token for p in fill_mask(model, self.tokenizer, text, top_k=self.top_k)[0]]
            for text in self.sentences
        ]
        if self.notebook:
            self._show()
        else:
            print(f"update {step:,}, best guesses:")
            for text, guesses in zip(self.sentences, self.guesses[step], strict=True):
                print(f"  {text}  ->  {GUESS_SEPARATOR.join(guesses)}")

    def figure(self) -> Figure:
        """The panels as they stand: held-out curves against updates, with their levels."""
        figure = Figure(figsize=(3.7 * len(self.panels), 3.6), layout="constrained")
        last = self.records[-1]["step"] if self.records else 0
        figure.suptitle(f"held-out, update {last:,} of {self.total_steps:,}", fontsize=11)
        for ax, panel in zip(figure.subplots(1, len(self.panels)), self.panels, strict=True):
            plot_training(
                self.records,
                keys=(),
                eval_keys=(panel.key,),
                reference_lines=dict(panel.lines),
                ax=ax,
                title=panel.title,
                ylabel="",
            )
            ax.get_lines()[0].set_label("this run")  # the panel's title says what it is
            ax.set_xlim(0, self.total_steps * 1.03)
            ax.set_xlabel("update")
            if panel.percent:
                ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2))
        return figure

    def guesses_table(self) -> Table:
        """The sentences' best guesses at every evaluation so far, one row per update."""
        rows = {
            f"{step:,}": {
                f"sentence {n}": GUESS_SEPARATOR.join(guesses)
                for n, guesses in enumerate(per_sentence, 1)
            }
            for step, per_sentence in self.guesses.items()
        }
        return show_table(rows, index="update")

    def _show(self) -> None:
        from IPython.display import HTML, Image, display

        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=100)
        image = Image(data=buffer.getvalue(), format="png")
        listing = "".join(f"<li>{html.escape(text)}</li>" for text in self.sentences)
        table = HTML(
            f"<p>Best {self.top_k} guesses at the [MASK] of each sentence, best first:</p>"
            f"<ol>{listing}</ol>{self.guesses_table()._repr_html_()}"
        )
        if self._handles is None:
            self._handles = (display(image, display_id=True), display(table, display_id=True))
        else:
            self._handles[0].update(image)
            self._handles[1].update(table)

    def __enter__(self) -> LiveView:
        if self.notebook:
            self._buffer = io.StringIO()
            self._redirect = contextlib.redirect_stdout(self._buffer)
            self._redirect.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._redirect is not None:
            self._redirect.__exit__(*exc_info)
            self.log += self._buffer.getvalue()
            self._redirect = self._buffer = None
