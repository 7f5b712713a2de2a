"""``python -m bertedu pretrain``: the smoke profile end to end, then a resume."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bertedu.cli import main
from bertedu.train import read_metrics
from bertedu.train.checkpoint import latest_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def pretrain_smoke(out, steps: int, *flags: str) -> int:
    """``python -m bertedu pretrain --profile smoke --steps N --output OUT --no-progress ...``."""
    return main(
        ["pretrain", "--profile", "smoke", "--steps", str(steps), "--output", str(out)]
        + ["--no-progress", *flags]
    )


def test_smoke_pretrain_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert pretrain_smoke(out, 4) == 0
    printed = capsys.readouterr().out
    assert "profile smoke" in printed and "total_steps" in printed and str(out.resolve()) in printed
    assert "done: 4 updates" in printed and "held-out mask_accuracy" in printed
    assert latest_checkpoint(out).name == "step-00000004"
    for name in ("metrics.jsonl", "run.json", "loss.png"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["recipe"]["profile"] == "smoke" and run["data"]["held_out_documents"] > 0

    # Continue the same run to 6 updates: the schedule now ends at 6, the first 4 are not redone.
    assert pretrain_smoke(out, 6, "--resume", "--extend-steps") == 0
    printed = capsys.readouterr().out
    assert "Resumed from" in printed and "done: 6 updates" in printed
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl", "train")] == [1, 2, 3, 4, 5, 6]
    assert latest_checkpoint(out).name == "step-00000006"
    resumed = json.loads((out / "run.json").read_text())
    assert resumed["started"] == run["started"] and len(resumed["resumed"]) == 1
    assert [s["commit"] for s in resumed["segments"]] == [run["commit"], resumed["commit"]]
    assert resumed["segments"][0] == run["segments"][0]


def test_command_line_help_and_errors():
    done = subprocess.run(
        [sys.executable, "-m", "bertedu", "pretrain", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--resume" in done.stdout and "--corpus" in done.stdout
    with pytest.raises(SystemExit):
        main(["pretrain", "--profile", "nonsense"])
