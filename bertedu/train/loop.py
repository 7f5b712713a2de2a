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
    """A loss or gradient norm became NaN or infinite; training stopped before the weights were spoiled."""


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    step: int  # optimizer updates done in total (including those before a resume)
    losses: dict[int, float] = field(
        default_factory=dict
    )  # step -> loss of that update (this call only)
    eval_metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation
    checkpoint: Path | None = None  # the last checkpoint written
    metrics_path: Path | None = None
    elapsed_s: float = 0.0  # wall time of the whole run, resumed segments included


def loss_terms(output: Any) -> dict[str, torch.Tensor]:
    """The scalar ``loss`` and ``*_loss`` tensors of a model output (a dataclass, ModelOutput or dict)."""
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
            f"model(**batch) returned {type(output).__name__} without a scalar `loss`. The training "
            "loop needs one: pass the labels in the batch (e.g. labels=..., next_sentence_label=...)."
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
            f"Non-finite {', '.join(bad)} at update {step + 1} ({values}); training stopped before the weights "
            f"were changed. Lower the learning rate, lengthen the warmup or clip gradients (max_grad_norm); {where}."
        )


def resolve_device(config: TrainConfig) -> torch.device:
    """``config.device``, or this process's GPU under torchrun, or cuda when available, else cpu."""
    return torch.device(config.device or distributed.current().device)


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
    """Real (non-padding) tokens of a batch: ``attention_mask.sum()``, else ``input_ids.numel()``."""
    if isinstance(batch.get("attention_mask"), torch.Tensor):
        return int(batch["attention_mask"].sum())
    ids = batch.get("input_ids")
    return ids.numel() if isinstance(ids, torch.Tensor) else 0


def run_evaluation(
    model: nn.Module, evaluate: Evaluator, dtype: torch.dtype | None, device: torch.device
) -> dict[str, float]:
    """Call ``evaluate(model)`` in eval mode without gradients, then go back to train mode."""
    was_training = model.training
    model.eval()
    try:
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
        ):
            return {name: float(value) for name, value in evaluate(model).items()}
    finally:
        model.train(was_training)


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
        batches: global batches (dicts of tensors): a :class:`~bertedu.train.batches.ResumableBatches`,
            a function ``epoch -> batches``, or a re-iterable such as a list or DataLoader.
            Epochs repeat until ``total_steps`` updates are done.
        config: the loop's hyper-parameters (:class:`~bertedu.train.config.TrainConfig`).
        evaluate: ``evaluate(model) -> {"metric": value}``, run every ``config.eval_every``
            updates and at the end, in eval mode without gradients.
        checkpoint_dir: where checkpoints (``step-NNNNNNNN/``) and ``metrics.jsonl`` go.
        resume: continue from the newest checkpoint in ``checkpoint_dir`` (a fresh start if none).
        generators: named ``torch.Generator`` objects the data draws from (masking,
            shuffling); their states are checkpointed and restored.
        metrics_path: the JSON-lines log (default ``checkpoint_dir/metrics.jsonl``; none without either).
        extra: JSON stored in every checkpoint (e.g. the data recipe).
        stop_at_step: stop after this many updates (a time-boxed session); the schedule
            still runs to ``total_steps``, and ``resume=True`` continues.
    """
    info = distributed.current()
    device = resolve_device(config)
    base = unwrap_model(model).to(device)
    optimizer = build_optimizer(
        base,
        config.lr,
        config.weight_decay,
        config.betas,
        config.eps,
        config.optimizer_implementation,
    )
    scheduler = warmup_linear_schedule(optimizer, config.warmup_steps, config.total_steps)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if metrics_path is None and checkpoint_dir is not None:
        metrics_path = checkpoint_dir / "metrics.jsonl"

    start_step, position, elapsed_before, last_checkpoint = 0, DataPosition(), 0.0, None
    if resume:
        if checkpoint_dir is None:
            raise ValueError(
                "resume=True needs checkpoint_dir: the folder the interrupted run wrote to."
            )
        found = latest_checkpoint(checkpoint_dir)
        if found is None:
            if info.is_main:
                print(f"No checkpoint in {checkpoint_dir} yet: starting from step 0.")
        else:
            state = load_checkpoint(
                found, model=base, optimizer=optimizer, scheduler=scheduler, generators=generators
            )
            start_step, last_checkpoint = state.step, found
            position = DataPosition(**state.data_position)
            elapsed_before = float(state.extra.get("elapsed_s", 0.0))
            if info.is_main:
                print(
                    f"Resumed from {found} (update {start_step} of {config.total_steps}, epoch {position.epoch}, "
                    f"batch {position.batch})."
                )
    stop = min(config.total_steps, stop_at_step if stop_at_step is not None else config.total_steps)
    log = (
        MetricsLog(metrics_path, resume_from_step=start_step if resume else None)
        if metrics_path is not None and info.is_main
        else None
    )
    result = TrainResult(
        step=start_step,
        checkpoint=last_checkpoint,
        metrics_path=Path(metrics_path) if metrics_path is not None else None,
        elapsed_s=elapsed_before,
    )
    if start_step >= stop:
        return result

    runner: nn.Module = base
    if info.world_size > 1:
        runner = nn.parallel.DistributedDataParallel(
            base, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        runner = torch.compile(runner)
    dtype = autocast_dtype(config, device)
    stream = BatchStream(batches, position)
    params = [p for p in base.parameters() if p.requires_grad]
    window: dict[str, list[float]] = defaultdict(list)
    recent = deque(maxlen=50)
    tokens, tokens_at_log = 0, 0
    started = time.perf_counter()
    time_at_log = started
    extra = {"train_config": config.to_dict(), **(extra or {})}

    runner.train()
    bar = tqdm(
        total=stop,
        initial=start_step,
        desc="train",
        disable=not (config.progress and info.is_main),
        dynamic_ncols=True,
    )
    try:
        for step in range(start_step, stop):
            totals: dict[str, float] = defaultdict(float)
            for micro in range(config.grad_accumulation):
                batch = next(stream)
                if info.world_size > 1:
                    batch = distributed.shard(batch, info.rank, info.world_size)
                tokens += count_tokens(batch)
                batch = to_device(batch, device)
                last_micro = micro == config.grad_accumulation - 1
                # DDP all-reduces gradients in backward; only the last micro-batch needs it.
                sync = (
                    contextlib.nullcontext()
                    if last_micro or info.world_size == 1
                    else runner.no_sync()
                )
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
            if config.max_grad_norm is not None:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
                totals["grad_norm"] = grad_norm
                check_finite({"gradient norm": grad_norm}, step, last_checkpoint)
            totals["lr"] = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(
                set_to_none=True
            )  # frees the gradients instead of writing zeros into them
            done = step + 1
            result.step = done
            result.losses[done] = totals["loss"]
            recent.append(totals["loss"])
            for name, value in totals.items():
                window[name].append(value)
            bar.update(1)
            bar.set_postfix(
                loss=f"{sum(recent) / len(recent):.3f}", lr=f"{totals['lr']:.2e}", refresh=False
            )

            if log is not None and (done % config.log_every == 0 or done == stop):
                now = time.perf_counter()
                record = {"split": "train", "step": done, "epoch": stream.position.epoch}
                record |= {name: sum(values) / len(values) for name, values in window.items()}
                record["tokens_per_s"] = (
                    (tokens - tokens_at_log) * info.world_size / max(now - time_at_log, 1e-9)
                )
                record["elapsed_s"] = elapsed_before + now - started
                log.write(record)
                window.clear()
                tokens_at_log, time_at_log = tokens, now
            if evaluate is not None and (
                (config.eval_every and done % config.eval_every == 0) or done == stop
            ):
                if info.is_main:
                    result.eval_metrics = run_evaluation(base, evaluate, dtype, device)
                    if log is not None:
                        log.write({"split": "eval", "step": done, **result.eval_metrics})
                    bar.write(
                        f"update {done}: "
                        + ", ".join(f"{k} {v:.4g}" for k, v in result.eval_metrics.items())
                    )
                distributed.barrier()
            if checkpoint_dir is not None and (
                (config.checkpoint_every and done % config.checkpoint_every == 0) or done == stop
            ):
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
                        extra=extra | {"elapsed_s": elapsed_before + time.perf_counter() - started},
                    )
                    result.checkpoint = last_checkpoint
                distributed.barrier()
    finally:
        bar.close()
    result.elapsed_s = elapsed_before + time.perf_counter() - started
    return result
