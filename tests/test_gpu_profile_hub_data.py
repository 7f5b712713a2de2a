"""The gpu profile's loaders and recipes, driven for a few steps on the CPU through local copies of
the three Hub datasets in their exact schemas (see tests/hub_datasets.py)."""

from __future__ import annotations

import json
import math

import datasets
import hub_datasets
import pytest
import torch

from bertedu.data.corpus import load_corpus
from bertedu.data.wikitext import load_wikitext
from bertedu.model import BertConfig
from bertedu.pretraining import get_recipe, pretrain
from bertedu.qa.datasets import MS_MARCO_NO_ANSWER, load_ms_marco, load_squad
from bertedu.qa.extractive import BertForQuestionAnswering, prepare_features
from bertedu.qa.finetune import evaluate_extractive, evaluate_generative, finetune, get_qa_recipe
from bertedu.qa.generative import BertEncoderDecoder, prepare_seq2seq_features

pytestmark = pytest.mark.usefixtures("one_thread")

# Small widths keep the steps fast; 512 positions hold the gpu recipes' 384-token windows.
SMALL = BertConfig.tiny(hidden_size=32, intermediate_size=64, num_attention_heads=2)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The local Hub: ``datasets.load_dataset`` reads the copies; the list records every call."""
    return hub_datasets.install(monkeypatch, tmp_path / "hub")


def test_local_copies_have_the_hub_features(hub):
    wikitext = datasets.load_dataset("Salesforce/wikitext", "wikitext-103-raw-v1", split="train")
    squad = datasets.load_dataset("rajpurkar/squad", split="validation")
    marco = datasets.load_dataset("microsoft/ms_marco", "v2.1", split="train[:10]")
    assert wikitext.features == hub_datasets.WIKITEXT_FEATURES
    assert squad.features == hub_datasets.SQUAD_FEATURES
    assert marco.features == hub_datasets.MS_MARCO_FEATURES
    assert len(marco) == 10  # the split slice went through datasets
    assert any(line.startswith(" = ") and not line.startswith(" = = ") for line in wikitext["text"])
    row = squad[0]
    start, text = row["answers"]["answer_start"][0], row["answers"]["text"][0]
    assert row["context"][start : start + len(text)] == text
    assert [MS_MARCO_NO_ANSWER] in marco["answers"]


def test_wikitext_103_loads_by_its_canonical_hub_name(hub):
    documents = load_corpus("wikitext-103", limit=30)
    assert hub == [("Salesforce/wikitext", "wikitext-103-raw-v1", "train")]
    assert len(documents) == 30
    first = documents[0]
    assert first.source == "wikitext/wikitext-103-raw-v1/train"
    text = " ".join(first.sentences)
    assert "1,000 parts and 3.14 more" in text  # @,@ and @.@ joined back
    assert "History" not in text  # section headings dropped, the article kept whole
    assert load_wikitext("wikitext-2-raw-v1")[0].title == first.title


def test_gpu_pretraining_recipe_trains_on_hub_shaped_wikitext(hub, tmp_path):
    # held_out_fraction 0.1: the recipe's 0.5% of 40 articles is a single one, and NSP
    # negatives need two; everything else is the gpu recipe.
    recipe = get_recipe("gpu").replace(
        held_out_fraction=0.1,
        total_steps=3,
        batch_size=8,
        eval_batch_size=16,
        eval_every=3,
        checkpoint_every=3,
        log_every=1,
        device="cpu",
    )
    run = pretrain(recipe, output_dir=tmp_path / "run", progress=False, num_proc=1)
    assert run.result.step == 3 and all(math.isfinite(v) for v in run.result.losses.values())
    assert run.data.stats["corpus"] == "wikitext-103"
    assert run.model.max_predictions == recipe.max_predictions
    # pad_to_max: every batch has the static shape torch.compile wants.
    batch = next(run.data.train.epoch_batches(0))
    assert batch["input_ids"].shape == (8, recipe.max_seq_length)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3]
    assert "mask_accuracy" in next(r for r in records if r["split"] == "eval")
    # The sentence-split corpus was cached for the other processes and later runs.
    assert len(list((tmp_path / "run" / "cache").glob("documents-wikitext-103-*"))) == 1


def test_gpu_extractive_recipe_trains_on_hub_shaped_squad(hub, tokenizer):
    recipe = get_qa_recipe("extractive", "gpu")
    train_examples = load_squad("train", limit=recipe.train_limit)
    dev_examples = load_squad("validation", limit=recipe.dev_limit)
    assert [call[0] for call in hub] == ["rajpurkar/squad", "rajpurkar/squad"]
    assert len(train_examples) == 24 and all(e.is_extractive for e in train_examples)
    features = prepare_features(train_examples, tokenizer, recipe.max_length, recipe.stride)
    model = BertForQuestionAnswering(SMALL)
    result = finetune(model, features, recipe, generator=torch.Generator().manual_seed(0))
    assert result.step >= recipe.epochs and all(math.isfinite(v) for v in result.losses.values())
    scores, predictions = evaluate_extractive(model, dev_examples, tokenizer, recipe)
    assert set(predictions) == {e.id for e in dev_examples}
    assert 0 <= scores["f1"] <= 100


def test_gpu_generative_recipe_trains_on_hub_shaped_ms_marco(hub, tokenizer):
    recipe = get_qa_recipe("generative", "gpu")
    train_examples = load_ms_marco("train", limit=recipe.train_limit)
    dev_examples = load_ms_marco("validation", limit=recipe.dev_limit)
    assert hub[0] == ("microsoft/ms_marco", "v2.1", f"train[:{recipe.train_limit}]")
    assert len(train_examples) == 20  # the 4 "No Answer Present." questions are dropped
    assert all(MS_MARCO_NO_ANSWER not in e.answers for e in train_examples)
    features = prepare_seq2seq_features(
        train_examples, tokenizer, recipe.max_length, recipe.max_target_length
    )
    model = BertEncoderDecoder(SMALL)
    result = finetune(model, features, recipe, generator=torch.Generator().manual_seed(0))
    assert result.step >= recipe.epochs and all(math.isfinite(v) for v in result.losses.values())
    dev = prepare_seq2seq_features(dev_examples, tokenizer, recipe.max_length, with_labels=False)
    scores, answers = evaluate_generative(model, dev, tokenizer, max_new_tokens=4)
    assert len(answers) == len(dev_examples) == 10
    assert set(scores) >= {"bleu", "rouge_l"}
