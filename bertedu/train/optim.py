"""The optimizer and the learning-rate schedule BERT is trained with.

AdamW (Loshchilov and Hutter 2019) with decoupled weight decay, applied only to
the weight *matrices*: biases and LayerNorm gains/shifts get no decay. Decay
pulls a parameter towards 0; for a LayerNorm gain (whose natural value is 1) or
a bias that is a bad prior, so BERT and every recipe since exempt them.

The schedule is BERT's: the learning rate climbs linearly from 0 to its peak
during ``warmup_steps``, then falls linearly to 0 at ``total_steps``. Warmup
matters most for post-LayerNorm Transformers (like BERT): Adam's first updates
use poorly estimated second moments, and large early steps can push the model
into a state it does not recover from.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

NO_DECAY_MODULES = (nn.LayerNorm,)
DEFAULT_WEIGHT_DECAY = 0.01
DEFAULT_BETAS = (0.9, 0.999)  # torch's and transformers' AdamW defaults; BERT's paper too
DEFAULT_EPS = 1e-6  # BERT's (torch's default is 1e-8)


def no_decay_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters that get no weight decay: every bias and every LayerNorm parameter.

    A parameter counts as a bias when its name ends in ``bias`` (this includes
    the MLM head's free-standing ``cls.predictions.bias``); LayerNorm parameters
    are found by module type, so a LayerNorm named anything is still exempt.
    """
    names = set()
    for module_name, module in model.named_modules():
        for param_name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if isinstance(module, NO_DECAY_MODULES) or param_name.endswith("bias"):
                names.add(full)
    return names


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: ``decay`` (weight matrices, embeddings) and ``no_decay`` (biases,
    LayerNorm).

    Each group carries a ``names`` list (same order as ``params``) so that a
    checkpoint can say *which* parameter it could not match. A tied parameter
    (the MLM decoder shares the word embeddings) appears once.
    """
    exempt = no_decay_parameter_names(model)
    decay: list[tuple[str, nn.Parameter]] = []
    no_decay: list[tuple[str, nn.Parameter]] = []
    for name, param in model.named_parameters():  # named_parameters() already skips tied duplicates
        if param.requires_grad:
            (no_decay if name in exempt else decay).append((name, param))
    groups = [("decay", decay, weight_decay), ("no_decay", no_decay, 0.0)]
    return [
        {
            "group": group,
            "names": [n for n, _ in params],
            "params": [p for _, p in params],
            "weight_decay": wd,
        }
        for group, params, wd in groups
        if params
    ]


#: What each ``implementation`` of :func:`build_optimizer` passes to ``torch.optim.AdamW``.
IMPLEMENTATIONS: dict[str, dict[str, bool]] = {
    "fused": {"fused": True},
    "foreach": {"foreach": True},
    "for-loop": {"foreach": False},
}


def implementation_for(device_type: str) -> str:
    """The fastest AdamW torch has for parameters on ``device_type`` (what ``"auto"`` picks).

    ``fused`` (one kernel launch for a group of tensors, the update done in registers) where
    torch has it (CUDA, the CPU, ...); else ``foreach`` (batched over tensors) where torch has
    that; else the ``for-loop`` reference. On a GPU the difference is launches: a BERT-base
    step updates some 200 tensors, one kernel each in a for-loop.
    """
    from torch.optim.optimizer import (
        _get_foreach_kernels_supported_devices,
        _get_fused_kernels_supported_devices,
    )

    if device_type in _get_fused_kernels_supported_devices():
        return "fused"
    if device_type in _get_foreach_kernels_supported_devices():
        return "foreach"
    return "for-loop"


def build_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
    betas: tuple[float, float] = DEFAULT_BETAS,
    eps: float = DEFAULT_EPS,
    implementation: str = "auto",
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups`.

    ``implementation``: ``"fused"`` (one kernel per step, fastest on CPU and
    GPU), ``"foreach"`` (batched over tensors), ``"for-loop"`` (one tensor at a
    time, the reference), or ``"auto"``: :func:`implementation_for` the device the
    parameters are on (fused on a CUDA GPU and on the CPU). All three compute the
    same update up to float rounding. Build it after the model is on its device.
    """
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if implementation not in (*IMPLEMENTATIONS, "auto"):
        raise ValueError(
            f"implementation must be one of {sorted([*IMPLEMENTATIONS, 'auto'])}, "
            f"got {implementation!r}"
        )
    if implementation == "auto":
        devices = {p.device.type for p in model.parameters()}
        choices = {implementation_for(device) for device in devices}
        implementation = choices.pop() if len(choices) == 1 else "for-loop"
    return torch.optim.AdamW(
        parameter_groups(model, weight_decay),
        lr=lr,
        betas=betas,
        eps=eps,
        **IMPLEMENTATIONS[implementation],
    )


def warmup_linear(step: int, warmup_steps: int, total_steps: int) -> float:
    """The multiplier of the peak learning rate at ``step``: ``0 -> 1`` over warmup, then ``1 ->
    0``.

    ``step`` counts optimizer updates already done, so the first update
    (``step=0``) uses ``1 / warmup_steps`` of the peak rather than a useless 0.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def warmup_linear_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> LambdaLR:
    """A ``LambdaLR`` following :func:`warmup_linear`; call ``scheduler.step()`` per update."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}"
        )
    return LambdaLR(optimizer, lambda step: warmup_linear(step, warmup_steps, total_steps))


def learning_rates(peak_lr: float, warmup_steps: int, total_steps: int) -> list[float]:
    """The learning rate of every update of a run (for plotting the schedule)."""
    return [peak_lr * warmup_linear(step, warmup_steps, total_steps) for step in range(total_steps)]
