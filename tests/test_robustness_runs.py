"""Nothing a user trained is lost, and a resumption continues only its own run.

The output folder of ``python -m bertedu pretrain``: a second fresh run is refused, ``--overwrite``
moves the old run aside, ``keep`` never deletes the checkpoint just written nor another run's,
``--resume`` refuses another profile, seed, corpus or step count, and garbage in the folder gives
a message that says what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from bertedu.cli import main
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining import get_recipe, pretrain
from bertedu.pretraining.data import prepare_data
from bertedu.train import TrainConfig, read_metrics, train
from bertedu.train.checkpoint import (
    STATE_FILE,
    ExistingRunError,
    latest_checkpoint,
    list_checkpoints,
    save_checkpoint,
)
from bertedu.train.optim import warmup_linear
from bertedu.train.resume import ResumeMismatchError

pytestmark = pytest.mark.usefixtures("one_thread")


def pretrain_smoke(out, steps: int, *flags: str) -> int:
    return main(
        ["pretrain", "--profile", "smoke", "--steps", str(steps), "--output", str(out)]
        + ["--no-progress", *flags]
    )


def folder_bytes(folder) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> contents)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def checkpoint_bytes(folder) -> dict[str, bytes]:
    return {k: v for k, v in folder_bytes(folder).items() if k.startswith("step-")}


# ------------------------------------------------------------------ item 1: nothing is lost


def test_a_second_fresh_run_is_refused_and_overwrite_moves_the_old_run_aside(tmp_path):
    out = tmp_path / "run"
    assert pretrain_smoke(out, 2) == 0
    before = checkpoint_bytes(out)
    run_json = (out / "run.json").read_bytes()
    # The README's command run twice: refused, naming both ways on, and nothing touched.
    with pytest.raises(SystemExit) as refused:
        pretrain_smoke(out, 2)
    message = str(refused.value)
    assert "--resume" in message and "--overwrite" in message and "step-00000002" in message
    assert checkpoint_bytes(out) == before and (out / "run.json").read_bytes() == run_json

    assert pretrain_smoke(out, 3, "--overwrite") == 0
    (aside,) = tmp_path.glob("run.old-*")
    assert checkpoint_bytes(aside) == before  # the old run, byte for byte
    assert (aside / "run.json").read_bytes() == run_json
    assert latest_checkpoint(out).name == "step-00000003"
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl", "train")] == [1, 2, 3]


def test_overwrite_and_resume_exclude_each_other(tmp_path):
    with pytest.raises(SystemExit, match="cannot be combined"):
        pretrain_smoke(tmp_path, 2, "--overwrite", "--resume")


def tiny_model(seed: int = 0) -> BertForPreTraining:
    torch.manual_seed(seed)
    return BertForPreTraining(BertConfig.tiny(vocab_size=300, max_position_embeddings=32))


def test_keep_never_deletes_the_new_checkpoint_nor_another_runs(tmp_path):
    model = tiny_model()
    for step in (10, 20):
        save_checkpoint(tmp_path, model=model, step=step, keep=2, run_id="old")
    # A new run writes lower step numbers: the old code deleted step 5 right after writing it.
    new = save_checkpoint(tmp_path, model=model, step=5, keep=2, run_id="new")
    assert new.is_dir() and (new / STATE_FILE).is_file()
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step-00000005", "step-00000010", "step-00000020"]
    for step in (6, 7):
        save_checkpoint(tmp_path, model=model, step=step, keep=2, run_id="new")
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step-00000006", "step-00000007", "step-00000010", "step-00000020"]


def test_train_refuses_a_fresh_start_over_a_run(tmp_path):
    batches = [{"x": torch.ones(2, 1)}]

    class Affine(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return {"loss": ((x * self.w - 1) ** 2).mean()}

    config = TrainConfig(total_steps=2, checkpoint_every=1, progress=False)
    train(Affine(), batches, config=config, checkpoint_dir=tmp_path / "a")
    kept = checkpoint_bytes(tmp_path / "a")
    with pytest.raises(ExistingRunError, match="resume=True.*overwrite=True"):
        train(Affine(), batches, config=config, checkpoint_dir=tmp_path / "a")
    assert checkpoint_bytes(tmp_path / "a") == kept


# ------------------------------------------------------------------ item 2: no silent mixing


@pytest.fixture(scope="module")
def smoke(tokenizer):
    recipe = get_recipe("smoke", total_steps=4, checkpoint_every=2, eval_every=4)
    return recipe, prepare_data(recipe, tokenizer, seed=0)


@pytest.fixture
def stopped_run(tmp_path, smoke, tokenizer):
    """A smoke run stopped after 2 of 4 updates; its folder's files before any resumption."""
    recipe, data = smoke
    out = tmp_path / "run"
    pretrain(recipe, output_dir=out, data=data, tokenizer=tokenizer, progress=False, stop_at_step=2)
    return out, folder_bytes(out)


def resume(out, recipe, data, tokenizer, **options):
    return pretrain(
        recipe,
        output_dir=out,
        data=data,
        tokenizer=tokenizer,
        progress=False,
        resume=True,
        **options,
    )


def test_resume_refuses_another_seed(stopped_run, smoke, tokenizer):
    out, before = stopped_run
    recipe, data = smoke
    with pytest.raises(ResumeMismatchError, match=r"seed: checkpoint 0, now 1"):
        resume(out, recipe, data, tokenizer, seed=1)
    assert folder_bytes(out) == before  # run.json was not overwritten


def test_resume_refuses_another_recipe(stopped_run, smoke, tokenizer):
    out, before = stopped_run
    recipe, data = smoke
    with pytest.raises(ResumeMismatchError, match=r"recipe\.lr: checkpoint 0\.001, now 0\.002"):
        resume(out, recipe.replace(lr=2e-3), data, tokenizer)
    with pytest.raises(ResumeMismatchError, match=r"recipe\.max_predictions"):
        resume(out, recipe.replace(max_predictions=5), data, tokenizer)
    assert folder_bytes(out) == before


def test_resume_refuses_other_data(stopped_run, smoke, tokenizer):
    out, before = stopped_run
    recipe, data = smoke
    from bertedu.data.corpus import load_corpus

    documents = load_corpus("embedded", limit=150)  # another corpus under the same recipe
    other = prepare_data(recipe, tokenizer, seed=0, documents=documents)
    with pytest.raises(ResumeMismatchError, match="data_fingerprint") as refused:
        resume(out, recipe, other, tokenizer)
    assert "recipe" not in str(refused.value).split("(", 1)[1].split(")")[0]
    assert folder_bytes(out) == before


def test_changing_the_total_steps_needs_the_flag(stopped_run, smoke, tokenizer):
    out, _ = stopped_run
    recipe, data = smoke
    longer = recipe.replace(total_steps=6)
    with pytest.raises(ResumeMismatchError, match="total_steps: checkpoint 4, now 6.*--extend"):
        resume(out, longer, data, tokenizer)
    run = resume(out, longer, data, tokenizer, extend_steps=True)
    assert run.result.step == 6
    info = json.loads((out / "run.json").read_text())
    assert info["recipe"]["total_steps"] == 6 and len(info["resumed"]) == 1
    # the updates after the resume (3 to 6) follow the longer schedule from the first one on
    rates = {r["step"]: r["lr"] for r in read_metrics(out / "metrics.jsonl", "train")}
    schedule = longer.train
    for update in (3, 4, 5, 6):
        expected = schedule.lr * warmup_linear(
            update - 1, schedule.warmup_steps, schedule.total_steps
        )
        assert expected > 0 and rates[update] == pytest.approx(expected, rel=1e-12), update


def test_the_same_settings_resume(stopped_run, smoke, tokenizer):
    out, _ = stopped_run
    recipe, data = smoke
    assert resume(out, recipe, data, tokenizer).result.step == 4


# ------------------------------------------------------------------ item 6: garbage in the folder


def test_output_that_is_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    with pytest.raises(SystemExit, match="is a file"):
        pretrain_smoke(target, 2)
    assert target.read_text() == "mine"


def test_a_damaged_newest_checkpoint_can_be_skipped(stopped_run, smoke, tokenizer, capsys):
    out, _ = stopped_run
    recipe, data = smoke
    resume(out, recipe.replace(total_steps=4, checkpoint_every=1), data, tokenizer, stop_at_step=3)
    assert latest_checkpoint(out).name == "step-00000003"
    (out / "step-00000003" / STATE_FILE).write_text("{garbage")
    with pytest.raises(SystemExit, match="--checkpoint") as refused:
        pretrain_smoke(out, 4, "--resume")
    assert "not valid JSON" in str(refused.value)
    run = resume(out, recipe, data, tokenizer, resume_from=out / "step-00000002")
    assert (
        run.result.step == 4 and f"Resumed from {out / 'step-00000002'}" in capsys.readouterr().out
    )


def test_a_damaged_metrics_log_does_not_stop_a_resumption(stopped_run, smoke, tokenizer):
    out, _ = stopped_run
    recipe, data = smoke
    with (out / "metrics.jsonl").open("ab") as log:
        log.write(b'\xff\xfe garbage\n[1, 2]\n"text"\n{"split": "train", "step": "x"}\n')
    resume(out, recipe, data, tokenizer)
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl", "train")] == [1, 2, 3, 4]


def test_a_metrics_log_that_is_a_folder(stopped_run, smoke, tokenizer):
    out, _ = stopped_run
    recipe, data = smoke
    (out / "metrics.jsonl").unlink()
    (out / "metrics.jsonl").mkdir()
    with pytest.raises(IsADirectoryError, match="metrics log .* is not a file"):
        resume(out, recipe, data, tokenizer)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporaries_of_killed_writes_are_removed(stopped_run, smoke, tokenizer):
    out, _ = stopped_run
    recipe, data = smoke
    pid = dead_pid()
    stale = [
        out / f".metrics.jsonl.tmp-{pid}",
        out / "step-00000002" / f".model.safetensors.tmp-{pid}",
        out / "step-00000002" / f".state.json.tmp-{pid}",
    ]
    live = out / f".metrics.jsonl.tmp-{os.getppid()}"  # a process that still runs
    for path in [*stale, live]:
        path.write_bytes(b"half written")
    resume(out, recipe, data, tokenizer)
    assert not any(p.exists() for p in stale) and live.exists()
