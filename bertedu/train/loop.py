"""The training loop: generic over models, exact on resume, loud on NaN.

:func:`train` trains any ``nn.Module`` whose ``forward(**batch)`` returns an
object (a dataclass, a transformers ``ModelOutput``, a dict) with a scalar
``loss``; other scalar fields named ``*_loss`` (BERT's ``mlm_loss`` and
``nsp_loss``) are logged too. One optimizer update is:

1. ``grad_accumulation`` times: forward one batch (in bf16 autocast on a GPU),
   check the loss is finite, backward ``loss / grad_accumulation`` (gradients
   add up, so the update is the one a batch ``grad_accumulation`` times larger
   would give);
2. clip the global gradient norm to ``max_grad_norm``;
3. AdamW step, learning-rate schedule step, gradients set to ``None``.

Around it: a tqdm bar with the running loss, a JSON-lines metrics log,
evaluation every ``eval_every`` updates, and checkpoints every
``checkpoint_every`` updates from which ``resume=True`` continues exactly.
Under ``torchrun`` (see :mod:`bertedu.train.distributed`) every process takes
its rows of each global batch and DistributedDataParallel averages gradients.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from bertedu.device import resolve_device
from bertedu.nn_utils import eval_mode
from bertedu.train import distributed
from bertedu.train.batches import BatchStream, DataPosition
from bertedu.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    unwrap_model,
)
from bertedu.train.config import TrainConfig
from bertedu.train.metrics_log import MetricsLog
from bertedu.train.optim import build_optimizer, warmup_linear_schedule

Evaluator = Callable[[nn.Module], Mapping[str, float]]


class NonFiniteLossError(FloatingPointError):
    """A loss or gradient norm became NaN or infinite; training stopped before the weights were
    spoiled."""


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    step: int  # optimizer updates done in total (including those before a resume)
    losses: dict[int, float] = field(default_factory=dict)  # step -> loss (this call only)
    eval_metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation
    checkpoint: Path | None = None  # the last checkpoint written
    metrics_path: Path | None = None
    elapsed_s: float = 0.0  # wall time of the whole run, resumed segments included


def loss_terms(output: Any) -> dict[str, torch.Tensor]:
    """The scalar ``loss`` and ``*_loss`` tensors of a model output (a dataclass, ModelOutput or
    dict)."""
    items = output.items() if isinstance(output, Mapping) else vars(output).items()
    terms = {
        name: value
        for name, value in items
        if (name == "loss" or name.endswith("_loss"))
        and isinstance(value, torch.Tensor)
        and value.dim() == 0
    }
    if "loss" not in terms:
        raise ValueError(
            f"model(**batch) returned {type(output).__name__} without a scalar `loss`. The "
            "training loop needs one: pass the labels in the batch (e.g. labels=..., "
            "next_sentence_label=...)."
        )
    return terms


def check_finite(terms: Mapping[str, float], step: int, checkpoint: Path | None) -> None:
    """Raise :class:`NonFiniteLossError` naming the update and the loss that is NaN or infinite."""
    bad = {name: value for name, value in terms.items() if not math.isfinite(value)}
    if bad:
        values = ", ".join(f"{name}={value}" for name, value in terms.items())
        where = (
            f"the last checkpoint is {checkpoint}"
            if checkpoint
            else "no checkpoint was written yet"
        )
        raise NonFiniteLossError(
            f"Non-finite {', '.join(bad)} at update {step + 1} ({values}); training stopped before "
            "the weights were changed. Lower the learning rate, lengthen the warmup or clip "
            f"gradients (max_grad_norm); {where}."
        )


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """``torch.bfloat16`` when bf16 autocast applies, else ``None`` (plain fp32).

    bf16 keeps fp32's exponent range, so unlike fp16 it needs no loss scaling;
    ``auto`` uses it only on a CUDA GPU that supports it (on CPU it is slower
    and less accurate for a model this small).
    """
    if config.precision == "bf16":
        return torch.bfloat16
    if config.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a batch to ``device`` (other values pass through)."""
    return {
        name: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
        for name, value in batch.items()
    }


def count_tokens(batch: Mapping[str, Any]) -> int:
    """Real (non-padding) tokens: ``attention_mask.sum()``, else ``input_ids.numel()``."""
    if isinstance(batch.get("attention_mask"), torch.Tensor):
        return int(batch["attention_mask"].sum())
    ids = batch.get("input_ids")
    return ids.numel() if isinstance(ids, torch.Tensor) else 0


def run_evaluation(
    model: nn.Module, evaluate: Evaluator, dtype: torch.dtype | None, device: torch.device
) -> dict[str, float]:
    """Call ``evaluate(model)`` in eval mode without gradients, then go back to train mode."""
    with (
        eval_mode(model),
        torch.no_grad(),
        torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
    ):
        return {name: float(value) for name, value in evaluate(model).items()}


def report_evaluation(
    metrics: dict[str, float], step: int, log: MetricsLog | None, bar: tqdm
) -> None:
    """Write an evaluation to the metrics log and print it above the progress bar."""
    if log is not None:
        log.write({"split": "eval", "step": step, **metrics})
    bar.write(f"update {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))


def optimizer_and_schedule(model: nn.Module, config: TrainConfig) -> tuple[Any, Any]:
    """AdamW over ``model`` (no decay on biases and LayerNorm) and its warmup-linear schedule."""
    optimizer = build_optimizer(
        model,
        config.lr,
        config.weight_decay,
        config.betas,
        config.eps,
        config.optimizer_implementation,
    )
    return optimizer, warmup_linear_schedule(optimizer, config.warmup_steps, config.total_steps)


def is_due(every: int | None, done: int, stop: int) -> bool:
    """True every ``every`` updates and after the last update of this call (``stop``)."""
    return bool(every and done % every == 0) or done == stop


@dataclass
class ResumePoint:
    """Where a run continues: updates done, data position, wall time so far, the checkpoint."""

    step: int = 0
    position: DataPosition = field(default_factory=DataPosition)
    elapsed_s: float = 0.0
    checkpoint: Path | None = None


def resume_point(
    checkpoint_dir: Path | None,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generators: dict[str, torch.Generator] | None,
    total_steps: int,
    is_main: bool,
) -> ResumePoint:
    """Restore the newest checkpoint of ``checkpoint_dir`` into the objects (none: step 0)."""
    if checkpoint_dir is None:
        raise ValueError(
            "resume=True needs checkpoint_dir: the folder the interrupted run wrote to."
        )
    found = latest_checkpoint(checkpoint_dir)
    if found is None:
        if is_main:
            print(f"No checkpoint in {checkpoint_dir} yet: starting from step 0.")
        return ResumePoint()
    state = load_checkpoint(
        found, model=model, optimizer=optimizer, scheduler=scheduler, generators=generators
    )
    point = ResumePoint(
        state.step,
        DataPosition(**state.data_position),
        float(state.extra.get("elapsed_s", 0.0)),
        found,
    )
    if is_main:
        print(
            f"Resumed from {found} (update {point.step} of {total_steps}, "
            f"epoch {point.position.epoch}, batch {point.position.batch})."
        )
    return point


def training_runner(
    base: nn.Module, config: TrainConfig, info: distributed.DistributedInfo, device: torch.device
) -> nn.Module:
    """The module the loop calls: ``base``, wrapped in DDP under torchrun, compiled if asked."""
    runner: nn.Module = base
    if info.world_size > 1:
        runner = nn.parallel.DistributedDataParallel(
            base, device_ids=[device.index] if device.type == "cuda" else None
        )
    return torch.compile(runner) if config.compile else runner


def accumulate_gradients(
    runner: nn.Module,
    stream: BatchStream,
    *,
    config: TrainConfig,
    info: distributed.DistributedInfo,
    device: torch.device,
    dtype: torch.dtype | None,
    step: int,
    last_checkpoint: Path | None,
) -> tuple[dict[str, float], int]:
    """Forward and backward ``grad_accumulation`` batches: their mean loss terms and real tokens."""
    totals: dict[str, float] = defaultdict(float)
    tokens = 0
    for micro in range(config.grad_accumulation):
        batch = next(stream)
        if info.world_size > 1:
            batch = distributed.shard(batch, info.rank, info.world_size)
        tokens += count_tokens(batch)
        batch = to_device(batch, device)
        last_micro = micro == config.grad_accumulation - 1
        # DDP all-reduces gradients in backward; only the last micro-batch needs it.
        sync = contextlib.nullcontext() if last_micro or info.world_size == 1 else runner.no_sync()
        with sync:
            with torch.autocast(
                device.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                terms = loss_terms(runner(**batch))
            values = {name: float(value.detach()) for name, value in terms.items()}
            check_finite(values, step, last_checkpoint)
            (terms["loss"] / config.grad_accumulation).backward()
        for name, value in values.items():
            totals[name] += value / config.grad_accumulation
    return totals, tokens


def apply_update(
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    params: list[nn.Parameter],
    config: TrainConfig,
    totals: dict[str, float],
    *,
    step: int,
    last_checkpoint: Path | None,
) -> None:
    """Clip the gradient norm, take the AdamW step and the schedule step, free the gradients.

    The gradient norm (before clipping) and the learning rate used go into ``totals``.
    """
    if config.max_grad_norm is not None:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        totals["grad_norm"] = grad_norm
        check_finite({"gradient norm": grad_norm}, step, last_checkpoint)
    totals["lr"] = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)  # frees the gradients instead of writing zeros


class UpdateLog:
    """Between two metrics-log records: the updates' mean values, tokens/s and the progress bar."""

    def __init__(
        self, log: MetricsLog | None, bar: tqdm, *, world_size: int, elapsed_before: float
    ):
        self.log, self.bar, self.world_size = log, bar, world_size
        self.elapsed_before = elapsed_before
        self.window: dict[str, list[float]] = defaultdict(list)
        self.recent: deque[float] = deque(maxlen=50)  # the bar's running loss
        self.tokens = self.tokens_at_log = 0
        self.started = self.time_at_log = time.perf_counter()

    def elapsed_s(self) -> float:
        """Wall time of the run so far, resumed segments included."""
        return self.elapsed_before + time.perf_counter() - self.started

    def add(self, done: int, totals: dict[str, float], tokens: int, *, epoch: int, due: bool):
        """Record update ``done``; write the window's means to the log when ``due``."""
        self.tokens += tokens
        self.recent.append(totals["loss"])
        for name, value in totals.items():
            self.window[name].append(value)
        self.bar.update(1)
        self.bar.set_postfix(
            loss=f"{sum(self.recent) / len(self.recent):.3f}",
            lr=f"{totals['lr']:.2e}",
            refresh=False,
        )
        if self.log is None or not due:
            return
        now = time.perf_counter()
        record = {"split": "train", "step": done, "epoch": epoch}
        record |= {name: sum(values) / len(values) for name, values in self.window.items()}
        seconds = max(now - self.time_at_log, 1e-9)
        record["tokens_per_s"] = (self.tokens - self.tokens_at_log) * self.world_size / seconds
        record["elapsed_s"] = self.elapsed_before + now - self.started
        self.log.write(record)
        self.window.clear()
        self.tokens_at_log, self.time_at_log = self.tokens, now


def train(
    model: nn.Module,
    batches: Any,
    *,
    config: TrainConfig,
    evaluate: Evaluator | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    generators: dict[str, torch.Generator] | None = None,
    metrics_path: str | Path | None = None,
    extra: dict[str, Any] | None = None,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Train ``model`` for ``config.total_steps`` optimizer updates on ``batches``.

    Args:
        model: any module; ``model(**batch).loss`` must be a scalar.
        batches: global batches (dicts of tensors): a
            :class:`~bertedu.train.batches.ResumableBatches`, a function ``epoch -> batches``,
            or a re-iterable such as a list or DataLoader. Epochs repeat until
            ``total_steps`` updates are done.
        config: the loop's hyper-parameters (:class:`~bertedu.train.config.TrainConfig`).
        evaluate: ``evaluate(model) -> {"metric": value}``, run every ``config.eval_every``
            updates and at the end, in eval mode without gradients.
        checkpoint_dir: where checkpoints (``step-NNNNNNNN/``) and ``metrics.jsonl`` go.
        resume: continue from the newest checkpoint in ``checkpoint_dir`` (a fresh start if none).
        generators: named ``torch.Generator`` objects the data draws from (masking,
            shuffling); their states are checkpointed and restored.
        metrics_path: the JSON-lines log (default ``checkpoint_dir/metrics.jsonl``; none
            without either).
        extra: JSON stored in every checkpoint (e.g. the data recipe).
        stop_at_step: stop after this many updates (a time-boxed session); the schedule
            still runs to ``total_steps``, and ``resume=True`` continues.
    """
    info = distributed.current()
    device = resolve_device(config.device or info.device)
    base = unwrap_model(model).to(device)
    optimizer, scheduler = optimizer_and_schedule(base, config)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if metrics_path is None and checkpoint_dir is not None:
        metrics_path = checkpoint_dir / "metrics.jsonl"
    metrics_path = Path(metrics_path) if metrics_path is not None else None
    start = ResumePoint()
    if resume:
        start = resume_point(
            checkpoint_dir,
            model=base,
            optimizer=optimizer,
            scheduler=scheduler,
            generators=generators,
            total_steps=config.total_steps,
            is_main=info.is_main,
        )
    stop = min(config.total_steps, stop_at_step if stop_at_step is not None else config.total_steps)
    log = (
        MetricsLog(metrics_path, resume_from_step=start.step if resume else None)
        if metrics_path is not None and info.is_main
        else None
    )
    result = TrainResult(
        step=start.step,
        checkpoint=start.checkpoint,
        metrics_path=metrics_path,
        elapsed_s=start.elapsed_s,
    )
    if start.step >= stop:
        return result

    runner = training_runner(base, config, info, device)
    dtype = autocast_dtype(config, device)
    stream = BatchStream(batches, start.position)
    params = [p for p in base.parameters() if p.requires_grad]
    extra = {"train_config": config.to_dict(), **(extra or {})}
    last_checkpoint = start.checkpoint
    show = config.progress and info.is_main  # one bar, on rank 0
    runner.train()
    bar = tqdm(total=stop, initial=start.step, desc="train", disable=not show, dynamic_ncols=True)
    updates = UpdateLog(log, bar, world_size=info.world_size, elapsed_before=start.elapsed_s)
    try:
        for step in range(start.step, stop):
            where = {"step": step, "last_checkpoint": last_checkpoint}
            totals, tokens = accumulate_gradients(
                runner, stream, config=config, info=info, device=device, dtype=dtype, **where
            )
            apply_update(optimizer, scheduler, params, config, totals, **where)
            done = step + 1
            result.step = done
            result.losses[done] = totals["loss"]
            due = done % config.log_every == 0 or done == stop
            updates.add(done, totals, tokens, epoch=stream.position.epoch, due=due)
            if evaluate is not None and is_due(config.eval_every, done, stop):
                if info.is_main:
                    result.eval_metrics = run_evaluation(base, evaluate, dtype, device)
                    report_evaluation(result.eval_metrics, done, log, bar)
                distributed.barrier()
            if checkpoint_dir is not None and is_due(config.checkpoint_every, done, stop):
                if info.is_main:
                    last_checkpoint = save_checkpoint(
                        checkpoint_dir,
                        model=base,
                        step=done,
                        optimizer=optimizer,
                        scheduler=scheduler,
                        data_position=stream.position.to_dict(),
                        generators=generators,
                        keep=config.keep_checkpoints,
                        extra=extra | {"elapsed_s": updates.elapsed_s()},
                    )
                    result.checkpoint = last_checkpoint
                distributed.barrier()
    finally:
        bar.close()
    result.elapsed_s = updates.elapsed_s()
    return result
