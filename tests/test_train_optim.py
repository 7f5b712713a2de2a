"""bertedu.train.optim: weight-decay groups and the warmup-then-linear-decay schedule."""

from __future__ import annotations

import itertools

import pytest
import torch

from bertedu.model import BertConfig, BertForPreTraining
from bertedu.train.optim import (
    build_optimizer,
    learning_rates,
    no_decay_parameter_names,
    parameter_groups,
    warmup_linear,
    warmup_linear_schedule,
)

pytestmark = pytest.mark.usefixtures("one_thread")


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
    # Every parameter once; the tied decoder weight is the word-embedding matrix, not a second
    # entry.
    all_names = groups["decay"]["names"] + groups["no_decay"]["names"]
    assert sorted(all_names) == sorted(n for n, _ in model.named_parameters())
    assert "cls.predictions.decoder.weight" not in all_names


def test_layernorm_found_by_type_not_name():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    assert no_decay_parameter_names(model) == {"0.bias", "1.weight", "1.bias"}


def adamw_by_hand(model, steps, lr, weight_decay, betas=(0.9, 0.999), eps=1e-6):
    """AdamW (Loshchilov and Hutter 2019) written out: decoupled decay, bias-corrected moments."""
    exempt = no_decay_parameter_names(model)
    params = dict(model.named_parameters())
    moments = {name: (torch.zeros_like(p), torch.zeros_like(p)) for name, p in params.items()}
    for t in range(1, steps + 1):
        model.zero_grad()
        model(torch.ones(4, 8)).pow(2).sum().backward()
        with torch.no_grad():
            for name, p in params.items():
                m, v = moments[name]
                m.mul_(betas[0]).add_((1 - betas[0]) * p.grad)
                v.mul_(betas[1]).add_((1 - betas[1]) * p.grad**2)
                m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
                decay = 0.0 if name in exempt else weight_decay
                p.mul_(1 - lr * decay).sub_(lr * m_hat / (v_hat.sqrt() + eps))
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def small_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 1))


@pytest.mark.parametrize("implementation", ["fused", "foreach", "for-loop"])
def test_every_implementation_takes_the_textbook_adamw_step(implementation):
    """Fused, foreach and for-loop AdamW all equal AdamW written out by hand (to float rounding)."""
    model = small_model()
    opt = build_optimizer(model, lr=1e-2, weight_decay=0.1, implementation=implementation)
    for _ in range(3):
        model(torch.ones(4, 8)).pow(2).sum().backward()
        opt.step()
        opt.zero_grad()
    found = torch.cat([p.detach().flatten() for p in model.parameters()])
    expected = adamw_by_hand(small_model(), steps=3, lr=1e-2, weight_decay=0.1)
    torch.testing.assert_close(found, expected, rtol=1e-5, atol=1e-6)


def test_schedule_shape():
    lrs = learning_rates(1.0, warmup_steps=4, total_steps=12)
    assert lrs[:4] == [
        0.25,
        0.5,
        0.75,
        1.0,
    ]  # linear warmup; the first update is not wasted at lr 0
    assert lrs[4] == 1.0 and lrs[-1] == pytest.approx(1 / 8)  # linear decay towards 0 at step 12
    assert all(a >= b for a, b in itertools.pairwise(lrs[4:]))
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


def test_auto_picks_the_fastest_adamw_of_the_parameters_device(monkeypatch):
    import torch.optim.optimizer as torch_optimizer

    from bertedu.train.optim import implementation_for

    assert implementation_for("cuda") == implementation_for("cpu") == "fused"
    on_cpu = build_optimizer(small_model(), lr=1e-3)
    assert on_cpu.defaults["fused"] is True
    # meta tensors (a device torch has no AdamW kernels for): the for-loop reference
    on_meta = build_optimizer(small_model().to("meta"), lr=1e-3)
    assert not on_meta.defaults["fused"] and on_meta.defaults["foreach"] is False
    # a torch without fused kernels for CUDA: foreach, batched over the tensors
    monkeypatch.setattr(torch_optimizer, "_get_fused_kernels_supported_devices", lambda: ["cpu"])
    assert implementation_for("cuda") == "foreach" and implementation_for("cpu") == "fused"
