"""Exporting a training checkpoint as a shipped fp16 model, and loading the shipped BERT-Tiny."""

from __future__ import annotations

import json

import pytest
import torch
from test_pretraining import collator, instances

from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining import evaluate_pretraining, export_pretrained, fixed_batches
from bertedu.train.checkpoint import load_weights, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def test_export_writes_a_small_reproducible_model(tmp_path):
    torch.manual_seed(0)
    config = BertConfig.tiny(vocab_size=200, max_position_embeddings=32)
    model = BertForPreTraining(config)
    run = tmp_path / "run"
    save_checkpoint(run, model=model, step=7, extra={"elapsed_s": 60.0})
    recipe = {
        "profile": "smoke",
        "corpus": "embedded",
        "mlm_probability": 0.15,
        "batch_size": 4,
        "grad_accumulation": 1,
        "instance_sets": 1,
        "max_predictions": 3,
        "max_seq_length": 32,
    }
    data = {
        "held_out_documents": 2,
        "held_out_instances": 10,
        "train_documents": 20,
        "train_tokens": 500,
        "train_instances_per_set": [40],
        "baselines": {
            "unigram": {"mask_accuracy": 0.05, "mask_loss": 5.0, "labelled_accuracy": 0.04},
            "copy_rule": {
                "mask_accuracy": 0.05,
                "kept_accuracy": 1.0,
                "random_accuracy": 0.0,
                "labelled_accuracy": 0.15,
            },
            "nsp_majority": {"nsp_accuracy": 0.5, "majority": 0},
            "nsp_word_overlap": {"nsp_accuracy": 0.8, "threshold": 0.1},
        },
    }
    (run / "run.json").write_text(
        json.dumps({"recipe": recipe, "seed": 0, "data": data, "commit": "abc"})
    )
    (run / "metrics.jsonl").write_text('{"split": "train", "step": 7, "loss": 6.0}\n')
    held = fixed_batches(instances(10), collator(), batch_size=5, seed=0)

    info = export_pretrained(
        run / "step-00000007",
        tmp_path / "shipped",
        held_out=held,
        run_dir=run,
        examples=[{"text": "a [MASK] b", "predictions": "x (0.10)"}],
        mask_token_id=4,
    )
    shipped = tmp_path / "shipped"
    assert sorted(p.name for p in shipped.iterdir()) == [
        "MODEL_CARD.md",
        "config.json",
        "metrics.json",
        "model.safetensors",
        "training_log.jsonl",
    ]
    assert info["steps"] == 7 and info["wall_time_s"] == 60.0 and info["commit"] == "abc"
    # The card's metrics are those of the fp16 weights, reproducible by anyone who loads them.
    reloaded = load_weights(
        BertForPreTraining(BertConfig.from_dict(json.loads((shipped / "config.json").read_text()))),
        shipped / "model.safetensors",
    ).eval()
    with torch.no_grad():
        assert evaluate_pretraining(reloaded, held, mask_token_id=4) == pytest.approx(
            info["held_out"], nan_ok=True
        )
    card = (shipped / "MODEL_CARD.md").read_text()
    assert (
        f"**{info['held_out']['mask_accuracy']:.1%}**" in card
        and "`abc`" in card
        and "--profile smoke" in card
        and "Wikipedia" in card
        and "a [MASK] b" in card
    )
