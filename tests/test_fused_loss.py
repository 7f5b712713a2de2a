"""The fused MLM projection + cross-entropy equals the textbook expression, in value and in
gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertedu.constants import IGNORE_INDEX
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.model.fused_loss import linear_cross_entropy


def leaves(seed: int = 0, rows: int = 37, hidden: int = 16, vocab: int = 301):
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(rows, hidden, generator=generator),
        torch.randn(vocab, hidden, generator=generator),
        torch.randn(vocab, generator=generator),
        torch.randint(0, vocab, (rows,), generator=generator),
    )


def loss_and_grads(function, hidden, weight, bias, targets, upstream=3.0):
    inputs = [tensor.clone().requires_grad_() for tensor in (hidden, weight, bias)]
    loss = function(*inputs, targets)
    (
        upstream * loss
    ).backward()  # a scale other than 1 checks that backward multiplies by the incoming gradient
    return [loss.detach()] + [tensor.grad for tensor in inputs]


def textbook(hidden, weight, bias, targets):
    return F.cross_entropy(F.linear(hidden, weight, bias), targets)


@pytest.mark.parametrize(
    "chunk_rows", [1, 8, 37, 64]
)  # 37 rows: chunks that divide, do not, and exceed
def test_equals_cross_entropy_of_linear(chunk_rows):
    tensors = leaves()
    expected = loss_and_grads(textbook, *tensors)
    fused = loss_and_grads(
        lambda h, w, b, y: linear_cross_entropy(h, w, b, y, chunk_rows), *tensors
    )
    for name, got, want in zip(("loss", "hidden", "weight", "bias"), fused, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=name)


def test_gradients_survive_a_second_backward_pass():
    """retain_graph=True: the first pass must not consume or rescale the stored gradients."""
    hidden, weight, bias, targets = (tensor.clone() for tensor in leaves())
    hidden.requires_grad_()
    loss = linear_cross_entropy(hidden, weight, bias, targets)
    (3 * loss).backward(retain_graph=True)
    first = hidden.grad.clone()
    (2 * loss).backward()
    torch.testing.assert_close(hidden.grad, first * 5 / 3)


def test_large_logits_stay_finite():
    hidden, weight, bias, targets = leaves(rows=5)
    bias[targets[0]] = (
        500.0  # exp(500) overflows float32: the running maximum must be subtracted first
    )
    loss = linear_cross_entropy(hidden, weight, bias, targets)
    torch.testing.assert_close(loss, textbook(hidden, weight, bias, targets))
    assert torch.isfinite(loss)


def test_bad_input():
    hidden, weight, bias, targets = leaves(rows=4)
    with pytest.raises(ValueError, match="at least one row"):
        linear_cross_entropy(hidden[:0], weight, bias, targets[:0])
    with pytest.raises(ValueError, match="targets"):
        linear_cross_entropy(hidden, weight, bias, targets[:3])
    with pytest.raises(ValueError, match="chunk_rows"):
        linear_cross_entropy(hidden, weight, bias, targets, chunk_rows=0)


def test_training_step_of_the_model_is_unchanged_by_fusing(monkeypatch):
    """One backward pass of BertForPreTraining: the fused path gives the textbook loss and
    gradients."""
    config = BertConfig.tiny(
        vocab_size=211,
        max_position_embeddings=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, 211, (3, 12), generator=generator)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[:, [2, 5, 9]] = input_ids[:, [2, 5, 9]]
    batch = {
        "input_ids": input_ids,
        "labels": labels,
        "next_sentence_label": torch.tensor([0, 1, 0]),
    }

    def step(fuse: bool):
        monkeypatch.setattr(
            BertForPreTraining, "fuses_mlm_loss", lambda self, rows, mlm_labels: fuse
        )
        torch.manual_seed(0)
        model = BertForPreTraining(config).train()
        output = model(**batch)
        output.loss.backward()
        return output, {name: p.grad for name, p in model.named_parameters()}

    fused, fused_grads = step(True)
    plain, plain_grads = step(False)
    assert fused.mlm_logits is None and plain.mlm_logits.shape == (9, 211)
    torch.testing.assert_close(fused.mlm_loss, plain.mlm_loss)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_fused_only_when_training_without_autocast():
    """Training fuses the MLM loss (no logits); evaluation and autocast keep the logits."""
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=50, max_position_embeddings=8)).train()
    ids = torch.randint(5, 50, (2, 6))
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, 2] = ids[:, 2]
    assert model(ids, labels=labels).mlm_logits is None
    with torch.no_grad():
        assert model(ids, labels=labels).mlm_logits.shape == (2, 50)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(ids, labels=labels).mlm_logits.shape == (2, 50)
