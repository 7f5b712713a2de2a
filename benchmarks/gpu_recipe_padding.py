"""How much padding do the gpu recipe's batches carry? Prints one line per corpus and setting.

Usage: python benchmarks/gpu_recipe_padding.py [--source embedded brown ...] [--limit N]
                                               [--group 0 16] [--output padding.json]

The gpu recipe reads WikiText-103 from the Hub; offline it is measured on local
stand-ins with the recipe's own settings (sequences of 128, 10% short pairs, batches
of 256 padded to 128): ``embedded`` (Wikipedia lead sections, short documents, so
many short pairs at document ends: an upper bound) and ``brown`` (the Brown Corpus,
texts of about 2,000 words: long documents, as WikiText-103's articles are). For each,
with ``group_by_length`` off and on: the share of the token slots that is padding and
the share of batches with no padding at all (those run attention without a mask, see
:func:`bertedu.train.loop.without_full_attention_mask`).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from bertedu.data.corpus import load_corpus  # noqa: E402
from bertedu.data.sources import SOURCES, load_source  # noqa: E402
from bertedu.pretraining import get_recipe, prepare_data  # noqa: E402
from bertedu.pretraining.padding import padding_report  # noqa: E402
from bertedu.tokenization import load_tokenizer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs="+", default=["embedded", "brown"],
                        choices=["embedded", *SOURCES])  # fmt: skip
    parser.add_argument("--limit", type=int, help="at most this many documents of each")
    parser.add_argument("--group", nargs="+", type=int, default=[0, 16],
                        help="group_by_length settings to compare (0: off)")  # fmt: skip
    parser.add_argument("--output", help="also write the results as JSON to this file")
    args = parser.parse_args()
    tokenizer = load_tokenizer()
    rows = []
    for source in args.source:
        documents = load_corpus("embedded") if source == "embedded" else load_source(source)
        documents = documents[: args.limit] if args.limit else documents
        for group in args.group:
            recipe = get_recipe("gpu", corpus=source, group_by_length=group)
            data = prepare_data(recipe, tokenizer, seed=0, documents=documents)
            report = padding_report(data.train)
            rows.append({"source": source, "documents": len(documents),
                         "group_by_length": group, **asdict(report)})  # fmt: skip
            shape = f"{recipe.batch_size} x {recipe.max_seq_length}"
            print(
                f"{source:<10} {len(documents):>6,} documents, group_by_length={group:<3}: "
                f"{report.batches:,} batches of {shape}, {report.slot_share:.1%} of the token "
                f"slots are padding, {report.unpadded_batch_share:.1%} of the batches have none",
                flush=True,
            )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            json.dump(rows, file, indent=1)


if __name__ == "__main__":
    main()
