"""Every folder the package writes is claimed the same way (issue 35, items 1 and 2).

A run's records outlive its checkpoints; a second writer is refused while the first writes;
nothing is written or pruned through a symbolic link leading out; pruning deletes only a
checkpoint's own files; ``--overwrite`` never moves a git repository, the working folder or
a link's target aside; a mistyped ``--output`` with ``--resume`` is refused."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import sys

import pytest
import torch
from test_robustness_folders import folder_bytes, run

from bertedu.cli import main
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining import get_recipe
from bertedu.pretraining.data import prepare_data
from bertedu.train import TrainConfig, train
from bertedu.train.checkpoint import (
    ExistingRunError,
    latest_checkpoint,
    list_checkpoints,
    save_checkpoint,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def smoke(tokenizer):
    recipe = get_recipe("smoke", total_steps=4, checkpoint_every=2, eval_every=4)
    return recipe, prepare_data(recipe, tokenizer, seed=0)


def cli(out, *flags: str) -> int:
    return main(
        ["pretrain", "--profile", "smoke", "--steps", "4", "--no-progress", "--output", str(out)]
        + list(flags)
    )


# ------------------------------------------------------------------ item 1: records, no checkpoint


def test_a_finished_run_whose_checkpoints_were_deleted_keeps_its_records(
    tmp_path, smoke, tokenizer
):
    out = tmp_path / "run"
    run(out, smoke, tokenizer)
    (out / "loss.png").write_bytes(b"the run's plot")
    for folder in list_checkpoints(out):
        shutil.rmtree(folder)  # logs kept, weights deleted to save space
    before = folder_bytes(out)
    assert {"metrics.jsonl", "run.json", "loss.png"} <= set(before)
    with pytest.raises(ExistingRunError, match="records of a run") as refused:
        run(out, smoke, tokenizer)
    assert "--overwrite" in str(refused.value)
    assert folder_bytes(out) == before
    with pytest.raises(ExistingRunError, match="nothing to continue from"):
        run(out, smoke, tokenizer, resume=True)  # would start at 0 and cut the metrics
    assert folder_bytes(out) == before
    with pytest.raises(SystemExit, match="records of a run"):
        cli(out, "--resume")
    assert folder_bytes(out) == before
    run(out, smoke, tokenizer, overwrite=True)  # moved aside, nothing deleted
    (aside,) = tmp_path.glob("run.old-*")
    assert folder_bytes(aside) == before and latest_checkpoint(out).name == "step-00000004"


def test_a_run_stopped_before_its_first_checkpoint_resumes_but_is_not_overwritten(
    tmp_path, smoke, tokenizer, monkeypatch
):
    from bertedu.pretraining import run as run_module

    def stopped(*args, **kwargs):  # the evaluation at update 1 comes before its checkpoint
        raise KeyboardInterrupt

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(run_module, "evaluate_pretraining", stopped)
        with pytest.raises(KeyboardInterrupt):
            run(out, smoke, tokenizer, stop_at_step=1)
    assert list_checkpoints(out) == [] and (out / "metrics.jsonl").stat().st_size > 0
    before = folder_bytes(out)
    with pytest.raises(ExistingRunError, match="stopped before its first checkpoint"):
        run(out, smoke, tokenizer)
    assert folder_bytes(out) == before
    assert run(out, smoke, tokenizer, resume=True).result.step == 4  # the same run, from 0


# ------------------------------------------------------------------ item 2: one guard


def test_a_mistyped_output_with_resume_is_refused(tmp_path, smoke, tokenizer):
    run(tmp_path / "run", smoke, tokenizer)
    typo = tmp_path / "rnu"
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        run(typo, smoke, tokenizer, resume=True)
    assert not typo.exists()
    with pytest.raises(SystemExit, match="Check the spelling"):
        cli(typo, "--resume")
    assert not typo.exists()


def _hold(out, started, release) -> None:
    from bertedu.train.run_folder import output_folder

    with output_folder(out):
        started.set()
        release.wait(30)


def test_a_second_writer_is_refused_while_the_first_writes(tmp_path, smoke, tokenizer):
    out = tmp_path / "run"
    context = multiprocessing.get_context("fork")
    started, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(out, started, release))
    holder.start()
    try:
        assert started.wait(30)
        with pytest.raises(ExistingRunError, match="another process"):
            run(out, smoke, tokenizer)
        with pytest.raises(SystemExit, match="another process"):
            cli(out)
    finally:
        release.set()
        holder.join()
    assert run(out, smoke, tokenizer, overwrite=True).result.step == 4  # free again


@pytest.mark.parametrize("name", ["run.json", "metrics.jsonl"])
def test_no_write_through_a_symlink_leading_out(tmp_path, smoke, tokenizer, name):
    elsewhere = tmp_path / "precious.txt"
    elsewhere.write_text("not a run's")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".bertedu-run").write_text(json.dumps({"run_id": "x", "checkpointed": False}))
    (out / name).symlink_to(elsewhere)
    for resume in (False, True):
        with pytest.raises(ExistingRunError, match="symbolic link"):
            run(out, smoke, tokenizer, resume=resume)
    assert elsewhere.read_text() == "not a run's"


def tiny_model(seed: int = 0) -> BertForPreTraining:
    torch.manual_seed(seed)
    return BertForPreTraining(BertConfig.tiny(vocab_size=300, max_position_embeddings=32))


def test_pruning_removes_only_a_checkpoints_own_files(tmp_path):
    out, model = tmp_path / "run", tiny_model()
    first = save_checkpoint(out, model=model, step=1, run_id="r")
    (first / "NOTES.txt").write_text("why step 1 matters")
    nested = first / "nested-run"
    nested.mkdir()
    (nested / "metrics.jsonl").write_text("{}\n")
    save_checkpoint(out, model=model, step=2, keep=1, run_id="r")
    assert (first / "NOTES.txt").read_text() == "why step 1 matters"
    assert (nested / "metrics.jsonl").exists()
    assert [p.name for p in list_checkpoints(out)] == ["step-00000002"]  # step 1 is pruned
    assert sorted(p.name for p in first.iterdir()) == ["NOTES.txt", "nested-run"]


def test_overwrite_never_moves_a_git_repository_the_working_folder_or_a_links_target(
    tmp_path, smoke, tokenizer, monkeypatch
):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "code.py").write_text("print(1)")
    with pytest.raises(ExistingRunError, match="git repository"):
        run(repo, smoke, tokenizer, overwrite=True)
    assert (repo / "code.py").exists()

    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    with pytest.raises(SystemExit, match="working folder"):
        cli(".", "--overwrite")  # not "PosixPath('.') has an empty name"
    assert (work / "notes.txt").exists()

    target = tmp_path / "big-disk"
    target.mkdir()
    (target / "data.csv").write_text("1,2")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(ExistingRunError, match="symbolic link"):
        run(link, smoke, tokenizer, overwrite=True)
    assert link.is_symlink() and (target / "data.csv").exists()


def test_the_generic_loop_gives_the_folder_back_when_it_returns(tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(total_steps=1, checkpoint_every=1, progress=False)
    train(Regression(), regression_batches(), config=config, checkpoint_dir=out)
    another = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bertedu.train.folder_lock import lock_folder; "
            "lock_folder(sys.argv[1])",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert another.returncode == 0, another.stderr  # another process may write there now


# ------------------------------------------------------------------ item 1: a forged schedule


class Regression(torch.nn.Module):
    """A model the generic loop trains: a weight (decayed) and a bias (not)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.inner = torch.nn.Linear(3, 1)

    def forward(self, x, y):
        return {"loss": (self.inner(x).squeeze(-1) - y).pow(2).mean()}


def regression_batches():
    generator = torch.Generator().manual_seed(0)
    return [
        {"x": torch.randn(4, 3, generator=generator), "y": torch.randn(4, generator=generator)}
        for _ in range(3)
    ]


def forge(folder, change) -> None:
    """Change ``state.json`` and sign it again (digest and hashes made consistent), as someone
    who read the format would."""
    from safetensors.torch import load_file, save_file

    from bertedu.train.atomic_files import sha256_of_file
    from bertedu.train.checkpoint_state import STATE_DIGEST_KEY, state_digest

    state = json.loads((folder / "state.json").read_text())
    change(state)
    training = folder / "training_state.safetensors"
    save_file(load_file(training), training, metadata={STATE_DIGEST_KEY: state_digest(state)})
    state["sha256"] = {name: sha256_of_file(folder / name) for name in state["sha256"]}
    (folder / "state.json").write_text(json.dumps(state))


def set_field(dotted: str, value):
    def change(state):
        *path, last = dotted.split(".")
        node = state
        for key in path:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("scheduler.last_epoch", -100, r"scheduler.last_epoch is -100, the checkpoint's step is 2"),
        ("scheduler.base_lrs", [1.0, 1.0], r"scheduler.base_lrs is \[1.0, 1.0\]"),
        ("scheduler.surprise", 1, r"scheduler has unknown field\(s\) \['surprise'\]"),
        ("optimizer.param_groups.0.eps", -1, r"param_groups\[0\].eps is -1"),
        ("optimizer.param_groups.0.betas", [0.9], r"param_groups\[0\].betas is \[0.9\]"),
        ("optimizer.param_groups.1.weight_decay", 0.5, r"param_groups\[1\].weight_decay is 0.5"),
        ("optimizer.param_groups.0.lr", 10.0, r"param_groups\[0\].lr is 10.0"),
        ("optimizer.param_groups.0.maximize", True, r"maximize is True"),
        ("optimizer.scalars", {}, r"optimizer.scalars is empty after 2 update"),
        ("extra.elapsed_s", "abc", r"extra.elapsed_s is 'abc'"),
    ],
)
def test_a_forged_schedule_or_optimizer_is_not_resumed(tmp_path, field, value, message):
    from bertedu.train.checkpoint import CheckpointMismatchError

    out = tmp_path / "run"
    config = TrainConfig(total_steps=3, lr=0.01, checkpoint_every=2, progress=False)
    train(Regression(), regression_batches(), config=config, checkpoint_dir=out, stop_at_step=2)
    forge(out / "step-00000002", set_field(field, value))
    with pytest.raises(CheckpointMismatchError, match=message) as refused:
        train(Regression(), regression_batches(), config=config, checkpoint_dir=out, resume=True)
    assert "use an earlier checkpoint" in str(refused.value)
    # The untouched checkpoint of the same run resumes.
    train(
        Regression(),
        regression_batches(),
        config=config,
        checkpoint_dir=tmp_path / "b",
        stop_at_step=2,
    )
    done = train(
        Regression(),
        regression_batches(),
        config=config,
        checkpoint_dir=tmp_path / "b",
        resume=True,
    )
    assert done.step == 3
