"""QA fine-tuning goes through bertedu.train; recipes per profile; held-out scoring."""

from __future__ import annotations

import pytest
import torch

from bertedu.model import BertConfig
from bertedu.qa.datasets import QAExample
from bertedu.qa.extractive import (
    DEFAULT_MAX_QUESTION_LENGTH,
    BertForQuestionAnswering,
    prepare_features,
)
from bertedu.qa.finetune import (
    evaluate_extractive,
    evaluate_generative,
    finetune,
    get_qa_recipe,
    split_by_passage,
)
from bertedu.qa.generative import BertEncoderDecoder, prepare_seq2seq_features
from bertedu.train import TrainConfig

CONTEXT = "BERT is a language model. It was developed by Google's AI team in 2018."
EXAMPLES = [
    QAExample(
        "a", "Who developed BERT?", CONTEXT, ("Google's AI team",), (CONTEXT.index("Google"),)
    ),
    QAExample("b", "When was BERT developed?", CONTEXT, ("2018",), (CONTEXT.index("2018"),)),
]
SMALL = BertConfig.tiny(hidden_size=32, intermediate_size=64, max_position_embeddings=64)


@pytest.mark.parametrize("task", ["extractive", "generative"])
@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_every_qa_recipe_fits_bert_and_trains(task, profile, tokenizer):
    recipe = get_qa_recipe(task, profile)
    assert recipe.max_length <= BertConfig.tiny().max_position_embeddings
    # A question of the longest kept length still leaves windows that advance.
    question = " ".join(["word"] * DEFAULT_MAX_QUESTION_LENGTH)
    long_example = QAExample("long", question, CONTEXT * 40, ("Google",))
    if task == "extractive":
        features = prepare_features(
            [long_example], tokenizer, recipe.max_length, recipe.stride, with_labels=False
        )
        assert len(features) >= 2  # several windows over the long passage
    else:
        features = prepare_seq2seq_features(
            [long_example], tokenizer, recipe.max_length, recipe.max_target_length
        )
        assert features.context_truncated == [True] and features.labels.shape[1] >= 2
    config = TrainConfig(total_steps=100, lr=recipe.lr, warmup_fraction=recipe.warmup_fraction)
    assert 0 < config.warmup_steps < 100


def test_qa_recipe_lookup_has_the_pretraining_shape():
    assert get_qa_recipe("extractive", "cpu", lr=1e-3).lr == 1e-3
    assert get_qa_recipe("extractive", "cpu").lr != 1e-3  # the table is not changed
    assert get_qa_recipe("generative", "gpu").replace(epochs=1).epochs == 1
    with pytest.raises(ValueError, match="Unknown task 'abstractive'; use one of extractive"):
        get_qa_recipe("abstractive", "cpu")
    with pytest.raises(ValueError, match="Unknown profile 'tpu'"):
        get_qa_recipe("extractive", "tpu")


def test_extractive_finetune_uses_the_training_loop(tokenizer):
    torch.manual_seed(0)
    model = BertForQuestionAnswering(SMALL)
    recipe = get_qa_recipe(
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
    recipe = get_qa_recipe(
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
    assert answers == ["Google's AI team", "2018"]  # the passage's characters, not lower case
    assert (
        set(scores) == {"bleu", "rouge_l", "ms_marco_rouge_l", "bleu_1", "exact_match", "f1"}
        and scores["exact_match"] == 100.0
    )


def test_keep_best_scores_every_epoch_and_ends_with_the_best_epochs_weights(tokenizer):
    torch.manual_seed(0)
    model = BertForQuestionAnswering(SMALL)
    recipe = get_qa_recipe("extractive", "smoke", max_length=48, stride=8, batch_size=1, lr=1e-2)
    features = prepare_features(EXAMPLES, tokenizer, recipe.max_length, recipe.stride)
    seen = []

    def evaluate(m):  # a made-up score that peaks after the second epoch
        seen.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"f1": [10.0, 50.0, 20.0, 5.0][len(seen) - 1]}

    run = finetune(
        model,
        features,
        recipe.replace(epochs=2.5),
        generator=torch.Generator().manual_seed(0),
        evaluate=evaluate,
        keep_best="f1",
    )
    assert [(row["epoch"], row["step"]) for row in run.curve] == [(1, 2), (2, 4), (2.5, 5)]
    assert run.best_epoch == 2 and run.step == 5
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, seen[1][name])
    assert not torch.equal(seen[1]["qa_outputs.weight"], seen[2]["qa_outputs.weight"])
    with pytest.raises(ValueError, match="keep_best needs an evaluate"):
        finetune(model, features, recipe, generator=torch.Generator(), keep_best="f1")
    with pytest.raises(ValueError, match="'em' is not among"):
        finetune(
            model,
            features,
            recipe,
            generator=torch.Generator(),
            evaluate=lambda m: {"f1": 1.0},
            keep_best="em",
        )


def test_split_by_passage_keeps_each_passage_on_one_side():
    examples = [
        QAExample(f"{p}-{q}", "Who?", f"passage {p}", ("x",)) for p in range(10) for q in range(3)
    ]
    train_part, validation = split_by_passage(examples, 0.2, seed=1)
    assert len(validation) == 6 and len(train_part) == 24
    assert not {e.context for e in train_part} & {e.context for e in validation}
    assert split_by_passage(examples, 0.2, seed=1) == (train_part, validation)
    with pytest.raises(ValueError, match="at least two passages"):
        split_by_passage(examples[:3], 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_by_passage(examples, 1.0)
