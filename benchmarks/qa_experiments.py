"""The QA experiments of issue 13, one line each in ``benchmarks/qa_experiments.jsonl``.

    PYTHONPATH=$PWD python benchmarks/qa_experiments.py --task generative --encoder minilm \\
        --epochs 8 --lr 3e-4 --name gen-minilm-copy

Each run fine-tunes a reader on the embedded training set with the cpu recipe
(:func:`bertedu.qa.finetune.get_qa_recipe`, ``--lr``/``--epochs``/... changed)
and scores it on the 254 embedded held-out questions: EM/F1 with group-bootstrap
95% intervals (43 passages), the share of answers found in their passage, the
wall seconds. ``--curve`` scores the held-out set after every epoch too (the
dev curve); ``--keep-best`` keeps the epoch with the best F1 on a validation
split of the *training* passages (10%), so the held-out number is not chosen on
the held-out set. ``--augment`` adds template questions (:mod:`bertedu.qa.augment`)
to the training set. ``--synthetic shipped|FILE`` (with ``--kinds``,
``--synthetic-limit``) adds synthetic questions and ``--teacher shipped|FILE|DIR``
distils from a teacher (``--alpha``, ``--temperature``): chapter 9's runs
(:mod:`bertedu.qa.distill`, the same functions ``finetune-qa`` calls);
``--random-init`` trains a randomly initialised encoder of the same shape;
``--encoder-layers N`` keeps only the encoder's first N layers (a smaller student
initialised from the teacher's own weights, as DistilBERT initialises its student);
``--chapter9 [--device cuda] [--threads N]`` runs chapter 9's plan (:data:`CHAPTER9`),
skipping the runs already recorded.
Every record has the command, the wall time, the device and the machine's load
average when the run started and ended (other jobs sharing the cores slow it).
``--table`` prints the records as a Markdown table. The chapters read the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from bertedu.qa.datasets import load_embedded_qa
from bertedu.qa.distill import build_training_set, trainable
from bertedu.qa.encoders import build_model, load_encoder
from bertedu.qa.finetune import (
    evaluate_extractive,
    evaluate_generative,
    finetune,
    get_qa_recipe,
    split_by_passage,
)
from bertedu.qa.generative import prepare_seq2seq_features
from bertedu.qa.metrics import bootstrap_ci, found_in_passage, per_question_squad

RESULTS = Path(__file__).with_name("qa_experiments.jsonl")

_TINY = ["--encoder", "bert-tiny", "--lr", "1e-3", "--keep-best", "--curve"]
_SYNTHETIC = ["--synthetic", "shipped", "--epochs", "3"]
_DISTIL = ["--teacher", "shipped"]
#: Chapter 9's runs, in the order they matter (``--chapter9`` runs those not yet recorded).
CHAPTER9 = {
    "ch9-ext-tiny-real": ["--task", "extractive", *_TINY, "--epochs", "6"],
    "ch9-ext-tiny-cloze-distill": [
        "--task", "extractive", *_TINY, *_SYNTHETIC, "--kinds", "cloze", *_DISTIL
    ],
    "ch9-ext-tiny-distill": ["--task", "extractive", *_TINY, *_SYNTHETIC, *_DISTIL],
    "ch9-gen-tiny-distill": [
        "--task", "generative", "--encoder", "bert-tiny", "--lr", "1e-3", *_SYNTHETIC,
        *_DISTIL,
    ],
    "ch9-ext-tiny-cloze": ["--task", "extractive", *_TINY, *_SYNTHETIC, "--kinds", "cloze"],
    "ch9-ext-tiny-synthetic": ["--task", "extractive", *_TINY, *_SYNTHETIC],
    **{
        f"ch9-ext-tiny-grid-T{t:g}-a{a:g}": [
            "--task", "extractive", *_TINY, *_SYNTHETIC, *_DISTIL,
            "--temperature", str(t), "--alpha", str(a),
        ]
        for t in (1.0, 2.0, 4.0)
        for a in (0.5, 0.9)
        if (t, a) != (2.0, 0.5)  # the recipe's own: ch9-ext-tiny-distill
    },
    "ch9-ext-random-distill": [
        "--task", "extractive", *_TINY, *_SYNTHETIC, *_DISTIL, "--random-init"
    ],
    "ch9-gen-tiny-real": [
        "--task", "generative", "--encoder", "bert-tiny", "--lr", "1e-3", "--epochs", "20"
    ],
    # What the student's held-out score is limited by (the fit on its own training questions:
    # benchmarks/qa_fit.py on the saved reader): more epochs, dropout, windows within the
    # 128 positions BERT-Tiny pretrained, generated questions without the cloze ones.
    "ch9-ext-tiny-distill-e8": [
        "--task", "extractive", *_TINY, "--synthetic", "shipped", "--epochs", "8", *_DISTIL
    ],
    "ch9-ext-tiny-distill-e8-dropout0.1": [
        "--task", "extractive", *_TINY, "--synthetic", "shipped", "--epochs", "8", *_DISTIL,
        "--dropout", "0.1",
    ],
    "ch9-ext-tiny-distill-len128": [
        "--task", "extractive", *_TINY, *_SYNTHETIC, *_DISTIL, "--max-length", "128",
        "--stride", "48",
    ],
    "ch9-ext-tiny-generated-distill-e8": [
        "--task", "extractive", *_TINY, "--synthetic", "shipped", "--kinds", "generated",
        "--epochs", "8", *_DISTIL,
    ],
    # What pretraining buys under the best recipe (8 epochs): the same run, a random encoder.
    "ch9-ext-random-distill-e8": [
        "--task", "extractive", *_TINY, "--synthetic", "shipped", "--epochs", "8", *_DISTIL,
        "--random-init",
    ],
    # How the held-out score grows with the synthetic questions (a random-looking slice: the
    # shipped file is in hash order), at the 8 epochs of the best run.
    **{
        f"ch9-ext-tiny-distill-e8-n{n}": [
            "--task", "extractive", *_TINY, "--synthetic", "shipped", "--epochs", "8",
            *_DISTIL, "--synthetic-limit", str(n),
        ]
        for n in (1000, 2000, 4000)
    },
    # Does the teacher gain too? One epoch over the real + synthetic questions (659 updates,
    # more than the 250 of 5 epochs of the real ones; 27 min on one shared thread).
    "ch9-ext-minilm-synthetic": [
        "--task", "extractive", "--encoder", "minilm", "--lr", "1e-4", "--curve",
        "--synthetic", "shipped", "--epochs", "1",
    ],
    # ... against chapter 6's MiniLM recipe (5 epochs of the real questions at 1e-4, here
    # without its validation split) in this harness, so the two are compared question by
    # question (a paired bootstrap).
    "ch9-ext-minilm-real": [
        "--task", "extractive", "--encoder", "minilm", "--lr", "1e-4", "--curve",
        "--epochs", "5",
    ],
    # A positive control: the same synthetic questions and distillation for a student that
    # can learn, MiniLM cut to its first 2 layers (initialised from the teacher's own
    # weights), against the same student on the real questions alone.
    "ch9-ext-minilm2-real": [
        "--task", "extractive", "--encoder", "minilm", "--encoder-layers", "2", "--lr", "1e-4",
        "--keep-best", "--curve", "--epochs", "6",
    ],
    "ch9-ext-minilm2-distill": [
        "--task", "extractive", "--encoder", "minilm", "--encoder-layers", "2", "--lr", "1e-4",
        "--keep-best", "--curve", "--synthetic", "shipped", "--epochs", "2", *_DISTIL,
    ],
}  # fmt: skip


def run_chapter9(extra: list[str], results: Path) -> None:
    """Run every :data:`CHAPTER9` entry not yet in ``results``, one after the other
    (resumable: a killed plan starts again at its first missing run)."""
    for name, arguments in CHAPTER9.items():
        done = results.is_file() and any(
            json.loads(line)["name"] == name for line in results.read_text("utf-8").splitlines()
        )
        if done:
            continue
        command = [sys.executable, __file__, "--name", name, *arguments, *extra]
        print(shlex.join(command), flush=True)
        subprocess.run([*command, "--results", str(results)], check=True)


#: The book's running example (chapters 6, 7 and 9): what each extractive reader answers.
EXAMPLE_QUESTION = "Who developed BERT?"
EXAMPLE_CONTEXT = "BERT is a pretrained language model developed by Google's AI team in 2018."


def running_example(model, tokenizer, recipe) -> dict:
    """An extractive reader's answer to the running example, with its five best spans."""
    from bertedu.qa.extractive import answer_question

    result = answer_question(
        model, tokenizer, EXAMPLE_QUESTION, EXAMPLE_CONTEXT, recipe.max_length, recipe.stride
    )
    return {
        "question": EXAMPLE_QUESTION,
        "answer": result.answer,
        "candidates": [
            {"text": c.text, "score": round(float(c.score), 3)} for c in result.candidates[:5]
        ],
    }


def first_layers(encoder, count: int):
    """``encoder`` cut to its first ``count`` layers (weights kept), its config saying so."""
    layers = encoder.encoder.layer
    if not 1 <= count <= len(layers):
        raise SystemExit(f"--encoder-layers {count}: the encoder has {len(layers)} layers")
    encoder.encoder.layer = torch.nn.ModuleList(list(layers)[:count])
    encoder.config = dataclasses.replace(encoder.config, num_hidden_layers=count)
    return encoder


def held_out_report(answers: list[str], examples) -> dict:
    """EM/F1 with group-bootstrap 95% intervals and the share of answers found in the passage."""
    per_question = per_question_squad(answers, [list(e.answers) for e in examples])
    groups = [e.context for e in examples]
    report = {}
    for name, values in per_question.items():
        mean, low, high = bootstrap_ci(values, groups)
        report[name] = round(mean, 2)
        report[f"{name}_ci95"] = [round(low, 2), round(high, 2)]
    report["found_in_passage"] = round(found_in_passage(answers, groups), 1)
    return report


def table() -> str:
    """The recorded runs as a Markdown table (``--table``)."""
    lines = [
        "| run | updates | train s | dev EM | dev F1 (95% CI) | found in passage % |",
        "|---|---|---|---|---|---|",
    ]
    for line in RESULTS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for key in ("dev", "dev_greedy", "dev_beam"):
            if key in record:
                dev = record[key]
                low, high = dev["f1_ci95"]
                method = "" if key == "dev" else f" ({key[4:]})"
                lines.append(
                    f"| {record['name']}{method} | {record['updates']} | "
                    f"{record['train_seconds']:.0f} | {dev['exact_match']:.1f} | "
                    f"{dev['f1']:.1f} ({low:.1f}-{high:.1f}) | {dev['found_in_passage']:.1f} |"
                )
    return "\n".join(lines)


def main() -> None:
    if "--table" in sys.argv:
        print(table())
        return
    if "--chapter9" in sys.argv:  # the rest of the command line goes to every run
        rest = [arg for arg in sys.argv[1:] if arg != "--chapter9"]
        results = RESULTS
        if "--results" in rest:
            at = rest.index("--results")
            results = Path(rest[at + 1])
            del rest[at : at + 2]
        run_chapter9(rest, results)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--task", required=True, choices=("extractive", "generative"))
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--max-length", type=int, help="tokens per window / encoder input")
    parser.add_argument("--stride", type=int, help="extractive: tokens shared by windows")
    parser.add_argument("--no-copy", action="store_true", help="generative: a plain decoder")
    parser.add_argument("--decoder-layers", type=int, help="generative: decoder depth")
    parser.add_argument("--curve", action="store_true", help="held-out scores every epoch")
    parser.add_argument("--keep-best", action="store_true", help="select the epoch on a split")
    parser.add_argument("--augment", action="store_true", help="add template questions")
    parser.add_argument("--beam", action="store_true", help="generative: also beam search")
    parser.add_argument("--save", type=Path, help="save the reader's weights here")
    parser.add_argument("--synthetic", help="shipped | a SQuAD file of synthetic questions")
    parser.add_argument("--kinds", nargs="+", help="synthetic kinds: cloze, generated")
    parser.add_argument("--synthetic-limit", type=int, help="first N synthetic questions")
    parser.add_argument("--teacher", help="shipped | a labels file | a saved extractive reader")
    parser.add_argument("--alpha", type=float, help="distillation: the soft loss's share")
    parser.add_argument("--temperature", type=float, help="distillation: temperature")
    parser.add_argument("--random-init", action="store_true", help="a random encoder")
    parser.add_argument("--encoder-layers", type=int, help="keep the encoder's first N layers")
    parser.add_argument("--dropout", type=float, help="the encoder's dropout while fine-tuned")
    parser.add_argument(
        "--freeze-word-embeddings", action="store_true", help="train every weight but those"
    )
    parser.add_argument("--device", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSONL to append to")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    commit = subprocess.run(  # at the start: the checkpoint is read now
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    changes = {
        key: value
        for key, value in (
            ("epochs", args.epochs),
            ("lr", args.lr),
            ("batch_size", args.batch_size),
            ("max_length", args.max_length),
            ("stride", args.stride),
            ("synthetic", args.synthetic),
            ("synthetic_kinds", tuple(args.kinds) if args.kinds else None),
            ("synthetic_limit", args.synthetic_limit),
            ("teacher", args.teacher),
            ("distill_alpha", args.alpha),
            ("distill_temperature", args.temperature),
        )
        if value is not None
    }
    recipe = get_qa_recipe(args.task, "cpu", **changes)
    train_examples = load_embedded_qa("train")
    dev = load_embedded_qa("dev")
    validation = None
    if args.keep_best:
        train_examples, validation = split_by_passage(train_examples, 0.1, seed=args.seed)
    if args.augment:
        from bertedu.qa.augment import template_questions

        train_examples = train_examples + template_questions(train_examples, seed=args.seed)
    torch.manual_seed(args.seed)
    encoder, tokenizer = load_encoder(args.encoder)
    if args.random_init:
        from bertedu.model import BertModel

        encoder = BertModel(encoder.config)
    if args.encoder_layers:
        encoder = first_layers(encoder, args.encoder_layers)
    if args.dropout is not None:
        encoder = encoder.with_dropout(args.dropout)
    if args.freeze_word_embeddings:
        encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    options = {"copy": not args.no_copy}
    if args.decoder_layers:
        options["num_decoder_layers"] = args.decoder_layers
    model = build_model(args.task, encoder, **options)
    training = build_training_set(args.task, train_examples, tokenizer, recipe)
    device = args.device or "cpu"
    model.to(device)
    if args.task == "extractive":

        def score(examples):
            return lambda m: evaluate_extractive(m, examples, tokenizer, recipe)[0]
    else:

        def score(examples):
            inputs = prepare_seq2seq_features(
                examples, tokenizer, recipe.max_length, with_labels=False
            )
            return lambda m: evaluate_generative(
                m, inputs, tokenizer, max_new_tokens=recipe.max_target_length
            )[0]

    dev_score = score(dev)
    evaluate, keep_best = None, None
    if args.keep_best:
        val_score = score(validation)
        keep_best = "val_f1"

        def evaluate(m):
            scores = {f"val_{k}": v for k, v in val_score(m).items() if k in ("f1", "exact_match")}
            if args.curve:
                scores |= {f"dev_{k}": v for k, v in dev_score(m).items() if k in ("f1",)}
            return scores
    elif args.curve:

        def evaluate(m):
            return {"dev_f1": dev_score(m)["f1"]}

    start = time.perf_counter()
    run = finetune(
        trainable(model, training.features, recipe),
        training.features,
        recipe,
        generator=torch.Generator().manual_seed(args.seed),
        evaluate=evaluate,
        keep_best=keep_best,
        progress=False,
        device=device,
    )
    train_seconds = time.perf_counter() - start
    record = {
        "name": args.name,
        "commit": commit,  # which shipped BERT-Tiny and code the run used
        "task": args.task,
        "encoder": args.encoder,
        "options": options if args.task == "generative" else {},
        "augment": args.augment,
        "keep_best": args.keep_best,
        "recipe": recipe.to_dict(),
        "n_train": len(training.examples),
        **training.counts(),
        "random_init": args.random_init,
        "encoder_layers": args.encoder_layers,
        "updates": run.step,
        "final_train_loss": round(run.losses[run.step], 4),
        "train_seconds": round(train_seconds, 1),
    }
    if args.curve or args.keep_best:
        record["curve"] = run.curve
        record["best_epoch"] = run.best_epoch
    start = time.perf_counter()
    if args.task == "extractive":
        _, predictions = evaluate_extractive(model, dev, tokenizer, recipe)
        record["dev"] = held_out_report([predictions[e.id] for e in dev], dev)
        record["dev"]["predictions"] = [predictions[e.id] for e in dev]  # in dev order
        record["running_example"] = running_example(model, tokenizer, recipe)
    else:
        inputs = prepare_seq2seq_features(dev, tokenizer, recipe.max_length, with_labels=False)
        methods = ["greedy", "beam"] if args.beam else ["greedy"]
        for method in methods:
            _, answers = evaluate_generative(
                model, inputs, tokenizer, method, max_new_tokens=recipe.max_target_length
            )
            record[f"dev_{method}"] = held_out_report(answers, dev)
            record[f"dev_{method}"]["examples"] = answers[:5]
            record[f"dev_{method}"]["predictions"] = answers  # all, in dev order (BERTScore)
    if args.save:
        from bertedu.qa.reader import save_reader

        save_reader(model.cpu(), args.save, recipe=recipe, encoder=args.encoder)
    record["eval_seconds"] = round(time.perf_counter() - start, 1)
    record["command"] = "python benchmarks/qa_experiments.py " + shlex.join(sys.argv[1:])
    record["device"] = device
    record["threads"] = args.threads
    # Load average (1 min) at the start and the end: above the thread count, other jobs shared
    # the cores and the wall time is longer than on an idle machine.
    record["load_average"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    record["cpu_count"] = os.cpu_count()
    with args.results.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
