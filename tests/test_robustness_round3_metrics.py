"""Metrics, viz and inference helpers on careless input (issue 35, item 5 and the minor cases):
one clear ValueError/TypeError saying what is wrong and what to do, never a crash deep inside
numpy, torch, matplotlib or bert-score, never a blank figure or a silent wrong number."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

from bertedu.model import BertConfig, BertForPreTraining  # noqa: E402
from bertedu.pretraining.inference import (  # noqa: E402
    fill_mask,
    is_next_probability,
    mask_a_word,
)
from bertedu.qa.decoding import decode_answer  # noqa: E402
from bertedu.qa.metrics import bootstrap_ci, found_in_passage, per_question_bertscore  # noqa: E402
from bertedu.viz import (  # noqa: E402
    as_attention_array,
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
from bertedu.viz.explorer_data import ExplorerExample, explorer_data, quantise  # noqa: E402
from bertedu.viz.reader_widget import shaded_tokens  # noqa: E402
from bertedu.viz.stats import best_of_k_heads  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

ZERO_WIDTH = "\u200b\u200c\u200d\ufeff"  # zero-width space, non-joiner, joiner, BOM


# ------------------------------------------------------------------ bootstrap_ci


@pytest.mark.parametrize("n_resamples", [0, -3, 2.5, True])
def test_bootstrap_refuses_a_resample_count_that_is_not_a_positive_whole_number(n_resamples):
    with pytest.raises(ValueError, match=r"n_resamples must be a whole number of at least 1"):
        bootstrap_ci([1.0, 2.0], n_resamples=n_resamples)
    with pytest.raises(ValueError, match=r"n_resamples must be a whole number of at least 1"):
        bootstrap_ci([1.0, 2.0], groups=["a", "b"], n_resamples=n_resamples)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_bootstrap_refuses_nan_and_infinite_scores_and_says_where(bad):
    with pytest.raises(ValueError, match=r"scores\[1\] is (nan|inf|-inf).*finite"):
        bootstrap_ci([1.0, bad, 3.0])


@pytest.mark.parametrize("empty", [[], (), np.array([])])
def test_bootstrap_refuses_empty_scores(empty):
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci(empty)


def test_bootstrap_still_gives_its_interval():
    mean, low, high = bootstrap_ci([0.0, 100.0] * 20, n_resamples=200)
    assert mean == 50.0 and low < 50.0 < high


# ------------------------------------------------------------------ decode_answer, found_in_passage


@pytest.mark.parametrize("bad", [-1, 30522, 10**30])
def test_decode_answer_refuses_an_id_outside_the_vocabulary(tokenizer, bad):
    with pytest.raises(ValueError, match=rf"token id {bad} .*outside the vocabulary \(0-30521\)"):
        decode_answer(tokenizer, [2054, bad])


@pytest.mark.parametrize("bad", [1.5, "7", None])
def test_decode_answer_refuses_an_id_that_is_not_a_whole_number(tokenizer, bad):
    with pytest.raises(TypeError, match=r"token ids must be whole numbers"):
        decode_answer(tokenizer, [2054, bad])


def test_decode_answer_takes_ints_numpy_and_tensor_ids(tokenizer):
    ids = tokenizer("state-of-the-art", add_special_tokens=False)["input_ids"]
    assert decode_answer(tokenizer, ids) == "state-of-the-art"
    assert decode_answer(tokenizer, np.array(ids)) == "state-of-the-art"
    assert decode_answer(tokenizer, torch.tensor(ids)) == "state-of-the-art"


@pytest.mark.parametrize(
    ("predictions", "contexts", "message"),
    [
        (None, ["a passage"], r"answers must be a list of strings, got NoneType"),
        ("paris", ["a passage"], r"answers must be a list of strings, got str"),
        ([None], ["a passage"], r"answers\[0\] must be a string, got NoneType"),
        (["paris"], None, r"passages must be a list of strings, got NoneType"),
        (["paris"], [None], r"passages\[0\] must be a string, got NoneType"),
    ],
)
def test_found_in_passage_refuses_what_is_not_a_list_of_strings(predictions, contexts, message):
    with pytest.raises(TypeError, match=message):
        found_in_passage(predictions, contexts)


def test_found_in_passage_still_counts():
    assert found_in_passage(["Paris", "Rome"], ["Paris is big.", "Oslo."]) == 50.0


# ------------------------------------------------------------------ BERTScore


def test_bertscore_refuses_an_empty_reference_before_calling_bert_score():
    with pytest.raises(ValueError, match=r"references\[1\]\[0\] is empty.*BERTScore"):
        per_question_bertscore(["2018", "Paris"], [["2018"], ["  "]])


def test_bertscore_refuses_a_model_path_that_is_not_a_model_folder(tmp_path):
    with pytest.raises(ValueError, match=r"model_path .*no-such-model.* is not a folder"):
        per_question_bertscore(["2018"], [["2018"]], model_path=str(tmp_path / "no-such-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no config.json"):
        per_question_bertscore(["2018"], [["2018"]], model_path=str(tmp_path / "empty"))


@pytest.mark.parametrize("layers", [0, -1, 7, 2.0])
def test_bertscore_refuses_a_layer_the_model_does_not_have(layers):
    with pytest.raises(ValueError, match=r"num_layers must be a whole number from 1 to 6"):
        per_question_bertscore(["2018"], [["2018"]], num_layers=layers)


# ------------------------------------------------------------------ viz on empty or wrong input

TOKENS = ["[CLS]", "the", "cat", "[SEP]"]
EMPTY_MAPS = [torch.zeros(0, 0), np.zeros((1, 1, 0, 0)), np.zeros((0, 2, 3, 3))]


@pytest.mark.parametrize("empty", EMPTY_MAPS, ids=["seq0", "4d-seq0", "no-layers"])
@pytest.mark.parametrize(
    "draw",
    [
        lambda a: plot_grid(a),
        lambda a: mosaic(a),
        lambda a: plot_heatmap(a, [] if a.shape[-1] == 0 else ["x"] * a.shape[-1]),
        lambda a: plot_head_view(a, [] if a.shape[-1] == 0 else ["x"] * a.shape[-1]),
        lambda a: plot_head(a, [] if a.shape[-1] == 0 else ["x"] * a.shape[-1]),
        lambda a: head_stats(a, [] if a.shape[-1] == 0 else ["x"] * a.shape[-1]),
        lambda a: select_head(a, 0, 0),
    ],
    ids=["plot_grid", "mosaic", "heatmap", "head_view", "head", "head_stats", "select_head"],
)
def test_viz_refuses_an_empty_attention_map(draw, empty):
    with pytest.raises(ValueError, match=r"attention map is empty \(shape .*\): nothing to"):
        draw(empty)


def test_head_view_after_hiding_every_token_says_so_instead_of_a_blank_figure():
    kept, tokens, _ = hide_tokens(np.eye(4), TOKENS, hidden=TOKENS)
    with pytest.raises(ValueError, match="every token was hidden"):
        plot_head_view(kept, tokens)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_viz_refuses_non_finite_weights(bad):
    attention = np.full((1, 1, 4, 4), 0.25)
    attention[0, 0, 2, 1] = bad
    with pytest.raises(ValueError, match=r"not finite .*layer 0, head 0, query 2, key 1"):
        plot_grid(attention)
    with pytest.raises(ValueError, match=r"not finite"):
        plot_head_view(attention[0, 0], TOKENS)


def test_a_nested_list_is_one_map_not_a_tuple_of_layers():
    nested = [[0.5, 0.5], [0.0, 1.0]]
    assert as_attention_array(nested).shape == (2, 2)
    assert len(plot_head_view(nested, ["a", "b"]).axes[0].collections[0].get_segments()) == 3
    with pytest.raises(ValueError, match=r"ragged|rows of different lengths"):
        as_attention_array([[0.5, 0.5], [1.0]])


def test_hide_tokens_takes_a_list_and_checks_the_token_count():
    kept, tokens, positions = hide_tokens(np.eye(4).tolist(), TOKENS)
    assert tokens == ["the", "cat"] and positions == [1, 2] and kept.shape == (2, 2)
    with pytest.raises(ValueError, match="3 tokens for an attention map over 4 positions"):
        hide_tokens(np.eye(4), TOKENS[:3])


def test_plot_grid_and_head_view_refuse_tokens_of_another_input():
    with pytest.raises(ValueError, match="3 tokens for an attention map over 4 positions"):
        plot_head_view(np.eye(4), TOKENS[:3])
    with pytest.raises(ValueError, match=r"Expected an attention map .* got shape \(4, 3\)"):
        plot_grid(np.ones((4, 3)))


def test_stats_helpers_refuse_an_empty_table_clearly():
    with pytest.raises(ValueError, match=r"stats has no column 'entropy'.*head_stats"):
        strongest_heads(pd.DataFrame())
    with pytest.raises(ValueError, match=r"stats has no column 'entropy'.*head_stats"):
        best_of_k_heads(pd.DataFrame(), k=1)


# ------------------------------------------------------------------ fill-mask and NSP


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return BertForPreTraining(BertConfig.tiny(num_hidden_layers=1)).eval()


def test_nsp_refuses_a_sentence_that_is_empty_after_normalisation(tiny_model, tokenizer):
    with pytest.raises(ValueError, match=r"sentence_a .*has no WordPieces.*zero-width"):
        is_next_probability(tiny_model, tokenizer, ZERO_WIDTH, "It rained.")
    with pytest.raises(ValueError, match=r"sentence_b .*has no WordPieces"):
        is_next_probability(tiny_model, tokenizer, "It rained.", "\u0301" + ZERO_WIDTH)


def test_fill_mask_says_a_zero_width_text_is_empty_not_that_it_lacks_a_mask(tiny_model, tokenizer):
    with pytest.raises(ValueError, match=r"text .*has no WordPieces"):
        fill_mask(tiny_model, tokenizer, ZERO_WIDTH)
    # Zero-width characters around a [MASK] are deleted: the model sees "[MASK]" alone.
    around = fill_mask(tiny_model, tokenizer, ZERO_WIDTH + "[MASK]" + ZERO_WIDTH, top_k=2)
    assert around == fill_mask(tiny_model, tokenizer, "[MASK]", top_k=2)


@pytest.mark.parametrize("bad", [[["It rained."]], ["It rained."], None, b"It rained."])
def test_inference_refuses_a_sentence_that_is_not_a_string(tiny_model, tokenizer, bad):
    with pytest.raises(ValueError, match=r"must be a string, got (list|NoneType|bytes)"):
        is_next_probability(tiny_model, tokenizer, bad, "b")
    with pytest.raises(ValueError, match=r"must be a string, got"):
        fill_mask(tiny_model, tokenizer, bad)
    with pytest.raises(ValueError, match=r"must be a string, got"):
        mask_a_word(bad, tokenizer)


@pytest.mark.parametrize(
    ("queries", "attentions"),
    [([], np.zeros((1, 1, 0, 0))), (["a"], np.zeros((0, 1, 1, 1)))],
    ids=["no-tokens", "no-layers"],
)
def test_explorer_example_refuses_an_empty_map(queries, attentions):
    with pytest.raises(ValueError, match=r"Example 'x': the attention map is empty"):
        ExplorerExample("x", queries, queries, attentions)


def test_explorer_quantise_refuses_nan_instead_of_drawing_it_as_zero():
    with pytest.raises(ValueError, match=r"not finite"):
        quantise(np.full((1, 1, 2, 2), np.nan))


@pytest.mark.parametrize("examples", [{}, {"tiny": []}], ids=["no-models", "no-examples"])
def test_explorer_data_refuses_a_model_without_examples(examples):
    with pytest.raises(ValueError, match=r"(got no model|'tiny' has no examples)"):
        explorer_data(
            examples,
            title=None,
            axes=("query", "key"),
            kernel_note="",
            browser_model=None,
            kernel_input=False,
        )


def test_reader_shading_of_a_window_without_tokens_is_empty_not_an_index_error():
    assert shaded_tokens("a passage", [], [], "1,2,3") == ""


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plot_head(np.zeros((0, 0)), []),
        lambda: plot_head(np.eye(4), TOKENS[:3]),
        lambda: plot_head(np.ones((2, 4, 4)) / 4, TOKENS),
        lambda: plot_grid(np.ones((2, 3, 4, 4)) / 4, highlight=(2, 0)),
    ],
    ids=["empty", "tokens", "not-one-head", "highlight"],
)
def test_a_refused_plot_leaves_no_blank_figure_behind(draw):
    import matplotlib.pyplot as plt

    plt.close("all")
    with pytest.raises((ValueError, IndexError)):
        draw()
    assert plt.get_fignums() == []


def test_plot_grid_refuses_a_highlight_outside_the_model():
    with pytest.raises(IndexError, match=r"highlight=\(2, 0\).*layers 0-1 and heads 0-2"):
        plot_grid(np.ones((2, 3, 4, 4)) / 4, highlight=(2, 0))
