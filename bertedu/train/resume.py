"""Where a run continues, and the refusal to continue a different run.

``train(resume=True)`` restores the newest checkpoint of its folder (or the
one passed as ``resume_from``). Before anything is loaded, what the
checkpoint recorded is compared with what this run is made of: the loop's
hyper-parameters that change the result (learning rate, warmup, clipping,
accumulation, ...) and whatever the caller passed as ``extra`` (pretraining
passes the recipe, the seed and a fingerprint of the data). A difference is
refused with a :class:`ResumeMismatchError` naming every differing field:
continuing someone else's run silently gives a model that belongs to neither.

Changing ``total_steps`` on resume is allowed only when asked for
(``extend_steps=True``, ``--extend-steps``): it changes the learning-rate
schedule of the remaining updates, so it must be a decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertedu.train.batches import DataPosition
from bertedu.train.checkpoint import load_checkpoint
from bertedu.train.checkpoint_state import STATE_FILE, read_checkpoint_state
from bertedu.train.config import TrainConfig
from bertedu.train.resume_checks import schedule_and_optimizer_problems
from bertedu.train.run_folder import latest_checkpoint
from bertedu.train.weights_file import CheckpointMismatchError

#: TrainConfig fields that say how this machine runs the loop, not what it computes (or only
#: when it logs, evaluates and saves); they may differ between a run and its resumption.
HOW_NOT_WHAT = frozenset(
    {
        "device",
        "optimizer_implementation",
        "progress",
        "compile",
        "drop_full_attention_mask",
        "keep_checkpoints",
        "log_every",
        "eval_every",
        "checkpoint_every",
    }
)
#: Bookkeeping in a checkpoint's ``extra`` that is not part of the run's identity.
BOOKKEEPING = frozenset({"elapsed_s"})


class ResumeMismatchError(ValueError):
    """The checkpoint to resume from was written by a run with other settings or data."""


@dataclass
class ResumePoint:
    """Where a run continues: updates done, data position, wall time so far, the checkpoint."""

    step: int = 0
    position: DataPosition = field(default_factory=DataPosition)
    elapsed_s: float = 0.0
    checkpoint: Path | None = None
    run_id: str | None = None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b": leaf}`` so that a difference is named by its full path."""
    if not isinstance(value, Mapping):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        flat |= flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    return flat


def run_identity(config: TrainConfig, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a checkpoint records of its run and a resumption must match: ``train_config`` and
    the caller's ``extra``."""
    return {"train_config": config.to_dict(), **(extra or {})}


def differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"field: checkpoint X, now Y"`` for every field of ``current`` the checkpoint recorded
    differently.

    Fields the checkpoint did not record (it was written by older code) are
    not compared, nor those in :data:`HOW_NOT_WHAT`, nor ``total_steps``
    (:func:`checkpoint_to_resume` checks it on its own).
    """
    ignored = HOW_NOT_WHAT | {"total_steps"}
    old, new = flatten(dict(saved)), flatten(dict(current))
    found = []
    for name in sorted(new):
        leaf = name.rsplit(".", 1)[-1]
        if name in old and leaf not in ignored and name.split(".")[0] not in BOOKKEEPING:
            if _normalised(old[name]) != _normalised(new[name]):
                found.append(f"{name}: checkpoint {old[name]!r}, now {new[name]!r}")
    return found


def _normalised(value: Any) -> Any:
    """JSON turns tuples into lists; compare them as equal."""
    return [_normalised(v) for v in value] if isinstance(value, (list, tuple)) else value


def checkpoint_to_resume(
    checkpoint_dir: Path | None,
    *,
    config: TrainConfig,
    extra: Mapping[str, Any] | None,
    resume_from: str | Path | None = None,
    extend_steps: bool = False,
) -> Path | None:
    """The checkpoint a resumption continues (``resume_from`` or the newest), checked against
    this run; None when there is none yet.

    Raises :class:`ResumeMismatchError` naming the differing fields, and a
    clear error when the checkpoint cannot be read (saying how to pick another).
    """
    if resume_from is not None:
        found: Path | None = Path(resume_from)
    elif checkpoint_dir is None:
        raise ValueError(
            "resume=True needs checkpoint_dir: the folder the interrupted run wrote to."
        )
    else:
        found = latest_checkpoint(checkpoint_dir)
    if found is None:
        return None
    state = read_checkpoint_state(found)
    saved = state.get("extra", {})
    differing = differences(saved, run_identity(config, extra))
    saved_total = saved.get("train_config", {}).get("total_steps")
    if not extend_steps and saved_total is not None and saved_total != config.total_steps:
        differing.insert(
            0,
            f"total_steps: checkpoint {saved_total}, now {config.total_steps} (to change the "
            "number of updates of a run, pass --extend-steps / extend_steps=True)",
        )
    if differing:
        raise ResumeMismatchError(
            f"Refusing to resume {found}: it was written by a run with other settings or data ("
            + "; ".join(differing)
            + "). Resume with the settings it was started with, or start a new run in another "
            "--output (or move this one aside with --overwrite)."
        )
    checked_position(state, found, config.grad_accumulation)
    problems = schedule_and_optimizer_problems(state, config)
    elapsed = saved.get("elapsed_s", 0.0)
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not elapsed >= 0:
        problems.append(f"extra.elapsed_s is {elapsed!r}, not a number of seconds")
    if problems:
        raise CheckpointMismatchError(
            f"Refusing to resume {found}: its optimizer or learning-rate schedule is not what "
            "this run's settings make them at its step (" + "; ".join(problems) + "). The "
            "checkpoint was altered or written by other code: use an earlier checkpoint "
            "(--checkpoint PATH), or start afresh."
        )
    if config.total_steps < state["step"]:
        raise ResumeMismatchError(
            f"{found} is at update {state['step']}, beyond total_steps={config.total_steps}. "
            "Pass a total of at least that many updates."
        )
    return found


def checked_position(state: Mapping[str, Any], found: Path, grad_accumulation: int) -> DataPosition:
    """The checkpoint's data position, refused (naming the field) unless ``epoch`` and
    ``batch`` are whole numbers the run could have reached.

    The loop draws ``grad_accumulation`` batches per update and every epoch at least
    one, so neither the batch within the epoch nor the epoch can exceed the batches
    drawn in all (``step * grad_accumulation``): ``"batch": 10**18`` would otherwise
    silently start the data elsewhere, ``"epoch": -1`` fail deep in the data source.
    """
    position = state.get("data_position", {})
    drawn = state["step"] * grad_accumulation
    for name in ("epoch", "batch"):
        value = position.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= drawn:
            raise CheckpointMismatchError(
                f"{found / STATE_FILE}: data_position.{name} is {value!r}; after {state['step']} "
                f"update(s) of {grad_accumulation} batch(es) it must be a whole number from 0 to "
                f"{drawn}. The checkpoint was altered: use an earlier checkpoint "
                "(--checkpoint PATH)."
            )
    unknown = sorted(set(position) - {"epoch", "batch"})
    if unknown:
        raise CheckpointMismatchError(
            f"{found / STATE_FILE}: data_position has unknown field(s) {unknown}; the loop "
            "records only epoch and batch. Use an earlier checkpoint (--checkpoint PATH)."
        )
    return DataPosition(position.get("epoch", 0), position.get("batch", 0))


def realign_learning_rates(scheduler: Any) -> None:
    """Give the optimizer the rate *this* run's schedule has at the restored step.

    The optimizer's state carries the rate of the checkpoint's last update, and a
    ``LambdaLR`` applies its own rule only from its next ``step()``. With the same
    schedule the two agree (this sets the same value, computed the same way); after
    ``extend_steps`` they do not, and without this the first update after the resume
    would still run at the old schedule's rate (near zero at the end of a finished run).
    """
    lambdas = getattr(scheduler, "lr_lambdas", None)
    if lambdas is None:
        return
    for group, base_lr, rate in zip(
        scheduler.optimizer.param_groups, scheduler.base_lrs, lambdas, strict=True
    ):
        group["lr"] = base_lr * rate(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def resume_point(
    found: Path | None,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generators: dict[str, torch.Generator] | None,
    total_steps: int,
    is_main: bool,
) -> ResumePoint:
    """Restore checkpoint ``found`` into the objects (None: step 0)."""
    if found is None:
        if is_main:
            print("No checkpoint to resume from yet: starting from step 0.")
        return ResumePoint()
    state = load_checkpoint(
        found, model=model, optimizer=optimizer, scheduler=scheduler, generators=generators
    )
    realign_learning_rates(scheduler)
    point = ResumePoint(
        state.step,
        DataPosition(**state.data_position),  # checked by checkpoint_to_resume
        float(state.extra.get("elapsed_s", 0.0)),
        found,
        state.run_id,
    )
    if is_main:
        print(
            f"Resumed from {found} (update {point.step} of {total_steps}, "
            f"epoch {point.position.epoch}, batch {point.position.batch})."
        )
    return point
