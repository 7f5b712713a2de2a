"""torchrun with 3 CPU processes (gloo) trains the smoke profile end to end.

Three processes on a batch of 8: each takes 2 sequences (6 per update, the
remainder dropped and said so), rank 0 prepares the data and writes, and the
run finishes like a single-process one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_torchrun_three_gloo_processes_train_the_smoke_profile(tmp_path):
    output = tmp_path / "run"
    env = os.environ | {
        "CUDA_VISIBLE_DEVICES": "",  # CPU processes, gloo backend, even on a GPU machine
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3",
        "-m", "bertedu", "pretrain", "--profile", "smoke", "--steps", "4",
        "--output", str(output), "--no-progress", "--threads", "1",
    ]  # fmt: skip
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Batch: 3 processes x 2 sequences = 6 per batch" in done.stdout
    assert done.stdout.count("done: 4 updates") == 1  # rank 0 reports, the others stay quiet
    run = json.loads((output / "run.json").read_text())
    assert run["world_size"] == 3 and run["recipe"]["batch_size"] == 6
    records = [json.loads(line) for line in (output / "metrics.jsonl").open()]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4]
    assert (output / "step-00000004").is_dir()
    assert len(list((output / "cache").glob("documents-embedded-*"))) == 1
