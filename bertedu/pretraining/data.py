"""A pretraining run's data: NSP instance sets, resumable masked batches, fixed held-out batches.

* :class:`PretrainingBatches` turns NSP instances into masked batches that can
  start any epoch at any batch (exact resume). Every epoch has its own order
  and, with several instance sets, its own sentence pairings; masks are drawn
  anew for every batch from one generator (dynamic masking).
* :func:`fixed_batches` masks the held-out instances once, so every
  evaluation scores the very same predictions.
* :func:`prepare_data` goes from a recipe to both: documents, a held-out split
  by document, WordPieces, instance sets, batches.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from bertedu.data.corpus import Document, load_corpus
from bertedu.data.nsp import Instance, create_instances
from bertedu.data.pipeline import PretrainingCollator, document_token_ids, tokenize_documents
from bertedu.data.sources import split_held_out
from bertedu.data.splits import split_by_document
from bertedu.pretraining.baselines import (
    WordOverlapRule,
    copy_rule_baseline,
    nsp_majority_baseline,
    unigram_baseline,
)
from bertedu.pretraining.recipes import PretrainRecipe
from bertedu.train.batches import Batch


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

    A sequence-length curriculum: with ``short_epochs = k`` the first ``k`` epochs
    read ``short_sets`` (pairs cut to a shorter length, cycled the same way) and
    epoch ``k + e`` reads ``instance_sets[e % len(instance_sets)]``.
    """

    def __init__(
        self,
        instance_sets: Sequence[Sequence[Instance]],
        collator: PretrainingCollator,
        *,
        batch_size: int,
        seed: int,
        group_by_length: int = 0,
        short_sets: Sequence[Sequence[Instance]] = (),
        short_epochs: int = 0,
    ) -> None:
        if not instance_sets or any(len(s) < batch_size for s in [*instance_sets, *short_sets]):
            raise ValueError(
                f"Every instance set needs at least batch_size={batch_size} instances; got sizes "
                f"{[len(s) for s in [*short_sets, *instance_sets]]}. Use more documents or a "
                "smaller batch."
            )
        if short_epochs < 0 or (short_epochs > 0) != bool(short_sets):
            raise ValueError(
                f"A curriculum needs both short_sets and short_epochs > 0 (or neither); got "
                f"{len(short_sets)} short sets and short_epochs={short_epochs}"
            )
        if group_by_length < 0:
            raise ValueError(
                f"group_by_length must be 0 (off) or a number of batches, got {group_by_length}"
            )
        self.instance_sets = instance_sets
        self.short_sets = short_sets
        self.short_epochs = short_epochs
        self.collator = collator
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        # every set, the short ones first, and the token count of each of its instances
        self._sets = [*short_sets, *instance_sets]
        self._lengths = [
            torch.tensor([len(i.tokens_a) + len(i.tokens_b) for i in s]) for s in self._sets
        ]

    def _set_of_epoch(self, epoch: int) -> int:
        """The index in ``[*short_sets, *instance_sets]`` of the set ``epoch`` reads."""
        if epoch < self.short_epochs:
            return epoch % len(self.short_sets)
        return len(self.short_sets) + (epoch - self.short_epochs) % len(self.instance_sets)

    def instances_of_epoch(self, epoch: int) -> Sequence[Instance]:
        """The instance set ``epoch`` reads (a short one during the curriculum)."""
        return self._sets[self._set_of_epoch(epoch)]

    @property
    def generator(self) -> torch.Generator:
        """The masking generator (checkpoint it with the run)."""
        return self.collator.generator

    def batches_in_epoch(self, epoch: int) -> int:
        return len(self.instances_of_epoch(epoch)) // self.batch_size

    def epoch_order(self, epoch: int) -> list[list[int]]:
        """The instance indices of every batch of ``epoch``: a function of ``(seed, epoch)`` only.

        With ``group_by_length = k``, each run of ``k`` batches of the shuffled
        order is sorted by length before it is cut into batches (whose order
        is then shuffled again): batches of similar lengths waste less compute
        on padding (a quarter of it for Wikipedia leads), and every instance is
        still seen once per epoch in a random context.
        """
        instances = self.instances_of_epoch(epoch)
        lengths = self._lengths[self._set_of_epoch(epoch)]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(instances), generator=generator)
        count = self.batches_in_epoch(epoch)
        batches = list(order[: count * self.batch_size].view(count, self.batch_size))
        if self.group_by_length:
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
        instances = self.instances_of_epoch(epoch)
        for rows in self.epoch_order(epoch)[start:]:
            yield self.collator([instances[row] for row in rows])


def fixed_batches(
    instances: Sequence[Instance], collator: PretrainingCollator, *, batch_size: int, seed: int
) -> list[Batch]:
    """Held-out batches masked once with ``seed``: every evaluation scores the very same
    predictions."""
    masking = dataclasses.replace(collator, generator=torch.Generator().manual_seed(seed))
    return [
        masking(list(instances[start : start + batch_size]))
        for start in range(0, len(instances), batch_size)
    ]


def build_instance_sets(
    token_documents: Sequence[Sequence[Sequence[int]]],
    *,
    max_seq_length: int,
    short_seq_prob: float,
    seed: int,
    count: int,
) -> list[list[Instance]]:
    """``count`` independent NSP instance sets (different pairings and chunk boundaries), seeds
    ``seed..seed+count-1``."""
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
    stats: dict[str, Any]  # what the data was made of: sizes, the baselines' held-out scores
    held_out_documents: list[Document] = dataclasses.field(default_factory=list)  # for examples


def split_for_pretraining(
    recipe: PretrainRecipe, documents: list[Document], *, num_proc: int = 1
) -> tuple[list[Document], list[Document]]:
    """``(train, held_out)`` documents of a run, split by whole documents.

    A single corpus is split by :func:`~bertedu.data.splits.split_by_document`.
    A multi-source mix (``corpus="mix:..."``) is scored on the book's own
    evaluation set, the embedded corpus's held-out documents exactly as a run on
    the embedded corpus holds them out, so runs on any mix compare at the same
    positions; those documents, and every document the mix holds out, never
    reach training.
    """
    if not recipe.corpus.startswith("mix:"):
        return split_by_document(
            documents, held_out_fraction=recipe.held_out_fraction, seed=HELD_OUT_SEED
        )
    embedded = load_corpus("embedded", limit=recipe.corpus_limit, num_proc=num_proc)
    _, evaluation = split_by_document(
        embedded, held_out_fraction=recipe.held_out_fraction, seed=HELD_OUT_SEED
    )
    train, _ = split_held_out(
        documents, held_out_fraction=recipe.held_out_fraction, also_held_out=evaluation
    )
    return train, evaluation


def held_out_baselines(
    train_instances: Sequence[Instance],
    held_out: list[Batch],
    tokenizer: PreTrainedTokenizerBase,
) -> dict[str, dict[str, float]]:
    """What the rules of :mod:`bertedu.pretraining.baselines` score on the held-out batches."""
    unigram = unigram_baseline(
        train_instances, held_out, vocab_size=len(tokenizer), mask_token_id=tokenizer.mask_token_id
    )
    copy_rule = copy_rule_baseline(
        held_out, top_token_id=int(unigram["top_token_id"]), mask_token_id=tokenizer.mask_token_id
    )
    overlap = WordOverlapRule.fit(train_instances, tokenizer)
    return {
        "unigram": unigram,
        "copy_rule": copy_rule,
        "nsp_majority": nsp_majority_baseline(train_instances, held_out),
        "nsp_word_overlap": {
            "nsp_accuracy": overlap.accuracy(held_out),
            "threshold": overlap.threshold,
        },
    }


def masking_seed(seed: int) -> int:
    """The seed of a run's masking generator: the masks a run draws are a function of its seed
    alone (:func:`bertedu.pretraining.pretrain` re-seeds the generator with it before the first
    update, so a batch drawn earlier, e.g. to look at, does not change the run)."""
    return seed + 1


def prepare_data(
    recipe: PretrainRecipe,
    tokenizer: PreTrainedTokenizerBase,
    *,
    seed: int,
    num_proc: int = 1,
    cache_dir: str | Path | None = None,
    documents: list[Document] | None = None,
) -> PretrainingData:
    """Documents -> held-out split -> WordPieces -> NSP instance sets -> masked batches."""
    if documents is None:
        documents = load_corpus(recipe.corpus, limit=recipe.corpus_limit, num_proc=num_proc)
    train_docs, held_docs = split_for_pretraining(recipe, documents, num_proc=num_proc)
    train_ids = document_token_ids(tokenize_documents(train_docs, tokenizer, cache_dir=cache_dir))
    held_ids = document_token_ids(tokenize_documents(held_docs, tokenizer, cache_dir=cache_dir))
    instance_sets = build_instance_sets(
        train_ids,
        max_seq_length=recipe.max_seq_length,
        short_seq_prob=recipe.short_seq_prob,
        seed=seed * 100,
        count=recipe.instance_sets,
    )
    short_sets = []
    if recipe.short_seq_epochs:
        short_sets = build_instance_sets(
            train_ids,
            max_seq_length=recipe.short_seq_length,
            short_seq_prob=recipe.short_seq_prob,
            seed=seed * 100 + 50,
            count=min(recipe.short_seq_epochs, recipe.instance_sets),
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
        generator=torch.Generator().manual_seed(masking_seed(seed)),
        mlm_probability=recipe.mlm_probability,
        max_predictions=recipe.max_predictions,
        pad_to=pad_to,
    )
    # Held-out masks follow BERT's own rate whatever the training rate, so every recipe is
    # scored at the very same positions.
    held_out_collator = dataclasses.replace(
        collator,
        mlm_probability=recipe.eval_mlm_probability,
        max_predictions=recipe.eval_max_predictions,
    )
    held_out = fixed_batches(
        held_instances, held_out_collator, batch_size=recipe.eval_batch_size, seed=EVAL_MASK_SEED
    )
    stats = {
        "corpus": recipe.corpus,
        "train_documents": len(train_docs),
        "held_out_documents": len(held_docs),
        "train_tokens": sum(len(s) for d in train_ids for s in d),
        "train_instances_per_set": [len(s) for s in instance_sets],
        **({"short_instances_per_set": [len(s) for s in short_sets]} if short_sets else {}),
        "held_out_instances": len(held_instances),
        "baselines": held_out_baselines(instance_sets[0], held_out, tokenizer),
    }
    batches = PretrainingBatches(
        instance_sets,
        collator,
        batch_size=recipe.batch_size,
        seed=seed,
        group_by_length=recipe.group_by_length,
        short_sets=short_sets,
        short_epochs=recipe.short_seq_epochs,
    )
    return PretrainingData(batches, held_out, stats, held_docs)
