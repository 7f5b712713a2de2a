"""``--output`` names that cannot be a run's folder, records written through links, and a full
disk at every write of a pretraining run (issue 35, item 3 and the minor cases): each a
one-line message, never a raw ``OSError`` or a traceback."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from bertedu.cli import main
from bertedu.train.checkpoint import list_checkpoints

pytestmark = pytest.mark.usefixtures("one_thread")


def pretrain(out, *flags: str) -> int:
    return main(
        ["pretrain", "--profile", "smoke", "--no-progress", "--threads", "1", "--steps", "2"]
        + ["--output", str(out), *flags]
    )


# ------------------------------------------------------------------ --output names


def test_a_dangling_symlink_as_output_is_a_message(tmp_path):
    link = tmp_path / "runs"
    link.symlink_to(tmp_path / "gone", target_is_directory=True)
    with pytest.raises(SystemExit, match=r"symbolic link to .*gone, which does not exist"):
        pretrain(link)
    with pytest.raises(SystemExit, match=r"symbolic link to .*gone, which does not exist"):
        pretrain(link, "--resume")
    assert link.is_symlink() and not (tmp_path / "gone").exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("last", r"is too long for a file system: 300 bytes.*at most 255 bytes.*shorter --output"),
        (
            "middle",
            r"is too long for a file system: 300 bytes.*at most 255 bytes.*shorter --output",
        ),
        ("whole path", r"too long for the file system .*shorter --output"),
    ],
)
def test_a_name_too_long_for_the_file_system_is_a_message(tmp_path, where, message):
    if where == "whole path":  # every name short, the path longer than PATH_MAX (4,096 bytes)
        out = tmp_path.joinpath(*["y" * 250] * 17)
    else:
        long = "x" * 300
        out = tmp_path / long if where == "last" else tmp_path / "runs" / long / "pretrain"
    with pytest.raises(SystemExit, match=message):
        pretrain(out)
    assert list(tmp_path.iterdir()) == []  # no folder made on the way


def test_output_dot_with_overwrite_is_a_message(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="working folder") as refused:
        pretrain(".", "--overwrite")
    assert "empty name" not in str(refused.value)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_loss_png_through_a_link_leading_out_is_refused(tmp_path):
    elsewhere = tmp_path / "precious.png"
    elsewhere.write_bytes(b"not a run's plot")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".bertedu-run").write_text(json.dumps({"run_id": "x", "checkpointed": False}))
    (out / "loss.png").symlink_to(elsewhere)
    with pytest.raises(SystemExit, match="loss.png is a symbolic link to .*precious.png"):
        pretrain(out)
    assert elsewhere.read_bytes() == b"not a run's plot"


# ------------------------------------------------------------------ a full disk


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("write", ["metrics.jsonl", "run.json", "loss.png"])
def test_a_full_disk_at_any_record_is_a_message(tmp_path, monkeypatch, write):
    from bertedu import cli
    from bertedu.pretraining import run
    from bertedu.train import metrics_log

    if write == "metrics.jsonl":
        monkeypatch.setattr(metrics_log.MetricsLog, "write", no_space)
    elif write == "run.json":
        monkeypatch.setattr(run, "write_run_info", no_space)
    else:
        monkeypatch.setattr(cli, "_save_plot", no_space)
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="the disk is full .*No space left on device") as full:
        pretrain(out)
    assert "Free some space" in str(full.value)
    if write == "loss.png":  # the run itself finished: its checkpoint is named
        assert str(list_checkpoints(out)[-1]) in str(full.value)


def test_the_generic_loop_refuses_the_same_paths(tmp_path):
    # The messages come from the folder claim, so train(checkpoint_dir=...) gives them too.
    from test_robustness_claims import Regression, regression_batches

    from bertedu.train import TrainConfig, train
    from bertedu.train.output_path import OutputPathError

    config = TrainConfig(total_steps=1, checkpoint_every=1, progress=False)
    link = tmp_path / "runs"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="which does not exist"):
        train(Regression(), regression_batches(), config=config, checkpoint_dir=link)
    with pytest.raises(OutputPathError, match="too long"):
        train(
            Regression(), regression_batches(), config=config, checkpoint_dir=tmp_path / ("z" * 256)
        )


def test_the_command_line_says_it_in_one_line_with_status_2(tmp_path):
    import subprocess
    import sys

    link = tmp_path / "runs"
    link.symlink_to(tmp_path / "gone", target_is_directory=True)
    done = subprocess.run(
        [sys.executable, "-m", "bertedu", "pretrain", "--profile", "smoke", "--output", str(link)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"bertedu pretrain: The output folder {link} is a symbolic link to {tmp_path / 'gone'}, "
        "which does not exist: a run cannot write there. Create the folder it leads to, remove "
        "the link, or pick another --output (output_dir / checkpoint_dir)."
    ]


def test_a_full_disk_while_the_corpus_is_cached_leaves_no_partial_cache(tmp_path, monkeypatch):
    from datasets import Dataset

    def fills_up(self, folder, *args, **kwargs):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "data-00000-of-00001.arrow").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", folder)

    monkeypatch.setattr(Dataset, "save_to_disk", fills_up)
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="the disk is full .*No space left on device"):
        pretrain(out)
    assert not [p for p in (out / "cache").iterdir() if p.name.startswith("documents-")]


@pytest.mark.parametrize("kind", ["too long", "link to nothing"])
def test_finetune_qa_says_the_same_about_its_output(tmp_path, kind):
    out = tmp_path / ("x" * 300)
    if kind == "link to nothing":
        out = tmp_path / "runs"
        out.symlink_to(tmp_path / "gone", target_is_directory=True)
    qa = ["finetune-qa", "--profile", "smoke", "--no-progress", "--task", "extractive"]
    with pytest.raises(SystemExit, match="too long for a file system|which does not exist") as no:
        main([*qa, "--encoder", "bert-tiny", "--output", str(out)])
    assert no.value.code == 2 and str(no.value).startswith("finetune-qa: The output folder")
