"""Fine-tuning and evaluating the two QA models, on top of :func:`bertedu.train.train`.

Nothing here re-implements training: the optimizer (AdamW, no decay on
biases/LayerNorm), the warmup-linear schedule, clipping and checkpoints are
:mod:`bertedu.train`'s. This module only supplies what is QA-specific: the
batches (shuffled windows or answer targets, trimmed of padding), the
recipes per profile and the held-out scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import generate_answers
from bertedu.qa.extractive import QAFeatures, collate_windows, predict_answers
from bertedu.qa.generative import Seq2SeqFeatures, collate_seq2seq
from bertedu.qa.metrics import generation_scores, squad_em_f1
from bertedu.train import TrainConfig, TrainResult, train
from bertedu.train.optim import DEFAULT_WEIGHT_DECAY


@dataclass(frozen=True)
class QARecipe:
    """Sizes and hyper-parameters of one QA fine-tuning run."""

    max_length: int = 384  # tokens per window (extractive) or per encoder input (generative)
    stride: int = 128  # passage tokens shared by consecutive windows (extractive)
    max_target_length: int = 32  # answer tokens + [SEP] (generative)
    batch_size: int = 32
    epochs: float = 2.0
    lr: float = 5e-5
    warmup_fraction: float = 0.1  # share of the updates over which lr climbs to its peak
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    train_limit: int | None = None  # first N training questions (None: all)
    dev_limit: int | None = None  # first N held-out questions (None: all)

    def replace(self, **changes: Any) -> QARecipe:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON (stored in every fine-tuning checkpoint)."""
        return asdict(self)


#: Per profile: smoke (CI, seconds), cpu (the book's stored outputs, minutes, the embedded set),
#: gpu (full windows on SQuAD v1.1 / MS MARCO from the Hub).
#: A pretrained encoder wants a small learning rate; a BERT-Tiny trained from scratch a large one.
EXTRACTIVE_RECIPES = {
    "smoke": QARecipe(
        max_length=128, stride=32, batch_size=16, epochs=1, lr=1e-4, train_limit=48, dev_limit=24
    ),
    "cpu": QARecipe(max_length=192, stride=64, batch_size=16, epochs=5, lr=1e-4),
    "gpu": QARecipe(max_length=384, stride=128, batch_size=32, epochs=3, lr=5e-5),
}
GENERATIVE_RECIPES = {
    "smoke": QARecipe(
        max_length=128,
        max_target_length=16,
        batch_size=16,
        epochs=1,
        lr=1e-3,
        train_limit=48,
        dev_limit=24,
    ),
    "cpu": QARecipe(max_length=288, max_target_length=24, batch_size=16, epochs=20, lr=1e-3),
    # gpu: MS MARCO v2.1, first 100,000 training rows, 2,000 held out (chapter 7).
    "gpu": QARecipe(
        max_length=384,
        max_target_length=32,
        batch_size=32,
        epochs=3,
        lr=5e-4,
        train_limit=100_000,
        dev_limit=2_000,
    ),
}


QA_RECIPES = {"extractive": EXTRACTIVE_RECIPES, "generative": GENERATIVE_RECIPES}


def get_qa_recipe(task: str, profile: str, **changes: Any) -> QARecipe:
    """The recipe of ``task`` (``extractive`` or ``generative``) in a profile, ``changes`` applied.

    The same shape as :func:`bertedu.pretraining.get_recipe`, with the task first.
    """
    if task not in QA_RECIPES:
        raise ValueError(f"Unknown task {task!r}; use one of {', '.join(QA_RECIPES)}.")
    if profile not in QA_RECIPES[task]:
        raise ValueError(f"Unknown profile {profile!r}; use one of {', '.join(QA_RECIPES[task])}.")
    return QA_RECIPES[task][profile].replace(**changes)


def finetune(
    model: nn.Module,
    features: QAFeatures | Seq2SeqFeatures,
    recipe: QARecipe,
    *,
    generator: torch.Generator,
    evaluate: Callable[[nn.Module], dict] | None = None,
    checkpoint_dir: str | None = None,
    progress: bool = False,
    device: str | None = None,
) -> TrainResult:
    """Train ``model`` on ``features`` for ``recipe.epochs`` epochs of shuffled batches with
    :func:`bertedu.train.train`.

    ``generator`` shuffles the batches (its state goes into checkpoints);
    ``evaluate`` (optional) runs at the end of training.
    """
    collate = collate_windows if isinstance(features, QAFeatures) else collate_seq2seq
    loader = DataLoader(
        features,
        batch_size=recipe.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=collate,
    )
    total_steps = max(1, math.ceil(recipe.epochs * len(loader)))
    config = TrainConfig(
        total_steps=total_steps,
        lr=recipe.lr,
        warmup_fraction=recipe.warmup_fraction,
        weight_decay=recipe.weight_decay,
        progress=progress,
        device=device,
        log_every=max(1, len(loader)),
    )
    return train(
        model,
        loader,
        config=config,
        evaluate=evaluate,
        checkpoint_dir=checkpoint_dir,
        generators={"data": generator},
        extra={"qa_recipe": recipe.to_dict()},
    )


def evaluate_extractive(
    model: nn.Module,
    examples: Sequence[QAExample],
    tokenizer,
    recipe: QARecipe,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> tuple[dict[str, float], dict[str, str]]:
    """Held-out SQuAD EM/F1 of an extractive model, and its predictions ``{id: text}``."""
    predictions, _ = predict_answers(
        model, examples, tokenizer, recipe.max_length, recipe.stride, n_best, max_answer_length
    )
    references = {example.id: list(example.answers) for example in examples}
    return squad_em_f1(predictions, references), predictions


def evaluate_generative(
    model: nn.Module,
    features: Seq2SeqFeatures,
    tokenizer,
    method: str = "greedy",
    beam_width: int = 4,
    max_new_tokens: int = 32,
    length_penalty: float = 1.0,
) -> tuple[dict[str, float], list[str]]:
    """Held-out BLEU, ROUGE-L, EM and F1 of generated answers, and the answers."""
    answers = generate_answers(
        model, features, tokenizer, method, beam_width, max_new_tokens, length_penalty
    )
    return generation_scores(
        answers, [list(example.answers) for example in features.examples]
    ), answers
