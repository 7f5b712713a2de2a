"""TrainConfig: every knob of the training loop in one dataclass (saved with each checkpoint)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bertedu.train.optim import DEFAULT_BETAS, DEFAULT_EPS, DEFAULT_WEIGHT_DECAY

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: torch.compile's modes: ``reduce-overhead`` replays the compiled step as CUDA graphs (one
#: launch for all of its kernels: what a small, launch-bound model needs on a GPU).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`bertedu.train.loop.train`; nothing model- or task-specific.

    ``total_steps`` counts optimizer updates; one update consumes
    ``grad_accumulation`` batches. The schedule (warmup for
    ``warmup_fraction`` of the updates, then linear decay to 0) is defined
    over ``total_steps`` even when a run is stopped early and resumed, and a
    fraction keeps its meaning when ``total_steps`` changes.
    """

    total_steps: int
    lr: float = 1e-3
    warmup_fraction: float = 0.0  # share of total_steps over which lr climbs from 0 to its peak
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    betas: tuple[float, float] = DEFAULT_BETAS
    eps: float = DEFAULT_EPS
    max_grad_norm: float | None = 1.0  # None: no clipping
    grad_accumulation: int = 1
    precision: str = "auto"  # auto: bf16 on a GPU with native bf16, fp16 + loss scaling on an
    # older GPU (T4, V100), fp32 on the CPU; bf16 asked for on a GPU without native bf16: fp16
    compile: bool | str = False  # torch.compile the model (worth it on a GPU for long runs);
    # True: torch's default mode, or one of COMPILE_MODES ("reduce-overhead": CUDA graphs)
    eval_every: int | None = None  # evaluate every this many updates (and always at the end)
    checkpoint_every: int | None = None  # checkpoint every this many updates (and at the end)
    log_every: int = 10  # write a train record to the metrics log every this many updates
    # How this machine runs it (the result does not depend on these, up to float rounding):
    device: str | None = None  # None: this process's GPU when there is one, else the CPU
    optimizer_implementation: str = "auto"  # fused | foreach | for-loop, see build_optimizer
    keep_checkpoints: int | None = 2  # delete older checkpoints; None keeps all
    progress: bool = True  # draw a tqdm progress bar
    # A batch whose attention_mask has no padding goes to the model without one, so attention
    # runs with no mask tensor at all (on a GPU, the flash kernel); same result to 1e-6.
    drop_full_attention_mask: bool = False

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {self.total_steps}")
        if not 0 <= self.warmup_fraction <= 1:
            raise ValueError(f"warmup_fraction must be in [0, 1], got {self.warmup_fraction}")
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
        if not (isinstance(self.compile, bool) or self.compile in COMPILE_MODES):
            raise ValueError(
                f"compile must be True, False or one of {COMPILE_MODES}, got {self.compile!r}"
            )
        self.betas = tuple(self.betas)

    @property
    def warmup_steps(self) -> int:
        """The updates of the warmup: ``warmup_fraction`` of ``total_steps``, rounded."""
        return round(self.total_steps * self.warmup_fraction)

    @property
    def compile_mode(self) -> str | None:
        """The ``mode`` for ``torch.compile`` (None: do not compile)."""
        if self.compile is False:
            return None
        return "default" if self.compile is True else self.compile

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored in every checkpoint's ``extra``)."""
        return dataclasses.asdict(self)
