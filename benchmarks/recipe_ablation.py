"""Pretraining recipes compared at equal compute, scored where it matters: at [MASK] positions.

Each run trains BERT-Tiny from the same initialisation for the same number of training
*sequences* (so a batch of 64 gets half the updates of a batch of 32), and is evaluated on
the book's held-out set (the embedded corpus's held-out articles, masked once at BERT's 15%)
several times along the way. Results go to a JSON-lines file, one record per evaluation,
with the wall-clock seconds since the run started.

    python benchmarks/recipe_ablation.py --name today --set corpus='"embedded"' \
        mlm_probability=0.15 max_predictions=20 batch_size=32 lr=0.002
    python benchmarks/recipe_ablation.py --name quick --set corpus='"embedded"' \
        mlm_probability=0.3 max_predictions=40 batch_size=64 lr=0.003

``--set`` takes recipe fields as JSON values on top of the ``cpu`` recipe; each record
keeps them (``set``) next to the fields chapter 5's first table shows (``recipe_changes``),
with the source commit, the load average at the start, the machine's fp32 matmul peak at
the run's threads, its processor's model name and vector extensions (``/proc/cpuinfo``) and the
``--machine`` note (what else ran).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch

from bertedu.pretraining import get_recipe, prepare_data, pretrain
from bertedu.pretraining.benchmark import measure_matmul_peak
from bertedu.pretraining.run import source_commit
from bertedu.tokenization import load_tokenizer
from bertedu.train import read_metrics

#: The recipe fields each record carries (chapter 5's table reads them).
SHOWN_FIELDS = ("corpus", "mlm_probability", "max_predictions", "batch_size", "lr", "total_steps")
#: The vector extensions of /proc/cpuinfo's flags that decide how fast matrix products run.
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def processor() -> dict[str, object]:
    """The processor's model name and which of ``VECTOR_FLAGS`` it has (Linux; empty elsewhere)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name", ""),
        "cpu_flags": [flag for flag in VECTOR_FLAGS if flag in flags],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="the run's name in the output")
    parser.add_argument("--sequences", type=int, default=38_400, help="training sequences")
    parser.add_argument("--evals", type=int, default=6, help="evaluations along the way")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="data order, pairings and init")
    parser.add_argument("--set", nargs="*", default=[], help="FIELD=JSON recipe changes")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/recipe_ablation.jsonl"))
    parser.add_argument(
        "--machine", default="", help="a note on what else ran, e.g. 'alone' or 'shared'"
    )
    args = parser.parse_args()
    commit, load_before = source_commit(), os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    # how fast this machine is at the run's threads: minutes compare only between equal peaks
    peak_gflops = measure_matmul_peak() / 1e9
    changes = {key: json.loads(value) for key, value in (s.split("=", 1) for s in args.set)}
    recipe = get_recipe("cpu", **changes)
    steps = args.sequences // recipe.batch_size
    every = max(10, steps // args.evals // 10 * 10)  # a multiple of the update log's 10
    recipe = recipe.replace(
        total_steps=steps, eval_every=every, checkpoint_every=steps, log_every=10
    )
    tokenizer = load_tokenizer()
    data = prepare_data(recipe, tokenizer, seed=args.seed)
    with tempfile.TemporaryDirectory() as folder:
        pretrain(
            recipe,
            output_dir=folder,
            seed=args.seed,
            data=data,
            tokenizer=tokenizer,
            progress=False,
        )
        log = read_metrics(Path(folder) / "metrics.jsonl")
    elapsed = {r["step"]: r["elapsed_s"] for r in log if r["split"] == "train"}
    shown = {field: recipe.to_dict()[field] for field in SHOWN_FIELDS}
    run_facts = {  # the same for every record of this run
        "recipe_changes": shown,
        "set": changes,
        "seed": args.seed,
        "machine": args.machine,
        "matmul_peak_gflops": peak_gflops,
        **processor(),
        "commit": commit,
        "load_before": load_before,
    }
    with args.output.open("a", encoding="utf-8") as file:
        for record in (r for r in log if r["split"] == "eval"):
            step = max(s for s in elapsed if s <= record["step"])  # the update log just before
            row = {"name": args.name, "elapsed_s": elapsed[step], "threads": args.threads}
            file.write(json.dumps(row | record | run_facts) + "\n")
    print(args.name, json.dumps(record))


if __name__ == "__main__":
    main()
