"""bertedu.pretraining and recipes: resumable batches, held-out metrics, the unigram baseline."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F

from bertedu.constants import IGNORE_INDEX
from bertedu.data.nsp import Instance
from bertedu.data.pipeline import PretrainingCollator
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining import (
    PretrainingBatches,
    evaluate_pretraining,
    fixed_batches,
    unigram_baseline,
)
from bertedu.pretraining.recipes import RECIPES, get_recipe
from bertedu.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB = 200


def instances(count: int, seed: int = 0) -> list[Instance]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for index in range(count):
        a = torch.randint(
            10, VOCAB, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g
        ).tolist()
        b = torch.randint(
            10, VOCAB, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g
        ).tolist()
        out.append(Instance(tuple(a), tuple(b), bool(index % 2)))
    return out


def collator(seed: int = 0) -> PretrainingCollator:
    return PretrainingCollator(
        cls_id=2,
        sep_id=3,
        pad_id=0,
        mask_token_id=4,
        vocab_size=VOCAB,
        random_token_ids=torch.arange(10, VOCAB),
        generator=torch.Generator().manual_seed(seed),
        max_predictions=3,
    )


def unmasked_view(batch):
    return {k: batch[k] for k in ("token_type_ids", "attention_mask", "next_sentence_label")}


def test_batches_start_anywhere_without_replaying():
    source = PretrainingBatches(
        [instances(20), instances(20, seed=1)], collator(), batch_size=4, seed=3
    )
    assert source.batches_in_epoch(0) == 5
    full = [unmasked_view(b) for b in source.epoch_batches(0)]
    tail = [unmasked_view(b) for b in source.epoch_batches(0, start=3)]
    for a, b in zip(full[3:], tail, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(tail) == 2
    # Epoch 1 reads the second instance set in another order; epoch 2 the first set again,
    # reshuffled.
    first_rows = [
        unmasked_view(next(source.epoch_batches(e)))["attention_mask"].sum(1).tolist()
        for e in range(3)
    ]
    assert first_rows[0] != first_rows[2]


def test_masks_follow_the_generator():
    source = PretrainingBatches([instances(8)], collator(seed=5), batch_size=4, seed=0)
    state = source.generator.get_state()
    first = next(source.epoch_batches(0))
    source.generator.set_state(state)
    again = next(source.epoch_batches(0))
    assert torch.equal(first["input_ids"], again["input_ids"]) and torch.equal(
        first["labels"], again["labels"]
    )


def test_too_few_instances_are_explained():
    with pytest.raises(ValueError, match="at least batch_size=8"):
        PretrainingBatches([instances(5)], collator(), batch_size=8, seed=0)


def test_fixed_batches_are_the_same_every_time():
    a = fixed_batches(instances(10), collator(), batch_size=4, seed=1)
    b = fixed_batches(instances(10), collator(seed=99), batch_size=4, seed=1)
    assert [x["labels"].shape[0] for x in a] == [4, 4, 2]
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b, strict=True))


def test_evaluation_matches_a_dense_computation():
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=VOCAB, max_position_embeddings=32)).eval()
    batches = fixed_batches(instances(12), collator(), batch_size=5, seed=2)
    with torch.no_grad():
        metrics = evaluate_pretraining(model, batches)
        losses, correct, nsp_correct = [], 0, 0
        for batch in batches:
            out = model(
                batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
            )  # dense logits
            selected = batch["labels"] != IGNORE_INDEX
            logits, targets = out.mlm_logits[selected], batch["labels"][selected]
            losses += F.cross_entropy(logits, targets, reduction="none").tolist()
            correct += int((logits.argmax(-1) == targets).sum())
            nsp_correct += int((out.nsp_logits.argmax(-1) == batch["next_sentence_label"]).sum())
    assert metrics["mlm_loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-5)
    assert metrics["mlm_perplexity"] == pytest.approx(math.exp(metrics["mlm_loss"]))
    assert metrics["mlm_accuracy"] == pytest.approx(correct / len(losses))
    assert metrics["nsp_accuracy"] == pytest.approx(nsp_correct / 12)


def test_unigram_baseline_by_hand():
    train = [Instance((10, 10, 11), (10,), False)]  # counts: 10 x3, 11 x1
    labels = torch.full((1, 4), IGNORE_INDEX)
    labels[0, 1], labels[0, 2] = 10, 12
    held = [{"labels": labels, "input_ids": torch.zeros(1, 4, dtype=torch.long)}]
    result = unigram_baseline(train, held, vocab_size=VOCAB)
    expected = -(math.log(4 / (4 + VOCAB)) + math.log(1 / (4 + VOCAB))) / 2
    assert result["mlm_loss"] == pytest.approx(expected) and result["mlm_accuracy"] == 0.5
    assert result["top_token_id"] == 10


@pytest.mark.parametrize("profile", sorted(RECIPES))
def test_every_recipe_makes_a_valid_run(profile):
    recipe = get_recipe(profile)
    config = recipe.model_config()
    assert config.max_position_embeddings >= recipe.max_seq_length
    assert 0 < recipe.train.warmup_steps < recipe.train.total_steps
    assert recipe.train.eval_every <= recipe.train.total_steps
    if recipe.train.compile:  # torch.compile recompiles for every new shape
        assert recipe.pad_to_max
    flat = recipe.to_dict()
    assert json.loads(json.dumps(flat))["total_steps"] == recipe.train.total_steps
    assert {f.name for f in dataclasses.fields(TrainConfig)} < set(flat)
    assert "train" not in flat


def test_recipe_changes_reach_the_train_config_and_leave_the_profile_alone():
    cpu = get_recipe("cpu")
    short = get_recipe("cpu", total_steps=300, corpus="wikitext-2")
    assert (short.train.total_steps, short.corpus, short.batch_size) == (300, "wikitext-2", 32)
    assert short.train.warmup_steps == round(300 * cpu.train.warmup_fraction)  # same fraction
    short.train.total_steps = 1
    short.model["hidden_size"] = 64
    assert get_recipe("cpu") == cpu and "hidden_size" not in get_recipe("cpu").model
    with pytest.raises(dataclasses.FrozenInstanceError):
        cpu.batch_size = 1
    with pytest.raises(ValueError, match=r"Unknown recipe fields \['stepz'\]"):
        cpu.replace(stepz=10)
    with pytest.raises(ValueError, match="Unknown profile 'tpu'"):
        get_recipe("tpu")


def test_unigram_bias_starts_at_the_baseline():
    """With the output bias at log frequencies, the untrained model's MLM loss is near the unigram
    baseline."""
    from bertedu.pretraining import init_for_pretraining, unigram_log_probabilities

    train = instances(200)
    held = fixed_batches(instances(40, seed=3), collator(), batch_size=20, seed=0)
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=VOCAB, max_position_embeddings=32)).eval()
    with torch.no_grad():
        before = evaluate_pretraining(model, held)["mlm_loss"]
        init_for_pretraining(model, unigram_log_probs=unigram_log_probabilities(train, VOCAB))
        after = evaluate_pretraining(model, held)["mlm_loss"]
    baseline = unigram_baseline(train, held, vocab_size=VOCAB)["mlm_loss"]
    assert before == pytest.approx(math.log(VOCAB), abs=0.1)
    assert after == pytest.approx(baseline, abs=0.1) and after < before


def test_sinusoidal_positions():
    from bertedu.pretraining import init_for_pretraining, sinusoidal_positions

    table = sinusoidal_positions(16, 8)
    assert torch.allclose(table[0], torch.tensor([0.0, 1.0] * 4))
    # An offset is a rotation: dot products depend on the distance only.
    assert torch.allclose(table[3] @ table[5], table[10] @ table[12], atol=1e-5)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=VOCAB, max_position_embeddings=32))
    init_for_pretraining(model, sinusoidal_position_std=0.02)
    assert model.bert.embeddings.position_embeddings.weight.std().item() == pytest.approx(
        0.02, rel=1e-3
    )


def test_group_by_length_keeps_every_instance_and_cuts_padding():
    data = instances(64)
    plain = PretrainingBatches([data], collator(), batch_size=4, seed=0)
    grouped = PretrainingBatches([data], collator(), batch_size=4, seed=0, group_by_length=8)
    for source in (plain, grouped):
        order = source.epoch_order(0)
        assert sorted(i for batch in order for i in batch) == list(range(64))
    assert grouped.epoch_order(0) == grouped.epoch_order(0) and grouped.epoch_order(
        1
    ) != grouped.epoch_order(0)

    def padded_tokens(source):
        lengths = [
            [len(data[i].tokens_a) + len(data[i].tokens_b) for i in batch]
            for batch in source.epoch_order(0)
        ]
        return sum(max(row) * len(row) for row in lengths)

    assert padded_tokens(grouped) < padded_tokens(plain)


def test_mlm_predictions_agree_with_accuracy():
    from bertedu.pretraining import mlm_predictions

    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=VOCAB, max_position_embeddings=32)).eval()
    batches = fixed_batches(instances(12), collator(), batch_size=5, seed=2)
    with torch.no_grad():
        targets, top1 = mlm_predictions(model, batches)
        accuracy = evaluate_pretraining(model, batches)["mlm_accuracy"]
    assert targets.shape == top1.shape and targets.numel() == sum(
        int((b["labels"] != IGNORE_INDEX).sum()) for b in batches
    )
    assert (targets == top1).float().mean().item() == pytest.approx(accuracy)
