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
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def execute_one(source: Path, target: Path, cell_timeout: int) -> None:
    """Execute ``source`` and write it, outputs included, to ``target`` (the child process)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(source, as_version=4)
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


def glued_values(path: Path) -> dict[str, object]:
    """The values a notebook glued (``myst_nb.glue(name, value)``), numbers as numbers."""
    if not path.exists():
        return {}
    notebook = json.loads(path.read_text(encoding="utf-8"))
    values: dict[str, object] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook", {})
            if "name" not in record:
                continue
            name, prefix = record["name"], record.get("mime_prefix", "")
            text = output.get("data", {}).get(prefix + "text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            try:
                values[name] = float(text)
            except ValueError:
                values[name] = text.strip("'\"")
    return values


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


def run_notebook(source: Path, out_dir: Path, *, limit_s: int, cell_timeout: int) -> dict:
    """Execute one notebook in a child process under ``limit_s``; its summary row."""
    target = out_dir / source.name
    command = [sys.executable, __file__, "--execute-one", str(source), str(target)]
    command += ["--cell-timeout", str(cell_timeout)]
    start = time.perf_counter()
    with GpuMemorySampler() as memory:
        child = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            log, _ = child.communicate(timeout=limit_s)
            status = "ok" if child.returncode == 0 else "error"
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the notebook's kernel goes with it
            log, _ = child.communicate()
            status = "timeout"
    (out_dir / f"{source.stem}.log").write_text(log or "", encoding="utf-8")
    return {
        "notebook": source.name,
        "status": status,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_gpu_memory_mib": memory.peak_mib,
        "error": error_line(target) if status == "error" else None,
        "scores": glued_values(target),
    }


def markdown(summary: dict) -> str:
    """The summary as a Markdown table (what to paste into an issue or a note)."""
    lines = [
        f"# gpu_check: profile {summary['profile']}, {summary['device']}",
        "",
        f"{summary['started']}, commit {summary['commit']}, limit {summary['limit_s']} s a "
        "notebook",
        "",
        "| notebook | status | time (s) | peak GPU memory (MiB) | scores |",
        "|---|---|---:|---:|---|",
    ]
    for row in summary["notebooks"]:
        memory = row["peak_gpu_memory_mib"]
        memory = "not measured" if memory is None else memory
        scores = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row["scores"].items()
        )
        status = row["status"] + (f" ({row['error']})" if row["error"] else "")
        lines.append(f"| {row['notebook']} | {status} | {row['seconds']} | {memory} | {scores} |")
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--execute-one", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute_one:
        execute_one(*args.execute_one, cell_timeout=args.cell_timeout)
        return 0

    profile = "smoke" if args.dry_run else "gpu"
    os.environ["BERTEDU_PROFILE"] = profile  # inherited by every kernel
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.dry_run:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    device = device_line()
    if not args.dry_run and device == "CPU only":
        print("gpu_check: torch sees no GPU. Install a CUDA build of torch (book/setup.md, "
              "'On a GPU'), or check the script with --dry-run.", file=sys.stderr)  # fmt: skip
        return 2
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    args.output.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    summary = {
        "profile": profile,
        "device": device,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": commit or None,
        "limit_s": args.limit,
        "notebooks": [],
    }
    for path in notebooks:
        print(f"gpu_check: {path.name} ...", flush=True)
        row = run_notebook(path.resolve(), args.output, limit_s=args.limit,
                           cell_timeout=args.cell_timeout)  # fmt: skip
        print(f"  {row['status']} in {row['seconds']} s, GPU memory {row['peak_gpu_memory_mib']}")
        summary["notebooks"].append(row)
    (args.output / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.output / "summary.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0 if all(row["status"] == "ok" for row in summary["notebooks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
