"""Measure a corpus mix for its data card: size per source, duplication, the held-out split.

    python scripts/corpus_stats.py --mix default --num-proc 2

Prints Markdown tables: per source the documents, sentences, words and WordPieces (the
bert-base-uncased tokenizer of ``bertedu.tokenization.load_tokenizer()``) kept after
deduplication, the share of the mix, what deduplication removed and which earlier source the
removed text repeated, and the held-out split; then the first and second load times.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from bertedu.data.sources import SOURCES, load_mix_with_stats, resolve_mix, split_held_out
from bertedu.tokenization import load_tokenizer


def count_wordpieces(documents, tokenizer, batch: int = 2048) -> int:
    """WordPieces in all sentences (no special tokens), encoded in batches."""
    sentences = [sentence for document in documents for sentence in document.sentences]
    total = 0
    for start in range(0, len(sentences), batch):
        encoded = tokenizer(sentences[start : start + batch], add_special_tokens=False)
        total += sum(len(ids) for ids in encoded["input_ids"])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", default="default")
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--held-out-fraction", type=float, default=0.05)
    args = parser.parse_args()

    start = time.perf_counter()
    documents, stats = load_mix_with_stats(args.mix, num_proc=args.num_proc)
    first_load = time.perf_counter() - start
    start = time.perf_counter()
    documents, stats = load_mix_with_stats(args.mix, num_proc=args.num_proc)
    second_load = time.perf_counter() - start

    tokenizer = load_tokenizer()
    names = resolve_mix(args.mix)
    by_source = {name: [d for d in documents if d.source == name] for name in names}
    pieces = {name: count_wordpieces(docs, tokenizer) for name, docs in by_source.items()}
    total = sum(pieces.values())
    print("| source | domain | documents | sentences | words | WordPieces | share |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, docs in by_source.items():
        sentences = sum(len(d.sentences) for d in docs)
        words = sum(len(s.split()) for d in docs for s in d.sentences)
        print(
            f"| {name} | {SOURCES[name].domain} | {len(docs):,} | {sentences:,} | {words:,} | "
            f"{pieces[name]:,} | {pieces[name] / total:.1%} |"
        )
    print(f"| **total** | | {len(documents):,} | | | **{total:,}** | |")
    domains: Counter[str] = Counter()
    for name in names:
        domains[SOURCES[name].domain] += pieces[name]
    print("\n| domain | WordPieces | share |\n|---|---:|---:|")
    for domain, count in domains.most_common():
        print(f"| {domain} | {count:,} | {count / total:.1%} |")

    print(
        "\n| source | paragraphs read | repeated earlier (dropped) | of which from | "
        "near-duplicate docs | near-empty docs |"
    )
    print("|---|---:|---:|---|---:|---:|")
    for name in names:
        origins = ", ".join(
            f"{earlier} {count:,}"
            for (source, earlier), count in stats.duplicate_paragraphs_of.most_common()
            if source == name
        )
        near = ", ".join(
            f"{earlier} {count:,}"
            for (source, earlier), count in stats.near_duplicate_documents_of.most_common()
            if source == name
        )
        print(
            f"| {name} | {stats.paragraphs_in[name]:,} | {stats.duplicate_paragraphs[name]:,} "
            f"({stats.duplicate_paragraphs[name] / max(1, stats.paragraphs_in[name]):.1%}) | "
            f"{origins or '-'} | {stats.near_duplicate_documents[name]:,} ({near or '-'}) | "
            f"{stats.short_documents[name]:,} |"
        )

    train, held_out = split_held_out(documents, held_out_fraction=args.held_out_fraction)
    print(
        f"\nHeld out (fraction {args.held_out_fraction}): {len(held_out):,} documents, "
        f"{count_wordpieces(held_out, tokenizer):,} WordPieces; train {len(train):,} documents."
    )
    print(f"Load times: first {first_load:.1f} s, second {second_load:.1f} s.")


if __name__ == "__main__":
    main()
