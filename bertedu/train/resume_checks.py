"""A checkpoint's optimizer and learning-rate schedule, checked against the run that resumes it.

A checkpoint's digests prove it was not changed after it was written, not that its values
are a run's: one written (or rebuilt) with ``scheduler.last_epoch = -100`` trains at a
negative learning rate, ``base_lrs`` x1000 at a thousandfold one, ``eps: -1`` divides by
numbers near zero, and an empty ``optimizer.scalars`` silently drops Adam's moments. None
of these fails when loaded. :func:`schedule_and_optimizer_problems` compares them with what
the run's :class:`~bertedu.train.config.TrainConfig` and step say they must be:

* the schedule: ``last_epoch`` (updates the schedule has counted) is the checkpoint's step,
  ``base_lrs`` are the config's peak rate, its fields are those of the loop's schedule;
* each optimizer group: the config's betas, eps and peak rate, the weight decay of its group
  (none for biases and LayerNorm), a current rate between 0 and the peak, no ``amsgrad`` or
  ``maximize``;
* after at least one update, per-parameter state (the Adam moments) to restore.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from bertedu.train.config import TrainConfig
from bertedu.train.optim import warmup_linear_schedule


def _schedule_fields() -> frozenset[str]:
    """The fields of the loop's schedule's ``state_dict`` (this torch's, and older ones')."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    return frozenset(warmup_linear_schedule(optimizer, 0, 1).state_dict()) | {"verbose"}


def _same(a: Any, b: Any) -> bool:
    """Numbers (or lists of them) equal up to float rounding."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return False


def _scheduler_problems(scheduler: Any, step: int, config: TrainConfig, groups: int) -> list[str]:
    if not isinstance(scheduler, Mapping):
        return [f"scheduler is {scheduler!r}, not the loop's schedule"]
    problems = []
    unknown = sorted(set(scheduler) - _schedule_fields())
    if unknown:
        problems.append(f"scheduler has unknown field(s) {unknown}")
    if scheduler.get("last_epoch") != step or isinstance(scheduler.get("last_epoch"), bool):
        problems.append(
            f"scheduler.last_epoch is {scheduler.get('last_epoch')!r}, the checkpoint's step is "
            f"{step}"
        )
    if "_step_count" in scheduler and scheduler["_step_count"] != step + 1:
        problems.append(f"scheduler._step_count is {scheduler['_step_count']!r}, not {step + 1}")
    if not _same(scheduler.get("base_lrs"), [config.lr] * groups):
        problems.append(
            f"scheduler.base_lrs is {scheduler.get('base_lrs')!r}, the run's peak rate is "
            f"{config.lr} for each of {groups} group(s)"
        )
    return problems


def _group_problems(index: int, group: Mapping[str, Any], config: TrainConfig) -> list[str]:
    name = f"optimizer.param_groups[{index}]"
    decay = 0.0 if group.get("group") == "no_decay" else config.weight_decay
    wanted = {"betas": list(config.betas), "eps": config.eps, "weight_decay": decay}
    if "initial_lr" in group:
        wanted["initial_lr"] = config.lr
    problems = [
        f"{name}.{field} is {group.get(field)!r}, the run's is {value!r}"
        for field, value in wanted.items()
        if not _same(group.get(field), value)
    ]
    lr = group.get("lr")
    if not (
        isinstance(lr, (int, float))
        and not isinstance(lr, bool)
        and 0 <= lr <= config.lr * (1 + 1e-9)
    ):
        problems.append(f"{name}.lr is {lr!r}, outside 0 to the peak rate {config.lr}")
    problems += [
        f"{name}.{flag} is {group[flag]!r}; the loop's AdamW has it off"
        for flag in ("amsgrad", "maximize")
        if group.get(flag, False) is not False
    ]
    return problems


def schedule_and_optimizer_problems(state: Mapping[str, Any], config: TrainConfig) -> list[str]:
    """Every way the checkpoint's optimizer and schedule differ from what ``config`` at the
    checkpoint's step makes them (empty: they agree)."""
    step, optimizer = state["step"], state.get("optimizer")
    if not isinstance(optimizer, Mapping):
        return ["it holds no optimizer state to continue from"]
    groups = optimizer.get("param_groups", [])
    problems = _scheduler_problems(state.get("scheduler"), step, config, len(groups))
    for index, group in enumerate(groups):
        problems += _group_problems(index, group, config)
    if step > 0 and not optimizer.get("scalars"):
        problems.append(
            f"optimizer.scalars is empty after {step} update(s): Adam's moments would restart "
            "from zero"
        )
    return problems
