"""TrainConfig: every knob of the training loop in one dataclass (saved with each checkpoint)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`bertedu.train.loop.train`; nothing model- or task-specific.

    ``total_steps`` counts optimizer updates; one update consumes
    ``grad_accumulation`` batches. The schedule (warmup then linear decay to 0)
    is defined over ``total_steps`` even when a run is stopped early and resumed.
    """

    total_steps: int
    lr: float = 1e-3
    warmup_steps: int = 0
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6
    max_grad_norm: float | None = 1.0  # None: no clipping
    grad_accumulation: int = 1
    precision: str = "auto"  # auto: bf16 autocast on a CUDA GPU that supports it, fp32 elsewhere
    compile: bool = False  # torch.compile the model (worth it on a GPU for long runs)
    device: str | None = None  # None: cuda when available, else cpu
    optimizer_implementation: str = "auto"  # fused | foreach | for-loop, see build_optimizer
    log_every: int = 10  # write a train record to the metrics log every this many updates
    eval_every: int | None = None  # evaluate every this many updates (and always at the end)
    checkpoint_every: int | None = None  # checkpoint every this many updates (and at the end)
    keep_checkpoints: int | None = 2  # delete older checkpoints; None keeps all
    progress: bool = True  # draw a tqdm progress bar

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {self.total_steps}")
        if not 0 <= self.warmup_steps <= self.total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps={self.total_steps}], got {self.warmup_steps}"
            )
        if self.grad_accumulation < 1:
            raise ValueError(f"grad_accumulation must be at least 1, got {self.grad_accumulation}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be positive or None, got {self.max_grad_norm}")
        for name in ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer or None, got {value}")
        self.betas = tuple(self.betas)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored in every checkpoint's ``extra``)."""
        return dataclasses.asdict(self)
