"""The attention explorer that works in a static page: no kernel, no network.

A cell's HTML output carries every layer and head of a few chosen examples (each
head's weights in 255 steps of its largest weight, one byte each), plus a small JavaScript view
(``assets/explorer.js``, inlined with its CSS, loaded from nowhere). The page's
controls (model, example, layer, head, view, hide special tokens) redraw from the
stored maps in the browser, so the rendered book is as interactive as a running
notebook for those examples. The views are bertviz's: the **head view** (lines from
each query to the keys it attends to; hover a token to isolate its lines), a
**heatmap**, and the **model view** (a thumbnail of every layer x head).

    explorer = StaticExplorer.for_sentences([("The cat sat.", "It slept."), ...])
    explorer                      # in a notebook: the explorer, as the cell's output
    explorer.stored(MINILM, 0)    # exactly the [layers, heads, q, k] maps the page draws
    explorer.text_input()         # kernel only: type a new pair, the explorer above redraws

New text needs a model. In the built book, an explorer made with ``browser_model`` has a
text box that runs the shipped BERT-Tiny in the page (``assets/browser_model.js``,
onnxruntime-web, files made by :mod:`bertedu.viz.browser_model`), loaded on the first
press of its button. In Jupyter, :meth:`StaticExplorer.text_input` gives ipywidgets boxes
that run the models in the kernel, and :mod:`bertedu.viz.widget` gives an ipywidgets
explorer whose state Python reads and sets. The same view draws the decoder's
cross-attention of chapter 7 (:func:`bertedu.viz.cross_attention.cross_attention_explorer`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from bertedu.viz.attention import SPECIAL_TOKENS, attention_for

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
_ids = itertools.count()


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
    if array.size and (np.nanmin(array) < -1e-6 or np.nanmax(array) > 1 + 1e-6):
        raise ValueError(
            "Attention weights must lie in [0, 1] (rows of a softmax); got values from "
            f"{np.nanmin(array):.3g} to {np.nanmax(array):.3g}."
        )
    array = np.clip(np.nan_to_num(array), 0.0, 1.0)
    scales = array.max(axis=(-2, -1)) if array.size else np.zeros(array.shape[:2])
    safe = np.where(scales > 0, scales, 1.0)[..., None, None]
    return np.rint(array / safe * LEVELS).astype(np.uint8), scales


def dequantise(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``(codes, scales)`` -> the weights the page draws: ``code / 255 * scale``."""
    return np.asarray(codes, dtype=np.float64) / LEVELS * np.asarray(scales)[..., None, None]


def script_safe_json(data: Any) -> str:
    """``data`` as JSON that cannot end or change the ``<script>`` element holding it.

    Every ``<``, ``>`` and ``&`` is written as a JSON escape (``\\u003c`` ...), which
    ``JSON.parse`` reads back unchanged: an example text such as ``</script>`` cannot close
    the element, and ``<!--<script>`` cannot switch the HTML parser into the state where
    the element's own end tag no longer ends it (which stopped the explorer mounting).
    """
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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


class StaticExplorer:
    """Stored attention maps of several models and examples, and the page that draws them.

    ``examples`` maps a model's name to its examples (the menus' order). ``model``,
    ``example``, ``layer``, ``head``, ``view`` (a key of :data:`VIEWS`) and
    ``hide_special`` are the state the page opens with. ``axes`` names the two sides
    of a map; ``kernel_note`` says, under the picture, what needs a kernel.
    ``add_example`` (text A, text B) -> {model: example} lets :meth:`text_input` add
    new inputs; without it the explorer shows its stored examples only.
    ``browser_model`` names the model (the shipped BERT-Tiny) that the built book's
    page runs on typed text (see :mod:`bertedu.viz.browser_model`); None: no text box.
    """

    def __init__(
        self,
        examples: dict[str, list[ExplorerExample]],
        *,
        title: str | None = None,
        axes: tuple[str, str] = ("query", "key"),
        model: str | None = None,
        example: int = 0,
        layer: int = 0,
        head: int = 0,
        view: str = "head",
        hide_special: bool = False,
        kernel_note: str = "",
        add_example: Callable[[str, str | None], dict[str, ExplorerExample]] | None = None,
        browser_model: str | None = None,
    ) -> None:
        if not examples or not all(examples.values()):
            raise ValueError("The explorer needs at least one model with at least one example.")
        self.examples = {name: list(items) for name, items in examples.items()}
        self.title, self.axes, self.kernel_note = title, axes, kernel_note
        self._add_example = add_example
        if browser_model is not None and browser_model not in self.examples:
            raise KeyError(
                f"browser_model {browser_model!r} is not one of the explorer's models "
                f"{list(self.examples)}."
            )
        self.browser_model = browser_model
        self._display_id: str | None = None
        self.message = ""  # the last text_input message (an error, or what was added)
        self.state: dict[str, Any] = {}
        self.select(
            model=model or next(iter(self.examples)),
            example=example,
            layer=layer,
            head=head,
            view=view,
            hide_special=hide_special,
        )

    @classmethod
    def for_sentences(
        cls,
        pairs: Sequence[tuple[str, str | None]],
        models: dict[str, Callable[[], tuple[Any, Any]]] | None = None,
        *,
        max_length: int = 64,
        in_browser: bool = True,
        **state: Any,
    ) -> StaticExplorer:
        """Self-attention of sentence ``pairs`` (``(text_a, text_b or None)``) in ``models``.

        ``models`` maps names to loaders returning ``(model, tokenizer)``; by default
        every model of :func:`bertedu.viz.explorer.available_models` (MiniLM, and the
        shipped BERT-Tiny when installed). Each loader runs once. ``state`` sets the
        opening view (see the class); typed pairs (:meth:`text_input`) run the same
        models. With ``in_browser`` and the shipped BERT-Tiny among ``models``, the built
        book's page also runs it on text typed there.
        """
        if models is None:
            from bertedu.viz.explorer import available_models

            models = available_models()
        if not pairs:
            raise ValueError("for_sentences needs at least one sentence pair to store.")
        loaded = {name: loader() for name, loader in models.items()}

        def compute(text_a: str, text_b: str | None) -> dict[str, ExplorerExample]:
            return {
                name: sentence_example(model, tokenizer, text_a, text_b, max_length)
                for name, (model, tokenizer) in loaded.items()
            }

        per_pair = [compute(a, b) for a, b in pairs]
        examples = {name: [computed[name] for computed in per_pair] for name in loaded}
        from bertedu.viz.explorer import BERT_TINY

        browser = BERT_TINY if in_browser and BERT_TINY in loaded else None
        in_page = (
            f" In the built book, the box above runs {BERT_TINY} on your own sentences."
            if browser
            else ""
        )
        state.setdefault(
            "kernel_note",
            STATIC_NOTE + in_page + " With a running kernel (Jupyter), explorer.widget() gives "
            "widgets that run every model in Python; explorer.add_pair(text) adds an example.",
        )
        state.setdefault("title", "Attention explorer")
        return cls(examples, add_example=compute, browser_model=browser, **state)

    # ----- state and stored data --------------------------------------------------------------
    def shape(self, model: str) -> tuple[int, int]:
        """``(layers, heads)`` of a model's stored maps."""
        layers, heads = self.examples[model][0].attentions.shape[:2]
        return int(layers), int(heads)

    def select(self, **changes: Any) -> dict[str, Any]:
        """Change the opening state (any of model, example, layer, head, view, hide_special).

        Layer, head and example are clamped into the chosen model's ranges, as the
        page's controls clamp them. Returns the new state.
        """
        unknown = set(changes) - {"model", "example", "layer", "head", "view", "hide_special"}
        if unknown:
            raise KeyError(f"Unknown setting(s) {sorted(unknown)} for the explorer.")
        state = {**self.state, **changes}
        if state["model"] not in self.examples:
            raise KeyError(
                f"Unknown model {state['model']!r}; choose one of {list(self.examples)}."
            )
        if state["view"] not in dict(VIEWS):
            raise ValueError(f"Unknown view {state['view']!r}; choose one of {list(dict(VIEWS))}.")
        layers, heads = self.shape(state["model"])
        count = len(self.examples[state["model"]])
        state["layer"] = int(min(max(state["layer"], 0), layers - 1))
        state["head"] = int(min(max(state["head"], 0), heads - 1))
        state["example"] = int(min(max(state["example"], 0), count - 1))
        state["hide_special"] = bool(state["hide_special"])
        self.state = state
        return state

    def stored(self, model: str, example: int) -> np.ndarray:
        """The ``[layers, heads, q, k]`` maps of one example exactly as the page draws them."""
        return dequantise(*quantise(self.examples[model][example].attentions))

    def payload(self) -> dict[str, Any]:
        """Everything the page needs, as JSON-ready data (the weights as base64 bytes)."""
        names = list(self.examples)
        models = []
        for name in names:
            layers, heads = self.shape(name)
            entries = []
            for item in self.examples[name]:
                codes, scales = quantise(item.attentions)
                entry = {
                    "label": item.label,
                    "queries": item.queries,
                    "note": item.note,
                    "weights": base64.b64encode(codes.tobytes()).decode(),
                    "scales": scales.ravel().tolist(),
                }
                if item.keys != item.queries:
                    entry["keys"] = item.keys
                entries.append(entry)
            models.append({"name": name, "layers": layers, "heads": heads, "examples": entries})
        state = {**self.state, "model": names.index(self.state["model"])}
        browser = None
        if self.browser_model is not None:
            from bertedu.viz.browser_model import MAX_POSITIONS

            browser = {
                "model": names.index(self.browser_model),
                "files": BROWSER_FILES,
                "max_length": MAX_POSITIONS,
                "note": BROWSER_NOTE.format(max_length=MAX_POSITIONS),
            }
        return {
            "title": self.title,
            "axes": list(self.axes),
            "views": [list(view) for view in VIEWS],
            "special": list(SPECIAL_TOKENS),
            "threshold": LINE_THRESHOLD,
            "colormap": colormap_hex(),
            "kernel_note": self.kernel_note,
            "models": models,
            "state": state,
            "browser": browser,
        }

    # ----- the page ---------------------------------------------------------------------------
    def html(self) -> str:
        """The explorer as one self-contained HTML fragment (CSS, data and script inline)."""
        payload = self.payload()
        data = script_safe_json(payload)
        digest = hashlib.sha1(data.encode()).hexdigest()[:10]
        element = f"bx-{digest}-{next(_ids)}"
        assets = resources.files("bertedu.viz") / "assets"
        css = (assets / "explorer.css").read_text(encoding="utf-8")
        script = (assets / "explorer.js").read_text(encoding="utf-8")
        if payload["browser"] is not None:  # before explorer.js mounts, so it finds the panel
            script = (assets / "browser_model.js").read_text(encoding="utf-8") + "\n" + script
        fallback = html.escape(
            "The attention explorer is drawn by JavaScript, which did not run here. In "
            "Jupyter, run this cell (or trust the notebook) to draw it."
        )
        return (
            f"<style>{css}</style>"
            f'<div class="bx tex2jax_ignore mathjax_ignore" id="{element}">{fallback}</div>'
            f'<script type="application/json" id="{element}-data">{data}</script>'
            f'<script>{script}\nwindow.berteduExplorer.mount("{element}");</script>'
        )

    def summary(self) -> str:
        """A one-line text description (the output's ``text/plain``)."""
        counts = ", ".join(f"{name}: {len(items)}" for name, items in self.examples.items())
        return f"<StaticExplorer: examples per model ({counts}); needs HTML and JavaScript>"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/html": self.html(), "text/plain": self.summary()}

    def _ipython_display_(self) -> None:
        """Display the explorer with a display id, so :meth:`refresh` can redraw it in place."""
        from IPython.display import display

        if self._display_id is None:
            self._display_id = f"bertedu-explorer-{next(_ids)}"
        display(self._repr_mimebundle_(), raw=True, display_id=self._display_id)

    def refresh(self) -> None:
        """Re-render the explorer's displayed output in place (after new data or state)."""
        if self._display_id is not None:
            from IPython.display import update_display

            update_display(self._repr_mimebundle_(), raw=True, display_id=self._display_id)

    # ----- new text: needs the kernel ---------------------------------------------------------
    def add_pair(self, text_a: str, text_b: str | None = None, *, select: bool = True) -> int:
        """Run the models on a new pair, store it as the last example and redraw in place.

        With ``select`` the explorer switches to the new example; without, it stays
        where it is and the new example waits at the end of the menu. Returns the new
        example's index. A ``ValueError`` (empty input) leaves the explorer unchanged.
        """
        if self._add_example is None:
            raise TypeError(
                "This explorer shows stored examples only: build it with "
                "StaticExplorer.for_sentences to add new sentences."
            )
        computed = self._add_example(text_a, text_b or None)
        for name, item in computed.items():
            self.examples[name].append(item)
        index = len(self.examples[self.state["model"]]) - 1
        if select:
            self.select(example=index)
        self.refresh()
        return index

    def widget(self, **options: Any):
        """Jupyter widgets over this explorer (:class:`bertedu.viz.widget.AttentionWidget`).

        Python reads and sets their state (``widget.layer = 1`` redraws); their text boxes
        run the models in the kernel. ``options`` go to the widget (``dpi``).
        """
        from bertedu.viz.widget import AttentionWidget

        return AttentionWidget(self, **options)

    def text_input(self):
        """ipywidgets boxes for a new sentence pair (they work only with a running kernel)."""
        import ipywidgets as w

        wide = w.Layout(width="95%")
        box_a = w.Text(description="Sentence A", placeholder="needs a running kernel", layout=wide)
        box_b = w.Text(description="Sentence B", placeholder="optional", layout=wide)
        button = w.Button(description="Add to the explorer", button_style="primary")
        status = w.HTML()

        def submit(_=None) -> None:
            try:
                index = self.add_pair(box_a.value, box_b.value)
            except ValueError as error:
                self.message = str(error)
                status.value = f'<span style="color:#b00">{html.escape(self.message)}</span>'
                return
            self.message = f"Added as example {index + 1}; the explorer above shows it."
            status.value = html.escape(self.message)

        button.on_click(submit)
        self.inputs = {"text_a": box_a, "text_b": box_b, "button": button, "status": status}
        heading = w.HTML(
            "<b>Needs a running kernel</b> (Jupyter): type a sentence (pair) and press the "
            "button; the models run in Python and the explorer above redraws with the new "
            "example. In the static book these boxes do nothing."
        )
        return w.VBox([heading, box_a, box_b, w.HBox([button, status])])
