"""Pretraining recipes: the model, data and optimisation settings of each run profile.

* ``smoke``: a few seconds, for CI: 200 documents, short sequences, ten updates.
* ``live``: chapter 5's live run, made to leave the unigram plateau within minutes.
* ``cpu``: learns visibly in minutes on a laptop CPU, on the embedded Wikipedia leads.
* ``gpu``: the setting of a common first implementation: BERT-Tiny, sequences of 128,
  WikiText-103, a larger batch, bf16 autocast and ``torch.compile``, with batches of
  full-length pairs sent without an attention mask (the flash attention kernel).

A recipe holds the data and model settings and, in ``train``, the
:class:`~bertedu.train.TrainConfig` the generic loop runs with, so every
optimisation knob has one name and one home.

The CPU recipe departs from BERT's own settings where budget-pretraining work
(Izsak et al. 2021, "How to Train BERT with an Academic Budget"; Geiping and
Goldstein 2022, "Cramming") and our own measurements say it helps a model that
gets only minutes: no dropout (a model that sees each token a few times
underfits; dropout only slows it down), a high peak learning rate after a
warmup, a batch small enough to give many updates, and short pairs first (a
sequence-length curriculum, as BERT trained at 128 before 512). See chapter 5 and the
model card of the shipped checkpoint for the measurements.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bertedu.model import BertConfig
from bertedu.model.pretraining import check_nsp_loss_weight
from bertedu.train import TrainConfig

#: The optimisation every pretraining recipe starts from: RoBERTa's beta_2 of 0.98 (steadier
#: than 0.999 with a high learning rate), a 6% warmup, an evaluation every 200 updates.
PRETRAIN_TRAIN_CONFIG = TrainConfig(
    total_steps=1000,
    lr=1e-3,
    warmup_fraction=0.06,
    betas=(0.9, 0.98),
    eval_every=200,
    checkpoint_every=200,
)


@dataclass(frozen=True)
class PretrainRecipe:
    """Everything that defines a pretraining run, except the seed and the output folder."""

    profile: str
    corpus: str = "embedded"  # embedded | wikitext-2 | wikitext-103 | a path to .txt files
    corpus_limit: int | None = None  # use only this many documents (evenly spread)
    model: dict[str, Any] = field(default_factory=dict)  # BertConfig.tiny(**model)
    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    instance_sets: int = 4  # epochs cycle through this many differently paired copies
    held_out_fraction: float = 0.05  # documents kept for evaluation, never trained on
    unigram_output_bias: bool = False  # start the MLM bias at log unigram frequencies
    sinusoidal_position_std: float | None = None  # start positions as scaled sinusoids
    mlm_probability: float = 0.15  # training masks; held-out masks use eval_* below
    max_predictions: int = 20
    nsp_weight: float = 1.0  # loss = mlm + nsp_weight * nsp (BERT: 1; 0 trains MLM only)
    short_seq_epochs: int = 0  # curriculum: the first epochs read pairs of short_seq_length
    short_seq_length: int = 64  # (BERT trained 90% of its updates at 128, then 512)
    eval_mlm_probability: float = 0.15  # BERT's rate: every recipe is scored at the same positions
    eval_max_predictions: int = 20  # Google's cap for sequences of 128
    group_by_length: int = 0  # sort runs of this many batches by length (less padding); 0: off
    pad_to_max: bool = False  # static shapes (for torch.compile), not padding to the longest
    batch_size: int = 32
    train: TrainConfig = field(default_factory=lambda: PRETRAIN_TRAIN_CONFIG.replace())
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        check_nsp_loss_weight(self.nsp_weight, "nsp_weight")  # before any data is prepared
        if self.short_seq_epochs < 0:
            raise ValueError(
                f"short_seq_epochs must be 0 (no curriculum) or a number of epochs, "
                f"got {self.short_seq_epochs}"
            )
        if self.short_seq_epochs and not 8 <= self.short_seq_length < self.max_seq_length:
            raise ValueError(
                f"short_seq_length must be at least 8 and below max_seq_length="
                f"{self.max_seq_length} for a curriculum, got {self.short_seq_length}"
            )

    def model_config(self, vocab_size: int = 30522) -> BertConfig:
        """The model's :class:`BertConfig` (BERT-Tiny with this recipe's overrides)."""
        return BertConfig.tiny(vocab_size=vocab_size, **self.model)

    def replace(self, **changes: Any) -> PretrainRecipe:
        """A copy with some fields changed: the recipe's own or its ``TrainConfig``'s.

        ``recipe.replace(total_steps=300, corpus="wikitext-2")`` sets
        ``train.total_steps`` and ``corpus``; the warmup stays the same fraction.
        """
        own = {f.name for f in dataclasses.fields(self)}
        loop = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(changes) - own - loop)
        if unknown:
            raise ValueError(
                f"Unknown recipe fields {unknown}; a recipe has {sorted(own - {'train'})} "
                f"and the TrainConfig fields {sorted(loop)}."
            )
        train = changes.pop("train", self.train)
        train = train.replace(**{k: v for k, v in changes.items() if k in loop})
        mine = {k: v for k, v in changes.items() if k in own}
        mine["model"] = dict(mine.get("model", self.model))  # a copy: recipes share no dict
        return dataclasses.replace(self, train=train, **mine)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as flat JSON: its fields, the ``TrainConfig``'s in place of ``train``."""
        flat: dict[str, Any] = {}
        for name, value in dataclasses.asdict(self).items():
            flat |= value if name == "train" else {name: value}
        return flat


NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}

# Masking 30% (at most 40 per sequence), batches of 64, peak 3e-3, the first two epochs on
# pairs of at most 64 WordPieces: the measured recipe of chapter 5, on the embedded corpus
# (on the wider "mix:prose" corpus the held-out Wikipedia articles were learned far more
# slowly; the curriculum gained 5.5 points at [MASK] after 1,200 updates: chapter 5's
# ablations).
CPU_RECIPE = PretrainRecipe(
    profile="cpu",
    instance_sets=2,
    short_seq_epochs=2,
    model=NO_DROPOUT,
    mlm_probability=0.3,
    max_predictions=40,
    batch_size=64,
    group_by_length=16,
    unigram_output_bias=True,
    sinusoidal_position_std=0.02,
    train=PRETRAIN_TRAIN_CONFIG.replace(
        total_steps=2400, lr=3e-3, eval_every=200, checkpoint_every=200
    ),
)

LIVE_STEPS = 1100

# Chapter 5's live run, the cpu recipe made for a run a reader watches (about five minutes of
# two idle cores: benchmarks/recipe_live.jsonl records the timed runs): every epoch reads pairs
# of at most 64 WordPieces (short_seq_epochs = the updates, so whatever the corpus no epoch
# is long; the held-out pairs keep max_seq_length, so it is scored at the book's
# positions), the NSP loss weighs half (at this budget the two tasks compete; a quarter did
# no better at [MASK] after 1,000 updates, 14.0% against 14.5%, and worse at NSP: the
# measurements page's search), 1,100 updates, an evaluation every 100 of them.
LIVE_RECIPE = CPU_RECIPE.replace(
    profile="live",
    short_seq_epochs=LIVE_STEPS,
    nsp_weight=0.5,
    total_steps=LIVE_STEPS,
    eval_every=100,
    checkpoint_every=550,
)

RECIPES: dict[str, PretrainRecipe] = {
    "smoke": PretrainRecipe(
        profile="smoke",
        corpus_limit=200,
        instance_sets=1,
        held_out_fraction=0.1,
        model=NO_DROPOUT,
        max_seq_length=64,
        max_predictions=10,
        eval_max_predictions=10,
        batch_size=8,
        train=PRETRAIN_TRAIN_CONFIG.replace(
            total_steps=10, eval_every=5, checkpoint_every=5, log_every=1
        ),
        eval_batch_size=32,
    ),
    "live": LIVE_RECIPE,
    "cpu": CPU_RECIPE,
    # The cpu recipe, without its curriculum (found later), for 5,000 updates (about 80
    # minutes on one thread of this book's 2-core machine): it reproduces the shipped
    # bert-tiny-wiki, which is this run resumed with --extend-steps to 10,000 updates (its
    # model card gives both commands).
    "cpu-long": CPU_RECIPE.replace(
        profile="cpu-long",
        short_seq_epochs=0,
        total_steps=5000,
        eval_every=250,
        checkpoint_every=250,
    ),
    # The GPU step (benchmarks/pretrain_throughput.py --variants times each part): batches
    # of 256 x 128 (the size scripts/gpu_check.py times BERT-base's step at on a GPU too),
    # bf16 autocast, fused AdamW (the loop's default on a GPU), torch.compile
    # of the whole model (one graph: pad_to_max gives static shapes, max_predictions a fixed
    # number of MLM rows). group_by_length puts full-length pairs together: on long
    # documents (the Brown Corpus standing in for WikiText-103's articles) 80% of the
    # batches then carry no padding (none without it; 7.3% of the token slots are padding
    # either way: benchmarks/gpu_recipe_padding.py), and drop_full_attention_mask sends
    # those without an attention mask, so attention can run the flash kernel.
    "gpu": PretrainRecipe(
        profile="gpu",
        corpus="wikitext-103",
        model=NO_DROPOUT,
        instance_sets=2,
        held_out_fraction=0.005,
        batch_size=256,
        pad_to_max=True,
        group_by_length=16,
        train=PRETRAIN_TRAIN_CONFIG.replace(
            total_steps=100_000,
            warmup_fraction=0.01,
            precision="bf16",
            compile=True,
            drop_full_attention_mask=True,
            eval_every=2000,
            checkpoint_every=2000,
            log_every=50,
        ),
        eval_batch_size=256,
    ),
}


def get_recipe(profile: str, **changes: Any) -> PretrainRecipe:
    """The recipe of a profile (``smoke``, ``live``, ``cpu``, ``cpu-long`` or ``gpu``), with
    ``changes`` applied."""
    if profile not in RECIPES:
        raise ValueError(f"Unknown profile {profile!r}; use one of {', '.join(RECIPES)}.")
    return RECIPES[profile].replace(**changes)
