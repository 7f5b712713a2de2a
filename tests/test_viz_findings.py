"""Clark et al.'s checks in bertedu.viz: punctuation, like-with-like heads, attention gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

import bertedu.model.attention as attention_module
from bertedu.model import BertConfig, BertForPreTraining, BertModel
from bertedu.tokenization import load_tokenizer
from bertedu.viz import head_stats
from bertedu.viz.importance import (
    TOKEN_KINDS,
    attention_gradients,
    average_token_kind_table,
    sentence_embedding,
    token_kind_table,
    token_kinds,
)
from bertedu.viz.stats import best_of_k_heads, is_punctuation

TOKENS = ["[CLS]", "paris", ",", "france", ".", "[SEP]", "it", "rains", "[SEP]", "[PAD]"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def model():
    """A small random BERT in float64, so finite differences are exact to many digits."""
    torch.manual_seed(0)
    config = BertConfig.tiny(num_hidden_layers=2, num_attention_heads=2, hidden_size=32)
    return BertModel(config).double().eval()


# ----- punctuation -----
def test_punctuation_tokens_are_made_of_punctuation_only():
    assert all(is_punctuation(token) for token in [".", ",", "'", "##-", "...", "\u201c", "("])
    assert not any(is_punctuation(t) for t in ["[SEP]", "[CLS]", "a.", "2018", "##s", "", "##"])


def test_to_punct_is_the_weight_on_punctuation_keys():
    n = len(TOKENS)
    on_comma = np.zeros((n, n))
    on_comma[:, 2] = 1.0
    spread = np.full((n, n), 1 / n)
    table = head_stats(np.stack([on_comma, spread])[None], TOKENS)
    assert table.loc[0, "to_punct"] == 1.0  # every real query looks at ","
    assert table.loc[1, "to_punct"] == pytest.approx(2 / n)  # "," and "." out of n keys
    assert np.isnan(head_stats(spread, ["[CLS]", "a", "[SEP]"] + ["b"] * 7)["to_punct"][0])


# ----- like with like -----
def test_best_of_k_heads_is_the_exact_distribution_of_the_best_of_k_random_heads():
    values = [0.1, 0.7, 0.3, 0.9, 0.2, np.nan, 0.5, 0.4]
    stats = pd.DataFrame({"to_prev": values, "to_cls": np.linspace(0, 1, 8)})
    result = best_of_k_heads(stats, 3, ["to_prev"], quantiles=(0.05, 0.5, 0.9))
    assert list(result.columns) == ["expected", "5%", "50%", "90%"]
    defined = [v for v in values if not np.isnan(v)]
    bests = sorted(max(c) for c in itertools.combinations(defined, 3))  # all 35 draws
    assert result.loc["to_prev", "expected"] == pytest.approx(np.mean(bests))
    for q in (0.05, 0.5, 0.9):
        assert result.loc["to_prev", f"{100 * q:g}%"] == bests[int(np.ceil(q * 35)) - 1]
    whole = best_of_k_heads(stats, 8, ["to_cls"])
    assert whole.loc["to_cls"].tolist() == [1.0, 1.0, 1.0, 1.0]  # all heads: the best one
    single = best_of_k_heads(stats, 1, ["to_cls"])
    assert single.loc["to_cls", "expected"] == pytest.approx(0.5)  # one head: the mean
    with pytest.raises(ValueError, match="k=8 heads cannot be drawn from the 7"):
        best_of_k_heads(stats, 8, ["to_prev"])


# ----- gradients of the sentence embedding with respect to attention -----
def test_sentence_embedding_is_the_normalised_mean_over_real_tokens():
    hidden = torch.tensor([[[3.0, 0.0], [0.0, 4.0], [100.0, 100.0]]])
    embedding = sentence_embedding(hidden, torch.tensor([[1, 1, 0]]))
    torch.testing.assert_close(embedding, torch.tensor([[0.6, 0.8]]))


def embedding_with_nudge(model, encoded, layer, head, query, key, epsilon):
    """The sentence embedding with attention weight (layer, head, query, key) moved by epsilon."""
    original, calls = attention_module.attention_weights, {"n": 0}

    def nudged(*args, **kwargs):
        weights = original(*args, **kwargs)
        if calls["n"] == layer:
            weights = weights.clone()
            weights[0, head, query, key] += epsilon
        calls["n"] += 1
        return weights

    attention_module.attention_weights = nudged
    try:
        with torch.no_grad():
            out = model(**encoded, output_attentions=True)
    finally:
        attention_module.attention_weights = original
    return sentence_embedding(out.last_hidden_state, encoded["attention_mask"])[0]


def test_gradients_match_finite_differences_of_the_sentence_embedding(model, tokenizer):
    text_a, text_b = "Paris, the capital, is large.", "It rains."
    result = attention_gradients(model, tokenizer, text_a, text_b, chunk=7)
    encoded = dict(tokenizer(text_a, text_b, return_tensors="pt"))
    n = len(result.tokens)
    assert result.gradients.shape == result.attentions.shape == (2, 2, n, n)
    epsilon = 1e-6
    for layer, head, query, key in [(0, 1, 3, 0), (1, 0, 5, 5), (1, 1, n - 1, 2)]:
        plus = embedding_with_nudge(model, encoded, layer, head, query, key, epsilon)
        minus = embedding_with_nudge(model, encoded, layer, head, query, key, -epsilon)
        numeric = ((plus - minus) / (2 * epsilon)).norm().item()
        assert result.gradients[layer, head, query, key].item() == pytest.approx(numeric, rel=1e-5)
    again = attention_gradients(model, tokenizer, text_a, text_b, chunk=64)
    torch.testing.assert_close(again.gradients, result.gradients)
    assert model.training is False


def test_gradients_need_the_encoder_and_clear_input(model, tokenizer):
    import transformers

    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    config._attn_implementation = "sdpa"  # what from_pretrained(attn_implementation=...) sets
    sdpa = transformers.BertModel(config)
    with pytest.raises(TypeError, match="attn_implementation='eager'"):
        attention_gradients(sdpa, tokenizer, "The cat sat.")
    pretraining = BertForPreTraining(model.config).double()  # its encoder's outputs serve
    assert attention_gradients(pretraining, tokenizer, "The cat sat.").gradients.shape[:2] == (2, 2)
    with pytest.raises(ValueError, match="Sentence A is empty"):
        attention_gradients(model, tokenizer, "   ")


def test_token_kind_table_splits_each_heads_weight_by_the_kind_of_key(model, tokenizer):
    result = attention_gradients(model, tokenizer, "Paris, France.", "It rains.")
    assert token_kinds(result.tokens) == [
        "[CLS]", "word", "punctuation", "word", "punctuation", "[SEP]",
        "word", "word", "punctuation", "[SEP]",
    ]  # fmt: skip
    table = token_kind_table(result)
    assert list(table["kind"].cat.categories) == list(TOKEN_KINDS) and len(table) == 4 * 4
    shares = table.groupby(["layer", "head"])["attention"].sum()
    np.testing.assert_allclose(shares, 1.0, rtol=1e-6)
    row = table[(table["layer"] == 1) & (table["head"] == 0) & (table["kind"] == "[SEP]")]
    gradients = result.gradients[1, 0].numpy()
    assert row["importance"].item() == pytest.approx(gradients[:, [5, 9]].mean())
    expected = result.attentions[1, 0, :, [5, 9]].sum(-1).mean().item()
    assert row["attention"].item() == pytest.approx(expected)


def test_average_token_kind_table_averages_each_kind_over_the_pairs_that_have_it(model, tokenizer):
    pairs = [("Paris, France.", None), ("It rains", None)]  # the second has no punctuation
    average = average_token_kind_table(model, tokenizer, pairs)
    first, second = (
        token_kind_table(attention_gradients(model, tokenizer, a, b)) for a, b in pairs
    )
    key = (0, 1)
    expect_word = (
        first.set_index(["layer", "head", "kind"]).loc[(*key, "word"), "importance"]
        + second.set_index(["layer", "head", "kind"]).loc[(*key, "word"), "importance"]
    ) / 2
    assert average.loc[(*key, "word"), "importance"] == pytest.approx(expect_word)
    only_first = first.set_index(["layer", "head", "kind"]).loc[(*key, "punctuation")]
    assert average.loc[(*key, "punctuation"), "attention"] == pytest.approx(only_first["attention"])
    with pytest.raises(ValueError, match="at least one sentence pair"):
        average_token_kind_table(model, tokenizer, [])
