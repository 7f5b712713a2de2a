"""scripts/gpu_check.sh, dry-run mode (no GPU here): limits, errors, glued scores, summaries."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def test_gpu_check_dry_run_summarises_every_notebook(tmp_path):
    scored = notebook(
        tmp_path / "a_scored.ipynb",
        "import os\nfrom myst_nb import glue\nPROFILE = os.environ['BERTEDU_PROFILE']",
        "glue('f1', 61.25, display=False)\nglue('profile', PROFILE, display=False)",
    )
    failing = notebook(tmp_path / "b_failing.ipynb", "raise ValueError('bad input')")
    slow = notebook(tmp_path / "c_slow.ipynb", "import time\ntime.sleep(120)")
    out = tmp_path / "out"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run", "--limit", "25",
         "--output", str(out), str(scored), str(failing), str(slow)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # not every notebook passed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["profile"] == "smoke" and summary["device"] == "CPU only"
    rows = {row["notebook"]: row for row in summary["notebooks"]}
    assert rows["a_scored.ipynb"]["status"] == "ok"
    assert rows["a_scored.ipynb"]["scores"] == {"f1": 61.25, "profile": "smoke"}
    assert rows["a_scored.ipynb"]["peak_gpu_memory_mib"] is None  # no nvidia-smi here
    assert rows["b_failing.ipynb"]["status"] == "error"
    assert rows["b_failing.ipynb"]["error"] == "ValueError: bad input"
    assert rows["c_slow.ipynb"]["status"] == "timeout"
    assert 25 <= rows["c_slow.ipynb"]["seconds"] < 100  # stopped at the limit, kernel included
    table = (out / "summary.md").read_text()
    assert "| a_scored.ipynb | ok |" in table and "f1 61.25" in table
    assert "| c_slow.ipynb | timeout |" in table
    assert (out / "a_scored.ipynb").exists()  # the executed copy; the source is untouched
    assert not nbformat.read(scored, as_version=4).cells[1].outputs


def test_gpu_check_without_a_gpu_says_what_to_do(tmp_path):
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
        env=os.environ | {"CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    assert done.returncode == 2
    assert "torch sees no GPU" in done.stderr and "--dry-run" in done.stderr
