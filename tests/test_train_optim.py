"""bertedu.train.optim: weight-decay groups and the warmup-then-linear-decay schedule."""

from __future__ import annotations

import pytest
import torch
from test_train_support import one_thread  # noqa: F401  (autouse: one torch thread)

from bertedu.model import BertConfig, BertForPreTraining
from bertedu.train.optim import (
    build_optimizer,
    learning_rates,
    no_decay_parameter_names,
    parameter_groups,
    warmup_linear,
    warmup_linear_schedule,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertForPreTraining(BertConfig.tiny(vocab_size=200, max_position_embeddings=32))


def test_no_decay_on_biases_and_layernorm(model):
    groups = {g["group"]: g for g in parameter_groups(model, weight_decay=0.01)}
    assert groups["decay"]["weight_decay"] == 0.01 and groups["no_decay"]["weight_decay"] == 0.0
    for name in groups["no_decay"]["names"]:
        assert name.endswith("bias") or "LayerNorm" in name or "norm" in name, name
    for name in groups["decay"]["names"]:
        assert name.endswith("weight") and "LayerNorm" not in name and "norm" not in name, name
    assert "cls.predictions.bias" in groups["no_decay"]["names"]
    assert "bert.embeddings.LayerNorm.weight" in groups["no_decay"]["names"]
    assert "bert.encoder.layer.0.attention.query.weight" in groups["decay"]["names"]
    # Every parameter once; the tied decoder weight is the word-embedding matrix, not a second entry.
    all_names = groups["decay"]["names"] + groups["no_decay"]["names"]
    assert sorted(all_names) == sorted(n for n, _ in model.named_parameters())
    assert "cls.predictions.decoder.weight" not in all_names


def test_layernorm_found_by_type_not_name():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    assert no_decay_parameter_names(model) == {"0.bias", "1.weight", "1.bias"}


@pytest.mark.parametrize("implementation", ["fused", "foreach", "for-loop"])
def test_implementations_agree(implementation):
    """Fused, foreach and for-loop AdamW take the same step (to float rounding)."""
    results = []
    for impl in ("for-loop", implementation):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 1))
        opt = build_optimizer(m, lr=1e-2, implementation=impl)
        for _ in range(3):
            m(torch.ones(4, 8)).pow(2).sum().backward()
            opt.step()
            opt.zero_grad()
        results.append(torch.cat([p.detach().flatten() for p in m.parameters()]))
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_schedule_shape():
    lrs = learning_rates(1.0, warmup_steps=4, total_steps=12)
    assert lrs[:4] == [
        0.25,
        0.5,
        0.75,
        1.0,
    ]  # linear warmup; the first update is not wasted at lr 0
    assert lrs[4] == 1.0 and lrs[-1] == pytest.approx(1 / 8)  # linear decay towards 0 at step 12
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert warmup_linear(12, 4, 12) == 0.0 and warmup_linear(50, 4, 12) == 0.0


def test_scheduler_follows_the_formula(model):
    opt = build_optimizer(model, lr=2e-3)
    sched = warmup_linear_schedule(opt, warmup_steps=3, total_steps=10)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx(learning_rates(2e-3, 3, 10))


def test_bad_arguments_are_explained(model):
    with pytest.raises(ValueError, match="lr must be positive"):
        build_optimizer(model, lr=0)
    with pytest.raises(ValueError, match="implementation"):
        build_optimizer(model, lr=1e-3, implementation="turbo")
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_linear_schedule(build_optimizer(model, lr=1e-3), warmup_steps=20, total_steps=10)
