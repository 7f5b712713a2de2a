"""Ship a pretraining run: fp16 weights, metrics, training log and model card into a folder.

    python scripts/export_pretrained.py /work/runs/tiny-long \
        --command "python -m bertedu pretrain --profile cpu-long --threads 1" [--notes F.md]

reads the run's newest checkpoint and its ``run.json``, rebuilds the book's held-out
batches (the embedded corpus's held-out articles, masked once at 15%: the positions
chapter 5 scores), measures the fp16 weights there, and writes
``bertedu/checkpoints/bert-tiny-wiki/`` (or ``--target``). The fill-mask examples of the
card follow a fixed rule: the first sentence (8 to 22 words) of each held-out article,
one word hidden by ``mask_a_word``, the first six. A ``--target`` that is not empty is written
only when this script made it (its ``metrics.json`` tells); the files are written under
temporary names and moved into place at the end (bertedu.train.export_folder).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bertedu.pretraining import (
    export_pretrained,
    fill_mask,
    get_recipe,
    mask_a_word,
    prepare_data,
)
from bertedu.tokenization import load_tokenizer
from bertedu.train.checkpoint import latest_checkpoint
from bertedu.train.export_folder import export_folder
from bertedu.weights import TINY_WIKI_DIR

EXAMPLES = 6


def card_examples(model, tokenizer, documents) -> list[dict[str, str]]:
    """Fill-mask rows for the card, chosen by the rule in the module docstring."""
    rows = []
    for document in documents:
        sentence = document.sentences[0]
        if not 8 <= len(sentence.split()) <= 22 or not (hidden := mask_a_word(sentence, tokenizer)):
            continue
        text, word = hidden
        predictions = fill_mask(model, tokenizer, text, top_k=5)[0]
        ranked = ", ".join(f"{p.token} ({p.probability:.2f})" for p in predictions)
        rows.append({"text": f"{text} (hidden: {word})", "predictions": ranked})
        if len(rows) == EXAMPLES:
            break
    return rows


def made_here(folder: Path) -> bool:
    """Whether ``folder`` holds this script's ``metrics.json`` (its manifest: the held-out
    metrics, the baselines and the steps of an exported run)."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(metrics, dict) and {"held_out", "baselines", "steps"} <= set(metrics)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path, help="the output folder of the pretraining run")
    parser.add_argument("--target", type=Path, default=TINY_WIKI_DIR)
    parser.add_argument("--command", help="the command that trained it, for the card")
    parser.add_argument(
        "--notes",
        type=Path,
        help="a markdown file added to the card as it is (e.g. how a run was continued)",
    )
    args = parser.parse_args(argv)
    try:
        with export_folder(
            args.target, recognised=made_here, what="export_pretrained.py"
        ) as staging:
            info = export_run(args, staging)
    except (FileExistsError, NotADirectoryError) as error:
        raise SystemExit(f"export_pretrained.py: {error}") from None
    print(json.dumps(info["held_out"], indent=1))


def export_run(args: argparse.Namespace, staging: Path) -> dict:
    """Export the newest checkpoint of ``args.run_dir`` into ``staging``; its metrics."""
    run = json.loads((args.run_dir / "run.json").read_text(encoding="utf-8"))
    fields = {k: v for k, v in run["recipe"].items() if k != "profile"}
    recipe = get_recipe(run["recipe"]["profile"], **fields)
    tokenizer = load_tokenizer()
    # The book's held-out batches: the embedded corpus's split, whatever the training mix.
    data = prepare_data(recipe.replace(corpus="embedded"), tokenizer, seed=run["seed"])
    checkpoint = latest_checkpoint(args.run_dir)
    if checkpoint is None:
        raise SystemExit(f"No checkpoint in {args.run_dir}: nothing to export.")
    return export_pretrained(
        checkpoint,
        staging,
        held_out=data.held_out,
        run_dir=args.run_dir,
        mask_token_id=tokenizer.mask_token_id,
        command=args.command,
        card_notes=args.notes.read_text(encoding="utf-8").strip() if args.notes else "",
        examples=lambda shipped: card_examples(shipped, tokenizer, data.held_out_documents),
    )


if __name__ == "__main__":
    main()
