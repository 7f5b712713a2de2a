"""Behaviour of bertedu.model: shapes, attention and masks, errors, heads, tying, init."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bertedu.constants import IGNORE_INDEX
from bertedu.model import (
    BertConfig,
    BertForPreTraining,
    BertModel,
    FeedForward,
    MultiHeadAttention,
    attention_weights,
    causal_mask,
    padding_mask,
    parameter_count,
)

VOCAB = 100


def small_config(**overrides) -> BertConfig:
    values = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    values.update(overrides)
    return BertConfig(**values)


@pytest.fixture
def batch():
    """Two sequences of length 8, the second padded after 5 tokens, two segments each."""
    gen = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1, VOCAB, (2, 8), generator=gen)
    attention_mask = torch.ones(2, 8, dtype=torch.long)
    attention_mask[1, 5:] = 0
    input_ids[1, 5:] = 0
    token_type_ids = torch.zeros(2, 8, dtype=torch.long)
    token_type_ids[0, 4:] = 1
    token_type_ids[1, 3:5] = 1
    return input_ids, token_type_ids, attention_mask


@pytest.fixture
def model():
    torch.manual_seed(0)
    return BertModel(small_config()).eval()


@pytest.fixture
def pretraining_model():
    torch.manual_seed(0)
    return BertForPreTraining(small_config()).eval()


# --- shapes ---------------------------------------------------------------------------------------


def test_bert_model_output_shapes(model, batch):
    input_ids, token_type_ids, attention_mask = batch
    out = model(input_ids, token_type_ids, attention_mask)
    assert out.last_hidden_state.shape == (2, 8, 32)
    assert out.pooler_output.shape == (2, 32)
    assert out.attentions is None
    out = model(input_ids, token_type_ids, attention_mask, output_attentions=True)
    assert len(out.attentions) == 2
    assert all(a.shape == (2, 4, 8, 8) for a in out.attentions)
    # every row of attention weights is a probability distribution
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(2, 4, 8))


def test_defaults_are_one_segment_and_no_padding(model, batch):
    input_ids = batch[0]
    default = model(input_ids).last_hidden_state
    explicit = model(
        input_ids, torch.zeros_like(input_ids), torch.ones_like(input_ids)
    ).last_hidden_state
    torch.testing.assert_close(default, explicit)


# --- attention: fused vs explicit, masks ---------------------------------------------------------


def test_fused_and_explicit_attention_agree_in_the_model(model, batch):
    fused = model(*batch).last_hidden_state
    explicit = model(*batch, output_attentions=True).last_hidden_state
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["padding", "causal+padding", "cross"])
def test_fused_and_explicit_attention_agree_in_the_module(kind):
    torch.manual_seed(0)
    attention = MultiHeadAttention(hidden_size=16, num_heads=4).eval()
    x = torch.randn(2, 6, 16)
    memory = torch.randn(2, 9, 16) if kind == "cross" else None
    keys = 9 if kind == "cross" else 6
    lengths = torch.tensor([keys, keys - 3])
    mask = padding_mask(torch.arange(keys)[None, :] < lengths[:, None])
    if kind == "causal+padding":
        mask = mask & causal_mask(6)
    fused, none = attention(x, memory, mask=mask)
    explicit, weights = attention(x, memory, mask=mask, output_attentions=True)
    assert none is None and weights.shape == (2, 4, 6, keys)
    torch.testing.assert_close(fused, explicit, atol=1e-6, rtol=1e-5)


def test_padded_keys_get_exactly_zero_weight(model, batch):
    attention_mask = batch[2]
    out = model(*batch, output_attentions=True)
    for layer_weights in out.attentions:
        padded = layer_weights[1, :, :, 5:]
        assert torch.count_nonzero(padded) == 0  # exactly 0.0, not merely small
        assert layer_weights[0].min() > 0  # the unpadded sequence attends everywhere
    assert attention_mask[1, 5:].sum() == 0


@pytest.mark.parametrize("output_attentions", [False, True])
def test_changing_padded_tokens_does_not_change_real_outputs(model, batch, output_attentions):
    input_ids, token_type_ids, attention_mask = batch
    changed = input_ids.clone()
    changed[1, 5:] = torch.tensor([7, 42, 99])
    before = model(input_ids, token_type_ids, attention_mask, output_attentions=output_attentions)
    after = model(changed, token_type_ids, attention_mask, output_attentions=output_attentions)
    real = attention_mask.bool()
    torch.testing.assert_close(
        after.last_hidden_state[real], before.last_hidden_state[real], atol=0, rtol=0
    )
    torch.testing.assert_close(after.pooler_output, before.pooler_output, atol=0, rtol=0)
    # the padded positions themselves did change: the mask, not luck, protected the real ones
    assert not torch.allclose(after.last_hidden_state[1, 5:], before.last_hidden_state[1, 5:])


def test_filling_with_1e_minus_9_leaks_weight_to_padding():
    """A common first implementation does scores.masked_fill(mask == 0, 1e-9): padding leaks."""
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 4, 8), torch.randn(1, 1, 4, 8)
    keep = torch.tensor([True, True, False, False])
    scores = q @ k.transpose(-2, -1) / math.sqrt(8)
    buggy = scores.masked_fill(~keep, 1e-9).softmax(-1)
    right = attention_weights(q, k, padding_mask(keep[None]))
    # 2 of 4 keys are padding; with the 1e-9 fill they still get a large share of the weight
    assert buggy[..., 2:].sum(-1).min() > 0.1
    assert torch.count_nonzero(right[..., 2:]) == 0
    torch.testing.assert_close(right[..., :2], scores[..., :2].softmax(-1))


def test_fully_masked_row_is_finite():
    """finfo.min (unlike -inf) never produces NaN, even when a query may attend to nothing."""
    q, k = torch.randn(1, 1, 2, 4), torch.randn(1, 1, 3, 4)
    weights = attention_weights(q, k, torch.zeros(1, 1, 2, 3, dtype=torch.bool))
    assert torch.isfinite(weights).all()


def test_causal_mask_hides_the_future():
    mask = causal_mask(4)
    assert mask.shape == (1, 1, 4, 4)
    assert torch.equal(
        mask[0, 0], torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]).bool()
    )
    torch.manual_seed(0)
    attention = MultiHeadAttention(16, 2).eval()
    x = torch.randn(1, 5, 16)
    changed = x.clone()
    changed[:, 3:] = torch.randn(1, 2, 16)  # change only the future of positions 0..2
    out, weights = attention(x, mask=causal_mask(5), output_attentions=True)
    out_changed, _ = attention(changed, mask=causal_mask(5))
    torch.testing.assert_close(out_changed[:, :3], out[:, :3], atol=1e-6, rtol=1e-6)
    assert torch.count_nonzero(weights.triu(diagonal=1)) == 0


def test_attention_rejects_a_non_boolean_mask():
    with pytest.raises(ValueError, match="boolean mask"):
        attention_weights(torch.randn(1, 2, 4), torch.randn(1, 2, 4), torch.ones(1, 2, 2))


# --- feed-forward
# ----------------------------------------------------------------------------------


def test_feed_forward_uses_exact_erf_gelu():
    torch.manual_seed(0)
    ffn = FeedForward(8, 32)
    x = torch.randn(3, 8) * 3
    h = ffn.intermediate(x)
    expected = ffn.output(0.5 * h * (1 + torch.erf(h / math.sqrt(2))))
    torch.testing.assert_close(ffn(x), expected)
    tanh_approx = ffn.output(F.gelu(h, approximate="tanh"))
    assert not torch.allclose(ffn(x), tanh_approx, atol=1e-7, rtol=0)


# --- input errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda ids, tt, am: (ids + VOCAB, tt, am), r"\[0, 100\)"),
        (lambda ids, tt, am: (ids - 200, tt, am), r"Token ids must lie"),
        (lambda ids, tt, am: (torch.ones(1, 17, dtype=torch.long), None, None), "position table"),
        (lambda ids, tt, am: (ids[0], None, None), "2-D tensor"),
        (lambda ids, tt, am: (ids, tt, am[:, :5]), "attention_mask has shape"),
        (lambda ids, tt, am: (ids, tt, am * 2), "only 0"),
        (lambda ids, tt, am: (ids, tt, torch.zeros_like(am)), "no real token"),
        (lambda ids, tt, am: (ids, tt[:1], am), "token_type_ids has shape"),
        (lambda ids, tt, am: (ids, tt + 1, am), "token_type_ids must lie"),
    ],
)
def test_bad_inputs_raise_clear_errors(model, batch, make_args, message):
    with pytest.raises(ValueError, match=message):
        model(*make_args(*batch))


@pytest.mark.parametrize(
    "labels, nsp, message",
    [
        (torch.zeros(2, 7, dtype=torch.long), None, "labels has shape"),
        (torch.full((2, 8), VOCAB), None, r"labels must be token ids in \[0, 100\)"),
        (torch.zeros(2, 8), None, "integer"),
        (None, torch.tensor([0, 1, 1]), "next_sentence_label has shape"),
        (None, torch.tensor([0, 2]), "0 .B follows A. or 1"),
    ],
)
def test_bad_labels_raise_clear_errors(pretraining_model, batch, labels, nsp, message):
    with pytest.raises(ValueError, match=message):
        pretraining_model(*batch, labels=labels, next_sentence_label=nsp)


# --- pretraining heads ----------------------------------------------------------------------------


def masked_labels(input_ids: torch.Tensor) -> torch.Tensor:
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[0, [1, 3, 6]] = input_ids[0, [1, 3, 6]]
    labels[1, 2] = input_ids[1, 2]
    return labels


# with gradients on, training fuses the MLM loss and returns no logits (test_fused_loss.py)
@torch.no_grad()
def test_sparse_mlm_equals_dense_mlm(pretraining_model, batch):
    labels = masked_labels(batch[0])
    nsp = torch.tensor([0, 1])
    sparse = pretraining_model(*batch, labels=labels, next_sentence_label=nsp)
    dense = pretraining_model(*batch)
    assert sparse.mlm_logits.shape == (4, VOCAB)
    assert dense.mlm_logits.shape == (2, 8, VOCAB)
    assert dense.loss is None and dense.mlm_loss is None
    selected = labels != IGNORE_INDEX
    torch.testing.assert_close(sparse.mlm_logits, dense.mlm_logits[selected], atol=1e-5, rtol=1e-5)
    assert torch.equal(sparse.mlm_labels, labels[selected])
    dense_loss = F.cross_entropy(
        dense.mlm_logits.reshape(-1, VOCAB), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )
    torch.testing.assert_close(sparse.mlm_loss, dense_loss)
    torch.testing.assert_close(sparse.nsp_loss, F.cross_entropy(dense.nsp_logits, nsp))
    torch.testing.assert_close(sparse.loss, sparse.mlm_loss + sparse.nsp_loss)
    assert sparse.nsp_logits.shape == (2, 2)


def test_nsp_loss_weight_scales_only_the_nsp_term(pretraining_model, batch):
    labels, nsp = masked_labels(batch[0]), torch.tensor([1, 0])
    plain = pretraining_model(*batch, labels=labels, next_sentence_label=nsp)
    weighted = BertForPreTraining(pretraining_model.config, nsp_loss_weight=0.25)
    weighted.load_state_dict(pretraining_model.state_dict())
    out = weighted.eval()(*batch, labels=labels, next_sentence_label=nsp)
    torch.testing.assert_close(out.nsp_loss, plain.nsp_loss)  # reported unweighted
    torch.testing.assert_close(out.loss, plain.mlm_loss + 0.25 * plain.nsp_loss)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="nsp_loss_weight must be a finite number >= 0"):
            BertForPreTraining(pretraining_model.config, nsp_loss_weight=bad)


def test_loss_with_only_one_task_and_with_no_labelled_token(pretraining_model, batch):
    only_nsp = pretraining_model(*batch, next_sentence_label=torch.tensor([1, 0]))
    assert only_nsp.mlm_loss is None and only_nsp.loss is only_nsp.nsp_loss
    nothing = pretraining_model(*batch, labels=torch.full_like(batch[0], IGNORE_INDEX))
    assert nothing.mlm_logits.shape == (0, VOCAB)
    assert nothing.loss.item() == 0.0  # not NaN (0/0)


def test_mlm_decoder_is_tied_to_word_embeddings(pretraining_model, batch):
    embeddings = pretraining_model.bert.embeddings.word_embeddings.weight
    assert pretraining_model.cls.predictions.decoder.weight is embeddings
    names = [name for name, _ in pretraining_model.named_parameters()]
    assert "cls.predictions.decoder.weight" not in names  # counted once
    assert "cls.predictions.bias" in names
    model = pretraining_model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model(*batch, labels=masked_labels(batch[0])).loss.backward()
    optimizer.step()
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight


# --- init and size --------------------------------------------------------------------------------


def test_bert_initialisation():
    torch.manual_seed(0)
    model = BertForPreTraining(small_config(hidden_size=64, intermediate_size=256, vocab_size=2000))
    for name, param in model.named_parameters():
        if "LayerNorm" in name or name.endswith("_norm.weight") or name.endswith("_norm.bias"):
            expected = 1.0 if name.endswith("weight") else 0.0
            assert torch.all(param == expected), name
        elif name.endswith("bias"):
            assert torch.all(param == 0), name
        else:
            assert abs(param.std().item() - 0.02) < 0.003, name
    assert torch.all(model.bert.embeddings.word_embeddings.weight[0] == 0)  # [PAD] starts at zero


def test_parameter_count_from_config_matches_the_model():
    assert parameter_count(small_config()) == BertModel(small_config()).num_parameters()
    assert parameter_count(BertConfig.tiny()) == BertModel(BertConfig.tiny()).num_parameters()
    assert round(parameter_count(BertConfig.tiny()) / 1e6, 1) == 4.4  # Google's BERT-Tiny: 4.4M
    assert round(parameter_count(BertConfig.base()) / 1e6) == 109  # the paper rounds this to 110M


def test_with_dropout_copies_the_weights_and_sets_only_the_dropout():
    torch.manual_seed(0)
    quiet = BertModel(BertConfig.tiny(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    noisy = quiet.eval().with_dropout(0.1)
    ids = torch.randint(5, 1000, (2, 12))
    assert (noisy.config.hidden_dropout_prob, noisy.config.attention_probs_dropout_prob) == (
        0.1,
        0.1,
    )
    assert quiet.config.hidden_dropout_prob == 0.0  # the original is untouched
    assert torch.equal(quiet(ids).last_hidden_state, noisy(ids).last_hidden_state)  # eval
    noisy.train()
    assert not torch.equal(quiet(ids).last_hidden_state, noisy(ids).last_hidden_state)
    assert noisy.embeddings.word_embeddings.weight is not quiet.embeddings.word_embeddings.weight
    with pytest.raises(ValueError, match="must be in \\[0, 1\\)"):
        quiet.with_dropout(1.5)
