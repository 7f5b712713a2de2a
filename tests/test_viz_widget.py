"""The explorer's Jupyter widgets: Python reads and sets their state, each change redraws."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from bertedu.viz.explorer import BERT_TINY, load_bert_tiny
from bertedu.viz.static_explorer import ExplorerExample, StaticExplorer
from bertedu.viz.widget import AttentionWidget

TOKENS = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]


def maps(layers: int, heads: int, n: int, seed: int) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(scale=3.0, size=(layers, heads, n, n))
    weights = np.exp(logits)
    return weights / weights.sum(-1, keepdims=True)


def png(widget: AttentionWidget) -> bytes:
    return bytes(widget.image.value)


def made_up(text_a: str, text_b: str | None) -> dict[str, ExplorerExample]:
    """What for_sentences' models would return, without a model: one map per word."""
    if not text_a.strip():
        raise ValueError("Sentence A is empty: type a sentence to see its attention maps.")
    tokens = ["[CLS]", *text_a.lower().split(), "[SEP]", *(text_b or "").lower().split()]
    n = len(tokens)
    return {
        "deep": ExplorerExample(text_a, tokens, tokens, maps(3, 4, n, n)),
        "shallow": ExplorerExample(text_a, tokens, tokens, maps(2, 2, n, n + 1)),
    }


@pytest.fixture
def widget() -> AttentionWidget:
    explorer = StaticExplorer(
        {
            "deep": [ExplorerExample("first", TOKENS, TOKENS, maps(3, 4, 6, 0))],
            "shallow": [ExplorerExample("first", TOKENS, TOKENS, maps(2, 2, 6, 1))],
        },
        layer=2,
        head=3,
        add_example=made_up,
    )
    return explorer.widget()


def test_opens_in_the_explorers_state_and_draws(widget):
    assert widget.state == {
        "model": "deep",
        "example": 0,
        "layer": 2,
        "head": 3,
        "view": "head",
        "hide_special": False,
    }
    assert widget.draws == 1 and png(widget).startswith(b"\x89PNG")


def test_setting_a_property_moves_the_control_and_redraws(widget):
    pictures = {png(widget)}
    for name, value in (("layer", 0), ("head", 1), ("view", "heatmap"), ("view", "model")):
        setattr(widget, name, value)
        assert getattr(widget, name) == value
        assert png(widget) not in pictures, name  # a new picture each time
        pictures.add(png(widget))
    assert widget._layer.value == 0 and widget.draws == 5
    assert widget.explorer.state["view"] == "head"  # the page explorer keeps its own state
    with pytest.raises(ValueError, match="Unknown view"):
        widget.view = "sideways"


def test_the_readers_moves_are_readable(widget):
    widget._head.value = 1  # what dragging the slider does
    widget._hide.value = True
    assert (widget.head, widget.hide_special) == (1, True)


def test_a_smaller_model_clamps_the_sliders(widget):
    widget.model = "shallow"
    assert (widget._layer.max, widget._head.max) == (1, 1)
    assert (widget.layer, widget.head) == (1, 1)


def test_text_boxes_add_a_pair_and_show_it(widget):
    widget.text_a.value, widget.text_b.value = "a dog barked", "loudly"
    widget.button.click()
    assert widget.example == 1 and "Added as example 2" in widget.status.value
    assert len(widget._example.options) == 2
    assert len(widget.explorer.examples["shallow"]) == 2  # every model ran on it
    widget.text_a.value = "  "
    widget.button.click()
    assert "Sentence A is empty" in widget.status.value and widget.example == 1


def test_only_special_tokens_hidden_draws_a_message(widget):
    widget.explorer.examples["deep"].append(
        ExplorerExample("specials", ["[CLS]", "[SEP]"], ["[CLS]", "[SEP]"], maps(3, 4, 2, 5))
    )
    widget._fit_ranges()
    widget.example, widget.hide_special = 1, True
    assert png(widget).startswith(b"\x89PNG")


def test_cross_attention_is_refused_with_a_reason():
    example = ExplorerExample("x", ["a"], ["b", "c"], np.full((1, 1, 1, 2), 0.5))
    with pytest.raises(ValueError, match="self-attention"):
        AttentionWidget(StaticExplorer({"decoder": [example]}))


def test_widget_state_can_be_saved_with_its_picture(widget):
    """What the static book renders: the saved state holds the controls and the PNG."""
    from ipywidgets.embed import embed_data

    state = embed_data(views=[widget.box])["manager_state"]["state"]
    names = {model["model_name"] for model in state.values()}
    assert {"IntSliderModel", "DropdownModel", "ImageModel", "TextModel"} <= names
    images = [m for m in state.values() if m["model_name"] == "ImageModel"]
    buffers = {b["path"][0]: b for b in images[0]["buffers"]}  # binary values travel apart
    assert base64.b64decode(buffers["value"]["data"]) == png(widget)  # the picture is saved


def test_runs_the_books_tiny_in_the_kernel():
    explorer = StaticExplorer.for_sentences([("The cat sat.", None)], {BERT_TINY: load_bert_tiny})
    widget = explorer.widget()
    index = widget.add_pair("The dog barked.", "It was loud.")
    item = explorer.examples[BERT_TINY][index]
    assert item.queries[:4] == ["[CLS]", "the", "dog", "barked"]
    assert item.attentions.shape == (2, 2, len(item.queries), len(item.queries))
    assert widget.example == index


def test_chapter_8_stores_the_widgets_state_with_a_picture():
    """The static book renders the widgets from the state the executed chapter stored."""
    from pathlib import Path

    import nbformat

    path = Path(__file__).resolve().parent.parent / "notebooks" / "08_inside_the_model.ipynb"
    notebook = nbformat.read(path, as_version=4)
    saved = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    images = [m for m in saved.values() if m["model_name"] == "ImageModel"]
    sliders = [m["state"] for m in saved.values() if m["model_name"] == "IntSliderModel"]
    assert images and any(b["path"] == ["value"] for b in images[0].get("buffers", []))
    assert {s["description"] for s in sliders} >= {"Layer", "Head"}
    shown = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert shown and all(
        o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] in saved for o in shown
    )
