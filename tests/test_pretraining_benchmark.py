"""bertedu.pretraining.benchmark: the step profile chapter 5 shows."""

from __future__ import annotations

import pytest
import torch

from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining.benchmark import make_step, operator_shares, pretraining_batch
from bertedu.train.optim import build_optimizer


def small_step(dropout: float):
    config = BertConfig.tiny(
        vocab_size=1200,
        max_position_embeddings=32,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(0)
    model = BertForPreTraining(config)
    batch = pretraining_batch(config, batch=4, seq=32, max_predictions=5)
    step = make_step(model, build_optimizer(model, lr=1e-4), batch)
    step()
    return step


def test_operator_shares_add_up_and_name_the_work(capfd):
    shares = operator_shares(small_step(0.1), steps=2)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert list(shares.values()) == sorted(shares.values(), reverse=True)
    assert all(share > 0 for share in shares.values())
    assert "aten::mm" in shares and "aten::bernoulli_" in shares  # matmuls, dropout masks
    assert "aten::bernoulli_" not in operator_shares(small_step(0.0), steps=1)
    # the profiler's C++ start/stop lines do not reach the caller's stderr
    assert "profiler_start" not in capfd.readouterr().err


def test_operator_shares_refuses_zero_steps():
    with pytest.raises(ValueError, match="at least 1"):
        operator_shares(lambda: None, steps=0)


def test_every_variant_is_timed_in_the_same_run(monkeypatch):
    from bertedu.pretraining.benchmark import compare_pretraining_steps, format_comparison

    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda m, mode=None: real(m, backend="eager"))
    torch._dynamo.reset()
    config = BertConfig.tiny(vocab_size=1200, max_position_embeddings=32)
    comparison = compare_pretraining_steps(
        batch=4, seq=32, repeats=1, warmup=1, steps_per_repeat=1, config=config,
        peak_size=64, variants=("no-mask", "plain", "compiled"),
    )  # fmt: skip
    names = ["bertedu, no mask", "bertedu", "bertedu, compiled"]
    assert comparison["variants"] == names
    assert list(comparison["results"]) == [*names, "transformers (sdpa)"]
    assert comparison["optimizer"] == "fused"
    reference = comparison["results"]["transformers (sdpa)"].tokens_per_s
    for name in names:
        result = comparison["results"][name]
        assert result.warmup_s > 0 and result.mfu > 0
        assert comparison["speedups"][name] == pytest.approx(result.tokens_per_s / reference)
    assert comparison["speedup"] == comparison["speedups"]["bertedu, no mask"]  # the first
    assert "speed-up of bertedu, compiled over transformers (sdpa)" in format_comparison(comparison)
    with pytest.raises(ValueError, match="variants must be some of"):
        compare_pretraining_steps(config=config, variants=("turbo",))
