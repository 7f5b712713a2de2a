"""Fill-mask and NSP helpers, and the shipped BERT-Tiny checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from bertedu.checkpoints import load_pretrained_tiny, pretrained_tiny_info, pretrained_tiny_path
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining.inference import fill_mask, is_next_probability, mask_a_word

pytestmark = pytest.mark.usefixtures("one_thread")


def test_mask_a_word(tokenizer):
    text, word = mask_a_word("The quick brown fox jumps over the lazy dog.", tokenizer)
    assert text.count("[MASK]") == 1 and word in ("jumps", "over", "the", "lazy")
    assert text.replace("[MASK]", word) == "The quick brown fox jumps over the lazy dog."
    assert mask_a_word("a b 12", tokenizer) is None  # nothing alphabetic of 3+ letters


def test_fill_mask_and_nsp_shapes(tokenizer):
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(num_hidden_layers=1)).train()
    predictions = fill_mask(model, tokenizer, "Paris is the [MASK] of [MASK].", top_k=3)
    assert len(predictions) == 2 and all(len(p) == 3 for p in predictions)
    probabilities = [p.probability for p in predictions[0]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1
    assert model.training  # restored
    assert (
        0.0 <= is_next_probability(model, tokenizer, "It rained.", "The streets were wet.") <= 1.0
    )
    with pytest.raises(ValueError, match=r"No \[MASK\]"):
        fill_mask(model, tokenizer, "no mask here")


def test_shipped_checkpoint_loads_and_reads_context(tokenizer):
    folder = pretrained_tiny_path()
    assert (folder / "model.safetensors").stat().st_size <= 10_000_000
    model = load_pretrained_tiny()
    assert not model.training
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.config == BertConfig.from_dict(json.loads((folder / "config.json").read_text()))
    info = pretrained_tiny_info()
    held, base = info["held_out"], info["baselines"]
    # At [MASK] positions the shipped model beats every rule that reads no context, by far,
    # and its guesses are not a handful of frequent WordPieces; NSP is far above the majority class.
    assert held["mask_loss"] < base["unigram"]["mask_loss"] - 1.0
    assert held["mask_accuracy"] > 3 * base["copy_rule"]["mask_accuracy"]
    assert held["mask_distinct_predictions"] > 500
    assert held["nsp_accuracy"] > base["nsp_majority"]["nsp_accuracy"] + 0.25
    assert "accuracy at [MASK]" in (folder / "MODEL_CARD.md").read_text()
    first = fill_mask(model, tokenizer, "Paris is the capital and largest city of [MASK].")[0]
    second = fill_mask(model, tokenizer, "She [MASK] the Nobel Prize in Physics.")[0]
    assert [p.token for p in first] != [p.token for p in second]  # the context changes the answer
