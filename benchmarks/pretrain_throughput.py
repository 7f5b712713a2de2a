"""How fast is a BERT-Tiny pretraining step, ours against transformers'? Prints tokens/s, the ratio
and MFU.

Usage: python benchmarks/pretrain_throughput.py [--repeats N] [--batch 32] [--seq 128] [--eager]
                                                [--threads T] [--output results.json]
                                                [--history runs.jsonl]
                                                [--device cuda] [--precision fp32 bf16]
                                                [--model tiny base]
                                                [--variants plain no-mask compiled cuda-graphs]

Both models have BERT-Tiny's shape (2 layers, hidden 128, 2 heads, FFN 512,
vocabulary 30,522) and train on the same batch (32 x 128, 15% masked, at most
20 predictions per sequence). A step is forward + backward + AdamW + zeroing
the gradients. The two are timed interleaved after a warm-up and the median is
reported, with the dense fp32 matmul peak measured in the same run. Timings
on a shared machine are noisy: compare the ratio, and run it when the machine
is otherwise idle (``uptime``). The code lives in :mod:`bertedu.pretraining.benchmark`
so that chapter 5 runs the very same measurement. ``--history`` appends every run
as one JSON line: chapter 5 reads ``benchmarks/pretrain_throughput_history.jsonl``
for the spread between runs, so no ratio it quotes lacks a record.

On a GPU (``--device cuda``, what ``scripts/gpu_check.py`` runs) each ``--model``
(``tiny``: BERT-Tiny, the gpu recipe's model; ``base``: BERT-base's shape) is timed
in each ``--precision`` (fp32, or bf16 autocast as the gpu recipe trains), and MFU
is taken against the bf16 matmul peak measured in the same run. With more than one
model or precision, ``--output`` holds ``{"runs": [...]}``, one record per pair.

``--variants`` times our step in several ways in the same interleaved loop, so that one
run measures what each option does (see :data:`bertedu.pretraining.benchmark.VARIANTS`):
``plain`` (the default), ``no-mask`` (no attention-mask tensor for a batch without
padding: the flash kernel on a GPU), ``compiled`` (also ``torch.compile``) and
``cuda-graphs`` (compiled in ``reduce-overhead`` mode). Each is a row with its tokens/s,
its MFU and its ratio to transformers; the compiled ones record their compile time
(``warmup_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from bertedu.model import BertConfig  # noqa: E402
from bertedu.pretraining.benchmark import (  # noqa: E402
    PRECISIONS,
    VARIANTS,
    compare_pretraining_steps,
    format_comparison,
)

#: The shapes ``--model`` names: BERT-Tiny (every recipe's model) and BERT-base (Devlin et al.).
MODELS = {
    "tiny": BertConfig.tiny,
    "base": BertConfig.base,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=15, help="interleaved timing rounds (median reported)"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument(
        "--eager", action="store_true", help="also time transformers with eager attention"
    )
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: torch's choice, one per core)"
    )
    parser.add_argument("--output", help="also write the results as JSON to this file")
    parser.add_argument("--history", help="also append the results as one JSON line to this file")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--precision", nargs="+", default=["fp32"], choices=sorted(PRECISIONS), help="each is timed"
    )
    parser.add_argument("--model", nargs="+", default=["tiny"], choices=sorted(MODELS))
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["plain"],
        choices=list(VARIANTS),
        help="ways our step is run, each timed (the first gives the headline ratio)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    records = []
    for model in args.model:
        for precision in args.precision:
            load_before = os.getloadavg()[0]
            comparison = compare_pretraining_steps(
                batch=args.batch,
                seq=args.seq,
                repeats=args.repeats,
                include_eager=args.eager,
                config=MODELS[model](),
                device=args.device,
                precision=precision,
                variants=args.variants,
            )
            print(format_comparison(comparison))
            print(
                f"load average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on "
                f"{os.cpu_count()} cores",
                flush=True,
            )
            records.append(
                {
                    **comparison,
                    "model_name": model,
                    "results": {k: asdict(v) for k, v in comparison["results"].items()},
                    "load_average_before": load_before,
                    "load_average_after": os.getloadavg()[0],
                    "cpu_count": os.cpu_count(),
                    "machine": platform.processor() or platform.machine(),
                    "torch": torch.__version__,
                    "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                }
            )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            json.dump(records[0] if len(records) == 1 else {"runs": records}, file, indent=1)
        print(f"wrote {args.output}")
    if args.history:
        with open(args.history, "a", encoding="utf-8") as file:
            for record in records:
                file.write(json.dumps(record) + "\n")
        print(f"appended to {args.history}")


if __name__ == "__main__":
    main()
