"""The ``live`` recipe of chapter 5: short pairs all the way, scored at the book's positions."""

from __future__ import annotations

import torch

from bertedu.cli import _parser, recipe_from_args
from bertedu.data.corpus import load_corpus
from bertedu.pretraining import get_recipe, prepare_data
from bertedu.tokenization import load_tokenizer

#: The fields in which live departs from cpu (chapter 5 prints them; the recipes' notes say why).
LIVE_CHANGES = {
    "profile",
    "short_seq_epochs",
    "nsp_weight",
    "total_steps",
    "eval_every",
    "checkpoint_every",
}


def test_live_is_the_cpu_recipe_with_short_pairs_a_lighter_nsp_and_fewer_updates():
    live, cpu = get_recipe("live").to_dict(), get_recipe("cpu").to_dict()
    assert {field for field in live if live[field] != cpu[field]} == LIVE_CHANGES
    assert live["model"] == cpu["model"]  # the same BERT-Tiny (post-LN, no dropout)
    assert 0 < live["nsp_weight"] < 1  # NSP still trains, at a lower weight
    # every epoch is short whatever the corpus: an epoch is at least one update
    assert live["short_seq_epochs"] >= live["total_steps"]


def test_live_trains_on_short_pairs_only_and_is_scored_on_the_cpu_recipes_held_out_set():
    tokenizer = load_tokenizer()
    live = get_recipe("live", corpus_limit=300, batch_size=16)
    cpu = get_recipe("cpu", corpus_limit=300, batch_size=16)
    documents = load_corpus("embedded", limit=300)
    live_data = prepare_data(live, tokenizer, seed=0, documents=documents)
    cpu_data = prepare_data(cpu, tokenizer, seed=0, documents=documents)
    # the same held-out pairs with the same masks: the runs compare position by position
    assert len(live_data.held_out) == len(cpu_data.held_out)
    for mine, theirs in zip(live_data.held_out, cpu_data.held_out, strict=True):
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    # every epoch the run reaches reads pairs of at most short_seq_length WordPieces
    batches, epoch, updates = live_data.train, 0, 0
    while updates < live.train.total_steps:
        instances = batches.instances_of_epoch(epoch)
        assert max(len(i.tokens_a) + len(i.tokens_b) + 3 for i in instances) <= 64
        updates += batches.batches_in_epoch(epoch)
        epoch += 1
    # while the cpu recipe's third epoch reads the long pairs
    third = cpu_data.train.instances_of_epoch(2)
    assert max(len(i.tokens_a) + len(i.tokens_b) + 3 for i in third) > 64


def test_the_command_line_runs_the_live_recipe():
    args = _parser().parse_args(["pretrain", "--profile", "live", "--output", "somewhere"])
    assert recipe_from_args(args, args.profile) == get_recipe("live")
