"""Fine-tuning and evaluating the two QA models, on top of :func:`bertedu.train.train`.

Nothing here re-implements training: the optimizer (AdamW, no decay on
biases/LayerNorm), the warmup-linear schedule, clipping and checkpoints are
:mod:`bertedu.train`'s. This module only supplies what is QA-specific: the
batches (shuffled windows or answer targets, trimmed of padding), the
recipes per profile and the held-out scores.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import generate_answers
from bertedu.qa.distill import build_training_set, trainable
from bertedu.qa.extractive import QAFeatures, collate_windows, predict_answers
from bertedu.qa.generative import Seq2SeqFeatures, collate_seq2seq, prepare_seq2seq_features
from bertedu.qa.metrics import generation_scores, squad_em_f1
from bertedu.train import TrainConfig, TrainResult, read_metrics, train
from bertedu.train.batches import ReshuffledBatches
from bertedu.train.best_weights import BestWeights
from bertedu.train.checkpoint_state import read_checkpoint_state
from bertedu.train.optim import DEFAULT_WEIGHT_DECAY
from bertedu.train.run_folder import latest_checkpoint


@dataclass(frozen=True)
class QARecipe:
    """Sizes and hyper-parameters of one QA fine-tuning run."""

    max_length: int = 384  # tokens per window (extractive) or per encoder input (generative)
    # Passage tokens shared by consecutive windows (extractive): the overlap, as Hugging Face's
    # stride; Google's run_squad.py doc_stride is the step between window starts instead.
    stride: int = 128
    max_target_length: int = 32  # answer tokens + [SEP] (generative)
    batch_size: int = 32
    epochs: float = 2.0
    lr: float = 5e-5
    warmup_fraction: float = 0.1  # share of the updates over which lr climbs to its peak
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    # Early stopping: this share of the training *passages* is held out as a validation split,
    # the model is scored on it after every epoch and keeps its best epoch (None: no selection).
    validation_fraction: float | None = None
    train_limit: int | None = None  # first N training questions (None: all)
    dev_limit: int | None = None  # first N held-out questions (None: all)
    # Synthetic questions added to the training set (bertedu.qa.distill.load_synthetic):
    # "shipped" (the book's set), a SQuAD file, or None; which kinds, how many.
    synthetic: str | None = None
    synthetic_kinds: tuple[str, ...] | None = None  # None: all ("cloze", "generated")
    synthetic_limit: int | None = None
    # Distillation (bertedu.qa.distill): where the teacher's labels come from ("shipped", a
    # labels file or a saved extractive reader; None: none), the soft loss's share and its
    # temperature (extractive; the generative reader trains on the teacher's answers).
    teacher: str | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 2.0

    def replace(self, **changes: Any) -> QARecipe:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON (stored in every fine-tuning checkpoint)."""
        return asdict(self)


#: Per profile: smoke (CI, seconds), cpu (the book's stored outputs, minutes, the embedded set),
#: gpu (full windows on SQuAD v1.1 / MS MARCO from the Hub).
#: A pretrained encoder wants a small learning rate; a BERT-Tiny trained from scratch a large one.
EXTRACTIVE_RECIPES = {
    "smoke": QARecipe(
        max_length=128, stride=32, batch_size=16, epochs=1, lr=1e-4, train_limit=48, dev_limit=24
    ),
    "cpu": QARecipe(max_length=192, stride=64, batch_size=16, epochs=5, lr=1e-4),
    "gpu": QARecipe(max_length=384, stride=128, batch_size=32, epochs=3, lr=5e-5),
}
GENERATIVE_RECIPES = {
    "smoke": QARecipe(
        max_length=128,
        max_target_length=16,
        batch_size=16,
        epochs=1,
        lr=1e-3,
        train_limit=48,
        dev_limit=24,
    ),
    "cpu": QARecipe(max_length=288, max_target_length=24, batch_size=16, epochs=20, lr=1e-3),
    # gpu: MS MARCO v2.1, first 100,000 training rows, 2,000 held out (chapter 7).
    "gpu": QARecipe(
        max_length=384,
        max_target_length=32,
        batch_size=32,
        epochs=3,
        lr=5e-4,
        train_limit=100_000,
        dev_limit=2_000,
    ),
}


QA_RECIPES = {"extractive": EXTRACTIVE_RECIPES, "generative": GENERATIVE_RECIPES}

#: What differs, per (task, profile, encoder), from the profile's recipe above. Measured in
#: benchmarks/qa_experiments.jsonl: MiniLM's generative reader is best at 14 epochs of 3e-4
#: (1e-3, the BERT-Tiny rate, is not its rate); BERT-Tiny's readers are chapter 9's: the shipped
#: synthetic questions and the MiniLM teacher's labels.
ENCODER_RECIPES: dict[tuple[str, str, str], dict[str, Any]] = {
    ("generative", "cpu", "minilm"): {"epochs": 14, "lr": 3e-4},
    # benchmarks/qa_experiments.py's chapter 9 runs, at chapter 6's best BERT-Tiny rate (1e-3):
    # the extractive student gains from 3 to 8 epochs (held-out F1 12.3 -> 15.1,
    # ch9-ext-tiny-distill-e8; a random encoder under this recipe scored 17.8, within the
    # paired interval: chapter 9); the generative one was measured at 2 (ch9-gen-tiny-distill).
    ("extractive", "cpu", "bert-tiny"): {
        "synthetic": "shipped",
        "teacher": "shipped",
        "lr": 1e-3,
        "epochs": 8,
        "validation_fraction": 0.1,
    },
    ("generative", "cpu", "bert-tiny"): {"synthetic": "shipped", "teacher": "shipped", "epochs": 3},
}


def get_qa_recipe(task: str, profile: str, encoder: str | None = None, **changes: Any) -> QARecipe:
    """The recipe of ``task`` (``extractive`` or ``generative``) in a profile for ``encoder``
    (``bert-tiny``, ``minilm``; another name or None: the profile's recipe), ``changes`` applied.

    The same shape as :func:`bertedu.pretraining.get_recipe`, with the task first.
    """
    if task not in QA_RECIPES:
        raise ValueError(f"Unknown task {task!r}; use one of {', '.join(QA_RECIPES)}.")
    if profile not in QA_RECIPES[task]:
        raise ValueError(f"Unknown profile {profile!r}; use one of {', '.join(QA_RECIPES[task])}.")
    tuned = ENCODER_RECIPES.get((task, profile, str(encoder)), {})
    return QA_RECIPES[task][profile].replace(**(tuned | changes))


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns: the loop's result, the per-epoch held-out curve and the
    epoch whose weights the model holds at the end."""

    train: TrainResult
    curve: list[dict[str, float]] = field(default_factory=list)  # {"epoch", "step", metrics}
    best_epoch: float | None = None  # None: no selection, the last update's weights
    data: dict[str, int] = field(default_factory=dict)  # what it trained on (counts)

    @property
    def step(self) -> int:
        """Optimizer updates done."""
        return self.train.step

    @property
    def losses(self) -> dict[int, float]:
        """Training loss per update."""
        return self.train.losses


class BestEpoch:
    """An evaluator that scores the model after every epoch and keeps the best epoch's weights.

    Early stopping as model selection: training runs its whole schedule, and
    :meth:`restore` puts back the weights of the epoch with the highest
    ``metric``. Score it on questions the final score is *not* taken on (a
    validation split of the training passages, :func:`split_by_passage`), or
    the held-out number is chosen on the held-out set and flatters.
    """

    def __init__(
        self,
        evaluate: Callable[[nn.Module], dict],
        metric: str,
        steps_per_epoch: int,
        total_steps: int,
        folder: str | None = None,
    ) -> None:
        self.evaluate, self.metric = evaluate, metric
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps
        self.curve: list[dict[str, float]] = []
        self.best = BestWeights(folder)  # a run that checkpoints keeps them in its folder
        self.best_epoch: float | None = None

    def __call__(self, model: nn.Module) -> dict[str, float]:
        """Score ``model``; remember its weights when the score is the best so far."""
        scores = self.evaluate(model)
        if self.metric not in scores:
            raise ValueError(
                f"keep_best={self.metric!r} is not among the evaluator's scores {sorted(scores)}."
            )
        # Called after every epoch and after the last update (a fractional last epoch).
        step = min(self.steps_per_epoch * (len(self.curve) + 1), self.total_steps)
        epoch = round(step / self.steps_per_epoch, 3)
        self.curve.append({"epoch": epoch, "step": step, **scores})
        if self.best.offer(model, step, scores[self.metric]):
            self.best_epoch = epoch
        return scores

    def resume(self, records: Sequence[dict]) -> None:
        """Continue from a resumed run's evaluations (its metrics log's eval records up to the
        checkpoint resumed)."""
        self.curve = [
            {"epoch": round(r["step"] / self.steps_per_epoch, 3), **r}
            for r in ({k: v for k, v in r.items() if k != "split"} for r in records)
        ]
        self.best.resume([(r["step"], r[self.metric]) for r in self.curve])
        best = self.best.best_as_of()
        self.best_epoch = None if best is None else round(best[0] / self.steps_per_epoch, 3)

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights into ``model`` (nothing to do before any evaluation)."""
        self.best.load_into(model)


def split_by_passage(
    examples: Sequence[QAExample], fraction: float, seed: int = 0
) -> tuple[list[QAExample], list[QAExample]]:
    """``(train, validation)``: about ``fraction`` of the *passages* (with all their questions)
    go to validation, so no validation passage was read in training."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    passages = sorted({example.context for example in examples})
    if len(passages) < 2:
        raise ValueError("A validation split needs questions on at least two passages.")
    order = torch.randperm(len(passages), generator=torch.Generator().manual_seed(seed)).tolist()
    held = {passages[i] for i in order[: max(1, round(fraction * len(passages)))]}
    if len(held) == len(passages):
        raise ValueError(
            f"The validation fraction {fraction} holds out all {len(passages)} passages, "
            f"leaving 0 of the {len(examples)} questions for training. Pass a smaller fraction "
            f"(each passage is {1 / len(passages):.2g} of them; 0.1 holds out about a tenth)."
        )
    train_part = [e for e in examples if e.context not in held]
    return train_part, [e for e in examples if e.context in held]


def finetune(
    model: nn.Module,
    features: QAFeatures | Seq2SeqFeatures,
    recipe: QARecipe,
    *,
    generator: torch.Generator,
    evaluate: Callable[[nn.Module], dict] | None = None,
    keep_best: str | None = None,
    checkpoint_dir: str | None = None,
    progress: bool = False,
    device: str | None = None,
    resume: bool = False,
) -> FinetuneResult:
    """Train ``model`` on ``features`` for ``recipe.epochs`` epochs of shuffled batches with
    :func:`bertedu.train.train`.

    ``generator`` shuffles the batches (its state goes into checkpoints).
    ``evaluate`` (optional) runs at the end of training; with ``keep_best``
    (a metric ``evaluate`` returns, e.g. ``"f1"``) it runs after every epoch
    instead, the result's ``curve`` holds each epoch's scores, and the model
    ends with the weights of its best epoch (:class:`BestEpoch`).
    With ``checkpoint_dir`` a checkpoint is written after every epoch (the best
    epoch's weights are kept there too), and ``resume`` continues the run there
    exactly where it stopped, part-way through an epoch included.
    """
    if keep_best is not None and evaluate is None:
        raise ValueError("keep_best needs an evaluate function to score each epoch with.")
    collate = collate_windows if isinstance(features, QAFeatures) else collate_seq2seq
    loader = DataLoader(
        features,
        batch_size=recipe.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=collate,
    )
    total_steps = max(1, math.ceil(recipe.epochs * len(loader)))
    selector = (
        None
        if keep_best is None
        else BestEpoch(evaluate, keep_best, len(loader), total_steps, checkpoint_dir)
    )
    if selector is not None and resume:
        selector.resume(evaluations_so_far(checkpoint_dir))
    config = TrainConfig(
        total_steps=total_steps,
        lr=recipe.lr,
        warmup_fraction=recipe.warmup_fraction,
        weight_decay=recipe.weight_decay,
        progress=progress,
        device=device,
        log_every=max(1, len(loader)),
        eval_every=None if selector is None else len(loader),
        checkpoint_every=len(loader) if checkpoint_dir is not None else None,
    )
    batches = ReshuffledBatches(loader, generator)  # resumes inside an epoch exactly
    result = train(
        model,
        batches,
        config=config,
        evaluate=evaluate if selector is None else selector,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        generators=batches.generators(),
        extra={"qa_recipe": recipe.to_dict(), "data_fingerprint": fingerprint(features)},
    )
    if selector is None:
        return FinetuneResult(result)
    selector.restore(model)
    return FinetuneResult(result, selector.curve, selector.best_epoch)


def fingerprint(features: QAFeatures | Seq2SeqFeatures) -> str:
    """SHA-256 of the token ids trained on: a resumption on other questions is refused."""
    return hashlib.sha256(features.input_ids.numpy().tobytes()).hexdigest()


def evaluations_so_far(checkpoint_dir: str | None) -> list[dict]:
    """The eval records of a run's metrics log up to its newest checkpoint (what a resumption
    of it has done: later ones are done again)."""
    found = latest_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    if found is None:
        return []
    step = read_checkpoint_state(found)["step"]
    records = read_metrics(Path(checkpoint_dir) / "metrics.jsonl", "eval")
    return [r for r in records if isinstance(r.get("step"), int) and r["step"] <= step]


def evaluate_extractive(
    model: nn.Module,
    examples: Sequence[QAExample],
    tokenizer,
    recipe: QARecipe,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> tuple[dict[str, float], dict[str, str]]:
    """Held-out SQuAD EM/F1 of an extractive model, and its predictions ``{id: text}``."""
    predictions, _ = predict_answers(
        model, examples, tokenizer, recipe.max_length, recipe.stride, n_best, max_answer_length
    )
    references = {example.id: list(example.answers) for example in examples}
    return squad_em_f1(predictions, references), predictions


def evaluate_generative(
    model: nn.Module,
    features: Seq2SeqFeatures,
    tokenizer,
    method: str = "greedy",
    beam_width: int = 4,
    max_new_tokens: int = 32,
    length_penalty: float = 1.0,
    with_bertscore: bool = False,
) -> tuple[dict[str, float], list[str]]:
    """Held-out BLEU, ROUGE-L, EM and F1 (and BERTScore if asked) of generated answers, and the
    answers."""
    answers = generate_answers(
        model, features, tokenizer, method, beam_width, max_new_tokens, length_penalty
    )
    references = [list(example.answers) for example in features.examples]
    return generation_scores(answers, references, with_bertscore), answers


def run_finetune_qa(
    task: str,
    model: nn.Module,
    tokenizer,
    train_examples: Sequence[QAExample],
    dev_examples: Sequence[QAExample],
    recipe: QARecipe,
    *,
    seed: int = 0,
    progress: bool = False,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
):
    """Fine-tune ``model`` on ``train_examples`` with ``recipe``; ``(held-out scores,
    predictions {question id: answer text}, the FinetuneResult)`` on ``dev_examples``.
    With ``checkpoint_dir``, a checkpoint after every epoch, from which ``resume`` continues.

    With ``recipe.validation_fraction``, that share of the training passages
    is held out (:func:`~bertedu.qa.finetune.split_by_passage`), scored after
    every epoch, and the model keeps its best epoch by F1 there: early
    stopping that never looks at ``dev_examples``.
    """
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
        checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        resume=resume,
    )
    run.data = training.counts()
    scores, predictions = score(dev_examples)
    return scores, predictions, run
