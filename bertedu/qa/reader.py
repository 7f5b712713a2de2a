"""A saved reader: its folder, saving it, loading it back, and asking it a question.

    reader = load_reader("runs/qa-minilm")          # any folder finetune-qa --output wrote
    found = reader.answer("Who developed BERT?", passage)
    found.answer, found.start, found.end            # the text and its characters in the passage
    found.candidates                                # the n-best, each with its probability
    save_reader(reader.model, "my-reader", recipe=reader.recipe, encoder="minilm")

**The folder.** ``model.safetensors`` holds the weights
(:func:`~bertedu.train.checkpoint.save_weights`: tied tables once, the config and a digest
in its metadata). ``config.json`` is the manifest, written after the weights and
atomically, so a folder with a manifest is complete: ``format`` and ``format_version``,
``task`` (``extractive`` or ``generative``), ``encoder`` (what it was fine-tuned from),
``encoder_config`` (the :class:`~bertedu.model.BertConfig`), ``tokenizer``, ``qa_recipe``
(the windows it was trained and scored with) and, for a generative reader, ``copy``,
``warm_start`` and ``num_decoder_layers``. Folders that ``finetune-qa`` wrote before the
manifest had a version hold the same fields and load as version 0. Anything else given as a
reader (a pretraining run, an exported encoder, a half-written folder, a newer format)
raises :class:`NotAReaderError`, whose message says what the folder is and what to pass.

**Answering** goes through the code that scored the reader. An extractive reader cuts the
passage into the recipe's overlapping windows and keeps the best span over all of them
(:func:`~bertedu.qa.extractive.answer_question`); its answer is always a span of the
passage. A candidate's *probability* is the model's own: softmax of the start scores over
the window's passage tokens at its first token, times the same for the end scores at its
last. A generative reader reads the first ``max_length`` tokens (as in evaluation) and
writes with beam search (:func:`~bertedu.qa.decoding.beam_search`, ``beam_width=1`` is the
greedy search ``finetune-qa`` scores); a candidate's probability is the probability of its
whole token sequence, and ``start``/``end`` locate it in the passage when its tokens occur
there.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertedu.model import BertConfig
from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import beam_search, decode_answer
from bertedu.qa.extractive import (
    DEFAULT_MAX_QUESTION_LENGTH,
    BertForQuestionAnswering,
    ExtractiveAnswer,
    answer_question,
    inside_word,
    tokenize_example,
)
from bertedu.qa.finetune import QARecipe
from bertedu.qa.generative import BertEncoderDecoder, prepare_seq2seq_features, trim_seq2seq
from bertedu.qa.passage_text import answer_from_passage
from bertedu.tokenization import load_tokenizer
from bertedu.train.atomic_files import write_json_atomically
from bertedu.train.checkpoint import load_weights, save_weights

FORMAT = "bertedu-reader"
FORMAT_VERSION = 1
MANIFEST = "config.json"
WEIGHTS = "model.safetensors"
#: The only vocabulary the book's readers use (bertedu.tokenization.load_tokenizer()).
TOKENIZER = "bert-base-uncased"
TASKS = ("extractive", "generative")
RECIPE_FIELDS = set(QARecipe.__dataclass_fields__)
HOW_TO_MAKE_ONE = (
    "Pass a folder written by python -m bertedu finetune-qa --output DIR (or by "
    "bertedu.qa.save_reader)."
)


class NotAReaderError(ValueError):
    """A folder given as a reader is not one (or not one this version can read)."""


@dataclass(frozen=True)
class Candidate:
    """One candidate answer: its text, where it is in the passage, its score and probability."""

    text: str
    start: int | None  # first character in the passage (None: not found there)
    end: int | None  # one past its last character
    score: float  # extractive: start + end logit; generative: log p / length
    probability: float  # the model's probability of this answer (see the module docstring)


@dataclass(frozen=True)
class WindowProbabilities:
    """Where an extractive reader thinks the answer starts and ends, over one window's passage
    tokens: softmax of its start (and end) scores over those tokens."""

    tokens: list[str]  # the window's passage WordPieces
    spans: list[tuple[int, int]]  # each token's characters in the passage
    start: list[float]
    end: list[float]


@dataclass(frozen=True)
class Answer:
    """A reader's answer to one question about one passage."""

    answer: str  # "" when the reader found no answer
    start: int | None  # characters of the answer in the passage (None: not located)
    end: int | None
    score: float | None  # the best candidate's score (None: no candidate)
    candidates: list[Candidate]  # best first
    found_in_passage: bool  # always true for an extractive reader with an answer
    passage_truncated: bool = False  # the passage was longer than the reader read (generative)
    # Extractive: start/end probabilities of every window; ``window`` is the answer's.
    windows: list[WindowProbabilities] = field(default_factory=list, repr=False)
    window: int | None = None

    @classmethod
    def best_of(cls, candidates: list[Candidate], **details: Any) -> Answer:
        """The answer is the first (best) candidate; with none, the empty answer."""
        if not candidates:
            return cls("", None, None, None, [], False, **details)
        best = candidates[0]
        found = best.start is not None
        return cls(best.text, best.start, best.end, best.score, candidates, found, **details)

    def to_dict(self) -> dict[str, Any]:
        """The answer as JSON: what ``python -m bertedu answer --json`` prints."""
        return {
            "answer": self.answer,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "found_in_passage": self.found_in_passage,
            "passage_truncated": self.passage_truncated,
            "candidates": [asdict(candidate) for candidate in self.candidates],
        }


class Reader:
    """A fine-tuned reader and what it needs to answer: tokenizer, recipe, manifest.

    ``n_best`` candidates are kept; an extractive reader's spans are at most
    ``max_answer_length`` tokens (the evaluation's 20 and 30); a generative reader keeps
    ``beam_width`` beams (the candidates) and scores them with ``length_penalty``.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        recipe: QARecipe,
        manifest: dict[str, Any] | None = None,
        *,
        n_best: int = 20,
        max_answer_length: int = 30,
        beam_width: int = 4,
        length_penalty: float = 1.0,
    ) -> None:
        self.model, self.tokenizer, self.recipe = model, tokenizer, recipe
        self.task = task_of(model)
        self.manifest = manifest or {}
        self.n_best, self.max_answer_length = n_best, max_answer_length
        self.beam_width, self.length_penalty = beam_width, length_penalty

    def __repr__(self) -> str:
        return (
            f"Reader({self.task}, encoder {self.manifest.get('encoder', '?')}, "
            f"max_length {self.recipe.max_length})"
        )

    def answer(self, question: str, context: str) -> Answer:
        """Answer ``question`` from ``context`` (a ``ValueError`` for an empty one)."""
        if self.task == "extractive":
            return self._extract(question, context)
        return self._generate(question, context)

    def _extract(self, question: str, context: str) -> Answer:
        found = answer_question(
            self.model,
            self.tokenizer,
            question,
            context,
            self.recipe.max_length,
            self.recipe.stride,
            self.n_best,
            self.max_answer_length,
        )
        windows = window_probabilities(found, self.tokenizer)
        candidates = []
        for span in found.candidates:
            window = windows[span.window]
            shift = found.features.windows[span.window].context_offset
            probability = (
                window.start[span.token_start - shift] * window.end[span.token_end - shift]
            )
            candidates.append(
                Candidate(span.text, span.char_start, span.char_end, span.score, probability)
            )
        window = found.candidates[0].window if candidates else None
        return Answer.best_of(candidates, windows=windows, window=window)

    @torch.no_grad()
    def _generate(self, question: str, context: str) -> Answer:
        example = QAExample("question", question, context, ())
        features = prepare_seq2seq_features(
            [example],
            self.tokenizer,
            self.recipe.max_length,
            self.recipe.max_target_length,
            with_labels=False,
        )
        inputs = trim_seq2seq({key: value[None] for key, value in features[0].items()})
        result = beam_search(
            self.model,
            inputs["input_ids"][0],
            inputs["token_type_ids"][0],
            inputs["attention_mask"][0],
            self.beam_width,
            self.recipe.max_target_length,
            self.length_penalty,
        )
        passage = tokenize_example(example, self.tokenizer, DEFAULT_MAX_QUESTION_LENGTH, False)
        candidates, seen = [], set()
        for hypothesis in result.hypotheses[: self.n_best]:
            text = answer_from_passage(decode_answer(self.tokenizer, hypothesis.token_ids), context)
            if text in seen:
                continue
            seen.add(text)
            span = locate_tokens(
                hypothesis.token_ids, passage.passage_ids, passage.offsets, context
            )
            start, end = span if text and span else (None, None)
            probability = math.exp(hypothesis.log_prob)
            candidates.append(Candidate(text, start, end, hypothesis.score, probability))
        return Answer.best_of(candidates, passage_truncated=features.context_truncated[0])


def task_of(model: nn.Module) -> str:
    """``extractive`` or ``generative``: which kind of reader ``model`` is."""
    if isinstance(model, BertForQuestionAnswering):
        return "extractive"
    if isinstance(model, BertEncoderDecoder):
        return "generative"
    raise TypeError(
        f"A reader is a BertForQuestionAnswering or a BertEncoderDecoder, not a "
        f"{type(model).__name__}."
    )


def window_probabilities(found: ExtractiveAnswer, tokenizer) -> list[WindowProbabilities]:
    """Each window's start and end probabilities over its passage tokens."""
    windows = []
    for w, window in enumerate(found.features.windows):
        first = window.context_offset
        last = first + window.token_end - window.token_start
        ids = found.features.input_ids[w, first:last].tolist()
        windows.append(
            WindowProbabilities(
                tokenizer.convert_ids_to_tokens(ids),
                [tuple(span) for span in window.offsets[first:last]],
                found.start_logits[w, first:last].softmax(-1).tolist(),
                found.end_logits[w, first:last].softmax(-1).tolist(),
            )
        )
    return windows


def locate_tokens(
    answer_ids: list[int], passage_ids: list[int], offsets: list[tuple[int, int]], context: str
) -> tuple[int, int] | None:
    """The characters of the first place the answer's WordPieces occur in the passage's, on word
    boundaries (None when they occur nowhere).

    Matching WordPieces, not text, finds ``google's ai team`` (what an uncased reader writes)
    at ``Google's AI team``: case, accents and spacing do not matter.
    """
    n = len(answer_ids)
    for i in range(len(passage_ids) - n + 1 if n else 0):
        if passage_ids[i : i + n] == answer_ids:
            start, end = offsets[i][0], offsets[i + n - 1][1]
            if not inside_word(context, start) and not inside_word(context, end):
                return start, end
    return None


def save_reader(
    model: nn.Module, folder: str | Path, *, recipe: QARecipe, encoder: str | None = None
) -> Path:
    """Write ``model`` (an extractive or generative reader) to ``folder`` as a reader folder.

    ``recipe`` says the windows it reads; ``encoder`` names what it was fine-tuned from.
    The weights are written first, the manifest last (each atomically): a folder killed
    halfway has no manifest and is refused as half-written, never loaded half.
    """
    task = task_of(model)
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # an old manifest must not vouch for new weights
    save_weights(model, folder / WEIGHTS)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": task,
        "encoder": encoder,
        "encoder_config": model.config.to_dict(),
        "tokenizer": TOKENIZER,
        "qa_recipe": recipe.to_dict(),
    }
    if task == "generative":
        manifest |= {
            "copy": model.copy,
            "warm_start": model.warm_start,
            "num_decoder_layers": len(model.decoder_layers),
        }
    write_json_atomically(manifest, folder / MANIFEST)
    return folder


def load_reader(folder: str | Path, **options: Any) -> Reader:
    """The reader saved in ``folder`` (by ``finetune-qa`` or :func:`save_reader`), ready to
    answer; ``options`` go to :class:`Reader` (``n_best``, ``beam_width``, ...).

    A folder that is not a reader raises :class:`NotAReaderError` saying what it is.
    """
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    model = empty_model(manifest, folder)
    try:
        load_weights(model, folder / WEIGHTS)
    except (ValueError, OSError) as error:
        raise NotAReaderError(
            f"{folder} has a reader's manifest but its {WEIGHTS} does not hold that reader's "
            f"weights: {error}"
        ) from None
    recipe = QARecipe(**{k: v for k, v in manifest["qa_recipe"].items() if k in RECIPE_FIELDS})
    return Reader(model.eval(), load_tokenizer(), recipe, manifest, **options)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a complete reader folder, or :class:`NotAReaderError` saying what the
    folder is instead."""
    if not folder.exists():
        raise NotAReaderError(f"{folder} does not exist. {HOW_TO_MAKE_ONE}")
    if not folder.is_dir():
        raise NotAReaderError(f"{folder} is a file, not a reader's folder. {HOW_TO_MAKE_ONE}")
    path = folder / MANIFEST
    if not path.is_file():
        raise NotAReaderError(f"{folder} {what_it_holds(folder)}. {HOW_TO_MAKE_ONE}")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise NotAReaderError(f"{path} is not JSON: not a reader. {HOW_TO_MAKE_ONE}") from None
    if not isinstance(manifest, dict) or "task" not in manifest:
        if isinstance(manifest, dict) and "hidden_size" in manifest:
            raise NotAReaderError(
                f"{folder} holds a BERT encoder (its config.json is a BertConfig), not a "
                "reader: fine-tune it into one with python -m bertedu finetune-qa --encoder "
                f"{folder} --output DIR, then pass DIR."
            )
        raise NotAReaderError(f"{path} is not a reader's manifest (no task). {HOW_TO_MAKE_ONE}")
    version = manifest.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise NotAReaderError(
            f"{folder} is a reader of format version {version}, newer than this bertedu reads "
            f"(up to {FORMAT_VERSION}); update bertedu (pip install -U -e .) to load it."
        )
    problems = [
        f"no {name}"
        for name in ("encoder_config", "qa_recipe")
        if not isinstance(manifest.get(name), dict)
    ]
    if manifest["task"] not in TASKS:
        problems.append(f"task {manifest['task']!r} (expected one of {', '.join(TASKS)})")
    if manifest.get("tokenizer", TOKENIZER) != TOKENIZER:
        problems.append(f"tokenizer {manifest['tokenizer']!r} (this bertedu has {TOKENIZER!r})")
    if problems:
        raise NotAReaderError(
            f"{path} is not a manifest this bertedu can read: {'; '.join(problems)}."
        )
    if not (folder / WEIGHTS).is_file():
        raise NotAReaderError(
            f"{folder} is half-written: its manifest is there but {WEIGHTS} is missing. "
            "Save the reader again (finetune-qa into a new --output)."
        )
    return manifest


def what_it_holds(folder: Path) -> str:
    """What a folder without a manifest is, in words (for :class:`NotAReaderError`)."""
    steps = sorted(folder.glob("step-*/state.json"))
    trained = checkpoint_model_class(steps[-1] if steps else folder / "state.json")
    if trained in READER_CLASSES:
        what = "a finetune-qa run that has not finished" if steps else "a finetune-qa checkpoint"
        return (
            f"is {what} (training checkpoints of a {trained}), not a reader yet: finetune-qa "
            f"writes the reader ({MANIFEST} beside {WEIGHTS}) into its --output when training "
            "ends; pass that folder then"
        )
    if steps or (folder / "run.json").is_file():
        return (
            "is a pretraining run (checkpoints step-NNNNNNNN/, run.json), not a reader; "
            "fine-tune one with python -m bertedu finetune-qa --encoder "
            "<a folder exported from it> --output DIR"
        )
    if trained is not None:
        return f"is a training checkpoint of a {trained} (state.json), not a reader"
    if (folder / WEIGHTS).is_file():
        return (
            f"is half-written: it has {WEIGHTS} but no {MANIFEST} (the manifest is written "
            "last, so the save was cut short)"
        )
    return f"has no {MANIFEST}: it is not a reader"


READER_CLASSES = ("BertForQuestionAnswering", "BertEncoderDecoder")


def checkpoint_model_class(state: Path) -> str | None:
    """The ``model_class`` a training checkpoint's ``state.json`` records (None: no readable
    one)."""
    try:
        recorded = json.loads(state.read_text("utf-8")).get("model_class")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return None
    return recorded if isinstance(recorded, str) else None


def empty_model(manifest: dict[str, Any], folder: Path) -> nn.Module:
    """The reader the manifest describes, with fresh weights (to load the saved ones into)."""
    try:
        config = BertConfig.from_dict(manifest["encoder_config"])
        if manifest["task"] == "extractive":
            return BertForQuestionAnswering(config)
        # warm_start only chose the starting weights; the saved ones replace them
        model = BertEncoderDecoder(
            config,
            num_decoder_layers=manifest.get("num_decoder_layers"),
            copy=bool(manifest.get("copy", False)),
        )
    except (TypeError, ValueError) as error:
        raise NotAReaderError(
            f"{folder / MANIFEST} describes no model this bertedu can build: {error}"
        ) from None
    model.warm_start = bool(manifest.get("warm_start", False))
    return model
