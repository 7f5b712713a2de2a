"""``python -m bertedu finetune-qa``: fine-tune a reader on SQuAD-format JSON, score it, save it.

    python -m bertedu finetune-qa --task generative --encoder minilm --output runs/qa-minilm
    python -m bertedu finetune-qa --task extractive --encoder bert-tiny --train my-train.json \\
        --dev my-dev.json --profile smoke --output runs/qa-tiny

Reads SQuAD v1.1 JSON (default: the embedded train and dev sets), fine-tunes
with the profile's recipe (:func:`bertedu.qa.finetune.get_qa_recipe`), and
writes to ``--output``: the reader (``model.safetensors`` + its manifest ``config.json``,
:mod:`bertedu.qa.reader`: ``load_reader(DIR)`` and ``python -m bertedu answer`` read it),
``predictions.json`` (``{question id: answer text}``) and ``metrics.json``
(held-out EM/F1, the recipe, the wall time). The generative reader is the
pointer-generator with a warm-started decoder (:mod:`bertedu.qa.generative`).
This module reads and checks: the flags, the files, the encoder, the output folder; training
and scoring are :func:`bertedu.qa.finetune.run_finetune_qa`'s, called once; the encoder and
the reader built on it are :mod:`bertedu.qa.encoders`'. The notebooks call the same functions
(``load_encoder``, ``build_model``, ``run_finetune_qa``).
"""

from __future__ import annotations

import argparse
import errno
import json
import time
from pathlib import Path

from bertedu.arguments import fraction, positive_float, seed, share
from bertedu.data.corpus_digest import file_digest
from bertedu.qa.encoders import build_model, load_encoder


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``finetune-qa`` on the CLI's subcommands."""
    qa = commands.add_parser(
        "finetune-qa",
        help="fine-tune an extractive or generative reader on SQuAD-format JSON",
        description="Fine-tune a QA reader; writes model.safetensors, config.json, "
        "predictions.json and metrics.json to --output.",
    )
    qa.add_argument("--task", required=True, choices=("extractive", "generative"))
    qa.add_argument(
        "--encoder",
        required=True,
        help="bert-tiny (the shipped one) | minilm | PATH to a folder with config.json and "
        "model.safetensors (a bertedu BERT)",
    )
    qa.add_argument("--train", type=Path, help="SQuAD v1.1 JSON (default: the embedded train set)")
    qa.add_argument("--dev", type=Path, help="SQuAD v1.1 JSON (default: the embedded dev set)")
    qa.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "gpu"))
    qa.add_argument("--lr", type=positive_float, help="peak learning rate (default: the profile's)")
    qa.add_argument("--epochs", type=positive_float, help="passes over the training set (> 0)")
    qa.add_argument(
        "--validation-fraction",
        type=fraction,
        help="hold out this share of the training passages, score them after every epoch and "
        "keep the best epoch (default: the profile's; 0 turns it off)",
    )
    qa.add_argument(
        "--synthetic",
        metavar="FILE|shipped|none",
        help="add these synthetic questions to the training set: a SQuAD v1.1 .json/.json.gz, "
        "'shipped' (the book's set, bertedu/qa/data/synthetic-train.json.gz) or 'none' "
        "(default: the recipe's; for bert-tiny on cpu, 'shipped')",
    )
    qa.add_argument(
        "--teacher",
        metavar="FILE|DIR|shipped|none",
        help="distil from a teacher's labels on the synthetic questions: 'shipped' (the MiniLM "
        "reader's, stored with the shipped set), a labels .json/.json.gz, a folder of an "
        "extractive reader saved by finetune-qa (it reads every synthetic question) or 'none' "
        "(default: the recipe's). Extractive: KL to its start/end distributions; generative: "
        "its answers as targets",
    )
    qa.add_argument("--distill-alpha", type=share, help="share of the soft (teacher) loss, 0 to 1")
    qa.add_argument(
        "--distill-temperature", type=positive_float, help="temperature of the soft loss (> 0)"
    )
    qa.add_argument("--seed", type=seed, default=0, help="0 to 2**32 - 1")
    qa.add_argument(
        "--output",
        type=Path,
        required=True,
        help="a new folder; a checkpoint is written there after every epoch",
    )
    qa.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --output from its last checkpoint (the same "
        "flags, or it is refused)",
    )
    qa.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh although --output holds a run: it is moved aside to "
        "OUTPUT.old-<timestamp> (nothing is deleted)",
    )
    qa.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")


def read_examples(path: Path | None, split: str, limit: int | None):
    """Examples of a SQuAD JSON file (or the embedded ``split``), with a clear error when the
    file is not SQuAD JSON or holds no question."""
    from bertedu.qa.datasets import load_embedded_qa, load_squad_json

    source = f"the embedded {split} set" if path is None else str(path)
    try:
        examples = load_embedded_qa(split, limit) if path is None else load_squad_json(path, limit)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source} is not JSON ({error}); give a SQuAD v1.1 JSON file.") from None
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"{source} is not in the SQuAD v1.1 format (missing or wrong field {error}); each "
            "paragraph needs 'context' and 'qas' with 'id', 'question' and 'answers'."
        ) from None
    if not examples:
        raise ValueError(f"{source} has no question: nothing to {split} on.")
    return examples


def prepare_output(output: Path, resume: bool = False, overwrite: bool = False) -> None:
    """Claim ``output`` for this run before training, as pretraining claims its folder
    (:func:`bertedu.train.run_folder.claim_output_folder`: a folder of other files or of
    another run is refused, a second process too, ``resume`` needs the run's folder); the
    loop claims it again when it starts. ``SystemExit`` saying what to do."""
    from bertedu.train.folder_lock import ExistingRunError
    from bertedu.train.run_folder import claim_output_folder

    if output.exists() and not output.is_dir():
        raise SystemExit(f"finetune-qa: --output {output} is a file; pass a folder (a new one).")
    try:
        aside = claim_output_folder(output, resume=resume, overwrite=overwrite)
    except (ExistingRunError, FileNotFoundError, ValueError) as error:
        raise SystemExit(f"finetune-qa: {error}") from None
    except OSError as error:
        raise SystemExit(
            f"finetune-qa: cannot write to --output {output} ({error.strerror or error}); "
            "pick a folder you can write to. Nothing was trained."
        ) from None
    if aside is not None:
        print(f"--overwrite: the previous run in {output} was moved to {aside}.")


def how_to_resume(args: argparse.Namespace) -> str:
    """Where the run stands and the command that continues it (every value quoted)."""
    import shlex

    from bertedu.train.run_folder import latest_checkpoint

    found = latest_checkpoint(args.output)
    if found is None:
        return "No checkpoint was written yet: start again with the same command."
    words = ["python", "-m", "bertedu", "finetune-qa"]
    for name, value in vars(args).items():
        if name in ("command", "resume", "overwrite") or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        words += [flag] if value is True else [flag, shlex.quote(str(value))]
    command = " ".join([*words, "--resume"])
    return (
        f"The last complete checkpoint is {shlex.quote(str(found))}. Continue with:\n    {command}"
    )


def recipe_from_args(args: argparse.Namespace):
    """The profile's recipe with the flags applied; ``SystemExit`` for flags that cannot go
    together (a ``--teacher`` labels synthetic questions: without ``--synthetic`` it would
    be ignored)."""
    from bertedu.qa.finetune import get_qa_recipe

    flags = (
        ("lr", args.lr),
        ("epochs", args.epochs),
        ("validation_fraction", args.validation_fraction),
        ("distill_alpha", args.distill_alpha),
        ("distill_temperature", args.distill_temperature),
    )
    changes = {k: v for k, v in flags if v is not None}
    if changes.get("validation_fraction") == 0:
        changes["validation_fraction"] = None
    for name in ("synthetic", "teacher"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = None if value == "none" else str(value)
    recipe = get_qa_recipe(args.task, args.profile, args.encoder, **changes)
    if args.teacher not in (None, "none") and recipe.synthetic is None:
        raise SystemExit(
            f"finetune-qa: --teacher {args.teacher} needs --synthetic: the teacher's labels are "
            "for synthetic questions, and without them it would be ignored. Add --synthetic "
            "FILE (or 'shipped'), or leave --teacher out."
        )
    return recipe


def check_train_is_not_dev(train: Path | None, dev: Path | None) -> None:
    """Refuse a ``--train`` file that is the ``--dev`` file (the same file, or the same bytes):
    scores on questions trained on measure memory, not reading."""
    from bertedu.qa.datasets import embedded_qa_path

    train_path, dev_path = train or embedded_qa_path("train"), dev or embedded_qa_path("dev")
    dev_name = "the embedded dev set" if dev is None else f"--dev {dev}"
    train_name = "the embedded train set" if train is None else f"--train {train}"
    if train_path.resolve() == dev_path.resolve():
        raise ValueError(
            f"{train_name} and {dev_name} are the same file: the held-out scores would be "
            "taken on the questions trained on. Give a --dev file of other questions."
        )
    same_size = train_path.stat().st_size == dev_path.stat().st_size
    if same_size and file_digest(train_path) == file_digest(dev_path):
        raise ValueError(
            f"{train_name} and {dev_name} hold the same questions (identical files): the "
            "held-out scores would be taken on the questions trained on. Give a --dev file "
            "of other questions."
        )


def read_inputs(args: argparse.Namespace, recipe):
    """``(train examples, dev examples, encoder, tokenizer)``: everything the run reads,
    checked before any training (``ValueError``/``FileNotFoundError`` saying what to give)."""
    from bertedu.qa.distill import check_sources
    from bertedu.qa.finetune import split_by_passage

    train_examples = read_examples(args.train, "train", recipe.train_limit)
    dev_examples = read_examples(args.dev, "dev", recipe.dev_limit)
    check_train_is_not_dev(args.train, args.dev)
    if recipe.validation_fraction:
        try:
            split_by_passage(train_examples, recipe.validation_fraction, args.seed)
        except ValueError as error:
            raise ValueError(
                f"{error} Or pass --validation-fraction 0 to train without one."
            ) from None
    check_sources(recipe)
    encoder, tokenizer = load_encoder(args.encoder)
    return train_examples, dev_examples, encoder, tokenizer


def diverged(error, args: argparse.Namespace, recipe) -> str:
    """A loss that became NaN or infinite, in one line: the update, the loss, the rate, what
    is kept and what to do (the profile's rate when --lr was above it, else a tenth)."""
    from bertedu.qa.finetune import get_qa_recipe

    usual = get_qa_recipe(args.task, args.profile, args.encoder).lr
    given = f"{recipe.lr:g}, " + ("from --lr" if args.lr is not None else "the profile's")
    lower = f"the profile's {usual:g}" if recipe.lr > usual else f"{recipe.lr / 10:g}"
    kept = (
        f"the last good checkpoint {error.checkpoint} is kept; start afresh with a lower --lr "
        "and --overwrite (this run is moved aside, nothing is deleted)"
        if error.checkpoint is not None
        else "nothing was saved; start again with a lower --lr"
    )
    return (
        f"finetune-qa: the {error.term} became {error.value} at update {error.step} (learning rate "
        f"{given}): training stopped before it spoiled the weights. Pass a lower --lr (e.g. "
        f"{lower}): {kept}."
    )


def remove_unfinished_output(output: Path) -> bool:
    """Remove ``output`` (a folder this run created) when the run wrote no checkpoint into it:
    a rerun then starts as if nothing had happened. True when it was removed."""
    import shutil

    from bertedu.train.folder_lock import release_folder
    from bertedu.train.run_folder import latest_checkpoint

    if not output.is_dir() or output.is_symlink() or latest_checkpoint(output) is not None:
        return False
    release_folder(output)
    shutil.rmtree(output)
    return True


def finetune_qa_command(args: argparse.Namespace) -> int:
    """Run ``finetune-qa`` as parsed from the command line.

    A run that stops before its first checkpoint (a refused input, a diverging loss)
    removes the output folder when it created it; a folder that was there is left as it is.
    """
    from bertedu.train.output_path import OutputPathError, check_output_path

    recipe = recipe_from_args(args)
    try:  # a name too long for the file system fails in exists() below: said here first
        check_output_path(args.output)
    except (OutputPathError, FileNotFoundError) as error:
        raise SystemExit(f"finetune-qa: {error}") from None
    created = not args.output.exists() and not args.output.is_symlink()
    prepare_output(args.output, args.resume, args.overwrite)  # before any training
    finished = False
    try:
        status = train_and_save(args, recipe)
        finished = status == 0
        return status
    finally:
        if not finished and created and remove_unfinished_output(args.output):
            print(f"finetune-qa: removed {args.output}, which this run created (no checkpoint).")


def train_and_save(args: argparse.Namespace, recipe) -> int:
    """Read the inputs, fine-tune, and write the reader, predictions and metrics to
    ``--output`` (claimed already)."""
    from bertedu.qa.distill import TrainingDataError
    from bertedu.train.loop import NonFiniteLossError

    try:
        train_examples, dev_examples, encoder, tokenizer = read_inputs(args, recipe)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"finetune-qa: {error}") from None
    model = build_model(args.task, encoder)
    print(
        f"bertedu finetune-qa: {args.task} reader on {args.encoder}, profile {args.profile}, "
        f"{len(train_examples)} training and {len(dev_examples)} held-out questions"
    )
    start = time.perf_counter()
    from bertedu.qa.finetune import run_finetune_qa

    try:
        scores, predictions, run = run_finetune_qa(
            args.task,
            model,
            tokenizer,
            train_examples,
            dev_examples,
            recipe,
            seed=args.seed,
            progress=not args.no_progress,
            checkpoint_dir=args.output,
            resume=args.resume,
        )
    except TrainingDataError as error:  # found while the training set is put together
        raise SystemExit(f"finetune-qa: {error}") from None
    except NonFiniteLossError as error:
        raise SystemExit(diverged(error, args, recipe)) from None
    except KeyboardInterrupt:  # the loop saved the update it was on
        print(f"\nfinetune-qa: interrupted. {how_to_resume(args)}")
        return 130
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise SystemExit(
            f"finetune-qa: the disk is full ({error.filename or args.output}): "
            f"{error.strerror}. Free some space, then continue. {how_to_resume(args)}"
        ) from None
    elapsed = time.perf_counter() - start
    from bertedu.qa.reader import save_reader

    save_reader(model, args.output, recipe=recipe, encoder=str(args.encoder))
    (args.output / "predictions.json").write_text(json.dumps(predictions, indent=2), "utf-8")
    metrics = {
        **scores,
        "n_train": len(train_examples),
        **run.data,  # real, synthetic and teacher-labelled questions trained on
        "n_dev": len(dev_examples),
        "seconds": round(elapsed, 1),
        "qa_recipe": recipe.to_dict(),
        "validation_curve": run.curve,  # per epoch, on the held-out training passages
        "best_epoch": run.best_epoch,
    }
    (args.output / "metrics.json").write_text(json.dumps(metrics, indent=2), "utf-8")
    if run.best_epoch is not None:
        print(f"kept the weights of epoch {run.best_epoch}, the best on the validation split")
    print("held-out " + ", ".join(f"{k} {v:.1f}" for k, v in scores.items()))
    print(
        f"wrote {args.output.resolve()}: model.safetensors, config.json, predictions.json, "
        "metrics.json"
    )
    return 0
