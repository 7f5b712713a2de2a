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
