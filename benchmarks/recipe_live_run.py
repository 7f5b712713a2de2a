"""Time the command a reader runs, ``python -m bertedu pretrain --profile live``, end to end.

Runs the command in a child process (data preparation, training, evaluations, checkpoints and
the plot: everything the reader waits for), samples the 1-minute load average every 10 s
while it runs, and appends one record per held-out evaluation of its ``metrics.jsonl`` to
``--output``: the evaluation's metrics, the wall-clock seconds of the training loop at that
update (``elapsed_s``) and, on every record, the whole command's wall time, the threads, the
loads, the machine's fp32 matmul peak at those threads, its processor and the source commit.

    python benchmarks/recipe_live_run.py --threads 2 --run-dir /tmp/live --name "live, 2 threads"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from recipe_ablation import processor

from bertedu.pretraining.benchmark import measure_matmul_peak
from bertedu.pretraining.run import source_commit
from bertedu.train import read_metrics


def sample_load(stop: threading.Event, into: list[float], every_s: float = 10.0) -> None:
    """Append the 1-minute load average to ``into`` every ``every_s`` seconds until ``stop``."""
    while not stop.is_set():
        into.append(os.getloadavg()[0])
        stop.wait(every_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="the run's name in the output")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-dir", type=Path, required=True, help="the command's --output")
    parser.add_argument("--profile", default="live")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/recipe_live.jsonl"))
    parser.add_argument("--machine", default="", help="a note on what else ran")
    parser.add_argument("--seed", type=int, default=0, help="the command's --seed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak_gflops = measure_matmul_peak() / 1e9
    command = [
        sys.executable,
        *("-m", "bertedu", "pretrain", "--profile", args.profile),
        *("--output", str(args.run_dir), "--threads", str(args.threads), "--no-progress"),
        *("--seed", str(args.seed)),
    ]
    loads: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_load, args=(stop, loads), daemon=True)
    load_before = os.getloadavg()[0]
    sampler.start()
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall_s = time.perf_counter() - start
    stop.set()
    sampler.join()
    log = read_metrics(args.run_dir / "metrics.jsonl")
    elapsed = {r["step"]: r["elapsed_s"] for r in log if r["split"] == "train"}
    run_facts = {
        "command": " ".join(["python", *command[1:]]),
        "command_wall_s": wall_s,
        "machine": args.machine,
        "load_before": load_before,
        "load_during": sum(loads) / len(loads),
        "load_max": max(loads),
        "matmul_peak_gflops": peak_gflops,
        **processor(),
        "commit": source_commit(),
    }
    with args.output.open("a", encoding="utf-8") as file:
        for record in (r for r in log if r["split"] == "eval"):
            step = max(s for s in elapsed if s <= record["step"])  # the update log just before
            row = {"name": args.name, "elapsed_s": elapsed[step], "threads": args.threads}
            row["seed"] = args.seed
            file.write(json.dumps(row | record | run_facts) + "\n")
    print(args.name, f"{wall_s:.0f} s", json.dumps(record))


if __name__ == "__main__":
    main()
