"""bertedu.pretraining and recipes: resumable batches, held-out metrics, the unigram baseline."""

from __future__ import annotations

import dataclasses
import json
import math
from itertools import pairwise

import pytest
import torch

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
from bertedu.pretraining.baselines import (
    WordOverlapRule,
    copy_rule_baseline,
    nsp_majority_baseline,
)
from bertedu.pretraining.evaluation import position_kinds
from bertedu.pretraining.recipes import RECIPES, get_recipe
from bertedu.train import TrainConfig
from bertedu.weights import pretrained_tiny_path

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB = 200
MASK = 4  # the toy collator's [MASK] id


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


def test_a_curriculum_reads_the_short_sets_first_then_the_full_ones():
    short = [Instance((11, 12), (13,), False) for _ in range(12)]
    full = instances(8)
    source = PretrainingBatches(
        [full], collator(), batch_size=4, seed=0, short_sets=[short], short_epochs=2
    )
    assert [source.batches_in_epoch(e) for e in range(4)] == [3, 3, 2, 2]
    assert [source.instances_of_epoch(e) for e in range(4)] == [short, short, full, full]
    for epoch, length in ((0, 6), (1, 6)):  # [CLS] a [SEP] b [SEP]
        assert all(b["input_ids"].shape[1] == length for b in source.epoch_batches(epoch))
    assert max(b["input_ids"].shape[1] for b in source.epoch_batches(2)) > 6
    with pytest.raises(ValueError, match="needs both short_sets and short_epochs > 0"):
        PretrainingBatches([full], collator(), batch_size=4, seed=0, short_epochs=1)


def test_cpu_long_reproduces_the_shipped_run_without_the_later_curriculum():
    """The shipped run (cpu-long, resumed to 10,000 updates) predates the curriculum and the
    NSP weight: its recipe is cpu-long's in every field it recorded."""
    shipped = json.loads((pretrained_tiny_path() / "metrics.json").read_text())["recipe"]
    cpu_long = json.loads(json.dumps(get_recipe("cpu-long").to_dict()))
    assert get_recipe("cpu").short_seq_epochs == 2 and cpu_long["short_seq_epochs"] == 0
    assert cpu_long["nsp_weight"] == 1.0 and cpu_long["total_steps"] == 5000
    recorded = {k: v for k, v in shipped.items() if k != "total_steps"}
    assert {k: cpu_long[k] for k in recorded} == recorded


def test_curriculum_and_nsp_weight_are_checked_in_the_recipe():
    assert get_recipe("cpu", short_seq_epochs=2).short_seq_length == 64
    with pytest.raises(ValueError, match="short_seq_length must be at least 8 and below"):
        get_recipe("cpu", short_seq_epochs=2, short_seq_length=128)
    with pytest.raises(ValueError, match="short_seq_epochs must be 0"):
        get_recipe("cpu", short_seq_epochs=-1)
    with pytest.raises(ValueError, match="nsp_weight must be a finite number >= 0"):
        get_recipe("cpu", nsp_weight=-0.5)


def test_a_run_trains_with_its_curriculum_and_nsp_weight(tmp_path, tokenizer):
    from bertedu.pretraining import prepare_data, pretrain
    from bertedu.pretraining.run import data_fingerprint

    recipe = get_recipe("smoke", total_steps=2, eval_every=2, checkpoint_every=2)
    curriculum = recipe.replace(short_seq_epochs=1, short_seq_length=24, nsp_weight=0.5)
    plain, data = (prepare_data(r, tokenizer, seed=0) for r in (recipe, curriculum))
    short_lengths = [len(i.tokens_a) + len(i.tokens_b) for i in data.train.short_sets[0]]
    full_lengths = [len(i.tokens_a) + len(i.tokens_b) for i in data.train.instance_sets[0]]
    assert max(short_lengths) <= 24 - 3 < max(full_lengths)  # room for [CLS] and two [SEP]
    assert data.stats["short_instances_per_set"] == [len(short_lengths)]
    assert data_fingerprint(data) != data_fingerprint(plain)
    run = pretrain(curriculum, output_dir=tmp_path, data=data, tokenizer=tokenizer, progress=False)
    assert run.model.nsp_loss_weight == 0.5
    recorded = json.loads((tmp_path / "run.json").read_text())["recipe"]
    assert (recorded["short_seq_epochs"], recorded["nsp_weight"]) == (1, 0.5)


def test_a_run_masks_the_same_whatever_was_drawn_from_its_data_before(tmp_path, tokenizer):
    """Chapter 5 draws a batch to look at before its live run; the run must still be the
    command line's run of the same recipe and seed (the same masks, the same losses)."""
    from bertedu.pretraining import prepare_data, pretrain

    recipe = get_recipe("smoke", total_steps=3, eval_every=3, checkpoint_every=3)
    losses = []
    for looked in (False, True):
        data = prepare_data(recipe, tokenizer, seed=0)
        if looked:
            next(data.train.epoch_batches(0))  # advances the masking generator
        run = pretrain(
            recipe,
            output_dir=tmp_path / str(looked),
            data=data,
            tokenizer=tokenizer,
            seed=0,
            progress=False,
        )
        losses.append(run.result.losses)
    assert len(losses[0]) == 3
    assert losses[0] == losses[1]


def test_too_few_instances_are_explained():
    with pytest.raises(ValueError, match="at least batch_size=8"):
        PretrainingBatches([instances(5)], collator(), batch_size=8, seed=0)


def test_fixed_batches_are_the_same_every_time():
    a = fixed_batches(instances(10), collator(), batch_size=4, seed=1)
    b = fixed_batches(instances(10), collator(seed=99), batch_size=4, seed=1)
    assert [x["labels"].shape[0] for x in a] == [4, 4, 2]
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b, strict=True))


def test_evaluation_matches_a_dense_computation_by_kind_of_position():
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=VOCAB, max_position_embeddings=32)).eval()
    batches = fixed_batches(instances(40), collator(), batch_size=7, seed=2)
    with torch.no_grad():
        metrics = evaluate_pretraining(model, batches, mask_token_id=MASK)
        rows = {"mask": [], "kept": [], "random": [], "labelled": []}  # (loss, right, top5, guess)
        nsp_correct = 0
        for batch in batches:
            out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
            for row in range(batch["labels"].shape[0]):
                for pos in range(batch["labels"].shape[1]):
                    target = int(batch["labels"][row, pos])
                    if target == IGNORE_INDEX:
                        continue
                    logits = out.mlm_logits[row, pos]
                    shown = int(batch["input_ids"][row, pos])
                    kind = "mask" if shown == MASK else "kept" if shown == target else "random"
                    entry = (
                        float(-logits.log_softmax(-1)[target]),
                        int(logits.argmax()) == target,
                        target in logits.topk(5).indices.tolist(),
                        int(logits.argmax()),
                    )
                    rows[kind].append(entry)
                    rows["labelled"].append(entry)
            nsp_correct += int((out.nsp_logits.argmax(-1) == batch["next_sentence_label"]).sum())
    assert all(rows[kind] for kind in ("mask", "kept", "random"))  # the test sees all three kinds

    def mean(kind, column):
        return sum(entry[column] for entry in rows[kind]) / len(rows[kind])

    assert metrics["mask_loss"] == pytest.approx(mean("mask", 0), rel=1e-5)
    assert metrics["mask_perplexity"] == pytest.approx(math.exp(metrics["mask_loss"]))
    assert metrics["mask_accuracy"] == pytest.approx(mean("mask", 1))
    assert metrics["mask_top5_accuracy"] == pytest.approx(mean("mask", 2))
    assert metrics["mask_distinct_predictions"] == len({entry[3] for entry in rows["mask"]})
    assert metrics["mask_positions"] == len(rows["mask"])
    assert metrics["kept_positions"] == len(rows["kept"])
    assert metrics["random_positions"] == len(rows["random"])
    assert metrics["kept_accuracy"] == pytest.approx(mean("kept", 1))
    assert metrics["random_accuracy"] == pytest.approx(mean("random", 1))
    assert metrics["labelled_accuracy"] == pytest.approx(mean("labelled", 1))
    assert metrics["labelled_loss"] == pytest.approx(mean("labelled", 0), rel=1e-5)
    assert metrics["nsp_accuracy"] == pytest.approx(nsp_correct / 40)


def test_evaluation_says_when_no_position_shows_the_mask_token():
    model = BertForPreTraining(BertConfig.tiny(vocab_size=VOCAB, max_position_embeddings=32)).eval()
    batches = fixed_batches(instances(6), collator(), batch_size=3, seed=2)
    with pytest.raises(ValueError, match=r"mask_token_id=7 must be the tokenizer's \[MASK\] id"):
        evaluate_pretraining(model, batches, mask_token_id=7)


def test_position_kinds_split_the_labelled_positions():
    input_ids = torch.tensor([[2, MASK, 15, 30, 16, 3]])
    labels = torch.tensor([[IGNORE_INDEX, 12, 15, 31, IGNORE_INDEX, IGNORE_INDEX]])
    kinds = position_kinds(input_ids, labels, MASK)
    assert kinds["mask"].tolist() == [True, False, False]
    assert kinds["kept"].tolist() == [False, True, False]
    assert kinds["random"].tolist() == [False, False, True]


def held_batch(input_ids, labels, nsp=(0,)):
    ids = torch.tensor([input_ids])
    return {
        "input_ids": ids,
        "labels": torch.tensor([labels]),
        "next_sentence_label": torch.tensor(list(nsp)),
    }


def test_unigram_baseline_by_hand():
    train = [Instance((10, 10, 11), (10,), False)]  # counts: 10 x3, 11 x1
    # positions: [MASK] -> 10, [MASK] -> 12, kept 11
    held = [held_batch([2, MASK, MASK, 11, 3], [IGNORE_INDEX, 10, 12, 11, IGNORE_INDEX])]
    result = unigram_baseline(train, held, vocab_size=VOCAB, mask_token_id=MASK)
    p10, p11, p12 = 4 / (4 + VOCAB), 2 / (4 + VOCAB), 1 / (4 + VOCAB)
    assert result["mask_loss"] == pytest.approx(-(math.log(p10) + math.log(p12)) / 2)
    assert result["mask_accuracy"] == 0.5
    assert result["labelled_loss"] == pytest.approx(
        -(math.log(p10) + math.log(p12) + math.log(p11)) / 3
    )
    assert result["labelled_accuracy"] == pytest.approx(1 / 3)
    assert result["top_token_id"] == 10


def test_copy_rule_is_right_at_kept_positions_and_guesses_the_top_token_at_mask():
    # [MASK] -> 10 (right: top), [MASK] -> 12 (wrong), kept 11 (right), random 40 for 13 (wrong)
    held = [held_batch([2, MASK, MASK, 11, 40, 3], [IGNORE_INDEX, 10, 12, 11, 13, IGNORE_INDEX])]
    result = copy_rule_baseline(held, top_token_id=10, mask_token_id=MASK)
    assert result == {
        "mask_accuracy": 0.5,
        "kept_accuracy": 1.0,
        "random_accuracy": 0.0,
        "labelled_accuracy": 0.5,
    }


def test_nsp_majority_baseline_answers_the_training_majority():
    train = [Instance((10,), (11,), True)] * 3 + [Instance((10,), (11,), False)]
    held = [
        held_batch([2, 3], [IGNORE_INDEX] * 2, nsp=(1,)),
        held_batch([2, 3], [IGNORE_INDEX] * 2, nsp=(0,)),
        held_batch([2, 3], [IGNORE_INDEX] * 2, nsp=(1,)),
    ]
    result = nsp_majority_baseline(train, held)
    assert result == {"nsp_accuracy": pytest.approx(2 / 3), "majority": 1}


class ToyTokenizer:
    """The two methods WordOverlapRule reads: a vocabulary and the special tokens."""

    all_special_tokens = ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]

    def __init__(self):
        self.vocab = {"[PAD]": 0, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, ",": 5}
        self.vocab |= {f"w{i}": i for i in range(10, VOCAB)}

    def get_vocab(self):
        return self.vocab

    def __len__(self):
        return VOCAB


def overlap_instances(count, seed):
    """True continuations share a rare topic word; random ones share only frequent words."""
    rng = torch.Generator().manual_seed(seed)
    out = []
    for index in range(count):
        topic = int(torch.randint(20, 110, (1,), generator=rng))
        other = int(torch.randint(110, VOCAB, (1,), generator=rng))  # never a topic word
        common = (10, 11, 5)
        is_random = bool(index % 2)
        out.append(
            Instance((*common, topic), (*common, other if is_random else topic, 5), is_random)
        )
    return out


def test_word_overlap_rule_learns_that_shared_rare_words_mean_a_true_continuation():
    rule = WordOverlapRule.fit(overlap_instances(200, seed=0), ToyTokenizer())
    assert 5 in rule.ignored and 4 in rule.ignored and 10 not in rule.ignored
    assert rule.idf[10] == 0.0 < rule.idf[150]  # "w10" is in every segment, w150 in few
    assert rule.score((10, 50, 5), (50, 5)) > rule.score((10, 50, 5), (10, 150)) == 0.0
    assert rule.score((5,), (5,)) == 0.0  # only ignored tokens: no evidence
    held = []
    for instance in overlap_instances(60, seed=1):
        ids = [2, *instance.tokens_a, 3, *instance.tokens_b, 3]
        types = [0] * (len(instance.tokens_a) + 2) + [1] * (len(instance.tokens_b) + 1)
        held.append(
            {
                "input_ids": torch.tensor([ids]),
                "token_type_ids": torch.tensor([types]),
                "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                "next_sentence_label": torch.tensor([int(instance.is_random_next)]),
            }
        )
    assert rule.accuracy(held) == 1.0


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
    assert (short.train.total_steps, short.corpus, short.batch_size) == (
        300,
        "wikitext-2",
        cpu.batch_size,
    )
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
        before = evaluate_pretraining(model, held, mask_token_id=MASK)["labelled_loss"]
        init_for_pretraining(model, unigram_log_probs=unigram_log_probabilities(train, VOCAB))
        after = evaluate_pretraining(model, held, mask_token_id=MASK)["labelled_loss"]
    baseline = unigram_baseline(train, held, vocab_size=VOCAB, mask_token_id=MASK)["labelled_loss"]
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


def test_group_by_length_sorts_by_the_lengths_of_the_set_the_epoch_reads():
    """In a curriculum the short and the full sets have different lengths: each group of
    batches must be sorted by the lengths of the set that epoch reads, not another's."""
    full = instances(32, seed=4)
    short = instances(32, seed=5)
    source = PretrainingBatches(
        [full],
        collator(),
        batch_size=4,
        seed=0,
        group_by_length=8,
        short_sets=[short],
        short_epochs=1,
    )
    for epoch, data in ((0, short), (1, full)):
        rows = [
            sorted(len(data[i].tokens_a) + len(data[i].tokens_b) for i in batch)
            for batch in source.epoch_order(epoch)
        ]
        # within a group the batches cover disjoint, ordered ranges of lengths
        ordered = sorted(rows)
        assert all(a[-1] <= b[0] for a, b in pairwise(ordered)), epoch


def test_mlm_predictions_agree_with_accuracy():
    from bertedu.pretraining import mlm_predictions

    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=VOCAB, max_position_embeddings=32)).eval()
    batches = fixed_batches(instances(12), collator(), batch_size=5, seed=2)
    with torch.no_grad():
        targets, top1 = mlm_predictions(model, batches)
        accuracy = evaluate_pretraining(model, batches, mask_token_id=MASK)["labelled_accuracy"]
    assert targets.shape == top1.shape and targets.numel() == sum(
        int((b["labels"] != IGNORE_INDEX).sum()) for b in batches
    )
    assert (targets == top1).float().mean().item() == pytest.approx(accuracy)
