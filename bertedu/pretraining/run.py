"""One pretraining run end to end: what ``python -m bertedu pretrain`` calls.

:func:`pretrain` prepares the data (or reuses prepared data), builds the model,
applies the recipe's initialisation tricks, writes ``run.json`` (recipe, seed,
data statistics, source commit) and hands everything to the generic loop
:func:`bertedu.train.train`, with the held-out metrics as its evaluation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from bertedu.data.corpus_digest import corpus_digest, is_corpus_path
from bertedu.data.document_cache import cached_corpus
from bertedu.model import BertForPreTraining
from bertedu.pretraining.baselines import unigram_log_probabilities
from bertedu.pretraining.data import PretrainingData, masking_seed, prepare_data
from bertedu.pretraining.evaluation import evaluate_pretraining
from bertedu.pretraining.initialization import init_for_pretraining
from bertedu.pretraining.recipes import PretrainRecipe
from bertedu.seeding import seed_everything
from bertedu.tokenization import load_tokenizer
from bertedu.train import TrainResult, distributed, train
from bertedu.train.loop import EvaluationHook
from bertedu.train.output_path import check_output_path
from bertedu.train.resume import checkpoint_to_resume
from bertedu.train.run_folder import MARKER, output_folder

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


class CorpusError(ValueError):
    """The corpus cannot be read or made into pretraining data (missing, empty, binary, a
    single document); the message names it and says what to give instead."""


@dataclass
class PretrainRun:
    """What :func:`pretrain` returns."""

    model: BertForPreTraining
    result: TrainResult
    data: PretrainingData
    output_dir: Path


def data_fingerprint(data: PretrainingData) -> str:
    """SHA-256 of the training instances (every token id and NSP label, in order).

    The recipe and seed name the data only as long as the corpus files do not
    change; the fingerprint is of the data itself, so resuming on another
    corpus (or an edited one) is caught.
    """
    digest = hashlib.sha256()
    for instance_set in [*data.train.short_sets, *data.train.instance_sets]:
        ids = array("q")
        for instance in instance_set:
            ids.extend((len(instance.tokens_a), len(instance.tokens_b), instance.is_random_next))
            ids.extend(instance.tokens_a)
            ids.extend(instance.tokens_b)
        digest.update(ids.tobytes())
    return digest.hexdigest()


def run_identity(recipe: PretrainRecipe, seed: int) -> dict:
    """What a checkpoint records of the run and a resumption must match, before the data is
    prepared: the recipe, the seed and the corpus's content.

    A local corpus is compared by ``corpus_digest`` (its bytes), not by how ``--corpus``
    spells its path: the same file named from another working folder, or moved, resumes;
    an edited one is refused before its data is prepared. The recipe in ``run.json`` keeps
    the path as given.
    """
    recipe_fields = recipe.to_dict()
    if not is_corpus_path(recipe.corpus):
        return {"recipe": recipe_fields, "seed": seed, "corpus_digest": None}
    del recipe_fields["corpus"]
    digest = corpus_digest(recipe.corpus)
    # A corpus gone missing is not compared here: preparing its data says it does not exist.
    return {"recipe": recipe_fields, "seed": seed} | ({"corpus_digest": digest} if digest else {})


def write_run_info(
    output_dir: Path,
    recipe: PretrainRecipe,
    *,
    seed: int,
    world_size: int,
    data: PretrainingData,
    fingerprint: str,
    resume: bool = False,
) -> None:
    """``run.json``: what the run was made of and where (the model card reads it).

    A resumption keeps the original ``started``, adds its own time to ``resumed`` and its own
    source commit to ``segments`` (one ``{"started", "commit"}`` per segment, the first
    included), so the commit each part of a run was trained with is never overwritten;
    ``commit`` is the latest segment's.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "run.json"
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    earlier = _read_run_info(path) if resume else {}
    segment = {"started": now, "commit": source_commit()}
    segments = earlier.get("segments")
    if not isinstance(segments, list):  # a run.json written before segments were recorded
        first = {"started": earlier.get("started"), "commit": earlier.get("commit")}
        segments = [first] if earlier else []
    run_info = {
        "recipe": recipe.to_dict(),
        "seed": seed,
        "world_size": world_size,
        "data": data.stats,
        "data_fingerprint": fingerprint,
        "started": earlier.get("started", now),
        "commit": segment["commit"],
        "segments": [*segments, segment],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if resume:
        run_info["resumed"] = [*earlier.get("resumed", []), now]
    path.write_text(json.dumps(run_info, indent=1) + "\n", encoding="utf-8")


def _read_run_info(path: Path) -> dict:
    """An existing ``run.json`` (empty when missing or unreadable: it is rewritten anyway)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def batch_for_processes(
    recipe: PretrainRecipe, info: distributed.DistributedInfo
) -> PretrainRecipe:
    """The recipe with a batch every process can take an equal share of, checked before any data
    is read.

    On 3 GPUs the gpu recipe's 256 sequences become 3 x 85 = 255 (the remainder is
    dropped, and said so); a batch smaller than the number of processes is refused.
    """
    split = distributed.split_batch(recipe.batch_size, info.world_size)
    if info.world_size > 1 and info.is_main:
        print(f"Batch: {split.describe()}.")
    return recipe if split.used == recipe.batch_size else recipe.replace(batch_size=split.used)


def prepare_once(
    recipe: PretrainRecipe,
    tokenizer: PreTrainedTokenizerBase,
    *,
    seed: int,
    num_proc: int | None,
    output_dir: Path,
) -> PretrainingData:
    """The run's data, prepared by rank 0 into ``output_dir/cache`` and read from there by the
    other processes (one process: prepared and cached).

    The sentence-split corpus and the WordPieces are the expensive, cached steps;
    every process still builds the (cheap, seeded) NSP pairs itself, so all of them
    hold the same batches and each takes its rows of every batch.
    """
    cache_dir = output_dir / "cache"
    with distributed.main_process_first():
        documents = cached_corpus(
            recipe.corpus,
            limit=recipe.corpus_limit,
            num_proc=num_proc or os.cpu_count() or 1,
            cache_dir=cache_dir,
        )
        return prepare_data(recipe, tokenizer, seed=seed, cache_dir=cache_dir, documents=documents)


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
    overwrite: bool = False,
    extend_steps: bool = False,
    resume_from: str | Path | None = None,
    on_evaluation: EvaluationHook | None = None,
) -> PretrainRun:
    """Pretrain a BERT by ``recipe``; checkpoints, ``metrics.jsonl`` and ``run.json`` go to
    ``output_dir``.

    Under ``torchrun`` every process calls this; rank 0 prepares the data (the others read
    its caches) and writes. The batch is cut to a multiple of the number of processes
    before anything else (:func:`batch_for_processes`). ``data`` reuses prepared data (a
    notebook prepares it once for several runs). A fresh run into a folder with
    checkpoints is refused unless ``overwrite`` (the old run is moved aside); ``resume``
    refuses a checkpoint of another recipe, seed or data, and another ``total_steps``
    unless ``extend_steps``; ``resume_from`` picks a checkpoint folder instead of the newest.
    ``on_evaluation(step, model, metrics)`` is called after every held-out evaluation, the
    first at update 0 of a fresh run (chapter 5 redraws its curves with it).
    """
    info = distributed.init_distributed()
    output_dir = Path(output_dir)
    recipe = batch_for_processes(recipe, info)
    resume = resume or resume_from is not None
    check_output_path(output_dir)  # before the folder is looked at: a name too long fails there
    was_missing, had_cache = not output_dir.exists(), (output_dir / "cache").exists()
    # Rank 0 claims the folder (before the data is prepared: its cache lives there) and holds
    # it until the run ends: a second process writing there is refused.
    claim = (
        output_folder(output_dir, resume=resume, overwrite=overwrite, resume_from=resume_from)
        if info.is_main
        else contextlib.nullcontext()
    )
    with claim as aside:
        if aside is not None:
            print(f"--overwrite: the previous run in {output_dir} was moved to {aside}.")
        if resume and info.is_main:  # another recipe or seed, or an altered checkpoint: refused
            checkpoint_to_resume(  # before the data is prepared (its fingerprint: below)
                output_dir,
                config=recipe.train,
                extra=run_identity(recipe, seed),
                resume_from=resume_from,
                extend_steps=extend_steps,
            )
        return _pretrain_in_folder(
            recipe,
            output_dir,
            seed=seed,
            resume=resume,
            progress=progress,
            stop_at_step=stop_at_step,
            data=data,
            num_proc=num_proc,
            tokenizer=tokenizer,
            extend_steps=extend_steps,
            resume_from=resume_from,
            cleanup=(was_missing, had_cache),
            on_evaluation=on_evaluation,
        )


def _pretrain_in_folder(
    recipe: PretrainRecipe,
    output_dir: Path,
    *,
    seed: int,
    resume: bool,
    progress: bool,
    stop_at_step: int | None,
    data: PretrainingData | None,
    num_proc: int | None,
    tokenizer: PreTrainedTokenizerBase | None,
    extend_steps: bool,
    resume_from: str | Path | None,
    cleanup: tuple[bool, bool],
    on_evaluation: EvaluationHook | None = None,
) -> PretrainRun:
    """:func:`pretrain` once its folder is claimed: the data, the model, ``run.json``, the loop.

    ``cleanup``: whether the folder was missing and whether it held a cache before the
    claim (a corpus that cannot be used leaves neither a half-made cache nor a new folder).
    """
    info = distributed.current()
    was_missing, had_cache = cleanup
    distributed.barrier()
    tokenizer = tokenizer or load_tokenizer()
    if data is None:
        try:
            data = prepare_once(
                recipe, tokenizer, seed=seed, num_proc=num_proc, output_dir=output_dir
            )
        except (ValueError, FileNotFoundError, UnicodeError) as error:
            if info.is_main and not had_cache:  # leave no half-made cache behind
                shutil.rmtree(output_dir / "cache", ignore_errors=True)
            if info.is_main and was_missing:  # nor the folder this call made
                (output_dir / MARKER).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    output_dir.rmdir()  # only when empty
            raise CorpusError(f"--corpus {recipe.corpus}: {error}") from error
    seed_everything(seed)
    model = BertForPreTraining(
        recipe.model_config(len(tokenizer)),
        max_predictions=recipe.max_predictions,
        nsp_loss_weight=recipe.nsp_weight,
    )
    unigram = None
    if recipe.unigram_output_bias:
        unigram = unigram_log_probabilities(data.train.instance_sets[0], len(tokenizer))
    init_for_pretraining(
        model, unigram_log_probs=unigram, sinusoidal_position_std=recipe.sinusoidal_position_std
    )
    # torch.compile is worth it (and well supported) on a GPU only; the recipe's mode is kept.
    config = recipe.train.replace(
        compile=recipe.train.compile if torch.cuda.is_available() else False, progress=progress
    )
    identity = run_identity(recipe, seed) | {"data_fingerprint": data_fingerprint(data)}
    if resume:  # refuse another run's checkpoint before run.json is touched
        checkpoint_to_resume(
            output_dir,
            config=config,
            extra=identity,
            resume_from=resume_from,
            extend_steps=extend_steps,
        )
    if info.is_main:
        write_run_info(
            output_dir,
            recipe,
            seed=seed,
            world_size=info.world_size,
            data=data,
            fingerprint=identity["data_fingerprint"],
            resume=resume,
        )
    held_out = data.held_out
    # The run's masks follow its seed, whatever was drawn from ``data`` before this call (a
    # resumed run then restores the checkpointed generator state over this).
    data.train.generator.manual_seed(masking_seed(seed))
    result = train(
        model,
        data.train,
        config=config,
        evaluate=lambda m: evaluate_pretraining(m, held_out, mask_token_id=tokenizer.mask_token_id),
        checkpoint_dir=output_dir,
        resume=resume,
        generators={"masking": data.train.generator},
        extra=identity,
        stop_at_step=stop_at_step,
        resume_from=resume_from,
        extend_steps=extend_steps,
        on_evaluation=on_evaluation,
        evaluate_first=on_evaluation is not None,
    )
    return PretrainRun(model, result, data, output_dir)
