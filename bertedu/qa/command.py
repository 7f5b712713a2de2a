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
The notebooks call the same functions (:func:`load_encoder`, :func:`run_finetune_qa`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bertedu.arguments import fraction, positive_float, seed

ENCODERS = ("bert-tiny", "minilm")


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
    qa.add_argument("--distill-alpha", type=float, help="share of the soft (teacher) loss, 0 to 1")
    qa.add_argument("--distill-temperature", type=float, help="temperature of the soft loss (> 0)")
    qa.add_argument("--seed", type=seed, default=0, help="0 to 2**32 - 1")
    qa.add_argument("--output", type=Path, required=True, help="a folder that does not exist yet")
    qa.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")


def load_encoder(name: str | Path):
    """``(BertModel, tokenizer)`` for ``bert-tiny``, ``minilm`` or a folder of a bertedu BERT."""
    from bertedu.model import BertConfig, BertForPreTraining, BertModel
    from bertedu.tokenization import load_tokenizer

    tokenizer = load_tokenizer()
    if name == "bert-tiny":
        from bertedu.weights import load_pretrained_tiny

        return load_pretrained_tiny().bert, tokenizer
    if name == "minilm":
        from bertedu.hf import from_hf
        from bertedu.weights import load_reference_bert

        return from_hf(load_reference_bert()), tokenizer
    folder = Path(name).expanduser()
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise ValueError(
            f"Unknown encoder {str(name)!r}: use one of {', '.join(ENCODERS)} or a folder with "
            "config.json and model.safetensors (e.g. from bertedu.pretraining.export_pretrained)."
        )
    from bertedu.train.checkpoint import load_weights

    config = BertConfig.from_dict(_encoder_config(folder))
    shapes = _tensor_shapes(folder / "model.safetensors")
    _check_embedding_shape(config, shapes, folder)
    # The file's own names say which model wrote it: a pretraining model's start with "bert."
    with_heads = any(key.startswith("bert.") for key in shapes)
    model = BertForPreTraining(config) if with_heads else BertModel(config)
    load_weights(model, folder / "model.safetensors")  # its errors name the real mismatch
    return (model.bert if with_heads else model), tokenizer


def _encoder_config(folder: Path) -> dict:
    """``folder/config.json`` as a dict, with an error naming the file when it is not one."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is not a JSON file ({str(error)[:100]}).") from None
    if not isinstance(config, dict):
        raise ValueError(
            f"{path} holds a JSON {type(config).__name__}, not an object of BertConfig fields "
            "(vocab_size, hidden_size, ...). Write it with BertConfig.to_dict()."
        )
    return config


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's name and shape in a safetensors file, read from its header only."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            return {name: tuple(file.get_slice(name).get_shape()) for name in file.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}). Write it with "
            "bertedu.train.checkpoint.save_weights."
        ) from None


def _check_embedding_shape(config, shapes: dict[str, tuple[int, ...]], folder: Path) -> None:
    """Refuse a config.json whose vocabulary or width differs from the weights' embedding table
    before a model of that size is built (``vocab_size: 1e12`` would ask for terabytes)."""
    table = next((s for n, s in shapes.items() if n.endswith("word_embeddings.weight")), None)
    if table is not None and table != (config.vocab_size, config.hidden_size):
        raise ValueError(
            f"{folder / 'config.json'} says vocab_size {config.vocab_size} and hidden_size "
            f"{config.hidden_size}, but the word-embedding table in model.safetensors has shape "
            f"{table}: the config belongs to another model. Use the config.json written with "
            "these weights."
        )


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


def build_model(task: str, encoder, **options):
    """The reader on ``encoder``: the span head, or the encoder-decoder (copying and
    warm-started unless ``options`` say otherwise, e.g. ``copy=False``)."""
    from bertedu.qa.extractive import BertForQuestionAnswering
    from bertedu.qa.generative import BertEncoderDecoder

    if task == "extractive":
        return BertForQuestionAnswering.from_encoder(encoder.train())
    return BertEncoderDecoder.from_encoder(
        encoder.train(), **({"copy": True, "warm_start": True} | options)
    )


def run_finetune_qa(
    task: str,
    model,
    tokenizer,
    train_examples,
    dev_examples,
    recipe,
    *,
    seed: int = 0,
    progress: bool = False,
):
    """Fine-tune ``model`` on ``train_examples`` with ``recipe``; ``(held-out scores,
    predictions {question id: answer text}, the FinetuneResult)`` on ``dev_examples``.

    With ``recipe.validation_fraction``, that share of the training passages
    is held out (:func:`~bertedu.qa.finetune.split_by_passage`), scored after
    every epoch, and the model keeps its best epoch by F1 there: early
    stopping that never looks at ``dev_examples``.
    """
    import torch

    from bertedu.qa.distill import build_training_set, trainable
    from bertedu.qa.finetune import (
        evaluate_extractive,
        evaluate_generative,
        finetune,
        split_by_passage,
    )
    from bertedu.qa.generative import prepare_seq2seq_features

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    validation = None
    if recipe.validation_fraction:
        train_examples, validation = split_by_passage(
            train_examples, recipe.validation_fraction, seed
        )

    def generative_inputs(examples):
        return prepare_seq2seq_features(
            examples, tokenizer, recipe.max_length, recipe.max_target_length, with_labels=False
        )

    def score(examples):
        if task == "extractive":
            return evaluate_extractive(model, examples, tokenizer, recipe)
        inputs = generative_inputs(examples)
        scores, answers = evaluate_generative(
            model, inputs, tokenizer, max_new_tokens=recipe.max_target_length
        )
        return scores, {e.id: a for e, a in zip(inputs.examples, answers, strict=True)}

    training = build_training_set(task, train_examples, tokenizer, recipe)
    run = finetune(
        trainable(model, training.features, recipe),
        training.features,
        recipe,
        generator=generator,
        evaluate=None if validation is None else lambda _: score(validation)[0],
        keep_best=None if validation is None else "f1",
        progress=progress,
    )
    run.data = training.counts()
    scores, predictions = score(dev_examples)
    return scores, predictions, run


def prepare_output(output: Path) -> None:
    """Create ``output`` and prove it writable before training; refuse a file, a folder that
    is not empty, or one that cannot be written (``SystemExit`` saying what to do)."""
    if output.exists() and not output.is_dir():
        raise SystemExit(f"finetune-qa: --output {output} is a file; pass a folder (a new one).")
    if output.is_dir() and any(output.iterdir()):
        raise SystemExit(f"--output {output} already exists and is not empty; pick a new one.")
    probe = output / ".write-test"
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise SystemExit(
            f"finetune-qa: cannot write to --output {output} ({error.strerror or error}); "
            "pick a folder you can write to. Nothing was trained."
        ) from None


def finetune_qa_command(args: argparse.Namespace) -> int:
    """Run ``finetune-qa`` as parsed from the command line."""
    prepare_output(args.output)  # before any training: a read-only parent must not waste it
    from bertedu.qa.finetune import get_qa_recipe

    flags = (
        ("lr", args.lr),
        ("epochs", args.epochs),
        ("validation_fraction", args.validation_fraction),
    )
    changes = {k: v for k, v in flags if v is not None}
    if changes.get("validation_fraction") == 0:
        changes["validation_fraction"] = None
    for name in ("synthetic", "teacher"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = None if value == "none" else str(value)
    for name in ("distill_alpha", "distill_temperature"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    recipe = get_qa_recipe(args.task, args.profile, args.encoder, **changes)
    try:
        train_examples = read_examples(args.train, "train", recipe.train_limit)
        dev_examples = read_examples(args.dev, "dev", recipe.dev_limit)
        if recipe.validation_fraction:
            from bertedu.qa.finetune import split_by_passage

            try:
                split_by_passage(train_examples, recipe.validation_fraction, args.seed)
            except ValueError as error:
                raise ValueError(
                    f"{error} Pass --validation-fraction 0 to train without one."
                ) from None
        from bertedu.qa.distill import check_sources

        check_sources(recipe)
        encoder, tokenizer = load_encoder(args.encoder)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"finetune-qa: {error}") from None
    model = build_model(args.task, encoder)
    print(
        f"bertedu finetune-qa: {args.task} reader on {args.encoder}, profile {args.profile}, "
        f"{len(train_examples)} training and {len(dev_examples)} held-out questions"
    )
    start = time.perf_counter()
    scores, predictions, run = run_finetune_qa(
        args.task,
        model,
        tokenizer,
        train_examples,
        dev_examples,
        recipe,
        seed=args.seed,
        progress=not args.no_progress,
    )
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
