"""bertedu.viz.explorer_data and the explorer widget on the Python side: stored maps, new text.

What the page's JavaScript does with the payload is tested in a browser by
tests/test_viz_explorer_browser.py.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from bertedu.model import BertConfig, BertModel
from bertedu.tokenization import load_tokenizer
from bertedu.viz import attention_for
from bertedu.viz.explorer_data import (
    LEVELS,
    ExplorerExample,
    colormap_hex,
    dequantise,
    quantise,
    shorten,
)
from bertedu.viz.widget import AttentionExplorer


def softmax_maps(shape, seed=0, sharpness=3.0) -> np.ndarray:
    """Random attention maps whose rows sum to 1 (``sharpness`` makes them peaky)."""
    logits = np.random.default_rng(seed).normal(scale=sharpness, size=shape)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def example(label="pair", tokens=("[CLS]", "the", "cat", ".", "[SEP]"), layers=3, heads=4, seed=0):
    tokens = list(tokens)
    maps = softmax_maps((layers, heads, len(tokens), len(tokens)), seed)
    return ExplorerExample(label, tokens, tokens, maps)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def models(tokenizer):
    """Two small random BERTs of different shapes, as the explorer's model loaders."""
    torch.manual_seed(0)
    wide = BertModel(BertConfig.tiny(num_hidden_layers=3, num_attention_heads=4)).eval()
    small = BertModel(BertConfig.tiny(max_position_embeddings=16)).eval()
    return {"wide": lambda: (wide, tokenizer), "small": lambda: (small, tokenizer)}


# ----- storing the maps -----
def test_quantise_keeps_every_weight_within_half_a_step_of_its_heads_largest():
    maps = softmax_maps((3, 4, 9, 9))
    codes, scales = quantise(maps)
    assert codes.dtype == np.uint8 and codes.shape == maps.shape
    np.testing.assert_array_equal(scales, maps.max(axis=(-2, -1)))
    assert (codes.reshape(12, -1).max(-1) == LEVELS).all()  # each head's largest weight is 255
    error = np.abs(dequantise(codes, scales) - maps)
    assert (error <= scales[..., None, None] / (2 * LEVELS) + 1e-12).all()
    # A broad head keeps all its levels: uniform weights come back exactly.
    uniform = np.full((1, 1, 40, 40), 1 / 40)
    np.testing.assert_allclose(dequantise(*quantise(uniform)), uniform, rtol=1e-12)
    silent = quantise(np.zeros((1, 2, 3, 3)))
    assert not silent[0].any() and not silent[1].any()


def test_quantise_refuses_what_is_not_a_stack_of_attention_maps():
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        quantise(np.full((1, 1, 2, 2), 1.5))
    with pytest.raises(ValueError, match="layers, heads, queries, keys"):
        quantise(np.full((2, 2, 2), 0.5))


def test_an_example_must_have_a_map_per_token_pair():
    with pytest.raises(ValueError, match="do not match 3 query and 3 key tokens"):
        ExplorerExample("bad", ["a", "b", "c"], ["a", "b", "c"], np.zeros((1, 1, 4, 4)))
    cross = ExplorerExample("cross", ["x", "[SEP]"], ["[CLS]", "a", "b"], np.zeros((1, 1, 2, 3)))
    assert cross.attentions.shape == (1, 1, 2, 3)


# ----- the payload and the page -----
def decoded(entry, layers, heads) -> np.ndarray:
    """The weights a payload example carries, decoded as the page's script decodes them."""
    queries, keys = len(entry["queries"]), len(entry.get("keys", entry["queries"]))
    codes = np.frombuffer(base64.b64decode(entry["weights"]), dtype=np.uint8)
    codes = codes.reshape(layers, heads, queries, keys)
    return dequantise(codes, np.array(entry["scales"]).reshape(layers, heads))


def test_payload_holds_every_layer_and_head_of_every_example():
    wide = [example("one", seed=1), example("two", tokens=("[CLS]", "a", "[SEP]"), seed=2)]
    small = [example("one", layers=2, heads=2, seed=3), example("two", layers=2, heads=2, seed=4)]
    explorer = AttentionExplorer({"wide": wide, "small": small}, model="small", layer=1, head=1)
    payload = explorer.page_data
    assert [m["name"] for m in payload["models"]] == ["wide", "small"]
    assert [(m["layers"], m["heads"]) for m in payload["models"]] == [(3, 4), (2, 2)]
    assert explorer.state == {
        "model": "small",
        "example": 0,
        "layer": 1,
        "head": 1,
        "view": "head",
        "hide_special": False,
    }
    for position, name in enumerate(("wide", "small")):
        model = payload["models"][position]
        for index, entry in enumerate(model["examples"]):
            stored = decoded(entry, model["layers"], model["heads"])
            np.testing.assert_array_equal(stored, explorer.stored(name, index))
            original = explorer.examples[name][index].attentions
            assert np.abs(stored - original).max() <= 1 / (2 * LEVELS)
            assert "keys" not in entry  # self-attention: the keys are the queries
    assert payload["threshold"] == 0.01 and payload["special"] == ["[CLS]", "[SEP]", "[PAD]"]
    assert len(payload["colormap"]) == 256 * 6 and payload["colormap"].startswith("440154")


def test_colormap_is_matplotlibs():
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = colormap_hex("viridis")
    assert palette[6 * 100 : 6 * 101] == to_hex(colormaps["viridis"](100))[1:]


def test_the_front_end_is_self_contained_and_the_data_survives_any_token():
    hostile = example("hostile", tokens=("[CLS]", "</script><b>", "&amp;", "[SEP]"))
    explorer = AttentionExplorer({"m": [hostile]}, kernel_note="note")
    state = explorer.get_state()
    urls = set(re.findall(r"https?://[^\s\"')]+", state["_esm"]))
    assert urls == {"http://www.w3.org/2000/svg"}  # an XML namespace name, never fetched
    # the page stores the front end inside a <script> element too
    assert not re.search(r"<!--|<script|</script", state["_esm"] + state["_css"], re.I)
    module_imports = re.compile(r"^\s*import[\s{*]|@import|XMLHttpRequest", re.M)
    assert not module_imports.search(state["_esm"] + state["_css"])
    stored = json.dumps(state["data"])  # what the page's <script> element will hold
    assert "<" not in stored and ">" not in stored and "&" not in stored
    models = json.loads(json.loads(stored)["models"])
    assert models[0]["examples"][0]["queries"][1:3] == ["</script><b>", "&amp;"]


def test_shorten_keeps_one_line_and_marks_the_cut():
    assert shorten("a  b\nc") == "a b c"
    assert shorten("x" * 80, limit=10) == "x" * 9 + "\u2026"


# ----- sentences through real (small) models -----
def test_for_sentences_stores_what_attention_for_returns(models, tokenizer):
    pairs = [("The cat sat on the mat.", "It slept."), ("Hello world.", None)]
    explorer = AttentionExplorer.for_sentences(pairs, models, max_length=12, head=3)
    assert list(explorer.examples) == ["wide", "small"] and explorer.state["head"] == 3
    wide, _ = models["wide"]()
    for index, (text_a, text_b) in enumerate(pairs):
        result = attention_for(wide, tokenizer, text_a, text_b, max_length=12)
        item = explorer.examples["wide"][index]
        assert item.queries == item.keys == result.tokens and item.note == result.note
        error = np.abs(explorer.stored("wide", index) - result.attentions.numpy())
        assert error.max() <= result.attentions.max().item() / (2 * LEVELS) + 1e-7
    assert explorer.examples["wide"][0].label == "The cat sat on the mat. | It slept."
    assert explorer.examples["wide"][0].note.startswith("Input truncated")
    assert explorer.examples["small"][1].attentions.shape == (2, 2, 5, 5)
    assert "In Jupyter, the box above runs every model" in explorer.data["kernel_note"]


def test_a_new_pair_is_added_for_every_model(models):
    explorer = AttentionExplorer.for_sentences([("The cat sat.", None)], models)
    assert explorer.add_pair("A dog barked loudly.", "") == 1
    assert [len(items) for items in explorer.examples.values()] == [2, 2]
    assert explorer.example == 1
    assert explorer.page_data["models"][1]["examples"][1]["label"] == "A dog barked loudly."
    with pytest.raises(ValueError, match="Sentence A is empty"):
        explorer.add_pair("  ")
    assert [len(items) for items in explorer.examples.values()] == [2, 2]
    explorer.example = 0
    assert explorer.add_pair("Rain fell.", select=False) == 2 and explorer.example == 0
