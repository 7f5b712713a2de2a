"""Does a saved extractive reader fit what it was trained on? Underfitting or overfitting.

Scores a reader saved by ``benchmarks/qa_experiments.py --save DIR`` on the held-out
questions, on the real questions of the validation split it never trained on, and on questions
it trained on, by kind: the real training questions and the shipped cloze and generated
questions (the first ``--limit`` of each by id), next to the teacher's own answers to the
synthetic ones (the stored labels' ``answer``). A reader that scores as badly on its training
questions as on the held-out ones has not learned them (underfits: too little capacity, too
few updates, or labels it cannot fit); one that fits them and fails on the held-out questions
has memorised rather than learned to read.

    python benchmarks/qa_fit.py --reader /tmp/reader --output benchmarks/qa_fit.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from bertedu.qa.datasets import load_embedded_qa
from bertedu.qa.finetune import evaluate_extractive, split_by_passage
from bertedu.qa.metrics import per_question_squad
from bertedu.qa.reader import load_reader
from bertedu.qa.synthetic import load_synthetic_qa, load_teacher_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", type=Path, required=True, help="a --save folder")
    parser.add_argument("--name", help="the record's name (default: the folder's)")
    parser.add_argument("--limit", type=int, default=254, help="questions per kind")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the run's --seed (its split)")
    parser.add_argument("--output", type=Path, help="a JSONL to append the record to")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reader = load_reader(args.reader)
    model, tokenizer, recipe = reader.model, reader.tokenizer, reader.recipe
    # qa_experiments.py --keep-best trains on the real training passages less a validation
    # split (split_by_passage, 10%, its --seed): the split's questions were never trained on.
    trained, validation = split_by_passage(load_embedded_qa("train"), 0.1, seed=args.seed)
    sets = {
        "held-out": load_embedded_qa("dev"),
        "real, validation split (not trained on)": validation,
        "real training": trained[: args.limit],
    }
    for kind in ("cloze", "generated"):
        examples = sorted(load_synthetic_qa((kind,)), key=lambda e: e.id)[: args.limit]
        sets[kind] = examples
    labels = load_teacher_labels()
    record = {"name": args.name or args.reader.name, "reader": str(args.reader), "sets": {}}
    for kind, examples in sets.items():
        scores, _ = evaluate_extractive(model, examples, tokenizer, recipe)
        row = {"questions": len(examples), "f1": round(scores["f1"], 2)}
        row["exact_match"] = round(scores["exact_match"], 2)
        if kind in ("cloze", "generated"):  # the teacher against the same labels
            answers = [labels[e.id].answer for e in examples]
            teacher = per_question_squad(answers, [list(e.answers) for e in examples])["f1"]
            row["teacher_f1"] = round(sum(teacher) / len(teacher), 2)
        record["sets"][kind] = row
        print(kind, row, flush=True)
    if args.output:
        with args.output.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
