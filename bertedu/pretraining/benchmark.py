"""Time a full pretraining step of our BERT and of transformers' BERT, side by side in one run.

A "step" is what training does per batch: forward (MLM + NSP losses),
backward, AdamW update, gradients cleared. Both models get the same shape and
the same batch (BERT-Tiny, 32 x 128, 15% of tokens masked and at most 20
predictions per sequence) and are timed *interleaved* (ours, theirs, ours,
theirs, ...) after a warm-up, so a background process slows both alike; the
median of the repeats is reported. The machine's dense-matmul peak is measured
in the same run and gives the model-FLOPs utilisation (MFU).

On a GPU (``device="cuda"``) the same comparison runs in fp32 or in bf16 autocast
(``precision``); every step ends with the loss read back to the host, so the
clock sees the GPU's work, and MFU is measured against the dense *bf16* matmul
peak of the same run for both precisions (the fp32 peak is reported too).

FLOPs are counted for matrix products only (2 per multiply-add; the rest is
small): per token and layer ``24 H^2 + 4 H L`` forward (Q, K, V, output and
the two FFN projections with I = 4H, plus the attention scores and the
weighted sum), times 3 for forward + backward. *Model* FLOPs count the MLM
decoder (``2 H V``, also x3) only on the masked positions, the work the task
needs; an implementation that scores every position does ~7 times more
decoder work than that, which shows up as a lower MFU for the same model.

Our step can run in several *variants* (``variants``; each is timed in the same
interleaved loop, so before and after are measured together): ``plain`` (the loop's
defaults), ``no-mask`` (a batch without padding goes in without its all-ones
``attention_mask``, so attention gets no mask tensor and a GPU can pick its flash
kernel), ``compiled`` (that, and ``torch.compile`` of the whole model) and
``cuda-graphs`` (compiled in ``reduce-overhead`` mode: the step's kernels replayed as
CUDA graphs, which a small launch-bound model needs). AdamW is the fused one wherever
torch has it (:func:`bertedu.train.optim.implementation_for`).

:func:`operator_shares` says where a step's time goes: each operator's share of its
self CPU time under ``torch.profiler`` (chapter 5 shows it for this step).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from bertedu.constants import CLS_ID, IGNORE_INDEX, MASK_ID, SEP_ID
from bertedu.data.masking import mask_tokens
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.train.loop import without_full_attention_mask
from bertedu.train.optim import build_optimizer, implementation_for

#: Benchmark precisions: the autocast dtype of the forward pass (None: plain fp32).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class StepBenchmark:
    """Timings of one implementation (seconds per step, medians over repeats)."""

    name: str
    seconds_per_step: float
    tokens_per_s: float
    model_tflops_per_step: float
    mfu: float  # model FLOPs / s divided by the measured dense-matmul peak
    warmup_s: float = 0.0  # the untimed first steps (torch.compile compiles in them)


@dataclass(frozen=True)
class StepVariant:
    """One way to run our step: all compute the same step, up to float rounding."""

    name: str  # its row in the results
    drop_full_mask: bool = False  # an all-ones attention_mask is left out (no mask tensor)
    compile: str | None = None  # torch.compile's mode; None: eager


#: The variants ``compare_pretraining_steps(variants=...)`` knows, by the name the command uses.
VARIANTS: dict[str, StepVariant] = {
    "plain": StepVariant("bertedu"),
    "no-mask": StepVariant("bertedu, no mask", drop_full_mask=True),
    "compiled": StepVariant("bertedu, compiled", drop_full_mask=True, compile="default"),
    "cuda-graphs": StepVariant(
        "bertedu, CUDA graphs", drop_full_mask=True, compile="reduce-overhead"
    ),
}


def measure_matmul_peak(
    size: int = 1024,
    repeats: int = 10,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> float:
    """The best FLOP/s of a ``size x size`` matrix product on this machine (what "100% MFU"
    means), in ``dtype`` on ``device`` (on a GPU each product is timed between synchronisations)."""
    device = torch.device(device)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def model_flops_per_step(config: BertConfig, batch: int, seq: int, predictions: int) -> float:
    """Forward + backward matmul FLOPs of one BERT pretraining step with sparse MLM prediction."""
    h, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    per_token_layer = 2 * (4 * h * h + 2 * h * i) + 2 * 2 * seq * h  # projections + QK^T and AV
    encoder = batch * seq * config.num_hidden_layers * per_token_layer
    heads = predictions * 2 * (h * h + h * v) + batch * 2 * (
        h * h + 2 * h
    )  # MLM transform + decoder; pooler + NSP
    return 3.0 * (encoder + heads)


def pretraining_batch(
    config: BertConfig, batch: int, seq: int, *, max_predictions: int = 20, seed: int = 0
) -> dict[str, torch.Tensor]:
    """A realistic batch: ``[CLS] A [SEP] B [SEP]`` pairs of random WordPieces, masked as BERT masks
    (15%, cap 20)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, config.vocab_size, (batch, seq), generator=generator)
    split = seq // 2
    ids[:, 0], ids[:, split], ids[:, -1] = CLS_ID, SEP_ID, SEP_ID
    special = torch.zeros(batch, seq, dtype=torch.bool)
    special[:, [0, split, seq - 1]] = True
    masked, labels = mask_tokens(
        ids,
        special,
        vocab_size=config.vocab_size,
        mask_token_id=MASK_ID,
        max_predictions=max_predictions,
        generator=generator,
        random_token_ids=torch.arange(1000, config.vocab_size),
    )
    token_type_ids = torch.zeros_like(ids)
    token_type_ids[:, split + 1 :] = 1
    return {
        "input_ids": masked,
        "token_type_ids": token_type_ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "next_sentence_label": torch.randint(0, 2, (batch,), generator=generator),
    }


def make_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    *,
    autocast_dtype: torch.dtype | None = None,
    compile_mode: str | None = None,
) -> Callable[[], float]:
    """A closure running one full training step; returns the loss (read back to the host, so a
    GPU step has finished when it returns). ``autocast_dtype``: forward in that autocast;
    ``compile_mode``: the forward (and so its backward) compiled by ``torch.compile`` in that
    mode (the optimizer step stays eager: fused AdamW is already a few launches)."""
    model.train()
    device_type = next(model.parameters()).device.type
    runner = torch.compile(model, mode=compile_mode) if compile_mode else model

    def step() -> float:
        with torch.autocast(
            device_type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
        ):
            loss = runner(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def variant_step(
    variant: StepVariant,
    config: BertConfig,
    data: dict[str, torch.Tensor],
    *,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
    max_predictions: int,
) -> Callable[[], float]:
    """Our model, built afresh (the same initial weights for every variant), its AdamW and
    the step of ``variant``. A compiled variant's model knows ``max_predictions``, so its
    masked positions are gathered at a fixed size and the model traces as one graph."""
    torch.manual_seed(0)
    compiled = variant.compile is not None
    model = BertForPreTraining(config, max_predictions=max_predictions if compiled else None)
    model = model.to(device)
    batch = without_full_attention_mask(data) if variant.drop_full_mask else data
    return make_step(
        model,
        build_optimizer(model, lr=1e-4),
        dict(batch),
        autocast_dtype=autocast_dtype,
        compile_mode=variant.compile,
    )


@contextlib.contextmanager
def _silenced_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration: torch's profiler prints a line on
    every start and stop from C++, which no Python setting reaches (a notebook would show it)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def operator_shares(step: Callable[[], Any], steps: int = 3) -> dict[str, float]:
    """Each operator's share of the self CPU time of ``steps`` calls of ``step``, largest first.

    Self time counts an operator's own work, not the operators it calls, so the shares add up
    to 1 and say where the time goes (``aten::mm`` for matrix products, ``aten::bernoulli_``
    for dropout masks, ...). Call ``step`` once before, as a warm-up.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    with _silenced_stderr(), profile(activities=[ProfilerActivity.CPU]) as recorded:
        for _ in range(steps):
            step()
    times = {e.key: e.self_cpu_time_total for e in recorded.key_averages()}
    total = sum(times.values())
    return {k: v / total for k, v in sorted(times.items(), key=lambda kv: -kv[1]) if v > 0}


def hf_pretraining_model(config: BertConfig, attn_implementation: str = "sdpa") -> nn.Module:
    """transformers' ``BertForPreTraining`` with the same sizes (its dense MLM head scores every
    position)."""
    import transformers

    hf_config = transformers.BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        hidden_dropout_prob=config.hidden_dropout_prob,
        attention_probs_dropout_prob=config.attention_probs_dropout_prob,
        max_position_embeddings=config.max_position_embeddings,
        attn_implementation=attn_implementation,
    )
    return transformers.BertForPreTraining(hf_config)


def compare_pretraining_steps(
    *,
    batch: int = 32,
    seq: int = 128,
    repeats: int = 10,
    warmup: int = 3,
    steps_per_repeat: int = 2,
    config: BertConfig | None = None,
    include_eager: bool = False,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    peak_size: int | None = None,
    variants: Sequence[str] = ("plain",),
) -> dict[str, Any]:
    """Time ours and transformers' full pretraining step, interleaved; return a results dict.

    Ours uses :func:`bertedu.train.optim.build_optimizer` (fused AdamW, the
    loop's default); transformers' model gets ``torch.optim.AdamW`` with its
    defaults (foreach), what a plain training script uses. ``precision`` is
    ``"fp32"`` or ``"bf16"`` (autocast, the gpu recipe's setting); on a GPU the
    MFU is taken against the measured bf16 matmul peak for both. ``variants``
    (names in :data:`VARIANTS`) are the ways our step is timed, each its own row;
    ``speedup`` is the first one's over transformers, ``speedups`` every one's.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"variants must be some of {sorted(VARIANTS)}, got {list(variants)}")
    device = torch.device(device)
    on_gpu = device.type == "cuda"
    config = config or BertConfig.tiny()
    max_predictions = 20
    data = pretraining_batch(config, batch, seq, max_predictions=max_predictions)
    data = {k: v.to(device) for k, v in data.items()}
    predictions = int((data["labels"] != IGNORE_INDEX).sum())
    autocast_dtype = PRECISIONS[precision]
    ours = [VARIANTS[name] for name in dict.fromkeys(variants)]
    contenders = {
        variant.name: variant_step(
            variant,
            config,
            data,
            device=device,
            autocast_dtype=autocast_dtype,
            max_predictions=max_predictions,
        )
        for variant in ours
    }
    for attn in ("sdpa", "eager") if include_eager else ("sdpa",):
        theirs = hf_pretraining_model(config, attn).to(device)
        contenders[f"transformers ({attn})"] = make_step(
            theirs,
            torch.optim.AdamW(theirs.parameters(), lr=1e-4),
            data,
            autocast_dtype=autocast_dtype,
        )
    peak_dtype = torch.bfloat16 if on_gpu else torch.float32

    def matmul_peak(dtype: torch.dtype = peak_dtype) -> float:
        size = peak_size or (8192 if on_gpu else 1024)
        return measure_matmul_peak(size, device=device, dtype=dtype)

    if on_gpu:
        torch.cuda.reset_peak_memory_stats(device)
    peaks = [matmul_peak()]
    warmup_s = {}
    for name, step in contenders.items():
        start = time.perf_counter()
        for _ in range(warmup):
            step()
        warmup_s[name] = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, step in contenders.items():
            start = time.perf_counter()
            for _ in range(steps_per_repeat):
                step()
            times[name].append((time.perf_counter() - start) / steps_per_repeat)
    peaks.append(matmul_peak())
    peak = max(peaks)
    fp32_peak = max(matmul_peak(torch.float32) for _ in range(2)) if on_gpu else peak
    flops = model_flops_per_step(config, batch, seq, predictions)
    results = {}
    for name, seconds in times.items():
        median = statistics.median(seconds)
        results[name] = StepBenchmark(
            name, median, batch * seq / median, flops / 1e12, flops / median / peak, warmup_s[name]
        )
    reference = results["transformers (sdpa)"]
    speedups = {v.name: results[v.name].tokens_per_s / reference.tokens_per_s for v in ours}
    return {
        "model": {
            "layers": config.num_hidden_layers,
            "hidden": config.hidden_size,
            "heads": config.num_attention_heads,
            "intermediate": config.intermediate_size,
            "vocab": config.vocab_size,
        },
        "batch": batch,
        "seq": seq,
        "predictions_per_step": predictions,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "precision": precision,
        "variants": [v.name for v in ours],
        "optimizer": implementation_for(device.type),
        "matmul_peak_dtype": str(peak_dtype).removeprefix("torch."),
        "matmul_peak_gflops": peak / 1e9,  # MFU is taken against this one
        "fp32_matmul_peak_gflops": fp32_peak / 1e9,
        # every model of the run at once, on the GPU (None on the CPU)
        "peak_memory_mib": torch.cuda.max_memory_allocated(device) / 2**20 if on_gpu else None,
        "results": results,
        "speedup": speedups[ours[0].name],
        "speedups": speedups,
    }


def format_comparison(comparison: dict[str, Any]) -> str:
    """The comparison as a small text table."""
    shape = comparison.get("model", {"layers": 2, "hidden": 128})
    where = comparison.get("device", "cpu")
    where = f"{comparison['threads']} threads" if where == "cpu" else where
    lines = [
        f"BERT pretraining step ({shape['layers']} layers, hidden {shape['hidden']}; forward + "
        f"backward + AdamW, {comparison.get('precision', 'fp32')}), batch {comparison['batch']} x "
        f"{comparison['seq']}, {comparison['predictions_per_step']} masked predictions, "
        f"{where}, median of {comparison['repeats']} interleaved repeats",
        f"dense {comparison.get('matmul_peak_dtype', 'float32')} matmul peak measured in this "
        f"run: {comparison['matmul_peak_gflops']:.0f} GFLOP/s",
        f"{'implementation':<24}{'ms/step':>10}{'tokens/s':>12}{'MFU':>8}",
    ]
    for result in comparison["results"].values():
        lines.append(
            f"{result.name:<24}{result.seconds_per_step * 1e3:>10.1f}{result.tokens_per_s:>12,.0f}"
            f"{result.mfu:>8.1%}"
        )
    for name, speedup in comparison["speedups"].items():
        lines.append(f"speed-up of {name} over transformers (sdpa): {speedup:.2f}x")
    return "\n".join(lines)
