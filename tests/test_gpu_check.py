"""scripts/gpu_check.sh, dry-run mode (no GPU here): limits, errors, glued scores, summaries; the
local Hub copies, step cap and gpu-profile rehearsal its kernels use; the step benchmark's path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import gpu_check  # noqa: E402
import gpu_check_carry  # noqa: E402
import gpu_check_kernel  # noqa: E402

sys.path.remove(str(ROOT / "scripts"))


def notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def test_gpu_check_dry_run_summarises_every_notebook(tmp_path):
    scored = notebook(
        tmp_path / "a_scored.ipynb",
        "import os\nfrom myst_nb import glue\nPROFILE = os.environ['BERTEDU_PROFILE']",
        "glue('f1', 61.25, display=False)\nglue('profile', PROFILE, display=False)\n"
        "import numpy\nglue('share', numpy.float64(0.5), display=False)",
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
    assert rows["a_scored.ipynb"]["scores"] == {"f1": 61.25, "profile": "smoke", "share": 0.5}
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


def test_local_hub_rows_and_use_outside_pytest(tmp_path, monkeypatch):
    import datasets
    import hub_datasets

    monkeypatch.setattr(datasets, "load_dataset", datasets.load_dataset)  # restored afterwards
    files = hub_datasets.write_local_hub(tmp_path / "hub", rows=30, articles=12)
    assert len(files) == 6
    calls = hub_datasets.use_local_hub(tmp_path / "hub", tmp_path / "cache")
    squad = datasets.load_dataset("rajpurkar/squad", split="train")
    marco = datasets.load_dataset("microsoft/ms_marco", "v2.1", split="validation[:4]")
    wiki = datasets.load_dataset("Salesforce/wikitext", "wikitext-103-raw-v1", split="train")
    assert len(squad) == 30 and squad.features == hub_datasets.SQUAD_FEATURES
    assert len(datasets.load_dataset("rajpurkar/squad", split="validation")) == 10
    assert len(marco) == 4 and marco.features == hub_datasets.MS_MARCO_FEATURES
    titles = [line for line in wiki["text"] if line.startswith(" = ") and "= =" not in line]
    assert len(titles) == 12  # articles apart from rows (the chapters read up to 5,000)
    assert calls[0] == ("rajpurkar/squad", None, "train")
    with pytest.raises(AssertionError, match="unexpected Hub dataset"):
        datasets.load_dataset("rajpurkar/squad_v2", split="train")
    with pytest.raises(FileNotFoundError, match="no local Hub copies"):
        hub_datasets.use_local_hub(tmp_path / "empty", tmp_path / "cache")
    with pytest.raises(ValueError, match="between 1 and"):
        hub_datasets.squad_rows(20_000)
    hub_datasets.write_local_hub(tmp_path / "other", rows=6)  # a second replacement
    hub_datasets.use_local_hub(tmp_path / "other", tmp_path / "cache2")
    assert len(datasets.load_dataset("rajpurkar/squad", split="train")) == 6


def test_kernel_caps_pretraining_and_rehearses_the_gpu_profile(monkeypatch):
    import bertedu.pretraining
    import bertedu.profile
    import bertedu.qa.finetune
    from bertedu.pretraining import get_recipe
    from bertedu.qa.finetune import get_qa_recipe

    seen = []
    monkeypatch.setattr(bertedu.pretraining, "pretrain", lambda recipe, **kw: seen.append(recipe))
    monkeypatch.setattr(bertedu.pretraining, "prepare_data", lambda recipe, *a, **kw: recipe)
    monkeypatch.setattr(bertedu.qa.finetune, "finetune", lambda m, f, recipe, **kw: recipe)
    monkeypatch.setattr(bertedu.profile, "resolve_profile", bertedu.profile.resolve_profile)
    monkeypatch.setitem(gpu_check_kernel._STATE, "capped_runs", [])
    monkeypatch.setitem(gpu_check_kernel._STATE, "rehearsal", False)
    monkeypatch.setenv("BERTEDU_GPU_CHECK_MAX_STEPS", "50")
    monkeypatch.setenv("BERTEDU_GPU_CHECK_REHEARSE", "1")
    gpu_check_kernel.setup()
    gpu = get_recipe("gpu").replace(total_steps=2_000, eval_every=500, checkpoint_every=500)
    bertedu.pretraining.pretrain(gpu, output_dir="unused")
    bertedu.pretraining.pretrain(get_recipe("smoke"), output_dir="unused")  # 10 steps: kept
    capped, smoke = seen
    assert capped.train.total_steps == 50 and capped.train.eval_every == 50
    assert capped.train.checkpoint_every == 50 and capped.batch_size == 256
    assert smoke.train.total_steps == 10
    prepared = bertedu.pretraining.prepare_data(gpu, None, seed=0)
    assert prepared.batch_size == prepared.eval_batch_size == 32
    assert prepared.held_out_fraction == gpu.held_out_fraction  # the GPU run's documents
    assert prepared.train.precision == "bf16"
    assert bertedu.pretraining.prepare_data(get_recipe("cpu"), None, seed=0) == get_recipe("cpu")
    assert bertedu.profile.resolve_profile() == "gpu"  # on a machine without a GPU
    qa = bertedu.qa.finetune.finetune(None, None, get_qa_recipe("extractive", "gpu"))
    assert qa.epochs == 1
    facts = gpu_check_kernel.kernel_facts()
    assert facts["capped_pretraining_runs"] == [{"from": 2_000, "to": 50}]
    assert facts["rehearsal_on_cpu"] and facts["torch_peak_allocated_mib"] is None
    assert "torch" in facts["imported_distributions"]
    monkeypatch.setenv("BERTEDU_GPU_CHECK_MAX_STEPS", "0")
    monkeypatch.delenv("BERTEDU_GPU_CHECK_REHEARSE")
    with pytest.raises(ValueError, match="positive number of updates"):
        gpu_check_kernel.setup()


def test_gpu_check_reads_local_hub_and_runs_the_step_benchmark(tmp_path):
    reader = notebook(
        tmp_path / "hub_reader.ipynb",
        "from bertedu.qa.datasets import load_squad\nfrom myst_nb import glue",
        "glue('train_questions', len(load_squad('train')), display=False)",
        "import bertedu.pretraining\n"
        "glue('wrapped', hasattr(bertedu.pretraining.pretrain, '__wrapped__'), display=False)",
    )
    out, copy = tmp_path / "out", tmp_path / "copy"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run", "--hub-rows", "12",
         "--max-pretrain-steps", "7", "--benchmark", "--output", str(out),
         "--copy-summary", str(copy), "--note", "a note", str(reader)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((copy / "summary.json").read_text())
    assert summary["hub_rows"] == 12 and summary["max_pretrain_steps"] == 7
    assert summary["notes"] == ["a note"]
    (row,) = summary["notebooks"]
    assert row["status"] == "ok", row
    assert row["scores"] == {"train_questions": 12.0, "wrapped": "True"}
    assert row["hub_calls"] == [["rajpurkar/squad", None, "train"]]
    bench = summary["step_benchmark"]
    assert bench["status"] == "ok"
    steps = [(run["precision"], run["step"]) for run in bench["runs"]]
    assert steps == [("fp32", "bertedu"), ("fp32", "bertedu, no mask"),
                     ("bf16", "bertedu"), ("bf16", "bertedu, no mask")]  # fmt: skip
    assert bench["goal"] is None  # no BERT-base run on the CPU
    first = bench["runs"][0]
    assert first["bertedu_tokens_per_s"] > 0 and first["transformers_tokens_per_s"] > 0
    ratio = first["bertedu_tokens_per_s"] / first["transformers_tokens_per_s"]
    assert abs(first["speedup_bertedu_over_transformers"] - ratio) < 0.01
    assert first["mfu_reference"].startswith("float32 matmul peak")  # bf16 on a GPU
    assert first["optimizer"] == "fused" and first["bertedu_share_of_peak"] > 0
    table = (copy / "summary.md").read_text()
    assert "| hub_reader.ipynb | ok |" in table and "a note" in table
    assert "| tiny (2 layers, hidden 128, 2 heads) | 4 x 32 | bf16 | bertedu, no mask |" in table
    executed = nbformat.read(out / "hub_reader.ipynb", as_version=4)
    assert executed.cells[0].metadata["tags"] == ["gpu-check"]  # the added first and last cells
    assert executed.cells[-1].metadata["tags"] == ["gpu-check"]


def test_benchmark_refuses_an_unknown_precision():
    from bertedu.pretraining.benchmark import compare_pretraining_steps

    with pytest.raises(ValueError, match="precision must be one of"):
        compare_pretraining_steps(precision="fp16")


def test_lent_check_gives_the_gpu_recipe_enough_held_out_articles():
    # The H200 run of 2026-12-04 wrote 500 local WikiText articles: the gpu recipe held out
    # 0.5% of them, two articles, none with a first sentence chapter 5 could mask, and the
    # chapter failed on an empty list. 5,000 (the chapters' limit) hold out 25, 10 maskable.
    import re

    from bertedu.pretraining import get_recipe

    script = (ROOT / "scripts" / "gpu_check_lent.sh").read_text()
    articles = int(re.search(r"GPU_CHECK_ARTICLES:-(\d+)", script).group(1))
    assert articles * get_recipe("gpu").held_out_fraction >= 20
    assert '--hub-articles "$articles"' in script


def gpu_record(model: str, results: dict[str, float]) -> dict:
    """A benchmark record as pretrain_throughput.py writes it on a GPU: ``results`` gives each
    step's share of the peak (transformers' is the last)."""
    names = list(results)
    return {
        "model_name": model,
        "model": {"layers": 12, "hidden": 768, "heads": 12},
        "batch": 256, "seq": 128, "predictions_per_step": 4915, "precision": "bf16",
        "device": "NVIDIA H100 80GB HBM3", "optimizer": "fused", "repeats": 10,
        "matmul_peak_dtype": "bfloat16", "matmul_peak_gflops": 790_000.0,
        "fp32_matmul_peak_gflops": 390_000.0, "peak_memory_mib": 30_000.0,
        "results": {
            name: {"tokens_per_s": 1e6 * share, "seconds_per_step": 0.03 / share,
                   "mfu": share, "warmup_s": 40.0 * (name == "bertedu, compiled")}
            for name, share in results.items()
        },
        "speedups": {name: results[name] / results[names[-1]] for name in names[:-1]},
    }  # fmt: skip


def test_summary_says_whether_bert_base_reached_its_share_of_the_peak(tmp_path):
    base = gpu_record(
        "base", {"bertedu": 0.21, "bertedu, compiled": 0.33, "transformers (sdpa)": 0.19}
    )
    rows = gpu_check.benchmark_rows(base)
    assert [row["step"] for row in rows] == ["bertedu", "bertedu, compiled"]
    assert rows[1]["speedup_bertedu_over_transformers"] == round(0.33 / 0.19, 3)
    assert rows[1]["bertedu_warmup_s"] == 40.0 and rows[0]["bertedu_warmup_s"] == 0.0
    reached = gpu_check.goal(rows)
    assert reached["bert_base_bf16_best_step"] == "bertedu, compiled" and reached["reached"]
    short = gpu_check.goal(gpu_check.benchmark_rows(
        gpu_record("base", {"bertedu": 0.29, "transformers (sdpa)": 0.2})
    ))  # fmt: skip
    assert short["share_of_peak"] == 0.29 and not short["reached"]
    tiny = gpu_check.benchmark_rows(
        gpu_record("tiny", {"bertedu": 0.02, "transformers (sdpa)": 0.01})
    )
    assert gpu_check.goal(tiny) is None
    summary = {
        "profile": "gpu", "device": "NVIDIA H100 80GB HBM3 x1", "started": "now",
        "commit": "abc1234", "limit_s": 240, "jobs": 5, "notebooks": [],
        "step_benchmark": {"status": "ok", "error": None, "seconds": 99.0,
                           "runs": rows + tiny, "goal": reached},
    }  # fmt: skip
    table = gpu_check.markdown(summary)
    assert "33.0% of the bf16 matmul peak measured in the same run (goal 30%: reached)" in table
    row = "| base (12 layers, hidden 768, 12 heads) | 256 x 128 | bf16 | bertedu, compiled |"
    assert row in table
    assert "| 1.74x | 33.0% | 19.0% | 790.0 | 40.0 |" in table


def test_the_lent_check_benchmarks_bert_base_at_a_gpu_sized_batch():
    base = next(run for run in gpu_check.GPU_BENCHMARKS if run[run.index("--model") + 1] == "base")
    batch, seq = int(base[base.index("--batch") + 1]), int(base[base.index("--seq") + 1])
    assert batch * seq >= 256 * 128 and "bf16" in base and "compiled" in base
    tiny = next(run for run in gpu_check.GPU_BENCHMARKS if "tiny" in run)
    assert "plain" in tiny and "cuda-graphs" in tiny  # BERT-Tiny before and after
    script = (ROOT / "scripts" / "gpu_check_lent.sh").read_text()
    for chapter in ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10"):
        assert f" {chapter} " in script.split("for chapter in")[1].split(";")[0] + " "
    assert len(list((ROOT / "notebooks").glob("[01][0-9]_*.ipynb"))) == 10


def test_carried_wheels_pack_small_and_unpack_to_installable_wheels(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    corpus = wheels / "corpus-1.0-py3-none-any.whl"
    with zipfile.ZipFile(corpus, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("corpus/__init__.py", "X = 1\n")
        zipped.writestr("corpus/data/summaries_en-us.json", '{"a": "text"}' * 500)
        zipped.writestr("corpus/data/summaries_fr-fr.json", '{"a": "texte"}' * 500)
        info = "corpus-1.0.dist-info"
        zipped.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: corpus\nVersion: 1.0\n")
        zipped.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        # RECORD still names the file left out, as the real package's does
        zipped.writestr(f"{info}/RECORD", "".join(f"{name},,\n" for name in zipped.namelist()))
    archive = tmp_path / "wheels.tar.xz"
    assert gpu_check_carry.pack_wheels([corpus], archive) == 1  # the French summaries
    (again,) = gpu_check_carry.unpack_wheels(archive, tmp_path / "again")
    assert again.name == corpus.name
    names = zipfile.ZipFile(again).namelist()
    assert "corpus/data/summaries_en-us.json" in names
    assert "corpus/data/summaries_fr-fr.json" not in names
    assert zipfile.ZipFile(again).read("corpus/__init__.py") == b"X = 1\n"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
         str(tmp_path / "site"), str(again)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "corpus" / "data" / "summaries_en-us.json").exists()


def test_weighing_counts_tracked_untracked_and_carried_files_not_ignored_ones(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("/carry/\n/ignored/\n")  # 18 bytes
    (tmp_path / "tracked.txt").write_bytes(b"t" * 1000)
    git("add", ".")
    (tmp_path / "untracked.txt").write_bytes(b"u" * 500)
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "big").write_bytes(b"i" * 10_000)
    (tmp_path / "carry").mkdir()
    (tmp_path / "carry" / "w.tar.xz").write_bytes(b"c" * 2_000)
    found = gpu_check_carry.weigh(tmp_path, [Path("carry")])
    mib = gpu_check_carry.MIB
    assert found["tree_mib"] == pytest.approx((1000 + 500 + 18) / mib)
    assert found["carried_mib"] == pytest.approx(2000 / mib)
    assert found["total_mib"] == pytest.approx(3518 / mib)


def test_weighing_the_prepared_carry_says_what_to_do_without_it():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check_carry.py"), "weigh", "--carry",
         "no-such-folder"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "run --prepare first" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_page_gets_what_is_left_before_the_deadline_and_a_late_one_is_recorded():
    assert gpu_check.time_allowed(300, None, 250.0) == 300
    assert gpu_check.time_allowed(300, 400.0, 250.5) == 149
    assert gpu_check.time_allowed(300, 400.0, 395.0) < gpu_check.MINIMUM_NOTEBOOK_S
    row = gpu_check.skipped_row("10_measurements.ipynb")
    summary = {
        "profile": "gpu", "device": "GPU", "started": "now", "commit": None, "limit_s": 300,
        "jobs": 5, "notebooks": [row],
    }  # fmt: skip
    assert "| 10_measurements.ipynb | skipped (no time left before the deadline) | 0.0 |" in (
        gpu_check.markdown(summary)
    )
