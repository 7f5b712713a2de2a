"""How fast is the pretraining data pipeline? Prints instances/s and collated batches/s.

Usage: python benchmarks/data_throughput.py [--documents N] [--batches N]

Measures, on the embedded Wikipedia corpus (sentences are split first and not
timed here: that is a one-off cost, cached by the notebook's pipeline):
* WordPiece tokenization of all sentences (documents/s);
* NSP instance building, max_seq_length 128 (instances/s);
* collation with dynamic masking, batch 128 x 128 (batches/s), the step that
  runs inside the training loop, compared with what a training step consumes.
"""

from __future__ import annotations

import argparse
import os
import random
import time

import datasets
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from bertedu.data.corpus import load_embedded_wikipedia  # noqa: E402  (after the offline switches)
from bertedu.data.nsp import create_instances  # noqa: E402

# noqa: E402
from bertedu.data.pipeline import PretrainingCollator, document_token_ids, tokenize_documents
from bertedu.tokenization import load_tokenizer  # noqa: E402

BATCH_SIZE = 128
MAX_SEQ_LENGTH = 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--documents", type=int, default=None, help="embedded documents to use (default: all)"
    )
    parser.add_argument("--batches", type=int, default=200, help="batches to collate")
    args = parser.parse_args()

    datasets.disable_progress_bars()
    tokenizer = load_tokenizer()
    documents = load_embedded_wikipedia(args.documents, num_proc=os.cpu_count() or 1)
    start = time.perf_counter()
    tokenized = tokenize_documents(documents, tokenizer)  # no cache_dir: time the real work
    seconds = time.perf_counter() - start
    token_ids = document_token_ids(tokenized)
    print(
        f"tokenize: {len(documents):,} documents, {sum(tokenized['num_tokens']):,} tokens "
        f"in {seconds:.2f} s = {len(documents) / seconds:,.0f} documents/s"
    )

    start = time.perf_counter()
    instances = create_instances(token_ids, max_seq_length=MAX_SEQ_LENGTH, rng=random.Random(0))
    seconds = time.perf_counter() - start
    rate = len(instances) / seconds
    print(f"NSP instances: {len(instances):,} in {seconds:.2f} s = {rate:,.0f} instances/s")

    collator = PretrainingCollator.from_tokenizer(
        tokenizer, generator=torch.Generator().manual_seed(0), pad_to=MAX_SEQ_LENGTH
    )
    rng = random.Random(1)
    batches = [rng.sample(instances, BATCH_SIZE) for _ in range(args.batches)]
    start = time.perf_counter()
    for batch in batches:
        collator(batch)
    seconds = time.perf_counter() - start
    rate = args.batches / seconds
    print(
        f"collate + mask: batch {BATCH_SIZE} x {MAX_SEQ_LENGTH}: {rate:,.0f} batches/s "
        f"= {rate * BATCH_SIZE * MAX_SEQ_LENGTH:,.0f} tokens/s (torch threads: "
        f"{torch.get_num_threads()})"
    )


if __name__ == "__main__":
    main()
