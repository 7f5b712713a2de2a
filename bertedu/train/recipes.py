"""Pretraining recipes: the model, data and optimisation settings of each run profile.

* ``smoke``: a few seconds, for CI: 200 documents, short sequences, ten updates.
* ``cpu``: learns visibly in minutes on a laptop CPU, on the embedded Wikipedia leads.
* ``gpu``: the user's notes' setting: BERT-Tiny, sequences of 128, WikiText-103,
  a larger batch, bf16 autocast and ``torch.compile``.

The CPU recipe departs from BERT's own settings where budget-pretraining work
(Izsak et al. 2021, "How to Train BERT with an Academic Budget"; Geiping and
Goldstein 2022, "Cramming") and our own measurements say it helps a model that
gets only minutes: no dropout (a model that sees each token a few times
underfits; dropout only slows it down), a high peak learning rate after a
warmup, and a batch small enough to give many updates. See chapter 5 and the
model card of the shipped checkpoint for the measurements.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bertedu.model import BertConfig


@dataclass
class PretrainRecipe:
    """Everything that defines a pretraining run, except the seed and the output folder."""

    profile: str
    corpus: str = "embedded"  # embedded | wikitext-2 | wikitext-103 | a path to .txt files
    corpus_limit: int | None = None  # use only this many documents (evenly spread)
    model: dict[str, Any] = field(default_factory=dict)  # BertConfig.tiny(**model)
    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    instance_sets: int = 4  # epochs cycle through this many differently paired copies of the corpus
    held_out_fraction: float = 0.05  # documents kept for evaluation, never trained on
    unigram_output_bias: bool = False  # start the MLM bias at log unigram frequencies
    sinusoidal_position_std: float | None = None  # start position embeddings as scaled sinusoids
    mlm_probability: float = 0.15
    max_predictions: int = 20
    group_by_length: int = 0  # sort runs of this many batches by length (less padding); 0: off
    pad_to_max: bool = (
        False  # static shapes (for torch.compile) instead of padding to the longest pair
    )
    batch_size: int = 32
    total_steps: int = 1000
    lr: float = 1e-3
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    max_grad_norm: float | None = 1.0
    grad_accumulation: int = 1
    precision: str = "auto"
    compile: bool = False
    eval_every: int = 200
    checkpoint_every: int = 200
    log_every: int = 10
    eval_batch_size: int = 64

    @property
    def warmup_steps(self) -> int:
        return round(self.total_steps * self.warmup_fraction)

    def model_config(self, vocab_size: int = 30522) -> BertConfig:
        """The model's :class:`BertConfig` (BERT-Tiny with this recipe's overrides)."""
        return BertConfig.tiny(vocab_size=vocab_size, **self.model)

    def replace(self, **changes: Any) -> PretrainRecipe:
        """A copy with some fields changed (the CLI's ``--steps``, ``--corpus``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}

RECIPES: dict[str, PretrainRecipe] = {
    "smoke": PretrainRecipe(
        profile="smoke",
        corpus_limit=200,
        instance_sets=1,
        held_out_fraction=0.1,
        model=NO_DROPOUT,
        max_seq_length=64,
        max_predictions=10,
        batch_size=8,
        total_steps=10,
        lr=1e-3,
        eval_every=5,
        checkpoint_every=5,
        log_every=1,
        eval_batch_size=32,
    ),
    "cpu": PretrainRecipe(
        profile="cpu",
        model=NO_DROPOUT,
        batch_size=32,
        total_steps=3000,
        lr=2e-3,
        group_by_length=16,
        unigram_output_bias=True,
        sinusoidal_position_std=0.02,
        eval_every=250,
        checkpoint_every=250,
    ),
    "gpu": PretrainRecipe(
        profile="gpu",
        corpus="wikitext-103",
        model=NO_DROPOUT,
        instance_sets=2,
        held_out_fraction=0.005,
        batch_size=256,
        total_steps=100_000,
        lr=1e-3,
        warmup_fraction=0.01,
        precision="bf16",
        compile=True,
        pad_to_max=True,
        eval_every=2000,
        checkpoint_every=2000,
        log_every=50,
        eval_batch_size=256,
    ),
}


def get_recipe(profile: str) -> PretrainRecipe:
    """The recipe of a profile (``smoke``, ``cpu`` or ``gpu``); a copy, safe to change."""
    if profile not in RECIPES:
        raise ValueError(f"Unknown profile {profile!r}; use one of {', '.join(RECIPES)}.")
    return dataclasses.replace(RECIPES[profile])
