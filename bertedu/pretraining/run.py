"""One pretraining run end to end: what ``python -m bertedu pretrain`` calls.

:func:`pretrain` prepares the data (or reuses prepared data), builds the model,
applies the recipe's initialisation tricks, writes ``run.json`` (recipe, seed,
data statistics, source commit) and hands everything to the generic loop
:func:`bertedu.train.train`, with the held-out metrics as its evaluation.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from bertedu.model import BertForPreTraining
from bertedu.pretraining.baselines import unigram_log_probabilities
from bertedu.pretraining.data import PretrainingData, prepare_data
from bertedu.pretraining.evaluation import evaluate_pretraining
from bertedu.pretraining.initialization import init_for_pretraining
from bertedu.pretraining.recipes import PretrainRecipe
from bertedu.seeding import seed_everything
from bertedu.tokenization import load_tokenizer
from bertedu.train import TrainResult, distributed, train

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    """The output of one git command run in the source tree."""
    return subprocess.run(
        ["git", *args], cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()


def source_commit() -> str | None:
    """The git commit of the source (``+dirty`` with uncommitted changes); None outside git."""
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--", "bertedu")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


@dataclass
class PretrainRun:
    """What :func:`pretrain` returns."""

    model: BertForPreTraining
    result: TrainResult
    data: PretrainingData
    output_dir: Path


def write_run_info(
    output_dir: Path, recipe: PretrainRecipe, *, seed: int, world_size: int, data: PretrainingData
) -> None:
    """``run.json``: what the run was made of and where (the model card reads it)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    run_info = {
        "recipe": recipe.to_dict(),
        "seed": seed,
        "world_size": world_size,
        "data": data.stats,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": source_commit(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    (output_dir / "run.json").write_text(json.dumps(run_info, indent=1) + "\n", encoding="utf-8")


def pretrain(
    recipe: PretrainRecipe,
    *,
    output_dir: str | Path,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    stop_at_step: int | None = None,
    data: PretrainingData | None = None,
    num_proc: int | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> PretrainRun:
    """Pretrain a BERT by ``recipe``; checkpoints, ``metrics.jsonl`` and ``run.json`` go to
    ``output_dir``.

    Under ``torchrun`` every process calls this; rank 0 writes. ``data`` reuses
    prepared data (a notebook prepares it once for several runs).
    """
    info = distributed.init_distributed()
    output_dir = Path(output_dir)
    tokenizer = tokenizer or load_tokenizer()
    if data is None:
        data = prepare_data(
            recipe,
            tokenizer,
            seed=seed,
            num_proc=num_proc or os.cpu_count() or 1,
            cache_dir=output_dir / "cache",
        )
    seed_everything(seed)
    model = BertForPreTraining(recipe.model_config(len(tokenizer)))
    unigram = None
    if recipe.unigram_output_bias:
        unigram = unigram_log_probabilities(data.train.instance_sets[0], len(tokenizer))
    init_for_pretraining(
        model, unigram_log_probs=unigram, sinusoidal_position_std=recipe.sinusoidal_position_std
    )
    # torch.compile is worth it (and well supported) on a GPU only.
    config = recipe.train.replace(
        compile=recipe.train.compile and torch.cuda.is_available(), progress=progress
    )
    if info.is_main:
        write_run_info(output_dir, recipe, seed=seed, world_size=info.world_size, data=data)
    held_out = data.held_out
    result = train(
        model,
        data.train,
        config=config,
        evaluate=lambda m: evaluate_pretraining(m, held_out, mask_token_id=tokenizer.mask_token_id),
        checkpoint_dir=output_dir,
        resume=resume,
        generators={"masking": data.train.generator},
        extra={"recipe": recipe.to_dict(), "seed": seed},
        stop_at_step=stop_at_step,
    )
    return PretrainRun(model, result, data, output_dir)
