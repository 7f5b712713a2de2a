"""BERT pretraining on top of the generic loop: data, held-out metrics, baselines and the whole run.

* :class:`PretrainingBatches` turns NSP instances into masked batches that can
  start any epoch at any batch (exact resume). Every epoch has its own order
  and, with several instance sets, its own sentence pairings; masks are drawn
  anew for every batch from one generator (dynamic masking).
* :func:`evaluate_pretraining` measures a model on held-out documents: MLM
  accuracy and perplexity over the masked positions, NSP accuracy.
* :func:`unigram_baseline` is the score of a model that ignores the context
  and always predicts the token distribution of the corpus: a BERT whose MLM
  loss sits at this value has learned word frequencies, nothing more.
* :func:`pretrain` runs a :class:`~bertedu.train.recipes.PretrainRecipe` end
  to end (what ``python -m bertedu pretrain`` calls).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.data.nsp import Instance, create_instances
from bertedu.data.pipeline import PretrainingCollator
from bertedu.model import IGNORE_INDEX, BertForPreTraining

Batch = dict[str, torch.Tensor]


class PretrainingBatches:
    """Masked ``BertForPreTraining`` batches over NSP instances, resumable at any batch.

    ``instance_sets`` is one or more lists of instances; epoch ``e`` reads set
    ``e % len(instance_sets)`` (several sets built with different seeds give
    new sentence pairings, not only new masks, as the epochs go by). The order
    of an epoch is a permutation seeded by ``(seed, epoch)``, so batch ``k`` of
    epoch ``e`` is found without reading batches ``0..k-1``; the masks come from
    ``collator.generator``, which the loop checkpoints (pass
    ``generators={"masking": batches.generator}``). The last incomplete batch of
    an epoch is dropped so every update sees the same number of sequences.
    """

    def __init__(
        self,
        instance_sets: Sequence[Sequence[Instance]],
        collator: PretrainingCollator,
        *,
        batch_size: int,
        seed: int,
        group_by_length: int = 0,
    ) -> None:
        if not instance_sets or any(len(s) < batch_size for s in instance_sets):
            raise ValueError(
                f"Every instance set needs at least batch_size={batch_size} instances; got sizes "
                f"{[len(s) for s in instance_sets]}. Use more documents or a smaller batch."
            )
        if group_by_length < 0:
            raise ValueError(
                f"group_by_length must be 0 (off) or a number of batches, got {group_by_length}"
            )
        self.instance_sets = instance_sets
        self.collator = collator
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self._lengths = [
            torch.tensor([len(i.tokens_a) + len(i.tokens_b) for i in s]) for s in instance_sets
        ]

    @property
    def generator(self) -> torch.Generator:
        """The masking generator (checkpoint it with the run)."""
        return self.collator.generator

    def batches_in_epoch(self, epoch: int) -> int:
        return len(self.instance_sets[epoch % len(self.instance_sets)]) // self.batch_size

    def epoch_order(self, epoch: int) -> list[list[int]]:
        """The instance indices of every batch of ``epoch``: a function of ``(seed, epoch)`` only.

        With ``group_by_length = k``, each run of ``k`` batches of the shuffled
        order is sorted by length before it is cut into batches (whose order
        is then shuffled again): batches of similar lengths waste less compute
        on padding (a quarter of it for Wikipedia leads), and every instance is
        still seen once per epoch in a random context.
        """
        which = epoch % len(self.instance_sets)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.instance_sets[which]), generator=generator)
        count = self.batches_in_epoch(epoch)
        batches = list(order[: count * self.batch_size].view(count, self.batch_size))
        if self.group_by_length:
            lengths = self._lengths[which]
            grouped = []
            for first in range(0, count, self.group_by_length):
                chunk = torch.cat(batches[first : first + self.group_by_length])
                chunk = chunk[lengths[chunk].argsort(stable=True)]
                pieces = list(chunk.view(-1, self.batch_size))
                grouped += [
                    pieces[i] for i in torch.randperm(len(pieces), generator=generator).tolist()
                ]
            batches = grouped
        return [batch.tolist() for batch in batches]

    def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        instances = self.instance_sets[epoch % len(self.instance_sets)]
        for rows in self.epoch_order(epoch)[start:]:
            yield self.collator([instances[row] for row in rows])


def fixed_batches(
    instances: Sequence[Instance], collator: PretrainingCollator, *, batch_size: int, seed: int
) -> list[Batch]:
    """Held-out batches masked once with ``seed``: every evaluation scores the very same predictions."""
    masking = dataclasses.replace(collator, generator=torch.Generator().manual_seed(seed))
    return [
        masking(list(instances[start : start + batch_size]))
        for start in range(0, len(instances), batch_size)
    ]


@torch.no_grad()  # also keeps the MLM logits: training fuses them away (bertedu.model.fused_loss)
def evaluate_pretraining(
    model: nn.Module, batches: Iterable[Batch], device: torch.device | str | None = None
) -> dict[str, float]:
    """Held-out MLM and NSP metrics of a ``BertForPreTraining``, pooled over all batches.

    * ``mlm_loss``: mean cross-entropy over every masked position (token-weighted,
      so a batch with more predictions counts more); ``mlm_perplexity = exp(mlm_loss)``;
    * ``mlm_accuracy``: fraction of masked positions whose top prediction is the original token;
    * ``nsp_loss`` and ``nsp_accuracy`` over the sequence pairs (50% is chance).
    Runs without gradients; call it in eval mode (the training loop does).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    mlm_loss = mlm_correct = mlm_count = nsp_loss = nsp_correct = nsp_count = 0.0
    for batch in batches:
        batch = {name: value.to(device) for name, value in batch.items()}
        output = model(**batch)
        targets = output.mlm_labels
        mlm_loss += float(F.cross_entropy(output.mlm_logits.float(), targets, reduction="sum"))
        mlm_correct += int((output.mlm_logits.argmax(-1) == targets).sum())
        mlm_count += targets.numel()
        nsp = batch["next_sentence_label"]
        nsp_loss += float(F.cross_entropy(output.nsp_logits.float(), nsp, reduction="sum"))
        nsp_correct += int((output.nsp_logits.argmax(-1) == nsp).sum())
        nsp_count += nsp.numel()
    if not mlm_count or not nsp_count:
        raise ValueError(
            "No masked token or sequence pair in the evaluation batches; pass batches with labels."
        )
    mean_mlm = mlm_loss / mlm_count
    return {
        "mlm_loss": mean_mlm,
        "mlm_perplexity": math.exp(mean_mlm),
        "mlm_accuracy": mlm_correct / mlm_count,
        "nsp_loss": nsp_loss / nsp_count,
        "nsp_accuracy": nsp_correct / nsp_count,
    }


@torch.no_grad()
def mlm_predictions(
    model: nn.Module, batches: Iterable[Batch]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(targets, top1)``: the original token and the model's best guess at every masked position.

    The raw material for looking *where* a model is right (frequent function
    words, rare content words...). Runs without gradients; call it in eval mode.
    """
    device = next(model.parameters()).device
    targets, guesses = [], []
    for batch in batches:
        output = model(**{name: value.to(device) for name, value in batch.items()})
        targets.append(output.mlm_labels.cpu())
        guesses.append(output.mlm_logits.argmax(-1).cpu())
    return torch.cat(targets), torch.cat(guesses)


def unigram_baseline(
    train_instances: Sequence[Instance], held_out: Iterable[Batch], *, vocab_size: int = 30522
) -> dict[str, float]:
    """The held-out MLM loss and accuracy of predicting every masked token from corpus frequencies alone.

    The distribution is the add-one-smoothed frequency of each WordPiece in the
    training instances; accuracy is that of always guessing the most frequent
    one (for English text, "the"). A model stuck at this loss has not yet
    learned to read the context: the "unigram plateau".
    """
    counts = token_counts(train_instances)
    total = sum(counts.values())
    top = counts.most_common(1)[0][0]
    loss = correct = count = 0.0
    for batch in held_out:
        for token in batch["labels"][batch["labels"] != IGNORE_INDEX].tolist():
            loss -= math.log((counts.get(token, 0) + 1) / (total + vocab_size))
            correct += token == top
            count += 1
    return {
        "mlm_loss": loss / count,
        "mlm_perplexity": math.exp(loss / count),
        "mlm_accuracy": correct / count,
        "top_token_id": top,
    }


def token_counts(instances: Iterable[Instance]) -> Counter:
    """How often each WordPiece occurs in the instances (both segments)."""
    return Counter(
        token for instance in instances for token in (*instance.tokens_a, *instance.tokens_b)
    )


def unigram_log_probabilities(instances: Iterable[Instance], vocab_size: int) -> torch.Tensor:
    """Add-one-smoothed ``log p(token)`` over the vocabulary, from the instances' token counts."""
    counts = torch.ones(vocab_size, dtype=torch.float64)
    for token, count in token_counts(instances).items():
        counts[token] += count
    return (counts / counts.sum()).log().float()


def sinusoidal_positions(num_positions: int, hidden_size: int) -> torch.Tensor:
    """The Transformer's sinusoids (Vaswani et al. 2017): ``sin``/``cos`` of ``pos / 10000^(2i/d)``."""
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]
    frequency = torch.exp(
        -math.log(10000.0) * torch.arange(0, hidden_size, 2, dtype=torch.float64) / hidden_size
    )
    table = torch.zeros(num_positions, hidden_size, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table.float()


def init_for_pretraining(
    model: BertForPreTraining,
    *,
    unigram_log_probs: torch.Tensor | None = None,
    sinusoidal_position_std: float | None = None,
) -> None:
    """Optional starting points that skip the first, uninteresting phase of pretraining.

    * ``unigram_log_probs``: the MLM output bias starts at the corpus's log
      frequencies, so the untrained model already predicts the unigram
      distribution (loss at the "plateau" instead of ``ln V``) and its first
      updates go to reading the context rather than to counting words;
    * ``sinusoidal_position_std``: the learned position embeddings start as
      sinusoids scaled to this standard deviation. Nearby positions then have
      similar vectors and an offset is a rotation, so an attention head can
      find "the previous token" quickly; the table stays fully trainable.
    Neither changes the architecture: the model is still a plain BERT.
    """
    with torch.no_grad():
        if unigram_log_probs is not None:
            bias = model.cls.predictions.bias
            bias.copy_(unigram_log_probs.to(bias) - unigram_log_probs.mean().to(bias))
        if sinusoidal_position_std is not None:
            table = model.bert.embeddings.position_embeddings.weight
            sinusoids = sinusoidal_positions(*table.shape)
            table.copy_(sinusoids / sinusoids.std() * sinusoidal_position_std)


def build_instance_sets(
    token_documents: Sequence[Sequence[Sequence[int]]],
    *,
    max_seq_length: int,
    short_seq_prob: float,
    seed: int,
    count: int,
) -> list[list[Instance]]:
    """``count`` independent NSP instance sets (different pairings and chunk boundaries), seeds ``seed..seed+count-1``."""
    return [
        create_instances(
            token_documents,
            max_seq_length=max_seq_length,
            short_seq_prob=short_seq_prob,
            rng=random.Random(seed + index),
        )
        for index in range(count)
    ]


HELD_OUT_SEED = 0  # the held-out documents do not depend on the training seed, so runs compare
EVAL_MASK_SEED = 1234  # nor do the held-out masks


@dataclass
class PretrainingData:
    """Training batches, fixed held-out batches and what they were made of."""

    train: PretrainingBatches
    held_out: list[Batch]
    stats: dict[str, Any]
    held_out_documents: list = dataclasses.field(
        default_factory=list
    )  # the held-out text, for examples


def load_corpus(name: str, *, limit: int | None = None, num_proc: int = 1) -> list:
    """Documents of ``embedded``, ``wikitext-2``, ``wikitext-103`` or a path to ``.txt`` files."""
    from bertedu.data.corpus import load_embedded_wikipedia, load_text_documents

    if name == "embedded":
        return load_embedded_wikipedia(limit, num_proc=num_proc)
    if name in ("wikitext-2", "wikitext-103"):
        from bertedu.data.wikitext import load_wikitext

        return load_wikitext(f"{name}-raw-v1", limit=limit, num_proc=num_proc)
    if Path(name).expanduser().exists():
        documents = load_text_documents(name, num_proc=num_proc)
        return documents[:limit] if limit else documents
    raise ValueError(
        f"Unknown corpus {name!r}: use embedded, wikitext-2, wikitext-103, or a path to a .txt file "
        "or a folder of .txt files."
    )


def prepare_data(
    recipe: Any,
    tokenizer: Any,
    *,
    seed: int,
    num_proc: int = 1,
    cache_dir: str | Path | None = None,
    documents: list | None = None,
) -> PretrainingData:
    """Documents -> held-out split -> WordPieces -> NSP instance sets -> resumable masked batches."""
    from bertedu.data.pipeline import document_token_ids, tokenize_documents
    from bertedu.data.splits import split_by_document

    if documents is None:
        documents = load_corpus(recipe.corpus, limit=recipe.corpus_limit, num_proc=num_proc)
    train_docs, held_docs = split_by_document(
        documents, held_out_fraction=recipe.held_out_fraction, seed=HELD_OUT_SEED
    )
    train_ids = document_token_ids(tokenize_documents(train_docs, tokenizer, cache_dir=cache_dir))
    held_ids = document_token_ids(tokenize_documents(held_docs, tokenizer, cache_dir=cache_dir))
    instance_sets = build_instance_sets(
        train_ids,
        max_seq_length=recipe.max_seq_length,
        short_seq_prob=recipe.short_seq_prob,
        seed=seed * 100,
        count=recipe.instance_sets,
    )
    held_instances = create_instances(
        held_ids,
        max_seq_length=recipe.max_seq_length,
        short_seq_prob=recipe.short_seq_prob,
        rng=random.Random(HELD_OUT_SEED),
    )
    pad_to = recipe.max_seq_length if recipe.pad_to_max else None
    collator = PretrainingCollator.from_tokenizer(
        tokenizer,
        generator=torch.Generator().manual_seed(seed + 1),
        mlm_probability=recipe.mlm_probability,
        max_predictions=recipe.max_predictions,
        pad_to=pad_to,
    )
    held_out = fixed_batches(
        held_instances, collator, batch_size=recipe.eval_batch_size, seed=EVAL_MASK_SEED
    )
    stats = {
        "corpus": recipe.corpus,
        "train_documents": len(train_docs),
        "held_out_documents": len(held_docs),
        "train_tokens": sum(len(s) for d in train_ids for s in d),
        "train_instances_per_set": [len(s) for s in instance_sets],
        "held_out_instances": len(held_instances),
        "unigram_baseline": unigram_baseline(instance_sets[0], held_out, vocab_size=len(tokenizer)),
    }
    batches = PretrainingBatches(
        instance_sets,
        collator,
        batch_size=recipe.batch_size,
        seed=seed,
        group_by_length=recipe.group_by_length,
    )
    return PretrainingData(batches, held_out, stats, held_docs)


def source_commit() -> str | None:
    """The git commit of the bertedu source tree (``+dirty`` with uncommitted changes), or None outside git."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bertedu"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


@dataclass
class PretrainRun:
    """What :func:`pretrain` returns."""

    model: BertForPreTraining
    result: Any  # bertedu.train.loop.TrainResult
    data: PretrainingData
    output_dir: Path


def pretrain(
    recipe: Any,
    *,
    output_dir: str | Path,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    stop_at_step: int | None = None,
    data: PretrainingData | None = None,
    num_proc: int | None = None,
    tokenizer: Any = None,
) -> PretrainRun:
    """Pretrain a BERT by ``recipe``; checkpoints, ``metrics.jsonl`` and ``run.json`` go to ``output_dir``.

    Under ``torchrun`` every process calls this; rank 0 writes. ``data`` reuses
    prepared data (a notebook prepares it once for several runs).
    """
    import os

    from bertedu.seeding import seed_everything
    from bertedu.tokenization import load_tokenizer
    from bertedu.train import distributed
    from bertedu.train.config import TrainConfig
    from bertedu.train.loop import train

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
    init_for_pretraining(
        model,
        sinusoidal_position_std=recipe.sinusoidal_position_std,
        unigram_log_probs=unigram_log_probabilities(data.train.instance_sets[0], len(tokenizer))
        if recipe.unigram_output_bias
        else None,
    )
    config = TrainConfig(
        total_steps=recipe.total_steps,
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        weight_decay=recipe.weight_decay,
        betas=recipe.betas,
        eps=recipe.eps,
        max_grad_norm=recipe.max_grad_norm,
        grad_accumulation=recipe.grad_accumulation,
        precision=recipe.precision,
        compile=recipe.compile and torch.cuda.is_available(),
        log_every=recipe.log_every,
        eval_every=recipe.eval_every,
        checkpoint_every=recipe.checkpoint_every,
        progress=progress,
    )
    if info.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        run_info = {
            "recipe": recipe.to_dict(),
            "seed": seed,
            "world_size": info.world_size,
            "data": data.stats,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "commit": source_commit(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }
        (output_dir / "run.json").write_text(
            json.dumps(run_info, indent=1) + "\n", encoding="utf-8"
        )
    held_out = data.held_out
    result = train(
        model,
        data.train,
        config=config,
        evaluate=lambda m: evaluate_pretraining(m, held_out),
        checkpoint_dir=output_dir,
        resume=resume,
        generators={"masking": data.train.generator},
        extra={"recipe": recipe.to_dict(), "seed": seed},
        stop_at_step=stop_at_step,
    )
    return PretrainRun(model, result, data, output_dir)
