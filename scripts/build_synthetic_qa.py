"""Build chapter 9's synthetic questions: cloze and generated, with the teacher's soft labels.

    python scripts/build_synthetic_qa.py --work /tmp/synthetic --threads 1

Steps (each one's result is saved under ``--work`` and reused when the
script runs again, so a killed build resumes where it stopped):

1. the passages: the embedded Wikipedia leads less the held-out QA set's
   articles and the documents pretraining holds out (``passages.json``);
2. the teacher: MiniLM's extractive reader, chapter 6's cpu recipe, trained on
   the embedded training questions and scored on the held-out ones
   (``teacher/``);
3. the question generator: MiniLM's copying encoder-decoder, trained to write
   the training questions from answer + sentence (``qg/``), scored on the
   held-out questions (BLEU, ROUGE-L, and how many of its questions the
   teacher answers right);
4. cloze shards: ``--cloze-per-passage`` cloze questions per passage, the
   teacher's answer and top-k logits for each (``shards/cloze-NNNNN.json``);
5. generated shards: ``--candidates-per-passage`` answer candidates of each of
   the first ``--generate-passages`` passages, a question for each, kept when
   it passes the rules and the round trip (``shards/generated-NNNNN.json``);
6. the output: ``synthetic-train.json.gz`` (SQuAD v1.1), ``synthetic-teacher.json.gz``
   (soft labels by question id) and ``SYNTHETIC_CARD.md`` in ``--output-dir``.

Every shard is written to a temporary file and renamed, so a shard on disk
is complete; ``--assemble`` writes the output of the shards done so far (the
card says how many) from ``WORK`` alone: no model is loaded, so a work folder
built elsewhere (on a GPU, say) is assembled on any machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORMAT = "bertedu-synthetic-teacher-1"
QG_RECIPE_FIELDS = ("max_length", "max_target_length", "epochs", "lr")
#: The options that decide what the build makes (the card's rebuild command repeats them).
REBUILD_ARGS = (
    "encoder",
    "seed",
    "limit",
    "train_limit",
    "teacher_epochs",
    "qg_epochs",
    "qg_lr",
    "cloze_per_passage",
    "cloze_passages",
    "candidates_per_passage",
    "generate_passages",
    "shard_size",
    "batch_size",
    "top_k",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for models and shards")
    parser.add_argument("--output-dir", type=Path, default=REPO / "bertedu" / "qa" / "data")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="use only the first N passages (a tiny run)")
    parser.add_argument("--encoder", default="minilm", help="teacher and generator encoder")
    parser.add_argument("--cloze-per-passage", type=int, default=1)
    parser.add_argument("--cloze-passages", type=int, help="passages to make cloze for (all)")
    parser.add_argument("--generate-passages", type=int, help="passages to generate for (all)")
    parser.add_argument("--candidates-per-passage", type=int, default=3)
    parser.add_argument("--shard-size", type=int, default=100, help="passages per shard")
    parser.add_argument("--top-k", type=int, default=20, help="teacher logits kept per question")
    parser.add_argument("--teacher-epochs", type=float, help="default: chapter 6's cpu recipe")
    parser.add_argument("--qg-epochs", type=float, default=6.0)
    parser.add_argument("--qg-lr", type=float, default=3e-4)
    parser.add_argument("--train-limit", type=int, help="first N real questions (tests)")
    parser.add_argument("--batch-size", type=int, default=32, help="generation/teacher batch")
    parser.add_argument(
        "--only", choices=("teacher", "qg"), help="train this model (if not saved yet) and stop"
    )
    parser.add_argument(
        "--kinds",
        default="cloze,generated",
        help="shard kinds this process computes (two processes can share a --work folder: "
        "one with --kinds cloze, one with --kinds generated)",
    )
    parser.add_argument(
        "--assemble",
        action="store_true",
        help="only write the output files from the shards in WORK (no model needed) and stop",
    )
    parser.add_argument(
        "--card-note", default="", help="a paragraph for the card: how it was built"
    )
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def write_json(data: object, path: Path) -> None:
    """Atomic JSON write (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), "utf-8")
    tmp.replace(path)


def pretraining_held_out_titles() -> list[str]:
    """Titles of the embedded documents the cpu pretraining recipe holds out (the shipped
    BERT-Tiny's held-out set)."""
    from bertedu.data.corpus import load_corpus
    from bertedu.data.splits import split_by_document
    from bertedu.pretraining.data import HELD_OUT_SEED
    from bertedu.pretraining.recipes import get_recipe

    recipe = get_recipe("cpu")
    documents = load_corpus(recipe.corpus, limit=recipe.corpus_limit)
    _, held = split_by_document(
        documents, held_out_fraction=recipe.held_out_fraction, seed=HELD_OUT_SEED
    )
    return sorted(document.title for document in held)


def passages_step(args: argparse.Namespace) -> dict:
    """Step 1: the passages, saved once (``passages.json``)."""
    from bertedu.qa.synthetic import held_out_qa_titles, training_passages

    path = args.work / "passages.json"
    if not path.exists():
        held = pretraining_held_out_titles()
        passages = training_passages(held, seed=args.seed)
        write_json(
            {
                "pretraining_held_out_titles": held,
                "qa_dev_titles": sorted(held_out_qa_titles()),
                "passages": passages,
            },
            path,
        )
    data = json.loads(path.read_text("utf-8"))
    if args.limit:
        data["passages"] = data["passages"][: args.limit]
    return data


def real_examples(args: argparse.Namespace):
    """The embedded training and held-out questions (``--train-limit`` of each)."""
    from bertedu.qa.datasets import load_embedded_qa

    return load_embedded_qa("train", args.train_limit), load_embedded_qa("dev", args.train_limit)


def train_or_load(args, name: str, task: str, recipe, train, dev):
    """Train a reader with :func:`bertedu.qa.finetune.run_finetune_qa` once and save it under
    ``WORK/name``; later runs load it (or wait for the process training it)."""
    import torch

    from bertedu.qa.encoders import build_model, load_encoder
    from bertedu.train.checkpoint import load_weights

    folder = args.work / name
    # The span head / decoder start from the seed, whatever ran before in this process
    # (a fresh process's torch seed is random).
    torch.manual_seed(args.seed)
    encoder, tokenizer = load_encoder(args.encoder)
    model = build_model(task, encoder)
    wait_for_other_trainer(args.work / f"{name}.lock", folder)
    if (folder / "info.json").exists():
        load_weights(model, folder / "model.safetensors")
        return model.eval(), tokenizer, json.loads((folder / "info.json").read_text("utf-8"))
    lock = args.work / f"{name}.lock"
    lock.write_text(str(os.getpid()))
    try:
        return train_and_save(args, name, task, recipe, train, dev, model, tokenizer, folder)
    finally:
        lock.unlink(missing_ok=True)


def wait_for_other_trainer(lock: Path, folder: Path, poll: float = 20.0) -> None:
    """Wait while another live process of this script trains the same model (its ``lock``
    holds its pid); a lock left by a killed process is ignored."""
    while lock.exists() and not (folder / "info.json").exists():
        try:
            os.kill(int(lock.read_text()), 0)
        except (ProcessLookupError, ValueError):
            return
        time.sleep(poll)


def train_and_save(args, name, task, recipe, train, dev, model, tokenizer, folder):
    """Fine-tune ``model``, score it on ``dev``, save it and its ``info.json`` under
    ``folder`` (written complete, then renamed into place)."""
    from bertedu.qa.finetune import run_finetune_qa
    from bertedu.qa.reader import save_reader

    print(f"training the {name} ({task}, {len(train)} questions)", flush=True)
    start = time.perf_counter()
    scores, predictions, run = run_finetune_qa(
        task, model, tokenizer, train, dev, recipe, seed=args.seed, progress=not args.no_progress
    )
    info = {
        "task": task,
        "encoder": args.encoder,
        "dev_scores": scores,
        "n_train": len(train),
        "n_dev": len(dev),
        "updates": run.step,
        "train_seconds": round(time.perf_counter() - start, 1),
        "threads": args.threads,
        "device": device_name(model),
        "qa_recipe": recipe.to_dict(),
    }
    info["dev_predictions"] = predictions
    model.eval()
    tmp = args.work / f"{name}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    save_reader(model, tmp, recipe=recipe, encoder=args.encoder)
    write_json(info, tmp / "info.json")
    tmp.replace(folder)
    return model, tokenizer, info


def device_name(model) -> str:
    """Where ``model`` computed: the GPU's name, or ``cpu``."""
    import torch

    device = next(model.parameters()).device
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def teacher_step(args: argparse.Namespace):
    """Step 2: the teacher (trained once): ``(model, recipe, info, tokenizer)``."""
    from bertedu.qa.finetune import get_qa_recipe

    train, dev = real_examples(args)
    changes = {} if args.teacher_epochs is None else {"epochs": args.teacher_epochs}
    recipe = get_qa_recipe("extractive", "cpu", **changes)
    model, tokenizer, info = train_or_load(args, "teacher", "extractive", recipe, train, dev)
    return model, recipe, info, tokenizer


def qg_step(args: argparse.Namespace):
    """Step 3: the question generator (trained once): ``(model, recipe, info)``."""
    from bertedu.qa.finetune import get_qa_recipe
    from bertedu.qa.question_generation import qg_training_examples

    train, dev = real_examples(args)
    recipe = get_qa_recipe(
        "generative",
        "cpu",
        max_length=96,
        max_target_length=32,
        epochs=args.qg_epochs,
        lr=args.qg_lr,
    )
    model, _, info = train_or_load(
        args, "qg", "generative", recipe, qg_training_examples(train), qg_training_examples(dev)
    )
    return model, recipe, info


def qg_dev_round_trip(args, teacher, teacher_recipe, tokenizer, qg_info: dict) -> dict:
    """The held-out questions the generator wrote (from their answers), asked to the teacher
    about their passages: how many the round trip keeps, and five examples (saved once)."""
    from bertedu.qa.datasets import QAExample
    from bertedu.qa.roundtrip import round_trip, teacher_pass

    path = args.work / "qg_dev_round_trip.json"
    if not path.exists():
        _, dev = real_examples(args)
        written = qg_info["dev_predictions"]
        asked = [
            QAExample(e.id, written[e.id] or "?", e.context, e.answers, e.answer_starts)
            for e in dev
        ]
        said = teacher_pass(
            teacher, asked, tokenizer, teacher_recipe.max_length, teacher_recipe.stride
        )
        kept = [
            max(round_trip(s.answer, a)[0] for a in e.answers)
            for e, s in zip(dev, said, strict=True)
        ]
        examples = [
            {"answer": e.answers[0], "real": e.question, "generated": written[e.id]}
            for e in dev[:5]
        ]
        write_json(
            {
                "dev_round_trip_kept": round(100 * sum(kept) / len(kept), 2),
                "dev_examples": examples,
            },
            path,
        )
    return json.loads(path.read_text("utf-8"))


def read_info(args: argparse.Namespace, name: str) -> dict:
    """A trained model's ``info.json`` (scores, recipe, time); for the generator also its
    held-out round trip when it was recorded, and five held-out examples."""
    info = json.loads((args.work / name / "info.json").read_text("utf-8"))
    if name == "qg":
        path = args.work / "qg_dev_round_trip.json"
        if path.exists():
            info |= json.loads(path.read_text("utf-8"))
        else:
            _, dev = real_examples(args)
            written = info["dev_predictions"]
            info["dev_examples"] = [
                {"answer": e.answers[0], "real": e.question, "generated": written[e.id]}
                for e in dev[:5]
            ]
    return info


def cloze_shard(args, passages, teacher, recipe, tokenizer) -> dict:
    """Cloze questions of some passages with the teacher's soft labels (all kept)."""
    from bertedu.qa.roundtrip import round_trip, teacher_pass
    from bertedu.qa.synthetic import cloze_examples

    examples = [
        e
        for title, passage in passages
        for e in cloze_examples(title, passage, args.cloze_per_passage, args.seed)
    ]
    said = teacher_pass(
        teacher, examples, tokenizer, recipe.max_length, recipe.stride, args.top_k, args.batch_size
    )
    kept = []
    for example, output in zip(examples, said, strict=True):
        agrees, f1 = round_trip(output.answer, example.answers[0])
        kept.append(
            {
                **record(example, "cloze"),
                "teacher_agrees": agrees,
                "teacher_f1": round(f1, 3),
                "teacher": output.to_json(),
            }
        )
    counts = {"passages": len(passages), "questions": len(examples), "kept": len(kept)}
    return {"kept": kept, "rejected": [], "counts": counts}


def record(example, kind: str) -> dict:
    """An example as a shard record."""
    return {
        "id": example.id,
        "title": example.title,
        "context": example.context,
        "question": example.question,
        "answer": example.answers[0],
        "answer_start": example.answer_starts[0],
        "kind": kind,
    }


def generated_shard(args, passages, teacher, recipe, qg, qg_recipe, tokenizer) -> dict:
    """Generated questions of some passages: candidates -> questions -> rules -> round trip."""
    from bertedu.qa.candidates import answer_candidates, choose_candidates
    from bertedu.qa.datasets import QAExample
    from bertedu.qa.question_generation import generate_questions, qg_example, reject_reason
    from bertedu.qa.roundtrip import round_trip, teacher_pass
    from bertedu.qa.synthetic import passage_order

    counts = collections.Counter(passages=len(passages))
    inputs, about = [], []
    for title, passage in passages:
        found = answer_candidates(passage)
        chosen = choose_candidates(found, args.candidates_per_passage, f"{args.seed}:{title}")
        key = passage_order(title)[:12]
        for k, candidate in enumerate(chosen):
            counts[f"candidates_{candidate.kind}"] += 1
            qid = f"gen-{key}-{k}"
            inputs.append(qg_example(qid, candidate.text, candidate.start, passage, title))
            about.append((title, passage, candidate))
    counts["candidates"] = len(inputs)
    questions = (
        generate_questions(
            qg,
            inputs,
            tokenizer,
            qg_recipe.max_length,
            qg_recipe.max_target_length,
            args.batch_size,
        )
        if inputs
        else []
    )
    rejected, asked, seen = [], [], set()
    for item, question, (title, passage, candidate) in zip(inputs, questions, about, strict=True):
        reason = reject_reason(question, candidate.text)
        if reason is None and (question, passage) in seen:
            reason = "duplicate"
        seen.add((question, passage))
        example = QAExample(
            item.id, question, passage, (candidate.text,), (candidate.start,), title
        )
        if reason is not None:
            counts[f"rejected_{reason}"] += 1
            rejected.append({**record(example, "generated"), "reason": reason})
            continue
        asked.append((example, candidate.kind))
    counts["passed_rules"] = len(asked)
    said = (
        teacher_pass(
            teacher,
            [e for e, _ in asked],
            tokenizer,
            recipe.max_length,
            recipe.stride,
            args.top_k,
            args.batch_size,
        )
        if asked
        else []
    )
    kept = []
    for (example, kind), output in zip(asked, said, strict=True):
        agrees, f1 = round_trip(output.answer, example.answers[0])
        base = {**record(example, "generated"), "answer_kind": kind, "teacher_f1": round(f1, 3)}
        if agrees:
            kept.append({**base, "teacher": output.to_json()})
            counts[f"kept_{kind}"] += 1
        else:
            counts["rejected_round_trip"] += 1
            rejected.append({**base, "reason": "round trip", "teacher_answer": output.answer})
    counts["kept"] = len(kept)
    return {"kept": kept, "rejected": rejected, "counts": dict(counts)}


def shard_plan(args, passages: list) -> list[tuple[str, int, list]]:
    """``(kind, number, passages)`` of every shard, cloze shards first."""
    size = args.shard_size
    cloze = passages[: args.cloze_passages] if args.cloze_passages else passages
    plan = [("cloze", i // size, cloze[i : i + size]) for i in range(0, len(cloze), size)]
    generate = passages[: args.generate_passages] if args.generate_passages else passages
    plan += [
        ("generated", i // size, generate[i : i + size]) for i in range(0, len(generate), size)
    ]
    return plan


def shard_path(args, kind: str, number: int) -> Path:
    """Where one shard is stored."""
    return args.work / "shards" / f"{kind}-{number:05d}.json"


def run_shards(args, plan, models) -> None:
    """Compute every shard not on disk yet, with a progress bar over shards."""
    from tqdm.auto import tqdm

    teacher, recipe, _, qg, qg_recipe, _, tokenizer = models
    kinds = set(args.kinds.split(","))
    todo = [
        (kind, n, chunk)
        for kind, n, chunk in plan
        if kind in kinds and not shard_path(args, kind, n).exists()
    ]
    mine = sum(kind in kinds for kind, _, _ in plan)
    bar = tqdm(
        total=mine, initial=mine - len(todo), desc="shards", unit="shard", disable=args.no_progress
    )
    for kind, number, chunk in todo:
        start = time.perf_counter()
        if kind == "cloze":
            result = cloze_shard(args, chunk, teacher, recipe, tokenizer)
        else:
            result = generated_shard(args, chunk, teacher, recipe, qg, qg_recipe, tokenizer)
        result |= {"kind": kind, "shard": number, "seconds": round(time.perf_counter() - start, 1)}
        write_json(result, shard_path(args, kind, number))
        bar.set_postfix(kind=kind, kept=result["counts"]["kept"], s=result["seconds"])
        bar.update()
    bar.close()


def read_shards(args, plan) -> list[dict]:
    """The shards on disk, in plan order (missing ones skipped)."""
    out = []
    for kind, number, _ in plan:
        path = shard_path(args, kind, number)
        if path.exists():
            out.append(json.loads(path.read_text("utf-8")))
    return out


def assemble(args, plan, passages_info, teacher_info, qg_info, output_dir: Path) -> dict:
    """Write the SQuAD file, the soft labels and the card from the shards on disk."""
    from bertedu.qa.synthetic import to_squad, write_json_gz

    shards = read_shards(args, plan)
    kept = [r for shard in shards for r in shard["kept"]]
    rejected = [r for shard in shards for r in shard["rejected"]]
    totals = {kind: collections.Counter() for kind in ("cloze", "generated")}
    seconds = collections.Counter()
    for shard in shards:
        totals[shard["kind"]].update(shard["counts"])
        seconds[shard["kind"]] += shard["seconds"]
    fields = ("id", "title", "context", "question", "answer", "answer_start", "kind")
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_gz(
        to_squad([{k: r[k] for k in fields} for r in kept]),
        output_dir / "synthetic-train.json.gz",
    )
    labels = {
        "format": FORMAT,
        "top_k": args.top_k,
        "teacher": {k: teacher_info[k] for k in ("encoder", "dev_scores", "qa_recipe")},
        "questions": {r["id"]: r["teacher"] for r in kept},
    }
    write_json_gz(labels, output_dir / "synthetic-teacher.json.gz")
    stats = {
        "shards_done": len(shards),
        "shards_planned": len(plan),
        "passages_available": len(passages_info["passages"]),
        "excluded_qa_dev_titles": len(passages_info["qa_dev_titles"]),
        "excluded_pretraining_held_out_titles": len(passages_info["pretraining_held_out_titles"]),
        "cloze": dict(totals["cloze"]),
        "generated": dict(totals["generated"]),
        "cloze_teacher_agrees": sum(r.get("teacher_agrees", False) for r in kept),
        "card_note": args.card_note,
        "seconds": dict(seconds),
        "threads": args.threads,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    write_json(stats, args.work / "stats.json")
    (output_dir / "SYNTHETIC_CARD.md").write_text(
        card(stats, kept, rejected, teacher_info, qg_info, output_dir), "utf-8"
    )
    return stats


def where(info: dict) -> str:
    """Where a model was trained, as the card says it."""
    device = info.get("device", "a device the build did not record")
    return f"{device}, {info['threads']} CPU thread(s)"


def _examples_table(rows: list[dict], columns: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(row.get(c, "")).replace("|", "\\|").replace("\n", " ") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def card(stats, kept, rejected, teacher_info, qg_info, output_dir: Path) -> str:
    """The data card (markdown): sources, filters and counts, scores, examples, licence."""
    from bertedu.data.corpus import WIKIPEDIA_ATTRIBUTION

    cloze, gen = stats["cloze"], stats["generated"]
    kinds = ("name", "date", "number", "phrase")
    reasons = sorted({r["reason"] for r in rejected})
    by_id = sorted(kept, key=lambda r: r["id"])
    examples = {
        kind: [r for r in by_id if r["kind"] == kind][:5] for kind in ("cloze", "generated")
    }
    bad = {
        reason: sorted((r for r in rejected if r["reason"] == reason), key=lambda r: r["id"])[:3]
        for reason in reasons
    }
    sizes = {
        name: (output_dir / name).stat().st_size
        for name in ("synthetic-train.json.gz", "synthetic-teacher.json.gz")
    }
    t, q = teacher_info, qg_info
    qd = q["dev_scores"]
    parts = [
        "# Synthetic questions over the embedded Wikipedia leads (chapter 9)",
        "",
        *([stats["card_note"], ""] if stats.get("card_note") else []),
        "`synthetic-train.json.gz`: SQuAD v1.1 JSON (gzip), every question with one answer "
        "that is a span of its passage at `answer_start`, and a `kind` field (`cloze` or "
        "`generated`). `synthetic-teacher.json.gz`: the teacher's answer and top-"
        f"{stats['args']['top_k']} start and end logits per question id (format below). "
        "Built by `scripts/build_synthetic_qa.py` (deterministic, resumable); load with "
        "`bertedu.qa.synthetic.load_synthetic_qa()` and `load_teacher_labels()`.",
        "",
        f"Files: {sizes['synthetic-train.json.gz']:,} and "
        f"{sizes['synthetic-teacher.json.gz']:,} bytes. "
        f"Shards done: {stats['shards_done']} of {stats['shards_planned']}.",
        "",
        "## Sources and what is left out",
        "",
        f"Passages: the embedded corpus's Wikipedia lead sections, verbatim "
        f"({stats['passages_available']:,} leads used), less the "
        f"{stats['excluded_qa_dev_titles']} articles of the held-out QA set "
        "(`wikiqa-dev.json`, never a passage or an article of it) and the "
        f"{stats['excluded_pretraining_held_out_titles']} documents the cpu pretraining recipe "
        "holds out (5%, seed 0: the shipped BERT-Tiny's held-out set), and leads under 100 "
        "characters. The passages of the QA training set (`wikiqa-train.json`) are among them.",
        "",
        "## Counts after each filter",
        "",
        "| step | count |",
        "|---|---:|",
        f"| cloze: passages | {cloze.get('passages', 0):,} |",
        f"| cloze: questions (up to {stats['args']['cloze_per_passage']} per passage; all kept) "
        f"| {cloze.get('kept', 0):,} |",
        f"| cloze: the teacher's answer equals the cloze answer | "
        f"{stats['cloze_teacher_agrees']:,} |",
        f"| generated: passages | {gen.get('passages', 0):,} |",
        f"| generated: answer candidates (up to {stats['args']['candidates_per_passage']} per "
        f"passage) | {gen.get('candidates', 0):,} |",
    ]
    parts += [f"| - of kind {k} | {gen.get(f'candidates_{k}', 0):,} |" for k in kinds]
    parts += [
        f"| generated: rejected, {r} | {gen.get(f'rejected_{r}', 0):,} |"
        for r in reasons
        if r != "round trip"
    ]
    parts += [
        f"| generated: passed the rules, asked to the teacher | {gen.get('passed_rules', 0):,} |",
        f"| generated: rejected by the round trip | {gen.get('rejected_round_trip', 0):,} |",
        f"| **generated: kept** | **{gen.get('kept', 0):,}** |",
    ]
    parts += [f"| - of kind {k} | {gen.get(f'kept_{k}', 0):,} |" for k in kinds]
    parts += [
        f"| **all questions** | **{len(kept):,}** |",
        "",
        "The rules (`bertedu.qa.question_generation.reject_reason`): at least three words, "
        "ends with `?`, no `[UNK]`, does not contain its answer; one question per passage "
        "and text. The round trip (`bertedu.qa.roundtrip.round_trip`): the teacher, asked the "
        "question about the whole passage, answers the candidate exactly (SQuAD's EM after "
        "normalisation: lower case, no punctuation or articles).",
        "",
        "## The teacher and the question generator",
        "",
        f"Teacher: MiniLM (`{t['encoder']}`) extractive reader, chapter 6's cpu recipe "
        f"({json.dumps({k: t['qa_recipe'][k] for k in ('max_length', 'stride', 'epochs', 'lr')})}"
        f"), trained on the {t['n_train']} embedded training questions "
        f"({t['updates']} updates, {t['train_seconds']:.0f} s on {where(t)}); "
        f"on the {t['n_dev']} held-out questions: EM {t['dev_scores']['exact_match']:.1f}, "
        f"F1 {t['dev_scores']['f1']:.1f}.",
        "",
        f"Question generator: MiniLM's copying encoder-decoder (pointer-generator, decoder "
        f"warm-started from the encoder), input `[CLS] answer [SEP] title: sentence [SEP]`, "
        f"target the real question; "
        f"{json.dumps({k: q['qa_recipe'][k] for k in QG_RECIPE_FIELDS})}"
        f", {q['updates']} updates, {q['train_seconds']:.0f} s on {where(q)}. On the "
        f"{q['n_dev']} held-out questions (written from their answers): BLEU "
        f"{qd.get('bleu', float('nan')):.1f}, ROUGE-L {qd.get('rouge_l', float('nan')):.1f}, "
        f"F1 {qd.get('f1', float('nan')):.1f} against the real questions; "
        + (
            f"the teacher answers {q['dev_round_trip_kept']:.1f}% of the generated questions "
            "with the real answer (the round trip's pass rate on held-out passages)."
            if "dev_round_trip_kept" in q
            else "the round trip's pass rate on the held-out passages was not recorded for this "
            "build (it stopped before that step, and its models' weights were not kept)."
        ),
        "",
        _examples_table(q["dev_examples"], ("answer", "real", "generated")),
        "",
        "## Examples (kept: the first five by sorted id of each kind)",
        "",
    ]
    for kind, rows in examples.items():
        parts += [
            f"**{kind}**",
            "",
            _examples_table(rows, ("id", "title", "question", "answer")),
            "",
        ]
    parts += ["## Rejected examples (the first three by sorted id of each reason)", ""]
    for reason, rows in bad.items():
        columns = ("id", "question", "answer") + (
            ("teacher_answer",) if reason == "round trip" else ()
        )
        parts += [f"**{reason}**", "", _examples_table(rows, columns), ""]
    parts += [
        "## Soft labels",
        "",
        f'`synthetic-teacher.json.gz`: `{{"format": "{FORMAT}", "top_k", "teacher", '
        '"questions": {id: {"answer", "answer_start", "start": [[char, logit], ...], '
        '"end": [[char, logit], ...]}}}`. `start` holds the teacher\'s highest start logits '
        "over the passage's WordPieces, each keyed by the character where the token starts; "
        "`end` the highest end logits, keyed by the character one past the token's end; logits "
        "rounded to 2 decimals, each token read in its maximum-context window. A student with "
        "the same vocabulary maps them onto any window of its own with "
        "`bertedu.qa.roundtrip.window_soft_logits` (other positions: -inf; a window holding "
        "none: no distillation term). `answer` is the teacher's own best span.",
        "",
        "## Licence",
        "",
        "The passages are Wikipedia text, CC BY-SA 4.0; the questions and soft labels derived "
        "from them are shared under the same licence. " + WIKIPEDIA_ATTRIBUTION,
        "",
        "## How to rebuild",
        "",
        f"    python scripts/build_synthetic_qa.py --work WORK --threads {stats['threads']} "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in stats["args"].items()
            if k in REBUILD_ARGS and v is not None
        ),
        "",
        f"Seconds spent on the shards ({where(t)}): "
        + ", ".join(f"{k} {v:.0f}" for k, v in stats["seconds"].items())
        + ". A rerun on the same kind of machine and thread count gives the same files; "
        "another machine can round a logit differently and flip a close round-trip decision.",
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run the build."""
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    passages_info = passages_step(args)
    plan = shard_plan(args, passages_info["passages"])
    if args.assemble:
        teacher_info, qg_info = (read_info(args, name) for name in ("teacher", "qg"))
        stats = assemble(args, plan, passages_info, teacher_info, qg_info, args.output_dir)
        print(json.dumps({k: stats[k] for k in ("shards_done", "cloze", "generated")}, indent=1))
        return 0
    if args.only == "teacher":
        teacher_step(args)
        return 0
    if args.only == "qg":
        qg_step(args)
        return 0
    teacher, teacher_recipe, teacher_info, tokenizer = teacher_step(args)
    qg = qg_recipe = qg_info = None
    if "generated" in args.kinds.split(","):  # a cloze-only worker needs no generator
        qg, qg_recipe, qg_info = qg_step(args)
        # before any shard: a build stopped early still has the generator's held-out score
        qg_dev_round_trip(args, teacher, teacher_recipe, tokenizer, qg_info)
    models = (teacher, teacher_recipe, teacher_info, qg, qg_recipe, qg_info, tokenizer)
    run_shards(args, plan, models)
    missing = [p for p in plan if not shard_path(args, p[0], p[1]).exists()]
    if missing:
        print(f"{len(missing)} shards are not done yet (another process?); run again to finish.")
        return 0
    teacher_info, qg_info = (read_info(args, name) for name in ("teacher", "qg"))
    stats = assemble(args, plan, passages_info, teacher_info, qg_info, args.output_dir)
    print(json.dumps({k: stats[k] for k in ("shards_done", "cloze", "generated")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
