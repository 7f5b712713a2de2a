"""bertedu.viz.cross_attention: the decoder's cross-attention of chapter 7's encoder-decoder."""

from __future__ import annotations

import pytest
import torch

from bertedu.model import BertConfig, BertModel
from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import greedy_decode
from bertedu.qa.generative import BertEncoderDecoder
from bertedu.tokenization import load_tokenizer
from bertedu.viz.cross_attention import cross_attention_explorer, cross_attention_for
from bertedu.viz.explorer_data import shorten

QUESTION = "Who developed BERT?"
CONTEXT = "BERT is a pretrained language model developed by Google's AI team in 2018."


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertEncoderDecoder(BertConfig.tiny(), num_decoder_layers=3).eval()


def test_a_given_answer_is_teacher_forced_and_its_weights_are_the_models(model, tokenizer):
    result = cross_attention_for(model, tokenizer, QUESTION, CONTEXT, "Google's AI team")
    answer = tokenizer.tokenize("Google's AI team")
    assert result.target_tokens == [*answer, "[SEP]"] and result.answer == "Google's AI team"
    source = tokenizer(QUESTION, CONTEXT)["input_ids"]
    assert result.source_tokens == tokenizer.convert_ids_to_tokens(source)
    assert result.attentions.shape == (3, 2, len(answer) + 1, len(source))
    torch.testing.assert_close(result.attentions.sum(-1), torch.ones(3, 2, len(answer) + 1))
    ids = tokenizer(QUESTION, CONTEXT, return_tensors="pt")
    decoder_input = torch.tensor([[model.bos_token_id, *tokenizer.convert_tokens_to_ids(answer)]])
    with torch.no_grad():
        direct = model(**ids, decoder_input_ids=decoder_input, output_attentions=True)
    torch.testing.assert_close(
        result.attentions, torch.stack([layer[0] for layer in direct.cross_attentions])
    )
    assert not result.context_truncated and not model.training


def test_without_an_answer_the_model_writes_its_own_greedily(model, tokenizer):
    result = cross_attention_for(model, tokenizer, QUESTION, CONTEXT, max_new_tokens=4)
    ids = tokenizer(QUESTION, CONTEXT, return_tensors="pt")
    greedy = greedy_decode(model, ids["input_ids"], ids["token_type_ids"], ids["attention_mask"], 4)
    assert result.target_tokens == [*tokenizer.convert_ids_to_tokens(greedy[0]), "[SEP]"]


def test_long_passages_are_cut_and_bad_input_is_refused(model, tokenizer):
    long_context = "The river ran slowly past the old mill. " * 30 + CONTEXT
    cut = cross_attention_for(model, tokenizer, QUESTION, long_context, "google", max_length=64)
    assert cut.context_truncated and len(cut.source_tokens) == 64
    with pytest.raises(ValueError, match="question"):
        cross_attention_for(model, tokenizer, "  ", CONTEXT, "google")
    with pytest.raises(TypeError, match="needs a BertEncoderDecoder"):
        cross_attention_for(BertModel(BertConfig.tiny()), tokenizer, QUESTION, CONTEXT)


def test_the_explorer_stores_each_models_answer_for_each_example(model, tokenizer):
    torch.manual_seed(1)
    other = BertEncoderDecoder(BertConfig.tiny()).eval()
    examples = [
        QAExample("a", QUESTION, CONTEXT, ()),
        QAExample("b", "When?", "It rained in 2018.", ()),
    ]
    explorer = cross_attention_explorer(
        {"three blocks": model, "two blocks": other}, tokenizer, examples, max_new_tokens=3
    )
    assert explorer.data["axes"] == ["answer (decoder)", "question + passage (encoder)"]
    assert explorer.shape("three blocks") == (3, 2) and explorer.shape("two blocks") == (2, 2)
    item = explorer.examples["two blocks"][1]
    expected = cross_attention_for(
        other, tokenizer, "When?", "It rained in 2018.", max_new_tokens=3
    )
    assert item.queries == expected.target_tokens and item.keys == expected.source_tokens
    assert item.label == f"When? \u2192 {shorten(expected.answer, 30)!r}"
    assert "keys" in explorer.page_data["models"][1]["examples"][1]  # a cross map stores both sides
    with pytest.raises(ValueError, match="at least one question"):
        cross_attention_explorer({"m": model}, tokenizer, [])


def test_a_copying_model_gives_its_gate_and_pointer(tokenizer):
    torch.manual_seed(0)
    copying = BertEncoderDecoder(BertConfig.tiny(), num_decoder_layers=2, copy=True).eval()
    result = cross_attention_for(copying, tokenizer, QUESTION, CONTEXT, "Google's AI team")
    ids = tokenizer(QUESTION, CONTEXT, return_tensors="pt")
    answer = tokenizer("Google's AI team", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        direct = copying(**ids, decoder_input_ids=torch.tensor([[copying.bos_token_id, *answer]]))
    torch.testing.assert_close(result.copy_gate, direct.copy_gate[0])
    torch.testing.assert_close(result.copy_weights, direct.copy_weights[0])
    passage = ids["token_type_ids"][0].bool() & (ids["input_ids"][0] != tokenizer.sep_token_id)
    torch.testing.assert_close(result.copy_weights[:, passage].sum(-1), torch.ones(len(answer) + 1))
    plain = cross_attention_for(BertEncoderDecoder(BertConfig.tiny()), tokenizer, QUESTION, CONTEXT)
    assert plain.copy_gate is None and plain.copy_weights is None
