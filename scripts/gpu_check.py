"""Run every notebook in the gpu profile with a time limit; summarise time, GPU memory and scores.

What ``scripts/gpu_check.sh`` runs. Each notebook is executed on a copy (the
committed notebooks keep their cpu-profile outputs) in its own process group, so
a notebook over its time limit is stopped with its kernel. While it runs,
``nvidia-smi`` is sampled every second for the memory in use on the GPUs. The
scores are the values the notebook glues (``myst_nb.glue``), read from the
executed copy. The summary goes to ``summary.json`` and ``summary.md`` in the
output folder, next to the executed notebooks.

``--dry-run`` checks the script itself on a machine without a GPU: the smoke
profile on the CPU, memory reported as not measured.

For a short lease on a GPU machine without network (``scripts/gpu_check_lent.sh``):
``--hub-rows N`` writes local copies of the Hub datasets the gpu profile reads, in
their exact schemas (``tests/hub_datasets.py``, N rows), and each notebook's kernel
reads those (``scripts/gpu_check_kernel.py``); ``--max-pretrain-steps`` caps the
pretraining updates; ``--jobs`` runs several notebooks at once (their times then
overlap, and nvidia-smi's memory is the whole GPU's: ``torch_peak_allocated_mib`` is
each notebook's own); ``--benchmark`` times the pretraining step before the
notebooks, alone on the GPU (``benchmarks/pretrain_throughput.py``): BERT-base and
BERT-Tiny at 256 x 128 in bf16, each variant of our step (plain, without a mask tensor,
compiled, with CUDA graphs) against transformers', as a share of the bf16 matmul peak
measured in the same run; ``--copy-summary DIR`` copies the summary there after
every notebook, so a run stopped early still leaves what it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bertedu.glued import glued_values

REPO = Path(__file__).resolve().parent.parent
KERNEL_MODULE = "gpu_check_kernel"  # scripts/gpu_check_kernel.py, run inside each kernel
MINIMUM_NOTEBOOK_S = 10  # a page with less time left before the deadline is not started


def with_kernel_cells(notebook: Any) -> Any:
    """``notebook`` with a first cell that runs :func:`gpu_check_kernel.setup` and a last one
    that runs :func:`gpu_check_kernel.report` (both tagged ``gpu-check``)."""
    import nbformat

    scripts = str(Path(__file__).resolve().parent)
    first = (
        f"import sys\nsys.path.insert(0, {scripts!r})\nimport {KERNEL_MODULE}\n"
        f"sys.path.remove({scripts!r})\n{KERNEL_MODULE}.setup()"
    )
    cells = [nbformat.v4.new_code_cell(first), *notebook.cells]
    cells.append(nbformat.v4.new_code_cell(f"{KERNEL_MODULE}.report()"))
    for cell in (cells[0], cells[-1]):
        cell.metadata["tags"] = ["gpu-check"]
    notebook.cells = cells
    return notebook


def execute_one(source: Path, target: Path, cell_timeout: int) -> None:
    """Execute ``source`` and write it, outputs included, to ``target`` (the child process)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = with_kernel_cells(nbformat.read(source, as_version=4))
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError:
        nbformat.write(notebook, target)  # keep the outputs up to the error
        raise
    nbformat.write(notebook, target)


class GpuMemorySampler:
    """The largest total of ``nvidia-smi``'s memory.used (MiB, all GPUs) while it runs."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self.peak_mib: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def sample() -> float | None:
        """The memory in use now, or None without ``nvidia-smi``."""
        if shutil.which("nvidia-smi") is None:
            return None
        query = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"]
        try:
            out = subprocess.run(query, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return sum(float(line) for line in out.stdout.split() if line.strip())

    def _run(self) -> None:
        while not self._stop.is_set():
            used = self.sample()
            if used is not None:
                self.peak_mib = max(self.peak_mib or 0.0, used)
            self._stop.wait(self.every_s)

    def __enter__(self) -> GpuMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def error_line(path: Path) -> str | None:
    """The first error a stored notebook shows (``ename: evalue``), if any."""
    if not path.exists():
        return None
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')}"
    return None


def kernel_report(path: Path) -> dict[str, Any]:
    """What the notebook's last cell wrote (``gpu_check_kernel.report``); empty if it never ran."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def run_notebook(source: Path, out_dir: Path, *, limit_s: int, cell_timeout: int) -> dict:
    """Execute one notebook in a child process under ``limit_s``; its summary row."""
    target = out_dir / source.name
    report = out_dir / f"{source.stem}.kernel.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--execute-one", str(source), str(target)]
    command += ["--cell-timeout", str(cell_timeout)]
    env = os.environ | {"BERTEDU_GPU_CHECK_REPORT": str(report)}
    start = time.perf_counter()
    with GpuMemorySampler() as memory:
        child = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
        try:
            log, _ = child.communicate(timeout=limit_s)
            status = "ok" if child.returncode == 0 else "error"
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the notebook's kernel goes with it
            log, _ = child.communicate()
            status = "timeout"
    (out_dir / f"{source.stem}.log").write_text(log or "", encoding="utf-8")
    facts = kernel_report(report)
    return {
        "notebook": source.name,
        "status": status,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_gpu_memory_mib": memory.peak_mib,
        "torch_peak_allocated_mib": facts.get("torch_peak_allocated_mib"),
        "kernel_gpu": facts.get("gpu"),
        "kernel_reported": bool(facts),  # False: the notebook stopped before its last cell
        "hub_calls": facts.get("hub_calls", []),
        "capped_pretraining_runs": facts.get("capped_pretraining_runs", []),
        "error": None if status in ("ok", "timeout") else error_line(target) or last_lines(log),
        "scores": glued_values(target),
    }


def time_allowed(limit_s: int, deadline_s: float | None, elapsed_s: float) -> int:
    """A notebook's time limit: its own, or what is left before the run's deadline (seconds
    after the start) when that is shorter, so a page still running then is recorded as a
    timeout rather than lost when the whole command is stopped."""
    if deadline_s is None:
        return limit_s
    return min(limit_s, int(deadline_s - elapsed_s))


def skipped_row(name: str) -> dict[str, Any]:
    """The summary row of a notebook that was not started: no time was left for it."""
    return {
        "notebook": name,
        "status": "skipped",
        "seconds": 0.0,
        "peak_gpu_memory_mib": None,
        "torch_peak_allocated_mib": None,
        "kernel_gpu": None,
        "kernel_reported": False,
        "hub_calls": [],
        "capped_pretraining_runs": [],
        "error": "no time left before the deadline",
        "scores": {},
    }


def last_lines(log: str | None, count: int = 3) -> str | None:
    """The end of a child's output (why a notebook that stored no error output failed)."""
    lines = [line for line in (log or "").splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or None


#: The step benchmark on a GPU: BERT-base first (the goal: >= 30% of the matmul peak measured
#: in the same run), then BERT-Tiny, the gpu recipe's model, whose small kernels leave the GPU
#: waiting on launches (what a compiled step with CUDA graphs removes). Every run times the
#: variants of our step against transformers' in the same interleaved loop.
GPU_BENCHMARKS = (
    ["--model", "base", "--batch", "256", "--seq", "128", "--precision", "bf16",
     "--variants", "plain", "no-mask", "compiled"],
    ["--model", "tiny", "--batch", "256", "--seq", "128", "--precision", "bf16",
     "--variants", "plain", "no-mask", "cuda-graphs"],
)  # fmt: skip
#: In a dry run: a tiny CPU version that only checks the path (no compiler needed).
DRY_RUN_BENCHMARKS = (
    ["--device", "cpu", "--model", "tiny", "--batch", "4", "--seq", "32", "--threads", "1",
     "--precision", "fp32", "bf16", "--variants", "plain", "no-mask"],
)  # fmt: skip
#: The share of the measured bf16 matmul peak BERT-base's step should reach (issue 36).
GOAL_SHARE_OF_PEAK = 0.30


def run_benchmark(
    out_dir: Path, *, dry_run: bool, limit_s: int, repeats: int = 10
) -> dict[str, Any]:
    """The pretraining step benchmark (``benchmarks/pretrain_throughput.py``): its summary part.

    On the GPU the runs of :data:`GPU_BENCHMARKS` (each variant of our step and
    transformers', interleaved), in a dry run :data:`DRY_RUN_BENCHMARKS`. Runs stop at
    ``limit_s`` seconds all together; what finished is kept.
    """
    output = out_dir / "benchmark.json"
    script = REPO / "benchmarks" / "pretrain_throughput.py"
    runs = DRY_RUN_BENCHMARKS if dry_run else [["--device", "cuda", *run] for run in GPU_BENCHMARKS]
    records, logs, status = [], [], "ok"
    start = time.perf_counter()
    for number, arguments in enumerate(runs):
        part = out_dir / f"benchmark-{number}.json"
        command = [sys.executable, str(script), *arguments, "--repeats", str(repeats)]
        command += ["--output", str(part)]
        left = limit_s - (time.perf_counter() - start)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=max(left, 1))
        except subprocess.TimeoutExpired as stopped:
            logs.append(str(stopped.stdout or ""))
            status = "timeout"
            break
        logs.append(done.stdout + done.stderr)
        if done.returncode != 0:
            status = "error"
            break
        data = json.loads(part.read_text(encoding="utf-8"))
        records += data.get("runs", [data])
    output.write_text(json.dumps({"runs": records}, indent=1) + "\n", encoding="utf-8")
    (out_dir / "benchmark.log").write_text("\n".join(logs), encoding="utf-8")
    rows = [row for record in records for row in benchmark_rows(record)]
    return {
        "status": status,
        "seconds": round(time.perf_counter() - start, 1),
        "error": last_lines(logs[-1] if logs else None) if status != "ok" else None,
        "runs": rows,
        "goal": goal(rows),
    }


def benchmark_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One benchmark run, a row per variant of our step, with self-explanatory keys, for
    summary.json (each row also carries transformers' step of the same run)."""
    theirs = record["results"]["transformers (sdpa)"]
    shape = record["model"]
    rows = []
    for name, speedup in record["speedups"].items():
        ours = record["results"][name]
        rows.append({
            "model": f"{record.get('model_name', '?')} ({shape['layers']} layers, hidden "
            f"{shape['hidden']}, {shape['heads']} heads)",
            "batch_x_seq": f"{record['batch']} x {record['seq']}",
            "masked_predictions_per_step": record["predictions_per_step"],
            "precision": record["precision"],
            "step": name,
            "device": record["device"],
            "optimizer": record.get("optimizer"),
            "bertedu_tokens_per_s": round(ours["tokens_per_s"]),
            "transformers_tokens_per_s": round(theirs["tokens_per_s"]),
            "bertedu_ms_per_step": round(ours["seconds_per_step"] * 1e3, 2),
            "transformers_ms_per_step": round(theirs["seconds_per_step"] * 1e3, 2),
            "bertedu_warmup_s": round(ours.get("warmup_s", 0.0), 1),
            "speedup_bertedu_over_transformers": round(speedup, 3),
            "mfu_reference": f"{record['matmul_peak_dtype']} matmul peak measured in the same run",
            "matmul_peak_tflops": round(record["matmul_peak_gflops"] / 1e3, 1),
            "fp32_matmul_peak_tflops": round(record["fp32_matmul_peak_gflops"] / 1e3, 1),
            "bertedu_share_of_peak": round(ours["mfu"], 4),
            "transformers_share_of_peak": round(theirs["mfu"], 4),
            "peak_memory_mib": record.get("peak_memory_mib"),
            "repeats_median_of": record["repeats"],
        })  # fmt: skip
    return rows


def goal(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """BERT-base bf16's best step against :data:`GOAL_SHARE_OF_PEAK` (None: no such row)."""
    base = [r for r in rows if r["model"].startswith("base") and r["precision"] == "bf16"]
    if not base:
        return None
    best = max(base, key=lambda row: row["bertedu_share_of_peak"])
    return {
        "bert_base_bf16_best_step": best["step"],
        "batch_x_seq": best["batch_x_seq"],
        "share_of_peak": best["bertedu_share_of_peak"],
        "goal_share_of_peak": GOAL_SHARE_OF_PEAK,
        "reached": best["bertedu_share_of_peak"] >= GOAL_SHARE_OF_PEAK,
    }


def markdown(summary: dict) -> str:
    """The summary as Markdown tables (what to paste into an issue or a note).

    HTML comments mark the run's description, the notebook table and the benchmark table, so
    a page can include each (MyST's ``include`` with ``start-after``/``end-before``).
    """
    lines = [
        f"# gpu_check: profile {summary['profile']}, {summary['device']}",
        "",
        "<!-- run start -->",
        f"{summary['started']}, {summary['device']}, commit {summary['commit']}, limit "
        f"{summary['limit_s']} s a notebook, {summary['jobs']} at a time",
        "",
    ]
    lines += [f"- {note}" for note in summary.get("notes", [])]
    lines += [
        "<!-- run end -->",
        "",
        "<!-- notebooks start -->",
        "| notebook | status | time (s) | its torch peak memory (MiB) | whole GPU's memory in "
        "use while it ran (MiB) |",
        "|---|---|---:|---:|---:|",
    ]
    for row in summary["notebooks"]:
        memory = row["peak_gpu_memory_mib"]
        memory = "not measured" if memory is None else memory
        torch_peak = row.get("torch_peak_allocated_mib")
        if torch_peak is None:  # the last cell ran and found CUDA never initialised: no GPU use
            torch_peak = "GPU unused" if row.get("kernel_reported") else "not measured"
        status = row["status"] + (f" ({row['error']})" if row["error"] else "")
        cells = [row["notebook"], status, row["seconds"], torch_peak, memory]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines += ["<!-- notebooks end -->"]
    bench = summary.get("step_benchmark")
    if bench:
        lines += [
            "",
            f"## Pretraining step, bertedu vs transformers' BertForPreTraining ({bench['status']}"
            + (f": {bench['error']}" if bench.get("error") else "")
            + f", {bench['seconds']} s)",
            "",
        ]
        if bench.get("goal"):
            reached = bench["goal"]
            lines += [
                f"BERT-base bf16, best step ({reached['bert_base_bf16_best_step']}, "
                f"{reached['batch_x_seq']}): {reached['share_of_peak']:.1%} of the bf16 matmul "
                f"peak measured in the same run (goal {reached['goal_share_of_peak']:.0%}: "
                f"{'reached' if reached['reached'] else 'not reached'}).",
                "",
            ]
        lines += [
            "<!-- benchmark start -->",
            "| model | batch x length | precision | our step | bertedu tokens/s | "
            "transformers tokens/s | ratio | bertedu % of peak | transformers % of peak | "
            "peak (TFLOP/s) | warm-up (s) |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in bench["runs"]:
            lines.append(
                f"| {run['model']} | {run['batch_x_seq']} | {run['precision']} | {run['step']} | "
                f"{run['bertedu_tokens_per_s']:,} | {run['transformers_tokens_per_s']:,} | "
                f"{run['speedup_bertedu_over_transformers']:.2f}x | "
                f"{run['bertedu_share_of_peak']:.1%} | {run['transformers_share_of_peak']:.1%} | "
                f"{run['matmul_peak_tflops']} | {run['bertedu_warmup_s']} |"
            )
        lines += ["<!-- benchmark end -->"]
    lines += ["", "## Glued values", ""]
    for row in summary["notebooks"]:
        scores = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row["scores"].items()
        )
        lines.append(f"- {row['notebook']}: {scores or 'none'}")
    return "\n".join(lines) + "\n"


def write_summary(summary: dict, out_dir: Path, copy_to: Path | None) -> None:
    """``summary.json`` and ``summary.md`` in ``out_dir`` (and ``copy_to``), rows by name."""
    summary = summary | {"notebooks": sorted(summary["notebooks"], key=lambda r: r["notebook"])}
    for folder in (out_dir, copy_to):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
            (folder / "summary.md").write_text(markdown(summary))


def device_line() -> str:
    """What the notebooks run on, in words (asked in a child: this process imports no torch)."""
    probe = (
        "import torch; print(torch.cuda.get_device_name(0) + f' x{torch.cuda.device_count()}'"
        " if torch.cuda.is_available() else 'CPU only')"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() or "unknown (torch did not start)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--output", type=Path, default=REPO / "runs" / "gpu_check")
    parser.add_argument("--limit", type=int, default=3600, help="seconds allowed per notebook")
    parser.add_argument("--cell-timeout", type=int, default=3600, help="seconds allowed per cell")
    parser.add_argument("--dry-run", action="store_true", help="smoke profile on the CPU")
    parser.add_argument(
        "--rehearse", action="store_true", help="the gpu profile's code on the CPU (see the kernel)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once")
    parser.add_argument(
        "--hub-rows", type=int, help="read local copies of the Hub datasets, this many rows"
    )
    parser.add_argument(
        "--hub-articles", type=int, help="WikiText-103 articles in the local copy (default: rows)"
    )
    parser.add_argument("--max-pretrain-steps", type=int, help="cap on pretraining updates")
    parser.add_argument("--benchmark", action="store_true", help="then time the step benchmark")
    parser.add_argument("--benchmark-limit", type=int, default=240, help="its seconds at most")
    parser.add_argument(
        "--benchmark-repeats", type=int, default=10, help="timed rounds of each benchmark run"
    )
    parser.add_argument(
        "--deadline", type=float, help="seconds after the start by which every page has stopped"
    )
    parser.add_argument("--copy-summary", type=Path, help="also keep the summary in this folder")
    parser.add_argument("--note", action="append", default=[], help="a line for the summary")
    parser.add_argument("--execute-one", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute_one:
        execute_one(*args.execute_one, cell_timeout=args.cell_timeout)
        return 0
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    started = time.perf_counter()
    profile = "smoke" if args.dry_run else "gpu"
    os.environ["BERTEDU_PROFILE"] = profile  # inherited by every kernel
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.dry_run or args.rehearse:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if args.rehearse:
        os.environ["BERTEDU_GPU_CHECK_REHEARSE"] = "1"
        profile = "gpu (rehearsed on the CPU)"
    device = device_line()
    if not (args.dry_run or args.rehearse) and device == "CPU only":
        print("gpu_check: torch sees no GPU. Install a CUDA build of torch (book/setup.md, "
              "'On a GPU'), or check the script with --dry-run.", file=sys.stderr)  # fmt: skip
        return 2
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    args.output.mkdir(parents=True, exist_ok=True)
    commit = os.environ.get("GPU_CHECK_COMMIT") or source_commit()
    summary = {
        "profile": profile,
        "device": device,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": commit or None,
        "limit_s": args.limit,
        "jobs": args.jobs,
        "hub_rows": args.hub_rows,
        "hub_wikitext_articles": args.hub_articles or args.hub_rows,
        "max_pretrain_steps": args.max_pretrain_steps,
        "notes": args.note,
        "notebooks": [],
    }
    if args.hub_rows:
        hub = Path(tempfile.mkdtemp(prefix="gpu-check-hub-"))
        write_local_hub(hub, args.hub_rows, args.hub_articles)
        os.environ["BERTEDU_GPU_CHECK_HUB"] = str(hub)
    if args.max_pretrain_steps:
        os.environ["BERTEDU_GPU_CHECK_MAX_STEPS"] = str(args.max_pretrain_steps)
    if args.benchmark:  # first, alone on the GPU, so its timings share it with nothing
        print("gpu_check: pretraining step benchmark ...", flush=True)
        summary["step_benchmark"] = run_benchmark(
            args.output,
            dry_run=args.dry_run or args.rehearse,
            limit_s=time_allowed(args.benchmark_limit, args.deadline, 0.0),
            repeats=2 if args.dry_run or args.rehearse else args.benchmark_repeats,
        )
        write_summary(summary, args.output, args.copy_summary)
    lock = threading.Lock()

    def run(path: Path) -> None:
        limit = time_allowed(args.limit, args.deadline, time.perf_counter() - started)
        if limit < MINIMUM_NOTEBOOK_S:
            row = skipped_row(path.name)
        else:
            print(f"gpu_check: {path.name} ({limit} s at most) ...", flush=True)
            row = run_notebook(path.resolve(), args.output, limit_s=limit,
                               cell_timeout=args.cell_timeout)  # fmt: skip
        print(f"  {path.name}: {row['status']} in {row['seconds']} s, torch peak "
              f"{row['torch_peak_allocated_mib']} MiB", flush=True)  # fmt: skip
        with lock:
            summary["notebooks"].append(row)
            write_summary(summary, args.output, args.copy_summary)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(run, notebooks))  # in the order given: put the longest first
    write_summary(summary, args.output, args.copy_summary)
    print(markdown(summary))
    passed = all(row["status"] == "ok" for row in summary["notebooks"])
    return 0 if passed and summary.get("step_benchmark", {}).get("status", "ok") == "ok" else 1


def source_commit() -> str | None:
    """This checkout's short commit; None where there is no git (a copy sent to a GPU machine:
    ``GPU_CHECK_COMMIT`` names it there)."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def write_local_hub(root: Path, rows: int, articles: int | None = None) -> None:
    """Local copies of the gpu profile's Hub datasets under ``root`` (``tests/hub_datasets.py``)."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import hub_datasets
    finally:
        sys.path.remove(str(REPO / "tests"))
    hub_datasets.write_local_hub(root, rows, articles)


if __name__ == "__main__":
    sys.exit(main())
