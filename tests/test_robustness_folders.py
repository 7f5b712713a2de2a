"""A run never writes into another's folder (issue 27, item 1).

A checkpoint of run A resumed into run B's folder, a fresh run into a folder of the user's own
files, pruning through a symlinked step folder, a ``state.json`` whose values (not only its file
names) were changed, and the leftovers of a run killed mid-prune or mid-write."""

from __future__ import annotations

import json
import os
import re

import pytest
import torch

from bertedu.cli import main
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining import get_recipe, pretrain
from bertedu.pretraining.data import prepare_data
from bertedu.train import TrainConfig, train
from bertedu.train.checkpoint import (
    MODEL_FILE,
    STATE_FILE,
    CheckpointMismatchError,
    ExistingRunError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def folder_bytes(folder) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> contents)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def smoke(tokenizer):
    recipe = get_recipe("smoke", total_steps=4, checkpoint_every=2, eval_every=4)
    return recipe, prepare_data(recipe, tokenizer, seed=0)


def run(out, smoke, tokenizer, **options):
    recipe, data = smoke
    return pretrain(
        recipe, output_dir=out, data=data, tokenizer=tokenizer, progress=False, **options
    )


# ------------------------------------------------------------------ run A's checkpoint, B's folder


def test_a_checkpoint_of_another_run_is_not_resumed_into_a_runs_folder(tmp_path, smoke, tokenizer):
    a, b = tmp_path / "a", tmp_path / "b"
    run(a, smoke, tokenizer, stop_at_step=2)  # run A: 2 of 4 updates
    run(b, smoke, tokenizer)  # run B: the same settings, a run of its own, finished
    before = folder_bytes(b)
    with pytest.raises(ExistingRunError, match="belongs to another run") as refused:
        run(b, smoke, tokenizer, resume_from=a / "step-00000002")
    assert "--output" in str(refused.value)
    assert folder_bytes(b) == before  # B's checkpoints, metrics and run.json untouched
    # The command line says the same, without a traceback.
    with pytest.raises(SystemExit, match="belongs to another run"):
        main(
            ["pretrain", "--profile", "smoke", "--steps", "4", "--no-progress", "--output", str(b)]
            + ["--checkpoint", str(a / "step-00000002")]
        )
    assert folder_bytes(b) == before
    # A's checkpoint continues into a new folder, and into A's own.
    assert run(tmp_path / "c", smoke, tokenizer, resume_from=a / "step-00000002").result.step == 4
    assert run(a, smoke, tokenizer, resume_from=a / "step-00000002").result.step == 4


# ------------------------------------------------------------------ a folder of the user's files


@pytest.mark.parametrize("files", [["metrics.jsonl"], ["run.json"], ["notes.txt", "data.csv"]])
def test_a_fresh_run_into_a_folder_of_other_files_is_refused(tmp_path, smoke, tokenizer, files):
    out = tmp_path / "mine"
    out.mkdir()
    for name in files:
        (out / name).write_text("the user's own\n")
    before = folder_bytes(out)
    with pytest.raises(ExistingRunError, match="not a bertedu run") as refused:
        run(out, smoke, tokenizer)
    assert "--overwrite" in str(refused.value)
    assert folder_bytes(out) == before
    with pytest.raises(ExistingRunError, match="not a bertedu run"):
        run(out, smoke, tokenizer, resume=True)  # "no checkpoint yet" would overwrite them too
    assert folder_bytes(out) == before
    # --overwrite moves the folder aside, as it does for a run.
    run(out, smoke, tokenizer, overwrite=True)
    (aside,) = tmp_path.glob("mine.old-*")
    assert folder_bytes(aside) == before and latest_checkpoint(out).name == "step-00000004"


def test_the_generic_loop_refuses_a_folder_of_other_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    model = torch.nn.Linear(1, 1)
    batches = [{"input": torch.ones(2, 1)}]

    class Loss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input):
            return {"loss": self.inner(input).pow(2).mean()}

    config = TrainConfig(total_steps=1, checkpoint_every=1, progress=False)
    with pytest.raises(ExistingRunError, match="not a bertedu run"):
        train(Loss(), batches, config=config, checkpoint_dir=out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    # An empty folder and a run's own folder killed before its first checkpoint are fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train(Loss(), batches, config=config, checkpoint_dir=empty).step == 1


# A run stopped before its first checkpoint: tests/test_robustness_claims.py (its records are
# kept from a fresh run; --resume starts it again).


# ------------------------------------------------------------------ pruning and symlinks


def tiny_model(seed: int = 0) -> BertForPreTraining:
    torch.manual_seed(seed)
    return BertForPreTraining(BertConfig.tiny(vocab_size=300, max_position_embeddings=32))


def test_pruning_never_follows_a_symlinked_step_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    out = tmp_path / "run"
    model = tiny_model()
    real = save_checkpoint(elsewhere, model=model, step=5, run_id="r")
    out.mkdir()
    (out / "step-00000005").symlink_to(real, target_is_directory=True)
    before = folder_bytes(elsewhere)
    save_checkpoint(out, model=model, step=10, keep=1, run_id="r")
    save_checkpoint(out, model=model, step=15, keep=1, run_id="r")
    assert folder_bytes(elsewhere) == before  # nothing outside the folder was deleted
    assert (out / "step-00000005").is_symlink()
    assert [p.name for p in list_checkpoints(out)][-1] == "step-00000015"
    assert not (out / "step-00000010").exists()  # the real older checkpoint was pruned


# ------------------------------------------------------------------ state.json's values


@pytest.fixture
def checkpoint(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return save_checkpoint(
        tmp_path / "run",
        model=model,
        optimizer=optimizer,
        step=3,
        data_position={"epoch": 1, "batch": 2},
        run_id="r",
    )


def rewrite_state(folder, change) -> None:
    state = json.loads((folder / STATE_FILE).read_text())
    change(state)
    (folder / STATE_FILE).write_text(json.dumps(state))


def set_path(state: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        state = state[key]
    state[leaf] = value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("step", -5),
        ("step", "3"),
        ("step", True),
        ("rng.python", "garbage"),
        ("rng.python.state", [1, 2, 3]),
        ("rng.numpy.keys", "garbage"),
        ("run_id", 7),
        ("extra", []),
        ("aliases", {"a": 1}),
    ],
)
def test_state_values_are_checked_not_only_file_names(checkpoint, field, value):
    rewrite_state(checkpoint, lambda state: set_path(state, field, value))
    with pytest.raises(CheckpointMismatchError, match=field.split(".")[-1]) as refused:
        load_checkpoint(checkpoint, model=tiny_model(1))
    assert "earlier checkpoint" in str(refused.value) or "not written by" in str(refused.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("data_position.batch", 3), ("data_position.epoch", 0), ("run_id", "s"), ("extra", {"x": 1})],
)
def test_a_plausible_edit_of_the_state_is_caught_by_its_digest(checkpoint, field, value):
    rewrite_state(checkpoint, lambda state: set_path(state, field, value))
    with pytest.raises(CheckpointMismatchError, match="changed after it was written"):
        load_checkpoint(checkpoint, model=tiny_model(1))


def test_a_step_folder_must_hold_its_own_step(checkpoint):
    moved = checkpoint.with_name("step-00000009")
    checkpoint.rename(moved)
    with pytest.raises(CheckpointMismatchError, match="step 3"):
        load_checkpoint(moved, model=tiny_model(1))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("step", -5, "step is -5"),
        ("data_position.batch", 10**18, "data_position.batch is 1000000000000000000"),
        ("data_position.batch", -1, "data_position.batch is -1"),
        ("data_position.epoch", -1, "data_position.epoch is -1"),
        ("data_position.epoch", 1.5, "data_position.epoch is 1.5"),
        ("rng.python", "garbage", "rng.python is 'garbage'"),
    ],
)
def test_a_changed_state_is_not_resumed_by_the_cli(
    tmp_path, smoke, tokenizer, field, value, message
):
    out = tmp_path / "run"
    run(out, smoke, tokenizer, stop_at_step=2)
    rewrite_state(out / "step-00000002", lambda state: set_path(state, field, value))
    before = folder_bytes(out)
    with pytest.raises(SystemExit, match=re.escape(message)) as refused:
        main(
            [
                "pretrain",
                "--profile",
                "smoke",
                "--steps",
                "4",
                "--no-progress",
                "--output",
                str(out),
            ]
            + ["--resume"]
        )
    assert "earlier checkpoint" in str(refused.value)
    assert folder_bytes(out) == before  # no update run, no checkpoint or metrics overwritten


# ------------------------------------------------------------------ leftovers of kill -9


def test_a_half_pruned_folder_and_safetensors_temporaries_are_cleaned(tmp_path, smoke, tokenizer):
    out = tmp_path / "run"
    run(out, smoke, tokenizer, stop_at_step=2)
    # Pruning killed after removing state.json: an uncommitted folder with the tensor files.
    half = out / "step-00000001"
    half.mkdir()
    (half / MODEL_FILE).write_bytes(b"x" * 1000)
    # A save killed inside safetensors: its own temporary file, in an uncommitted folder.
    cut = out / "step-00000003"
    cut.mkdir()
    (cut / ".tmpA1b2C3").write_bytes(b"y" * 1000)
    # Someone else's folder and a symlinked one are not ours to delete.
    (out / "step-notes").mkdir()
    (out / "step-notes" / "x.txt").write_text("keep")
    elsewhere = tmp_path / "elsewhere" / "step-00000007"
    elsewhere.mkdir(parents=True)
    (elsewhere / MODEL_FILE).write_bytes(b"z")
    (out / "step-00000007").symlink_to(elsewhere, target_is_directory=True)
    run(out, smoke, tokenizer, resume=True)
    assert not half.exists() and not (cut / ".tmpA1b2C3").exists()
    assert (out / "step-notes" / "x.txt").read_text() == "keep"
    assert (elsewhere / MODEL_FILE).read_bytes() == b"z"
    assert [p.name for p in list_checkpoints(out)] == ["step-00000002", "step-00000004"]


def test_a_live_writers_folder_is_kept(tmp_path):
    model = tiny_model()
    out = tmp_path / "run"
    save_checkpoint(out, model=model, step=1, run_id="r")
    writing = out / "step-00000002"
    writing.mkdir()
    (writing / f".{MODEL_FILE}.tmp-{os.getppid()}").write_bytes(b"being written")
    from bertedu.train.checkpoint import claim_output_folder

    claim_output_folder(out, resume=True, overwrite=False)
    assert (writing / f".{MODEL_FILE}.tmp-{os.getppid()}").exists()
