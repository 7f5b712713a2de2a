"""The attention explorer: one Jupyter widget, drawn in the browser, in a kernel and in the book.

:class:`AttentionExplorer` is an anywidget whose front end is ``assets/explorer.js`` (with
``assets/browser_model.js`` before it, and ``assets/explorer.css``). Its traits are the
maps it draws (``data``: every layer and head of a few examples of each model, see
:mod:`bertedu.viz.explorer_data`) and what it shows (``model``, ``example``, ``layer``,
``head``, ``view``, ``hide_special``)::

    explorer = AttentionExplorer.for_sentences([("The cat sat.", "It slept."), ...])
    explorer                          # in a notebook: the controls and the picture
    explorer.layer = 1                # the page redraws; a reader's move sets it back
    explorer.add_pair("The dog ran.") # the kernel runs every model; the menu grows
    explorer.stored(MINILM, 0)        # exactly the [layers, heads, q, k] maps drawn

In a kernel, Python and the page share that state both ways. A notebook executed with its
widget state stored (``scripts/execute_notebooks.py``) carries the data into the static
book, where the widget manager and anywidget's front end come from the book's own files,
so every control redraws there with no kernel and no network. The text box above the
picture runs the models in the kernel (Jupyter) or, in the built book, the shipped
BERT-Tiny in the page (:mod:`bertedu.viz.browser_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import anywidget
import numpy as np
import traitlets

from bertedu.viz.explorer import BERT_TINY, available_models
from bertedu.viz.explorer_data import (
    STATIC_NOTE,
    VIEWS,
    ExplorerExample,
    dequantise,
    explorer_data,
    pack_models,
    quantise,
    sentence_example,
)

ASSETS = resources.files("bertedu.viz") / "assets"
#: Runs the models on a pair (text A, text B or None): one example per model, by name.
AddExample = Callable[[str, str | None], dict[str, ExplorerExample]]
#: The state a reader changes with the controls, in the order of the controls.
STATE = ("model", "example", "layer", "head", "view", "hide_special")


def front_end() -> str:
    """The widget's ES module: the in-page model runner, then the explorer that draws."""
    return "\n".join(
        (ASSETS / name).read_text(encoding="utf-8") for name in ("browser_model.js", "explorer.js")
    )


class AttentionExplorer(anywidget.AnyWidget):
    """Stored attention maps of several models and examples, drawn by the browser.

    ``page_data`` is what the page draws (:func:`~bertedu.viz.explorer_data.explorer_data`);
    the ``data`` trait carries it with its models packed into one escaped JSON string.
    ``examples`` maps a model's name to its examples (the menus' order). ``axes`` names
    the two sides of a map; ``kernel_note`` says, under the picture, what needs a kernel.
    ``add_example`` (text A, text B) -> {model: example} lets :meth:`add_pair` (and the
    text box, in Jupyter) add new inputs. ``browser_model`` names the model (the shipped
    BERT-Tiny) that the built book's page runs on typed text; None: no text box there.
    ``state`` (model, example, layer, head, view, hide_special) is the opening view.
    """

    _esm = front_end()
    _css = (ASSETS / "explorer.css").read_text(encoding="utf-8")

    data = traitlets.Dict().tag(sync=True)
    model = traitlets.Unicode().tag(sync=True)
    example = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    view = traitlets.Unicode("head").tag(sync=True)
    hide_special = traitlets.Bool(False).tag(sync=True)
    #: The kernel's answer to the text box: what was added, or why nothing was.
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        examples: dict[str, list[ExplorerExample]],
        *,
        title: str | None = None,
        axes: tuple[str, str] = ("query", "key"),
        kernel_note: str = STATIC_NOTE,
        add_example: AddExample | None = None,
        browser_model: str | None = None,
        **state: Any,
    ) -> None:
        if not examples or not all(examples.values()):
            raise ValueError("The explorer needs at least one model with at least one example.")
        if browser_model is not None and browser_model not in examples:
            raise KeyError(
                f"browser_model {browser_model!r} is not one of the explorer's models "
                f"{list(examples)}."
            )
        unknown = set(state) - set(STATE)
        if unknown:
            raise KeyError(f"Unknown setting(s) {sorted(unknown)}; choose from {list(STATE)}.")
        self.examples = {name: list(items) for name, items in examples.items()}
        self._add_example = add_example
        self._page = {
            "title": title,
            "axes": axes,
            "kernel_note": kernel_note,
            "browser_model": browser_model,
        }
        super().__init__()
        self._refresh_data()
        self.model = state.pop("model", next(iter(self.examples)))
        for name in STATE[1:]:
            if name in state:
                setattr(self, name, state[name])
        self.on_msg(self._on_message)

    @classmethod
    def for_sentences(
        cls,
        pairs: Sequence[tuple[str, str | None]],
        models: dict[str, Callable[[], tuple[Any, Any]]] | None = None,
        *,
        max_length: int = 64,
        in_browser: bool = True,
        **options: Any,
    ) -> AttentionExplorer:
        """Self-attention of sentence ``pairs`` (``(text_a, text_b or None)``) in ``models``.

        ``models`` maps names to loaders returning ``(model, tokenizer)``; by default
        every model of :func:`bertedu.viz.explorer.available_models` (MiniLM, and the
        shipped BERT-Tiny when installed). Each loader runs once; :meth:`add_pair` runs
        the same models. With ``in_browser`` and the shipped BERT-Tiny among ``models``,
        the built book's page also runs it on typed text. ``options`` go to the class.
        """
        if not pairs:
            raise ValueError("for_sentences needs at least one sentence pair to store.")
        loaded = {name: loader() for name, loader in (models or available_models()).items()}

        def compute(text_a: str, text_b: str | None) -> dict[str, ExplorerExample]:
            return {
                name: sentence_example(model, tokenizer, text_a, text_b, max_length)
                for name, (model, tokenizer) in loaded.items()
            }

        per_pair = [compute(a, b) for a, b in pairs]
        examples = {name: [computed[name] for computed in per_pair] for name in loaded}
        browser = BERT_TINY if in_browser and BERT_TINY in loaded else None
        in_page = (
            f" In the built book, the box above runs {BERT_TINY} on your own sentences;"
            " in Jupyter it runs every model in the kernel."
            if browser
            else " In Jupyter, the box above runs every model in the kernel."
        )
        options.setdefault("kernel_note", STATIC_NOTE + in_page)
        options.setdefault("title", "Attention explorer")
        return cls(examples, add_example=compute, browser_model=browser, **options)

    # ----- what is shown: validated as the page's controls limit it ---------------------------
    def shape(self, model: str) -> tuple[int, int]:
        """``(layers, heads)`` of a model's stored maps."""
        layers, heads = self.examples[model][0].attentions.shape[:2]
        return int(layers), int(heads)

    @traitlets.validate("model")
    def _valid_model(self, proposal: dict) -> str:
        if proposal["value"] not in self.examples:
            raise traitlets.TraitError(
                f"Unknown model {proposal['value']!r}; choose one of {list(self.examples)}."
            )
        return proposal["value"]

    @traitlets.validate("view")
    def _valid_view(self, proposal: dict) -> str:
        if proposal["value"] not in dict(VIEWS):
            raise traitlets.TraitError(
                f"Unknown view {proposal['value']!r}; choose one of {list(dict(VIEWS))}."
            )
        return proposal["value"]

    def _limits(self) -> dict[str, int]:
        layers, heads = self.shape(self.model)
        return {"example": len(self.examples[self.model]), "layer": layers, "head": heads}

    @traitlets.validate("example", "layer", "head")
    def _clamped(self, proposal: dict) -> int:
        """Layer, head and example stay in the shown model's ranges, as the sliders keep them."""
        limit = self._limits()[proposal["trait"].name] if self.model else 1
        return int(min(max(proposal["value"], 0), limit - 1))

    @traitlets.observe("model")
    def _new_model(self, _change: dict) -> None:
        for name, limit in self._limits().items():
            setattr(self, name, min(getattr(self, name), limit - 1))

    @property
    def state(self) -> dict[str, Any]:
        """What is shown: model, example, layer, head, view, hide_special."""
        return {name: getattr(self, name) for name in STATE}

    def stored(self, model: str, example: int) -> np.ndarray:
        """The ``[layers, heads, q, k]`` maps of one example exactly as the page draws them."""
        return dequantise(*quantise(self.examples[model][example].attentions))

    def _refresh_data(self) -> None:
        self.page_data = explorer_data(
            self.examples, kernel_input=self._add_example is not None, **self._page
        )
        self.data = pack_models(self.page_data)

    # ----- new text: the kernel runs the models -----------------------------------------------
    def add_pair(self, text_a: str, text_b: str | None = None, *, select: bool = True) -> int:
        """Run the models on a new pair, add it as the last example; its index.

        With ``select`` the explorer shows the new example. A ``ValueError`` (empty
        input) leaves everything as it was.
        """
        if self._add_example is None:
            raise TypeError(
                "This explorer shows stored examples only: build it with "
                "AttentionExplorer.for_sentences to add new sentences."
            )
        computed = self._add_example(text_a, text_b or None)
        for name, item in computed.items():
            self.examples[name].append(item)
        self._refresh_data()
        index = len(self.examples[self.model]) - 1
        if select:
            self.example = index
        return index

    def _on_message(self, _widget: Any, content: dict, _buffers: list) -> None:
        """The text box's request (in Jupyter): run the models, say what happened."""
        if content.get("type") != "add_pair":
            return
        try:
            index = self.add_pair(content.get("text_a", ""), content.get("text_b") or None)
        except (ValueError, TypeError) as error:
            answer = f"Nothing added: {error}"
        else:
            answer = f"Added as example {index + 1} of every model, and shown."
        self.message = ""  # the same answer twice is still a change the page shows
        self.message = answer
