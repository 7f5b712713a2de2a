"""Fault injection: a smoke pretraining run killed with SIGKILL at random points (between updates,
inside a checkpoint write, while pruning, while logging), then resumed, ends with the weights and
metrics of an uninterrupted run, bit for bit.

The kill points are the run's file operations (every ``os.fsync``, ``os.replace``,
``shutil.rmtree`` and metrics-log write): a forked child counts them and sends itself SIGKILL at
the chosen one, which is what ``kill -9`` at that instant does. Forking reuses the prepared data
and the imported libraries, so each interrupted segment costs a fraction of a second.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal

import pytest
import torch

from bertedu.model import BertForPreTraining
from bertedu.pretraining import get_recipe, pretrain
from bertedu.pretraining.data import prepare_data
from bertedu.train import metrics_log, read_metrics
from bertedu.train.checkpoint import latest_checkpoint, load_weights


@pytest.fixture(scope="module", autouse=True)
def one_thread_for_every_run():
    """One torch thread for the reference run too (a module fixture, built before any
    function fixture): sums split over another number of threads round differently, and
    "bit for bit" compares runs made with the same number."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SEEDS = range(6)
TIME_FIELDS = {"elapsed_s", "tokens_per_s"}  # wall-clock measurements, not results


@pytest.fixture(scope="module")
def smoke(tokenizer):
    recipe = get_recipe(
        "smoke", total_steps=6, checkpoint_every=2, eval_every=3, log_every=1, keep_checkpoints=2
    )
    data = prepare_data(recipe, tokenizer, seed=0)
    return recipe, data, data.train.generator.get_state()


def run(out, smoke, tokenizer, *, resume: bool):
    recipe, data, masking_state = smoke
    data.train.generator.set_state(masking_state)  # a fresh process would start from here
    return pretrain(
        recipe, output_dir=out, data=data, tokenizer=tokenizer, progress=False, resume=resume
    )


class KillPoints:
    """Counts the file operations of a run; at number ``kill_at`` the process SIGKILLs itself."""

    def __init__(self, monkeypatch, kill_at: int | None = None) -> None:
        self.count, self.kill_at = 0, kill_at
        for owner, name in (
            (os, "fsync"),
            (os, "replace"),
            (shutil, "rmtree"),
            (metrics_log.MetricsLog, "write"),
        ):
            monkeypatch.setattr(owner, name, self.wrap(getattr(owner, name)))

    def wrap(self, operation):
        def counted(*args, **kwargs):
            self.count += 1
            if self.count == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return operation(*args, **kwargs)

        return counted


def segment(out, smoke, tokenizer, *, resume: bool, kill_at: int) -> int:
    """Run (or resume) in a forked child killed at file operation ``kill_at``; its exit code."""

    def child():
        with pytest.MonkeyPatch.context() as patch:
            KillPoints(patch, kill_at)
            run(out, smoke, tokenizer, resume=resume)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join()  # reaped: its pid no longer counts as alive
    return process.exitcode


def weights(out, recipe, tokenizer):
    model = BertForPreTraining(recipe.model_config(len(tokenizer)))
    return load_weights(model, latest_checkpoint(out) / "model.safetensors").state_dict()


def records(out):
    return [
        {k: v for k, v in r.items() if k not in TIME_FIELDS}
        for r in read_metrics(out / "metrics.jsonl")
    ]


@pytest.fixture(scope="module")
def reference(smoke, tokenizer, tmp_path_factory):
    """The uninterrupted run: its final weights, metrics and number of kill points."""
    out = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        points = KillPoints(patch)
        run(out, smoke, tokenizer, resume=False)
    return weights(out, smoke[0], tokenizer), records(out), points.count


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_and_resumed_run_equals_an_uninterrupted_one(
    seed, smoke, tokenizer, reference, tmp_path
):
    expected_weights, expected_records, points = reference
    rng = random.Random(seed)
    out = tmp_path / "run"
    first, second = rng.randrange(1, points + 1), rng.randrange(1, points + 1)
    # Killed once in the fresh run, once more in its first resumption, then resumed to the end.
    assert segment(out, smoke, tokenizer, resume=False, kill_at=first) == -signal.SIGKILL
    assert segment(out, smoke, tokenizer, resume=True, kill_at=second) in (0, -signal.SIGKILL)
    result = run(out, smoke, tokenizer, resume=True).result
    assert result.step == 6
    got = weights(out, smoke[0], tokenizer)
    for name, tensor in expected_weights.items():
        assert torch.equal(got[name], tensor), f"{name} differs (kills at {first}, {second})"
    assert records(out) == expected_records, f"metrics differ (kills at {first}, {second})"
    assert list(out.rglob(".*.tmp-*")) == [], "temporary files of killed writes stayed behind"


def test_there_are_kill_points_inside_every_checkpoint(reference):
    # 3 checkpoints x 3 files x (fsync + replace), at least; the property draws from all of them.
    assert reference[2] >= 18
