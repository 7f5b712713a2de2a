"""The training loop: generic over models, exact on resume, loud on NaN.

:func:`train` trains any ``nn.Module`` whose ``forward(**batch)`` returns an
object (a dataclass, a transformers ``ModelOutput``, a dict) with a scalar
``loss``; other scalar fields named ``*_loss`` (BERT's ``mlm_loss`` and
``nsp_loss``) are logged too. One optimizer update is:

1. ``grad_accumulation`` times: forward one batch (in bf16 autocast on a GPU
   with native bf16, fp16 with loss scaling on an older one), check the loss
   is finite, backward ``loss / grad_accumulation`` (gradients add up, so the
   update is the one a batch ``grad_accumulation`` times larger would give);
2. clip the global gradient norm to ``max_grad_norm`` (unscaled first in fp16);
3. AdamW step, learning-rate schedule step, gradients set to ``None``.

Around it: a tqdm bar with the running loss, a JSON-lines metrics log,
evaluation every ``eval_every`` updates, and checkpoints every
``checkpoint_every`` updates from which ``resume=True`` continues exactly.
Under ``torchrun`` (see :mod:`bertedu.train.distributed`) every process takes
its rows of each global batch and DistributedDataParallel averages gradients;
the logged losses are averaged over the processes too. On a GPU the log also
records the peak memory and the tokens per second of all processes together.
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
from bertedu.train.batches import BatchStream
from bertedu.train.checkpoint import save_checkpoint
from bertedu.train.checkpoint_state import read_checkpoint_state
from bertedu.train.config import TrainConfig
from bertedu.train.interrupt import DeferredInterrupt
from bertedu.train.metrics_log import MetricsLog
from bertedu.train.optim import build_optimizer, warmup_linear_schedule
from bertedu.train.resume import ResumePoint, checkpoint_to_resume, resume_point, run_identity
from bertedu.train.run_folder import folder_run_id, hold_output_folder, new_run_id
from bertedu.train.weights_file import CheckpointMismatchError, unwrap_model

Evaluator = Callable[[nn.Module], Mapping[str, float]]


class NonFiniteLossError(FloatingPointError):
    """A loss or gradient norm became NaN or infinite; training stopped before the weights were
    spoiled. ``step`` (the update, from 1), ``term`` and ``value`` (the first non-finite one:
    ``"loss"``, ``nan``) and ``checkpoint`` (the last one written, or None) let a command say
    it in its own words."""

    def __init__(
        self, message: str, step: int, term: str, value: float, checkpoint: Path | None
    ) -> None:
        super().__init__(message)
        self.step, self.term, self.value, self.checkpoint = step, term, value, checkpoint


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
            f"gradients (max_grad_norm); {where}.",
            step + 1,
            *next(iter(bad.items())),
            checkpoint,
        )


def gpu_has_native_bf16(device: torch.device) -> bool:
    """True on a CUDA GPU with bf16 arithmetic in hardware (Ampere and later).

    ``torch.cuda.is_bf16_supported()`` also says True where bf16 is only
    emulated (T4, V100), which runs several times slower than fp16 there.
    """
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``torch.bfloat16``, ``torch.float16`` or ``None`` (plain fp32).

    bf16 keeps fp32's exponent range and needs no loss scaling; fp16 does
    (:func:`grad_scaler`), but it is what T4/V100-class GPUs compute fast.
    ``auto`` picks bf16 on a GPU with native bf16, fp16 on another GPU and
    fp32 on the CPU (where both are slower for a model this small). ``bf16``
    on a GPU without native bf16 becomes fp16, so the gpu recipe runs at speed
    on every card; on the CPU ``bf16`` and ``fp16`` are taken as asked.
    """
    if config.precision == "fp32":
        return None
    if device.type != "cuda":
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
    if config.precision == "fp16" or not gpu_has_native_bf16(device):
        return torch.float16
    return torch.bfloat16


def grad_scaler(dtype: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler, enabled for fp16 only: it multiplies the loss before ``backward`` so small
    fp16 gradients do not underflow to zero, and skips an update whose gradients overflowed."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def device_memory_stats(device: torch.device) -> dict[str, float]:
    """Peak GPU memory since the last call, in GiB (empty on the CPU), for the metrics log."""
    if device.type != "cuda":
        return {}
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    reserved = torch.cuda.max_memory_reserved(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return {"gpu_peak_allocated_gib": peak, "gpu_peak_reserved_gib": reserved}


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a batch to ``device`` (other values pass through)."""
    return {
        name: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
        for name, value in batch.items()
    }


def without_full_attention_mask(batch: Mapping[str, Any]) -> Mapping[str, Any]:
    """``batch`` without its ``attention_mask`` when that mask has no padding (all ones).

    A model called without a mask attends everywhere, which is what an all-ones mask
    says; but it then gives ``F.scaled_dot_product_attention`` no mask tensor, so on a GPU
    the flash kernel can run (a mask, even of zeros, rules it out). Checked on the host
    batch, before it moves to the GPU, so no synchronisation is added.
    """
    mask = batch.get("attention_mask")
    if isinstance(mask, torch.Tensor) and bool(mask.all()):
        return {name: value for name, value in batch.items() if name != "attention_mask"}
    return batch


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


#: ``on_evaluation(step, model, metrics)``: called after each held-out evaluation (a notebook
#: redraws its curves with it).
EvaluationHook = Callable[[int, nn.Module, Mapping[str, float]], None]


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


def training_runner(
    base: nn.Module, config: TrainConfig, info: distributed.DistributedInfo, device: torch.device
) -> nn.Module:
    """The module the loop calls: ``base``, wrapped in DDP under torchrun, compiled if asked
    (in ``config.compile_mode``: ``reduce-overhead`` replays it as CUDA graphs)."""
    runner: nn.Module = base
    if info.world_size > 1:
        runner = nn.parallel.DistributedDataParallel(
            base, device_ids=[device.index] if device.type == "cuda" else None
        )
    mode = config.compile_mode
    return torch.compile(runner, mode=mode) if mode else runner


def accumulate_gradients(
    runner: nn.Module,
    stream: BatchStream,
    *,
    config: TrainConfig,
    info: distributed.DistributedInfo,
    device: torch.device,
    dtype: torch.dtype | None,
    scaler: torch.amp.GradScaler,
    step: int,
    last_checkpoint: Path | None,
) -> tuple[dict[str, float], int]:
    """Forward and backward ``grad_accumulation`` batches: their mean loss terms and real tokens
    (this process's)."""
    totals: dict[str, float] = defaultdict(float)
    tokens = 0
    for micro in range(config.grad_accumulation):
        batch = next(stream)
        if info.world_size > 1:
            batch = distributed.shard(batch, info.rank, info.world_size)
        tokens += count_tokens(batch)
        if config.drop_full_attention_mask:
            batch = without_full_attention_mask(batch)
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
            scaler.scale(terms["loss"] / config.grad_accumulation).backward()
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
    scaler: torch.amp.GradScaler,
    step: int,
    last_checkpoint: Path | None,
) -> None:
    """Clip the gradient norm, take the AdamW step and the schedule step, free the gradients.

    The gradient norm (before clipping) and the learning rate used go into ``totals``.
    With fp16 loss scaling the gradients are unscaled first; an overflow (an
    infinite norm) is then expected now and then: the scaler skips that update
    and lowers its scale, so only a finite-loss run with a non-finite norm in
    bf16/fp32 is an error.
    """
    scaler.unscale_(optimizer)
    if config.max_grad_norm is not None:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        totals["grad_norm"] = grad_norm
        if not scaler.is_enabled():
            check_finite({"gradient norm": grad_norm}, step, last_checkpoint)
    totals["lr"] = scheduler.get_last_lr()[0]
    if scaler.is_enabled():
        totals["loss_scale"] = scaler.get_scale()
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)  # frees the gradients instead of writing zeros


class UpdateLog:
    """Between two metrics-log records: the updates' mean values, tokens/s and the progress bar."""

    def __init__(
        self,
        log: MetricsLog | None,
        bar: tqdm,
        *,
        device: torch.device,
        elapsed_before: float,
    ):
        self.log, self.bar, self.device = log, bar, device
        self.elapsed_before = elapsed_before
        # Since the last record: per logged value, its running sum and count. A checkpoint
        # stores them (window_state), so a run resumed inside a window logs the whole window.
        self.window: dict[str, list[float | int]] = {}
        self.recent: deque[float] = deque(maxlen=50)  # the bar's running loss
        self.tokens = self.tokens_at_log = 0
        self.started = self.time_at_log = time.perf_counter()

    def window_state(self) -> dict[str, list[float | int]]:
        """``{name: [running sum, count]}`` of the updates not yet logged (for a checkpoint)."""
        return {name: list(pair) for name, pair in self.window.items()}

    def restore(self, saved: Any, step: int, where: Path) -> None:
        """Continue the window a checkpoint stored (:meth:`window_state`); a value that cannot
        be one (a crafted checkpoint) is refused naming it."""
        if not isinstance(saved, Mapping):
            raise CheckpointMismatchError(
                f"{where}: extra.log_window is {saved!r}, not {{name: [sum, count]}}. The "
                "checkpoint was altered: use an earlier checkpoint (--checkpoint PATH)."
            )
        for name, pair in saved.items():
            fine = (
                isinstance(pair, list)
                and len(pair) == 2
                and isinstance(pair[0], float)
                and math.isfinite(pair[0])
                and isinstance(pair[1], int)
                and not isinstance(pair[1], bool)
                and 1 <= pair[1] <= step
            )
            if not fine:
                raise CheckpointMismatchError(
                    f"{where}: extra.log_window {name!r} is {pair!r}, not [sum, count] of at "
                    f"most {step} updates. The checkpoint was altered: use an earlier checkpoint "
                    "(--checkpoint PATH)."
                )
        self.window = {name: list(pair) for name, pair in saved.items()}

    def elapsed_s(self) -> float:
        """Wall time of the run so far, resumed segments included."""
        return self.elapsed_before + time.perf_counter() - self.started

    def add(self, done: int, totals: dict[str, float], tokens: int, *, epoch: int, due: bool):
        """Record update ``done``; write the window's means to the log when ``due``.

        ``totals`` and ``tokens`` are already the whole global batch's (averaged and summed over
        the processes).
        """
        self.tokens += tokens
        self.recent.append(totals["loss"])
        for name, value in totals.items():
            total, count = self.window.get(name, (0.0, 0))
            self.window[name] = [total + value, count + 1]
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
        record |= {name: total / count for name, (total, count) in self.window.items()}
        seconds = max(now - self.time_at_log, 1e-9)
        record["tokens_per_s"] = (self.tokens - self.tokens_at_log) / seconds
        record["elapsed_s"] = self.elapsed_before + now - self.started
        record |= device_memory_stats(self.device)
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
    overwrite: bool = False,
    resume_from: str | Path | None = None,
    extend_steps: bool = False,
    on_evaluation: EvaluationHook | None = None,
    evaluate_first: bool = False,
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
        resume: continue from the newest checkpoint in ``checkpoint_dir`` (a fresh start if
            none); it must have been written with the same ``extra`` and result-changing
            config (see :mod:`bertedu.train.resume`). Without it, a ``checkpoint_dir`` that
            holds checkpoints is refused.
        generators: named ``torch.Generator`` objects the data draws from (masking,
            shuffling); their states are checkpointed and restored.
        metrics_path: the JSON-lines log (default ``checkpoint_dir/metrics.jsonl``; none
            without either).
        extra: JSON stored in every checkpoint (e.g. the data recipe).
        stop_at_step: stop after this many updates (a time-boxed session); the schedule
            still runs to ``total_steps``, and ``resume=True`` continues.
        overwrite: start afresh in a ``checkpoint_dir`` that holds a run: the old run is
            moved aside to ``<checkpoint_dir>.old-<timestamp>``, not deleted.
        resume_from: with ``resume``, this checkpoint folder instead of the newest (e.g. when
            the newest is damaged).
        extend_steps: with ``resume``, allow ``config.total_steps`` to differ from the
            checkpoint's (the rest of the schedule changes).
        on_evaluation: called on the main process after every evaluation with the update,
            the model and the metrics (a live plot); it must not change the model.
        evaluate_first: evaluate once more before the first update of a fresh run (update 0,
            logged like the others), so a curve starts where the model started; with an
            ``evaluate`` that draws no random numbers (pretraining's) the updates are the same.
    """
    info = distributed.current()
    device = resolve_device(config.device or info.device)
    base = unwrap_model(model).to(device)
    optimizer, scheduler = optimizer_and_schedule(base, config)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if metrics_path is None and checkpoint_dir is not None:
        metrics_path = checkpoint_dir / "metrics.jsonl"
    metrics_path = Path(metrics_path) if metrics_path is not None else None
    claim = hold_output_folder(  # locked for this process until train returns
        checkpoint_dir if info.is_main else None,
        resume=resume,
        overwrite=overwrite,
        resume_from=resume_from if resume else None,
    )
    distributed.barrier()
    start = ResumePoint()
    if resume:
        found = checkpoint_to_resume(
            checkpoint_dir,
            config=config,
            extra=extra,
            resume_from=resume_from,
            extend_steps=extend_steps,
        )
        start = resume_point(
            found,
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
    scaler = grad_scaler(dtype, device)
    stream = BatchStream(batches, start.position)
    params = [p for p in base.parameters() if p.requires_grad]
    extra = run_identity(config, extra)
    run_id = start.run_id or (checkpoint_dir and folder_run_id(checkpoint_dir)) or new_run_id()
    last_checkpoint = start.checkpoint
    show = config.progress and info.is_main  # one bar, on rank 0
    runner.train()
    bar = tqdm(total=stop, initial=start.step, desc="train", disable=not show, dynamic_ncols=True)
    updates = UpdateLog(log, bar, device=device, elapsed_before=start.elapsed_s)
    if start.checkpoint is not None:
        saved = read_checkpoint_state(start.checkpoint).get("extra", {}).get("log_window", {})
        updates.restore(saved, start.step, start.checkpoint)

    def evaluate_at(done: int) -> None:  # on rank 0; the others wait
        if info.is_main:
            result.eval_metrics = run_evaluation(base, evaluate, dtype, device)
            report_evaluation(result.eval_metrics, done, log, bar)
            if on_evaluation is not None:
                on_evaluation(done, base, result.eval_metrics)
        distributed.barrier()

    interrupt = DeferredInterrupt().install()
    try:
        if evaluate is not None and evaluate_first and start.step == 0:
            evaluate_at(0)
        for step in range(start.step, stop):
            where = {"step": step, "last_checkpoint": last_checkpoint}
            totals, tokens = accumulate_gradients(
                runner,
                stream,
                config=config,
                info=info,
                device=device,
                dtype=dtype,
                scaler=scaler,
                **where,
            )
            # The log shows the whole global batch, not rank 0's rows only.
            totals = distributed.mean_across_processes(totals, device)
            tokens = distributed.sum_across_processes(tokens, device)
            apply_update(optimizer, scheduler, params, config, totals, scaler=scaler, **where)
            done = step + 1
            result.step = done
            result.losses[done] = totals["loss"]
            due = done % config.log_every == 0 or done == stop
            updates.add(done, totals, tokens, epoch=stream.position.epoch, due=due)
            if evaluate is not None and is_due(config.eval_every, done, stop):
                evaluate_at(done)
            stopping = interrupt.requested  # Ctrl-C: save this update, then stop
            if checkpoint_dir is not None and (
                is_due(config.checkpoint_every, done, stop) or stopping
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
                        run_id=run_id,
                        extra=extra
                        | {"elapsed_s": updates.elapsed_s(), "log_window": updates.window_state()},
                    )
                    result.checkpoint = last_checkpoint
                distributed.barrier()
            if stopping:
                raise KeyboardInterrupt
    finally:
        interrupt.restore()
        bar.close()
        claim.release()
    result.elapsed_s = updates.elapsed_s()
    return result
