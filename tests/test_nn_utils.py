"""bertedu.nn_utils: eval mode that comes back even after an error, a model's device and size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bertedu.constants import CLS_ID, SEP_ID
from bertedu.model import BertConfig, BertForPreTraining, BertModel
from bertedu.nn_utils import eval_mode, model_device, num_parameters
from bertedu.pretraining.inference import fill_mask, is_next_probability
from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import beam_search, greedy_decode
from bertedu.qa.extractive import BertForQuestionAnswering, predict_logits, prepare_features
from bertedu.qa.generative import BertEncoderDecoder

SMALL = BertConfig.tiny(hidden_size=32, intermediate_size=64, max_position_embeddings=64)


def test_eval_mode_restores_the_mode_even_after_an_error():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
    with eval_mode(model):
        assert not model.training and not model[1].training
    assert model.training and model[1].training
    with pytest.raises(RuntimeError, match="boom"), eval_mode(model):
        raise RuntimeError("boom")
    assert model.training
    frozen = model.eval()
    with eval_mode(frozen):
        pass
    assert not frozen.training  # a model in eval mode stays there


class Broken(nn.Module):
    """A model whose every call fails, as a bad input deep inside a real model would."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.config, self.bos_token_id, self.eos_token_id = SMALL, CLS_ID, SEP_ID

    def forward(self, *args, **kwargs):
        raise RuntimeError("boom")

    encode = forward


def call_sites(tokenizer):
    ids = torch.tensor([[CLS_ID, 7592, SEP_ID]])
    example = QAExample("q", "Who?", "Google did it.", ())
    features = prepare_features([example], tokenizer, max_length=32, stride=4, with_labels=False)
    return {
        "fill_mask": lambda model: fill_mask(model, tokenizer, "a [MASK] b"),
        "is_next_probability": lambda model: is_next_probability(model, tokenizer, "a", "b"),
        "predict_logits": lambda model: predict_logits(model, features),
        "greedy_decode": lambda model: greedy_decode(model, ids),
        "beam_search": lambda model: beam_search(model, ids),
    }


@pytest.mark.parametrize(
    "site", ["fill_mask", "is_next_probability", "predict_logits", "greedy_decode", "beam_search"]
)
def test_prediction_helpers_leave_a_training_model_in_training_mode_on_error(site, tokenizer):
    model = Broken().train()
    with pytest.raises(RuntimeError, match="boom"):
        call_sites(tokenizer)[site](model)
    assert model.training


def test_model_device_and_a_clear_error_without_parameters():
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    with pytest.raises(ValueError, match="has no parameters"):
        model_device(nn.ReLU())


def test_num_parameters_counts_a_tied_tensor_once():
    encoder = BertModel(SMALL)
    pretraining = BertForPreTraining(SMALL)
    unique = {id(p): p.numel() for p in pretraining.parameters()}
    assert pretraining.num_parameters() == sum(unique.values()) == num_parameters(pretraining)
    # The heads add the MLM transform, the MLM bias and NSP, not a second embedding matrix.
    h, v = SMALL.hidden_size, SMALL.vocab_size
    heads = (h * h + h) + 2 * h + v + (2 * h + 2)
    assert pretraining.num_parameters() == encoder.num_parameters() + heads
    qa = BertForQuestionAnswering.from_encoder(encoder)
    assert qa.num_parameters() == encoder.num_parameters() + 2 * h + 2
    seq2seq = BertEncoderDecoder.from_encoder(encoder)
    assert (
        seq2seq.num_parameters()
        < encoder.num_parameters() + num_parameters(seq2seq.decoder_layers) + v * h
    )  # the shared word-embedding table is not counted twice
    assert num_parameters([torch.zeros(3, 4), torch.zeros(5)]) == 17
