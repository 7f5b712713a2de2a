"""Pretrained weights shipped with the package: BERT-Tiny pretrained on the embedded Wikipedia leads.

``bert-tiny-wiki/`` holds ``model.safetensors`` (fp16, tied weights stored
once), ``config.json`` (a :class:`~bertedu.model.BertConfig`), ``metrics.json``
(the held-out metrics of exactly these weights, the recipe and the run),
``training_log.jsonl`` (the run's metrics log) and ``MODEL_CARD.md``. It was
made with ``python -m bertedu pretrain --profile cpu`` and
:func:`bertedu.train.export.export_pretrained`; chapter 5 reproduces its
held-out metrics, later chapters start from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from bertedu.model import BertConfig, BertForPreTraining

TINY_WIKI_DIR = Path(__file__).resolve().parent / "bert-tiny-wiki"


def pretrained_tiny_path() -> Path:
    """Folder of the shipped BERT-Tiny (a clear error if the package was installed without it)."""
    if not (TINY_WIKI_DIR / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{TINY_WIKI_DIR} has no model.safetensors: the package was installed without its data files. "
            "Reinstall from the repository (pip install -e .), or make your own with "
            "`python -m bertedu pretrain --profile cpu` and bertedu.train.export.export_pretrained."
        )
    return TINY_WIKI_DIR


def pretrained_tiny_info() -> dict[str, Any]:
    """The shipped model's ``metrics.json``: held-out metrics, recipe, steps, wall time, commit."""
    return json.loads((pretrained_tiny_path() / "metrics.json").read_text(encoding="utf-8"))


def load_pretrained_tiny(device: str | torch.device = "cpu") -> BertForPreTraining:
    """The shipped BERT-Tiny (``BertForPreTraining``, MLM and NSP heads included), fp32, in eval mode.

    ``model.bert`` is the encoder alone, for fine-tuning (chapters 6 and 7).
    """
    from bertedu.train.checkpoint import load_weights

    folder = pretrained_tiny_path()
    config = BertConfig.from_dict(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    model = BertForPreTraining(config)
    load_weights(model, folder / "model.safetensors")
    return model.to(device).eval()
