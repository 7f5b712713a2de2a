"""BERT pretraining on top of the generic loop (:mod:`bertedu.train`), one idea per module.

* :mod:`~bertedu.pretraining.recipes`: ``PretrainRecipe`` (data and model settings, and the
  ``TrainConfig`` it trains with) per profile, ``get_recipe(profile, **changes)``;
* :mod:`~bertedu.pretraining.data`: NSP instance sets, resumable masked batches
  (``PretrainingBatches``), fixed held-out batches, ``prepare_data``;
* :mod:`~bertedu.pretraining.evaluation`: held-out MLM and NSP metrics, per-position guesses;
* :mod:`~bertedu.pretraining.baselines`: the unigram (context-free) baseline;
* :mod:`~bertedu.pretraining.initialization`: unigram output bias, sinusoidal positions;
* :mod:`~bertedu.pretraining.run`: ``pretrain(recipe, output_dir=...)``, what
  ``python -m bertedu pretrain`` runs;
* :mod:`~bertedu.pretraining.export`: a checkpoint -> a shipped fp16 model with its model card;
* :mod:`~bertedu.pretraining.benchmark`: our training step against transformers', timed;
* :mod:`~bertedu.pretraining.inference`: fill-mask and next-sentence probability.
* :mod:`~bertedu.pretraining.live`: ``LiveView``, a run's held-out curves and fill-in guesses
  redrawn at every evaluation (chapter 5; imported on its own, it needs matplotlib).
"""

from bertedu.pretraining.baselines import token_counts, unigram_baseline, unigram_log_probabilities
from bertedu.pretraining.data import (
    PretrainingBatches,
    PretrainingData,
    build_instance_sets,
    fixed_batches,
    prepare_data,
)
from bertedu.pretraining.evaluation import evaluate_pretraining, mlm_predictions
from bertedu.pretraining.export import card_results, export_pretrained, model_card
from bertedu.pretraining.inference import Prediction, fill_mask, is_next_probability, mask_a_word
from bertedu.pretraining.initialization import init_for_pretraining, sinusoidal_positions
from bertedu.pretraining.recipes import RECIPES, PretrainRecipe, get_recipe
from bertedu.pretraining.run import PretrainRun, pretrain, source_commit

__all__ = [
    "PretrainRecipe",
    "RECIPES",
    "get_recipe",
    "PretrainingBatches",
    "PretrainingData",
    "build_instance_sets",
    "fixed_batches",
    "prepare_data",
    "evaluate_pretraining",
    "mlm_predictions",
    "token_counts",
    "unigram_baseline",
    "unigram_log_probabilities",
    "init_for_pretraining",
    "sinusoidal_positions",
    "PretrainRun",
    "pretrain",
    "source_commit",
    "card_results",
    "export_pretrained",
    "model_card",
    "Prediction",
    "fill_mask",
    "is_next_probability",
    "mask_a_word",
]
