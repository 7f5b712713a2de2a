"""QA fine-tuning goes through bertedu.train; recipes per profile; held-out scoring."""

from __future__ import annotations

import pytest
import torch

from bertedu.model import BertConfig
from bertedu.qa.datasets import QAExample
from bertedu.qa.extractive import BertForQuestionAnswering, prepare_features
from bertedu.qa.finetune import (
    EXTRACTIVE_RECIPES,
    GENERATIVE_RECIPES,
    evaluate_extractive,
    evaluate_generative,
    finetune,
    recipe_for,
)
from bertedu.qa.generative import BertEncoderDecoder, prepare_seq2seq_features
from bertedu.tokenization import load_tokenizer

CONTEXT = "BERT is a language model. It was developed by Google's AI team in 2018."
EXAMPLES = [
    QAExample(
        "a", "Who developed BERT?", CONTEXT, ("Google's AI team",), (CONTEXT.index("Google"),)
    ),
    QAExample("b", "When was BERT developed?", CONTEXT, ("2018",), (CONTEXT.index("2018"),)),
]
SMALL = BertConfig.tiny(hidden_size=32, intermediate_size=64, max_position_embeddings=64)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_recipes():
    assert (
        recipe_for("extractive", "gpu").max_length == 384
        and recipe_for("extractive", "gpu").stride == 128
    )
    assert recipe_for("extractive", "cpu", lr=1e-3).lr == 1e-3
    assert set(EXTRACTIVE_RECIPES) == set(GENERATIVE_RECIPES) == {"smoke", "cpu", "gpu"}
    with pytest.raises(ValueError, match="extractive"):
        recipe_for("abstractive", "cpu")
    with pytest.raises(ValueError, match="profile"):
        recipe_for("extractive", "tpu")


def test_extractive_finetune_uses_the_training_loop(tokenizer):
    torch.manual_seed(0)
    model = BertForQuestionAnswering(SMALL)
    recipe = recipe_for(
        "extractive", "smoke", max_length=48, stride=8, batch_size=2, epochs=30, lr=1e-2
    )
    features = prepare_features(EXAMPLES, tokenizer, recipe.max_length, recipe.stride)
    run = finetune(
        model, features, recipe, generator=torch.Generator().manual_seed(0), device="cpu"
    )
    assert run.step == 30 and run.losses[30] < 0.2 * run.losses[1]
    scores, predictions = evaluate_extractive(model, EXAMPLES, tokenizer, recipe)
    assert predictions == {"a": "Google's AI team", "b": "2018"} and scores["exact_match"] == 100.0


def test_generative_finetune_and_scores(tokenizer):
    torch.manual_seed(0)
    model = BertEncoderDecoder(SMALL)
    recipe = recipe_for(
        "generative", "smoke", max_length=48, max_target_length=8, batch_size=2, epochs=80, lr=1e-2
    )
    features = prepare_seq2seq_features(
        EXAMPLES, tokenizer, recipe.max_length, recipe.max_target_length
    )
    run = finetune(
        model, features, recipe, generator=torch.Generator().manual_seed(0), device="cpu"
    )
    assert run.losses[run.step] < 0.1 * run.losses[1]
    scores, answers = evaluate_generative(model, features, tokenizer, "greedy", max_new_tokens=8)
    assert answers == ["google's ai team", "2018"]
    assert (
        set(scores) == {"bleu", "rouge_l", "exact_match", "f1"} and scores["exact_match"] == 100.0
    )
