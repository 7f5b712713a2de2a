"""The attention explorer as a kernel sees it: the widget's traits, its messages, its picture.

A reader's move in the page reaches the kernel as an ``update`` message on the widget's
comm (what ``_handle_msg`` receives); Python's own changes leave as ``update`` messages
(captured here) and are what the page draws. The picture is drawn by the browser: the
last tests store the widget's state as a notebook stores it, open it in Chromium and
read what the one JavaScript drawing code drew.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import traitlets
from widget_pages import write_widget_page

from bertedu.viz.explorer_data import LINE_THRESHOLD, ExplorerExample, dequantise, quantise
from bertedu.viz.widget import AttentionExplorer, front_end

TOKENS = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]


def maps(layers, heads, queries, keys, seed) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(scale=3.0, size=(layers, heads, queries, keys))
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def example(label, seed, layers=3, heads=4, tokens=TOKENS):
    n = len(tokens)
    return ExplorerExample(label, list(tokens), list(tokens), maps(layers, heads, n, n, seed))


class Sentences:
    """An ``add_example`` stand-in: a pair's tokens are its words, its maps random."""

    def __call__(self, text_a, text_b):
        if not text_a.strip():
            raise ValueError("Sentence A is empty: type a sentence.")
        words = ["[CLS]", *text_a.lower().split(), "[SEP]", *(text_b or "").lower().split()]
        n = len(words)
        return {
            "big": ExplorerExample(text_a, words, words, maps(3, 4, n, n, n)),
            "small": ExplorerExample(text_a, words, words, maps(1, 2, n, n, n + 1)),
        }


@pytest.fixture
def explorer():
    explorer = AttentionExplorer(
        {
            "big": [example("first", 1), example("second", 2)],
            "small": [example("only", 3, 1, 2)],
        },
        add_example=Sentences(),
        layer=1,
        head=2,
    )
    sent: list[dict] = []
    explorer.comm.send = lambda data=None, buffers=None, **_: sent.append(data)
    explorer.sent = sent
    return explorer


def reader_moves(explorer, **state) -> None:
    """What the page sends when a reader moves a control (an update of the widget's state)."""
    message = {"method": "update", "state": state, "buffer_paths": []}
    explorer._handle_msg({"content": {"data": message}, "buffers": []})


def updates(explorer) -> dict:
    """Every trait Python sent to the page since the fixture started, last value wins."""
    merged: dict = {}
    for data in explorer.sent:
        if data and data.get("method") == "update":
            merged.update(data["state"])
    return merged


def test_opens_in_the_given_state_and_stores_every_map(explorer):
    assert explorer.state == {
        "model": "big",
        "example": 0,
        "layer": 1,
        "head": 2,
        "view": "head",
        "hide_special": False,
    }
    state = explorer.get_state()
    assert state["_esm"] == front_end() and "render" in state["_esm"]
    big = explorer.page_data["models"][0]
    assert (big["name"], big["layers"], big["heads"]) == ("big", 3, 4)
    assert [e["label"] for e in big["examples"]] == ["first", "second"]


def test_python_changes_of_model_example_layer_head_and_view_reach_the_page(explorer):
    explorer.example = 1
    explorer.layer, explorer.head = 2, 3
    explorer.view = "heatmap"
    explorer.hide_special = True
    assert updates(explorer) == {
        "example": 1,
        "layer": 2,
        "head": 3,
        "view": "heatmap",
        "hide_special": True,
    }
    explorer.model = "small"  # one layer, two heads, one example: the rest is clamped
    assert explorer.state == {
        "model": "small",
        "example": 0,
        "layer": 0,
        "head": 1,
        "view": "heatmap",
        "hide_special": True,
    }
    assert {name: updates(explorer)[name] for name in ("model", "head")} == {
        "model": "small",
        "head": 1,
    }


def test_a_readers_moves_in_the_page_are_read_in_python(explorer):
    reader_moves(explorer, layer=0, head=3)
    assert (explorer.layer, explorer.head) == (0, 3)
    reader_moves(explorer, model="small", example=0, layer=0, head=1, view="model")
    assert explorer.state["model"] == "small" and explorer.view == "model"


def test_values_out_of_range_are_clamped_and_unknown_names_refused(explorer):
    explorer.layer, explorer.head, explorer.example = 99, -4, 7
    assert (explorer.layer, explorer.head, explorer.example) == (2, 0, 1)
    with pytest.raises(traitlets.TraitError, match="Unknown model 'nope'; choose one of"):
        explorer.model = "nope"
    with pytest.raises(traitlets.TraitError, match="Unknown view 'grid'"):
        explorer.view = "grid"
    with pytest.raises(KeyError, match="Unknown setting"):
        AttentionExplorer({"m": [example("a", 1)]}, zoom=2)
    with pytest.raises(ValueError, match="at least one model"):
        AttentionExplorer({"m": []})


def test_a_new_sentence_set_from_python_is_stored_and_shown(explorer):
    index = explorer.add_pair("A dog ran home", "It slept")
    assert index == 2 and explorer.example == 2
    entry = explorer.page_data["models"][0]["examples"][2]
    words = ["[CLS]", "a", "dog", "ran", "home", "[SEP]", "it", "slept"]
    assert entry["queries"] == words
    assert "example" in updates(explorer) and "data" in updates(explorer)
    stored = explorer.stored("big", 2)
    assert np.abs(stored - explorer.examples["big"][2].attentions).max() <= stored.max() / 500
    before = explorer.data
    with pytest.raises(ValueError, match="empty"):
        explorer.add_pair("   ")
    assert explorer.data == before and explorer.example == 2


def test_the_text_box_in_jupyter_asks_the_kernel_and_gets_an_answer(explorer):
    custom = {"type": "add_pair", "text_a": "Birds sing", "text_b": ""}
    explorer._handle_msg(
        {"content": {"data": {"method": "custom", "content": custom}}, "buffers": []}
    )
    assert explorer.message == "Added as example 3 of every model, and shown."
    assert explorer.example == 2
    custom["text_a"] = ""
    explorer._handle_msg(
        {"content": {"data": {"method": "custom", "content": custom}}, "buffers": []}
    )
    assert explorer.message.startswith("Nothing added: Sentence A is empty")
    assert len(explorer.examples["big"]) == 3


def test_an_explorer_of_stored_examples_only_refuses_new_sentences():
    stored_only = AttentionExplorer({"m": [example("a", 1)]})
    assert stored_only.data["kernel_input"] is False
    with pytest.raises(TypeError, match="for_sentences"):
        stored_only.add_pair("A cat.")


def test_the_stored_maps_are_the_quantised_weights():
    item = example("a", 5)
    assert np.array_equal(
        AttentionExplorer({"m": [item]}).stored("m", 0), dequantise(*quantise(item.attentions))
    )


# ----- the picture: what the browser draws from the state Python set -----------------------
def open_widgets(browser, folder, widgets):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(write_widget_page(folder, widgets).as_uri())
    page.wait_for_selector(".bx .bx-figure > *", timeout=30_000)
    page.errors = errors
    return page


def drawn(page) -> dict:
    return {
        "state": json.loads(page.locator(".bx").get_attribute("data-state")),
        "caption": page.locator(".bx-caption").inner_text(),
        "lines": page.locator(".bx-lines line").count(),
        "cells": page.locator(".bx-heatmap rect[data-q]").count(),
        "tokens": page.locator('.bx-token[data-side="q"]').all_text_contents(),
    }


def test_the_page_draws_what_python_set(browser, tmp_path, explorer):
    first = drawn(open_widgets(browser, tmp_path, [explorer]))
    assert first["caption"] == "big \u00b7 head view \u00b7 layer 1, head 2"
    weights = explorer.stored("big", 0)[1, 2]
    assert first["lines"] == int((weights >= LINE_THRESHOLD).sum())
    explorer.example, explorer.layer, explorer.head, explorer.view = 1, 0, 3, "heatmap"
    page = open_widgets(browser, tmp_path, [explorer])
    second = drawn(page)
    assert second["state"] == {**second["state"], "example": 1, "layer": 0, "head": 3}
    assert second["caption"] == "big \u00b7 heatmap \u00b7 layer 0, head 3"
    assert second["cells"] == len(TOKENS) ** 2
    explorer.model = "small"
    assert drawn(open_widgets(browser, tmp_path, [explorer]))["caption"].startswith("small")
    assert page.errors == []


def test_a_sentence_added_from_python_is_drawn_with_its_tokens(browser, tmp_path, explorer):
    explorer.add_pair("Owls hunt at night")
    picture = drawn(open_widgets(browser, tmp_path, [explorer]))
    assert picture["tokens"] == ["[CLS]", "owls", "hunt", "at", "night", "[SEP]"]
    menu = open_widgets(browser, tmp_path, [explorer]).locator('[data-control="example"] option')
    assert menu.all_inner_texts()[-1] == "Owls hunt at night"
