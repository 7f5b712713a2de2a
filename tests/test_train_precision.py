"""Precision: bf16 where the GPU has it, fp16 with loss scaling where it does not; GPU memory in
the log."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from torch import nn

from bertedu.train import TrainConfig, train
from bertedu.train.config import PRECISIONS
from bertedu.train.loop import autocast_dtype, device_memory_stats, grad_scaler

pytestmark = pytest.mark.usefixtures("one_thread")
CUDA = torch.device("cuda", 0)  # a device object only: nothing runs on it here
CPU = torch.device("cpu")


@pytest.fixture
def gpu_without_native_bf16(monkeypatch):
    """A T4/V100-class card: bf16 only emulated."""
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation
    )


@pytest.fixture
def gpu_with_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)


@pytest.mark.parametrize(
    ("precision", "dtype"),
    [("auto", torch.bfloat16), ("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", None)],
)
def test_a_gpu_with_native_bf16_runs_bf16(gpu_with_native_bf16, precision, dtype):
    assert autocast_dtype(TrainConfig(total_steps=1, precision=precision), CUDA) == dtype


@pytest.mark.parametrize(
    ("precision", "dtype"),
    [("auto", torch.float16), ("bf16", torch.float16), ("fp16", torch.float16), ("fp32", None)],
)
def test_an_older_gpu_runs_fp16_instead_of_emulated_bf16(gpu_without_native_bf16, precision, dtype):
    assert autocast_dtype(TrainConfig(total_steps=1, precision=precision), CUDA) == dtype


def test_the_cpu_runs_fp32_unless_asked():
    dtypes = [autocast_dtype(TrainConfig(total_steps=1, precision=p), CPU) for p in PRECISIONS]
    assert dtypes == [None, None, torch.bfloat16, torch.float16]


def test_the_loss_scaler_is_on_for_fp16_only():
    assert grad_scaler(torch.float16, CPU).is_enabled()
    assert not grad_scaler(torch.bfloat16, CPU).is_enabled()
    assert not grad_scaler(None, CPU).is_enabled()


class Regression(nn.Module):
    """``loss = mean((x w - y)^2)``: small enough to follow by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        return {"loss": ((self.linear(x).float().squeeze(-1) - y) ** 2).mean()}


def batches(scale: float = 1.0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=g)
    return [{"x": x * scale, "y": x.sum(dim=1)}]


def run(precision: str, steps: int, scale: float = 1.0, metrics=None) -> tuple[nn.Module, dict]:
    torch.manual_seed(0)
    model = Regression()
    config = TrainConfig(
        total_steps=steps, lr=0.05, precision=precision, progress=False, log_every=1
    )
    return model, train(model, batches(scale), config=config, metrics_path=metrics).losses


def test_fp16_training_with_loss_scaling_learns_after_finding_its_scale(tmp_path):
    _, fp16 = run("fp16", 30, metrics=tmp_path / "m.jsonl")
    losses = list(fp16.values())
    # The scaler starts at 2^16: the first updates overflow and are skipped (the loss stays)
    # until the scale is small enough, then every update lowers the loss.
    skipped = next(i for i, loss in enumerate(losses) if loss != losses[0]) - 1
    assert 1 <= skipped <= 4
    assert all(b < a for a, b in itertools.pairwise(losses[skipped:]))
    assert losses[-1] < 0.3 * losses[0]
    record = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[-1])
    assert record["loss_scale"] == 2.0**16 / 2**skipped  # halved once per skipped update


def test_fp16_skips_an_update_whose_scaled_gradients_overflow():
    # Inputs of ~100: the loss (~1e4) is finite, but its gradient times the initial scale of
    # 65536 overflows fp16. The scaler skips the update and halves its scale; without it the
    # run would stop with a non-finite gradient norm.
    model, losses = run("fp16", 1, scale=100.0)
    torch.manual_seed(0)
    untouched = Regression()
    assert torch.isfinite(torch.tensor(losses[1]))
    for name, value in model.state_dict().items():
        assert torch.equal(value, untouched.state_dict()[name]), name


def test_gpu_memory_is_logged_on_a_gpu_only(monkeypatch):
    assert device_memory_stats(CPU) == {}
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * 2**30)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device: 4 * 2**30)
    reset = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset.append)
    stats = device_memory_stats(CUDA)
    assert stats == {"gpu_peak_allocated_gib": 3.0, "gpu_peak_reserved_gib": 4.0}
    assert reset == [CUDA]  # each log record has the peak of its own window
