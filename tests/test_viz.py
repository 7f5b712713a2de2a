"""bertedu.viz: statistics on hand-made maps, plots, attention_for and the explorer's callbacks."""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from bertedu.model import BertConfig, BertModel
from bertedu.viz import (
    SPECIAL_TOKENS,
    as_attention_array,
    as_layers_heads,
    attention_for,
    average_head_stats,
    head_stats,
    hide_tokens,
    mosaic,
    plot_grid,
    plot_head,
    plot_head_view,
    plot_heatmap,
    select_head,
    strongest_heads,
)
from bertedu.viz import explorer as explorer_module
from bertedu.viz.explorer import (
    BERT_TINY,
    MINILM,
    bert_tiny_is_shipped,
    load_bert_tiny,
    load_minilm,
)
from bertedu.weights import load_reference_bert

TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]", "it", "slept", "[SEP]"]
N = len(TOKENS)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ----- statistics on hand-made maps
# ------------------------------------------------------------------
def stats_of(matrix, tokens=TOKENS):
    return head_stats(matrix, tokens).iloc[0]


def test_identity_puts_all_weight_on_the_same_token_with_zero_entropy():
    row = stats_of(np.eye(N))
    assert (
        row["to_self"] == 1
        and row["entropy"] == 0
        and row["breadth"] == 0
        and row["mean_distance"] == 0
    )
    assert row["to_prev"] == 0 and row["to_next"] == 0
    assert row["to_cls"] == pytest.approx(1 / N) and row["to_sep"] == pytest.approx(
        2 / N
    )  # the special rows


def test_uniform_attention_has_entropy_log_n():
    row = stats_of(np.full((N, N), 1 / N))
    assert row["entropy"] == pytest.approx(math.log(N)) and row["breadth"] == pytest.approx(1)
    assert row["to_self"] == pytest.approx(1 / N) and row["to_prev"] == pytest.approx(1 / N)
    assert row["to_cls"] == pytest.approx(1 / N) and row["to_sep"] == pytest.approx(2 / N)
    i, j = np.indices((N, N))
    assert row["mean_distance"] == pytest.approx(np.abs(i - j).mean())


def test_previous_next_cls_and_sep_heads():
    previous = np.eye(N, k=-1)
    previous[0, 0] = 1  # [CLS] has no previous token: it looks at itself
    assert stats_of(previous)["to_prev"] == 1 and stats_of(previous)[
        "mean_distance"
    ] == pytest.approx((N - 1) / N)
    following = np.eye(N, k=1)
    following[-1, -1] = 1
    assert stats_of(following)["to_next"] == 1 and stats_of(following)["to_prev"] == 0
    on_cls = np.zeros((N, N))
    on_cls[:, 0] = 1
    assert stats_of(on_cls)["to_cls"] == 1 and stats_of(on_cls)["to_sep"] == 0
    on_sep = np.zeros((N, N))
    on_sep[:, [4, 7]] = 0.5  # both [SEP]s
    assert stats_of(on_sep)["to_sep"] == 1 and stats_of(on_sep)["entropy"] == pytest.approx(
        math.log(2)
    )


def test_same_word_counts_other_occurrences_of_a_repeated_token_only():
    tokens = ["[CLS]", "the", "cat", "saw", "the", "dog", "[SEP]", "[SEP]"]
    matrix = np.eye(N)
    matrix[4] = 0
    matrix[4, 1] = 0.75  # the second "the" looks back at the first one
    matrix[4, 4] = 0.25
    matrix[6] = 0
    matrix[6, 7] = 1  # [SEP] -> the other [SEP]: special tokens are not words
    row = stats_of(matrix, tokens)
    assert row["to_same_word"] == pytest.approx(
        0.75 / 2
    )  # rows 1 and 4 have a repeat; row 1 gives 0
    assert math.isnan(stats_of(np.eye(N))["to_same_word"])  # no repeated word in TOKENS


def test_pad_queries_are_left_out_and_missing_cls_gives_nan():
    tokens = ["[CLS]", "hi", "[SEP]", "[PAD]"]
    matrix = np.eye(4)
    matrix[3] = [0.0, 1.0, 0.0, 0.0]  # the [PAD] row looks elsewhere; it must not count
    assert stats_of(matrix, tokens)["to_self"] == 1
    assert math.isnan(stats_of(np.eye(2), ["a", "b"])["to_cls"])


def test_stats_of_a_model_shaped_tensor_are_one_tidy_row_per_head():
    attention = torch.full((3, 4, N, N), 1 / N)
    attention[1, 2] = torch.eye(N)
    table = head_stats(attention, TOKENS)
    assert len(table) == 12 and list(table.columns[:2]) == ["layer", "head"]
    assert table.set_index(["layer", "head"]).loc[(1, 2), "to_self"] == 1
    best = strongest_heads(table)
    assert (best.loc["to_self", "layer"], best.loc["to_self", "head"]) == (1, 2)
    assert (
        best.loc["entropy", "value"] == pytest.approx(math.log(N))
        and best.loc["breadth", "value"] == 1
    )
    assert "to_same_word" not in best.index  # NaN everywhere: no repeated word in TOKENS


# ----- shapes and helpers ------------------------------------------------------------------------
def test_attention_inputs_of_every_documented_shape():
    per_layer = tuple(torch.rand(1, 4, N, N) for _ in range(3))  # a model's outputs.attentions
    assert as_attention_array(per_layer).shape == (3, 4, N, N)
    assert as_layers_heads(torch.rand(N, N)).shape == (1, 1, N, N)
    assert as_layers_heads(np.random.rand(4, N, N)).shape == (1, 4, N, N)
    np.testing.assert_allclose(select_head(per_layer, 2, 1), per_layer[2][0, 1].double().numpy())
    with pytest.raises(ValueError, match="batch of 2"):
        as_attention_array(tuple(torch.rand(2, 4, N, N) for _ in range(3)))
    with pytest.raises(ValueError, match="eager"):
        as_attention_array(())
    with pytest.raises(ValueError, match="tokens"):
        as_attention_array(torch.rand(N, N), TOKENS[:-1])
    with pytest.raises(ValueError, match="shape"):
        as_attention_array(torch.rand(N, N + 1))
    with pytest.raises(IndexError, match="layers 0-2"):
        select_head(per_layer, 3, 0)


def test_hide_tokens_removes_exactly_the_special_rows_and_columns():
    attention = torch.rand(2, 3, N, N).softmax(-1)
    kept, tokens, positions = hide_tokens(attention, TOKENS)
    assert positions == [1, 2, 3, 5, 6] and tokens == ["the", "cat", "sat", "it", "slept"]
    assert not set(tokens) & set(SPECIAL_TOKENS)
    torch.testing.assert_close(kept, attention[:, :, positions][:, :, :, positions])
    assert (kept.sum(-1) < 1).all()  # not renormalised: the special tokens' share is gone
    array_kept, _, _ = hide_tokens(attention.numpy(), TOKENS)
    np.testing.assert_array_equal(array_kept, kept.numpy())


# ----- plots ------------------------------------------------------------------------------------
def test_heatmap_has_one_axes_per_map_plus_colorbar_and_token_ticks():
    fig = plot_heatmap(np.eye(N), TOKENS, title="t")
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS and len(ax.get_yticks()) == N
    assert len(plot_heatmap(np.eye(N), TOKENS, colorbar=False).axes) == 1
    with pytest.raises(ValueError, match="one head"):
        plot_heatmap(np.random.rand(2, 2, N, N), TOKENS)


def test_heatmap_after_hiding_every_token_says_so():
    """Hiding every token leaves an empty map: a clear message, not numpy's zero-size error."""
    kept, tokens, _ = hide_tokens(np.eye(N), TOKENS, hidden=TOKENS)
    with pytest.raises(ValueError, match="every token was hidden"):
        plot_heatmap(kept, tokens)


def test_head_view_draws_one_line_per_weight_above_the_threshold():
    def lines(fig):
        return len(fig.axes[0].collections[0].get_segments())

    assert lines(plot_head_view(np.eye(N), TOKENS)) == N
    assert lines(plot_head_view(np.full((N, N), 1 / N), TOKENS, threshold=0)) == N * N
    uniform = plot_head_view(np.full((N, N), 1 / N), TOKENS, query=3)
    assert lines(uniform) == N and len(uniform.axes[0].texts) == 2 * N
    alphas = (
        plot_head_view(np.eye(N) * 0.5 + np.eye(N, k=1) * 0.5, TOKENS)
        .axes[0]
        .collections[0]
        .get_colors()[:, 3]
    )
    np.testing.assert_allclose(alphas, 0.5)
    with pytest.raises(IndexError):
        plot_head_view(np.eye(N), TOKENS, query=N)


def test_plot_head_puts_heatmap_colorbar_and_lines_in_one_figure():
    fig = plot_head(np.eye(N), TOKENS, title="layer 0, head 2")
    assert len(fig.axes) == 3 and fig.axes[0].images and fig.axes[1].collections
    assert len(fig.axes[1].collections[0].get_segments()) == N


def test_grid_is_one_tiled_image_with_a_tile_per_head():
    attention = torch.rand(3, 4, N, N)
    fig = plot_grid(attention, highlight=(1, 2))
    assert len(fig.axes) == 2  # the tiles and the colour bar
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (3 * (N + 1) - 1, 4 * (N + 1) - 1)
    step = N + 1
    np.testing.assert_allclose(
        mosaic(attention)[step : step + N, 2 * step : 2 * step + N], attention[1, 2].double()
    )
    assert len(fig.axes[0].patches) == 1
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1", "2", "3"]


# ----- a real model -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def test_attention_for_matches_the_model_and_refuses_empty_input(minilm):
    model, tokenizer = minilm
    result = attention_for(model, tokenizer, "The cat sat on the mat.", "It slept.")
    assert (
        result.tokens[0] == "[CLS]" and result.tokens.count("[SEP]") == 2 and not result.truncated
    )
    assert (
        result.attentions.shape == (6, 12, len(result.tokens), len(result.tokens))
        and result.note is None
    )
    encoded = tokenizer("The cat sat on the mat.", "It slept.", return_tensors="pt")
    with torch.no_grad():
        direct = model(**encoded, output_attentions=True).attentions
    torch.testing.assert_close(result.attentions, torch.stack([a[0] for a in direct]))
    for empty in ("", "   \n"):
        with pytest.raises(ValueError, match="Sentence A is empty"):
            attention_for(model, tokenizer, empty)
    assert attention_for(model, tokenizer, "The cat.", "  ").tokens == [
        "[CLS]",
        "the",
        "cat",
        ".",
        "[SEP]",
    ]


def test_attention_for_truncates_long_input_and_says_so(minilm):
    model, tokenizer = minilm
    long_text = "the quick brown fox jumps over the lazy dog " * 20  # 180 WordPieces
    result = attention_for(model, tokenizer, long_text, max_length=32)
    assert result.truncated and len(result.tokens) == 32 and result.tokens[-1] == "[SEP]"
    assert "182 tokens" in result.note and "first 32" in result.note
    tiny = BertModel(BertConfig.tiny(max_position_embeddings=16)).eval()
    capped = attention_for(
        tiny, tokenizer, long_text, max_length=10_000
    )  # the model has 16 positions
    assert capped.truncated and len(capped.tokens) == 16 and "max_length=16" in capped.note
    pair = attention_for(model, tokenizer, long_text, "A short one.", max_length=40)
    assert (
        pair.truncated
        and len(pair.tokens) == 40
        and pair.tokens[-5:] == ["a", "short", "one", ".", "[SEP]"]
    )


def test_average_head_stats_is_the_mean_of_the_per_pair_tables(minilm):
    model, tokenizer = minilm
    pairs = [("The cat sat on the mat.", "The cat slept."), ("Hello world.", None)]
    tables = [
        head_stats(r.attentions, r.tokens)
        for r in (attention_for(model, tokenizer, a, b) for a, b in pairs)
    ]
    average = average_head_stats(model, tokenizer, pairs)
    assert average.shape == (72, len(tables[0].columns) - 2)
    expected = (
        tables[0].loc[2, "to_prev"] + tables[1].loc[2, "to_prev"]
    ) / 2  # row 2 = layer 0, head 2
    assert average.loc[(0, 2), "to_prev"] == pytest.approx(expected)
    assert (
        average.loc[(2, 9), "to_same_word"] == tables[0].loc[33, "to_same_word"]
    )  # only pair 1 repeats a word
    with pytest.raises(ValueError, match="at least one"):
        average_head_stats(model, tokenizer, [])


def test_a_transformers_model_without_attention_maps_gets_a_clear_error(minilm):
    sdpa = load_reference_bert(attn_implementation="sdpa")
    with pytest.raises(ValueError, match="eager"):
        attention_for(sdpa, minilm[1], "The cat sat.")


# ----- the explorer's callbacks -------------------------------------------------------------------
def test_model_menu_offers_bert_tiny_only_when_its_weights_are_shipped(monkeypatch):
    monkeypatch.setitem(explorer_module.AVAILABLE_IF, BERT_TINY, lambda: False)
    assert list(explorer_module.available_models()) == [MINILM]
    monkeypatch.setitem(explorer_module.AVAILABLE_IF, BERT_TINY, lambda: True)
    assert list(explorer_module.available_models()) == [MINILM, BERT_TINY]


@pytest.mark.skipif(
    not bert_tiny_is_shipped(), reason="no pretrained BERT-Tiny weights in bertedu/checkpoints"
)
def test_the_shipped_bert_tiny_gives_one_map_per_layer_and_head():
    model, tokenizer = load_bert_tiny()
    result = attention_for(model, tokenizer, "The cat sat on the mat.", "It slept.")
    config = model.config
    assert result.attentions.shape[:2] == (config.num_hidden_layers, config.num_attention_heads)
    torch.testing.assert_close(result.attentions.sum(-1), torch.ones(result.attentions.shape[:3]))


def test_bert_tiny_entry_loads_a_checkpoint_in_the_shipped_layout(tmp_path, monkeypatch):
    """Any BERT-Tiny saved in the shipped layout where the loader looks is offered and explored."""
    import json

    import bertedu.weights
    from bertedu.model import BertForPreTraining
    from bertedu.train.checkpoint import save_weights

    config = BertConfig.tiny(max_position_embeddings=64)
    save_weights(BertForPreTraining(config), tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    monkeypatch.setattr(bertedu.weights, "TINY_WIKI_DIR", tmp_path)
    assert bert_tiny_is_shipped() and BERT_TINY in explorer_module.available_models()
    encoder, _ = load_bert_tiny()
    assert encoder.config == config and not encoder.training
