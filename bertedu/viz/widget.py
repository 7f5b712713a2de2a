"""The attention explorer as Jupyter widgets: Python reads and sets what is shown.

:class:`AttentionWidget` puts ipywidgets controls (model, example, layer, head, view,
hide special tokens) over a picture drawn in the kernel with ``bertedu.viz``'s plots,
and text boxes that run the book's models on a new sentence pair::

    widget = explorer.widget()     # explorer: a StaticExplorer.for_sentences(...)
    widget                         # in a notebook: the controls and the picture
    widget.layer = 1               # moves the slider and redraws
    widget.head                    # the head the reader selected
    widget.add_pair("The cat sat.", "It slept.")   # what the text boxes do

It works in any front end with ipywidgets 8 (JupyterLab, Notebook 7, VS Code, Colab).
The picture is a PNG in an ``Image`` widget, so a notebook saved with its widget state
(``scripts/execute_notebooks.py`` saves it) shows the last picture and the controls in the
static book; moving them there does nothing: that needs a kernel.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt

from bertedu.viz.attention import SPECIAL_TOKENS, hide_tokens
from bertedu.viz.head_view import plot_head_view
from bertedu.viz.heatmaps import plot_grid, plot_heatmap
from bertedu.viz.static_explorer import VIEWS, StaticExplorer

KERNEL_NOTE = (
    "<b>Jupyter widgets: they need a running kernel.</b> Here, Python draws the picture "
    "(bertedu.viz's plots) and reads the controls: <code>widget.layer = 1</code> moves the "
    "slider and redraws, <code>widget.head</code> is the head selected. The text boxes run "
    "the book's models in the kernel. In the static book these controls show the state they "
    "were saved in and do nothing; the explorer above works there without a kernel."
)


#: The widget's state, in the order of the explorer's (``StaticExplorer.select``).
STATE = ("model", "example", "layer", "head", "view", "hide_special")


def view_key(value: str) -> str:
    """``value`` if it names one of the explorer's views, else a ``ValueError`` that lists them."""
    if value not in dict(VIEWS):
        raise ValueError(f"Unknown view {value!r}; choose one of {list(dict(VIEWS))}.")
    return value


def control_property(control: str, convert: Callable[[Any], Any], doc: str) -> property:
    """A property that reads the value of the widget's ``control`` and sets it (converted).

    Setting a control's value is what moving it does, so its observer redraws the picture.
    """

    def get(self: AttentionWidget) -> Any:
        return getattr(self, control).value

    def set_(self: AttentionWidget, value: Any) -> None:
        getattr(self, control).value = convert(value)

    return property(get, set_, doc=doc)


class AttentionWidget:
    """ipywidgets controls over an explorer's stored maps, drawn in the kernel.

    ``explorer`` is a :class:`~bertedu.viz.static_explorer.StaticExplorer` of
    self-attention maps (``for_sentences``); its state (model, example, layer, head,
    view, hide_special) is the widget's opening state (the widget never changes the
    explorer's), and :meth:`add_pair` adds the new example to both. Every control is also
    a property: reading it gives the control's value, setting it moves the control and
    redraws.
    """

    def __init__(self, explorer: StaticExplorer, *, dpi: int = 80) -> None:
        import ipywidgets as w

        crossed = [
            f"{name}: {item.label!r}"
            for name, items in explorer.examples.items()
            for item in items
            if item.keys != item.queries
        ]
        if crossed:
            raise ValueError(
                "AttentionWidget draws self-attention (queries = keys); "
                f"{crossed[0]} maps other keys. Show a cross-attention explorer as it is."
            )
        self.explorer, self.dpi = explorer, dpi
        self.draws = 0  # how many pictures were drawn (one per change of what is shown)
        state = explorer.state
        self._model = w.Dropdown(options=list(explorer.examples), description="Model")
        self._example = w.Dropdown(description="Example", layout=w.Layout(width="34em"))
        self._layer = w.IntSlider(description="Layer", min=0, continuous_update=False)
        self._head = w.IntSlider(description="Head", min=0, continuous_update=False)
        self._view = w.ToggleButtons(options=[(label, key) for key, label in VIEWS])
        self._hide = w.Checkbox(description="hide " + " ".join(SPECIAL_TOKENS), indent=False)
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.caption = w.HTML()
        self.text_a = w.Text(description="Sentence A", layout=w.Layout(width="95%"))
        self.text_b = w.Text(
            description="Sentence B", placeholder="optional", layout=w.Layout(width="95%")
        )
        self.button = w.Button(description="Run in the kernel", button_style="primary")
        self.status = w.HTML()
        self._syncing = False
        self._model.value = state["model"]
        self._fit_ranges()
        self._example.value = state["example"]
        self._layer.value, self._head.value = state["layer"], state["head"]
        self._view.value, self._hide.value = state["view"], state["hide_special"]
        for control in (self._model, self._example, self._layer, self._head, self._view):
            control.observe(self._changed, names="value")
        self._hide.observe(self._changed, names="value")
        self.button.on_click(lambda _: self._submit())
        self.box = w.VBox(
            [
                w.HTML(KERNEL_NOTE),
                w.HBox([self._model, self._example]),
                w.HBox([self._layer, self._head]),
                w.HBox([self._view, self._hide]),
                self.caption,
                self.image,
                self.text_a,
                self.text_b,
                w.HBox([self.button, self.status]),
            ]
        )
        self.redraw()

    # ----- state: every control is a property -------------------------------------------------
    model = control_property("_model", str, "The model shown (a name of the explorer's).")
    example = control_property("_example", int, "The index of the example shown.")
    layer = control_property("_layer", int, "The selected layer (setting it redraws).")
    head = control_property("_head", int, "The selected head (setting it redraws).")
    view = control_property("_view", view_key, "The view: 'head', 'heatmap' or 'model'.")
    hide_special = control_property("_hide", bool, "Whether [CLS], [SEP], [PAD] are hidden.")

    @property
    def state(self) -> dict[str, Any]:
        """What is shown: model, example, layer, head, view, hide_special."""
        return {name: getattr(self, name) for name in STATE}

    # ----- drawing ----------------------------------------------------------------------------
    def _fit_ranges(self) -> None:
        """The example menu and the sliders' ranges for the chosen model (values clamped)."""
        self._syncing = True
        try:
            layers, heads = self.explorer.shape(self._model.value)
            items = self.explorer.examples[self._model.value]
            chosen = min(self._example.value or 0, len(items) - 1)
            self._example.options = [(f"{i + 1}. {x.label}", i) for i, x in enumerate(items)]
            self._example.value = chosen
            self._layer.max, self._head.max = layers - 1, heads - 1
        finally:
            self._syncing = False

    def _changed(self, change: dict) -> None:
        if self._syncing:
            return
        if change["owner"] is self._model:
            self._fit_ranges()
        self.redraw()

    def figure(self):
        """The matplotlib figure of the current state (what :meth:`redraw` shows)."""
        state = self.state  # the sliders' ranges keep layer and head in the model's
        item = self.explorer.examples[state["model"]][state["example"]]
        maps, tokens = self.explorer.stored(state["model"], state["example"]), item.queries
        if state["hide_special"]:
            maps, tokens, _ = hide_tokens(maps, tokens)
        where = f"layer {state['layer']}, head {state['head']}"
        title = f"{state['model']}: {dict(VIEWS)[state['view']]}, {where}"
        if not tokens:
            fig, ax = plt.subplots(figsize=(6, 1))
            ax.axis("off")
            ax.text(0, 0.5, "Nothing to draw: only special tokens. Untick 'hide'.")
        elif state["view"] == "model":
            fig = plot_grid(maps, highlight=(state["layer"], state["head"]), title=title)
        elif state["view"] == "heatmap":
            fig = plot_heatmap(maps[state["layer"], state["head"]], tokens, title=title)
        else:
            fig = plot_head_view(maps[state["layer"], state["head"]], tokens, title=title)
        return fig

    def redraw(self) -> None:
        """Draw the current state into the image (and keep the page explorer's state in step)."""
        fig = self.figure()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        plt.close(fig)
        self.image.value = buffer.getvalue()
        item = self.explorer.examples[self.model][self.example]
        self.caption.value = html.escape(f"{len(item.queries)} tokens") + (
            f' <span style="color:#a60">{html.escape(item.note)}</span>' if item.note else ""
        )
        self.draws += 1

    # ----- new text: the models run in the kernel ---------------------------------------------
    def add_pair(self, text_a: str, text_b: str | None = None) -> int:
        """Run the explorer's models on a new pair, add it to the menu, show it; its index.

        A ``ValueError`` (empty input) leaves everything as it was.
        """
        index = self.explorer.add_pair(text_a, text_b or None, select=False)
        self._fit_ranges()
        self.example = index  # redraws
        return index

    def _submit(self) -> None:
        try:
            index = self.add_pair(self.text_a.value, self.text_b.value)
        except ValueError as error:
            self.status.value = f'<span style="color:#b00">{html.escape(str(error))}</span>'
            return
        self.status.value = html.escape(f"Added as example {index + 1} and shown above.")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)
