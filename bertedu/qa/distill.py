"""Distillation: a small reader learns from a big reader's answers (Hinton et al. 2015).

A fine-tuned MiniLM reader (the *teacher*) gives, for every question, a
score for each passage token as the answer's start and as its end. Its
softmax is more than "the answer is here": the second-best start ("in
1957" after "1957"), how sure it is, which names it confused. The BERT-Tiny
*student* is trained to match those distributions as well as the labelled
span:

    loss = alpha * T^2 * (KL(p_T^start || q_T^start) + KL(p_T^end || q_T^end)) / 2
           + (1 - alpha) * (CE(q^start, y^start) + CE(q^end, y^end)) / 2

``p_T = softmax(teacher logits / T)``, ``q_T = softmax(student logits / T)``;
a temperature ``T > 1`` flattens both, so the small probabilities the teacher
gives its runners-up carry weight; the ``T^2`` keeps the soft term's gradients
the same size whatever ``T`` (they shrink as ``1/T^2``). ``alpha`` mixes the
two terms: ``alpha = 0`` is plain fine-tuning, ``alpha = 1`` ignores the labels.

The teacher's scores travel with the questions, so a reader needs no teacher
to train: the shipped synthetic set's labels file holds, per question, the
teacher's answer and its top start and end positions as *character offsets*
with their logits (:class:`~bertedu.qa.roundtrip.TeacherOutput`);
:func:`align_teacher_logits` puts them on the student's own windows.

The generative reader uses *sequence-level* distillation (Kim and Rush
2016): the teacher's best answer is the target (:func:`with_teacher_answers`),
so the student learns to write what the teacher would say, on questions
nobody answered by hand.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.qa.datasets import QAExample
from bertedu.qa.extractive import BertForQuestionAnswering, QAFeatures, QuestionAnsweringOutput
from bertedu.qa.generative import Seq2SeqFeatures

if TYPE_CHECKING:
    from bertedu.qa.roundtrip import TeacherOutput


def distillation_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Per-row ``KL(softmax(teacher/T) || softmax(student/T))`` over the last dimension.

    Teacher logits of ``-inf`` are positions the teacher gives no probability
    (outside its top-k): they add nothing (``0 log 0 = 0``). A row whose
    teacher logits are all ``-inf`` has no target; it gets 0.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number above 0, got {temperature}")
    student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    finite = torch.isfinite(teacher_logits)
    safe = torch.where(finite, teacher_logits.float(), torch.full_like(student, -1e4))
    teacher = F.log_softmax(safe / temperature, dim=-1)
    terms = torch.where(finite, teacher.exp() * (teacher - student), torch.zeros_like(student))
    return terms.sum(dim=-1) * finite.any(dim=-1)


def span_distillation_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
    teacher_start_logits: torch.Tensor,
    teacher_end_logits: torch.Tensor,
    temperature: float = 2.0,
    alpha: float = 0.5,
    has_teacher: torch.Tensor | None = None,
) -> torch.Tensor:
    """The student's loss: ``alpha`` x soft (temperature-softened KL to the teacher, times
    ``T^2``) + ``(1 - alpha)`` x hard (cross-entropy of the labelled span), start and end
    averaged, then averaged over the batch.

    ``has_teacher`` (a bool per row, default: rows with any finite teacher
    logit) marks rows with soft labels; the others (a hand-written question
    without teacher labels, a window that holds none of the teacher's top
    positions) get the hard loss alone.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha (the soft loss's weight) must be in [0, 1], got {alpha}")
    hard = (
        F.cross_entropy(start_logits.float(), start_positions, reduction="none")
        + F.cross_entropy(end_logits.float(), end_positions, reduction="none")
    ) / 2
    soft = (
        distillation_kl(start_logits, teacher_start_logits, temperature)
        + distillation_kl(end_logits, teacher_end_logits, temperature)
    ) / 2
    if has_teacher is None:
        has_teacher = torch.isfinite(teacher_start_logits).any(-1) & torch.isfinite(
            teacher_end_logits
        ).any(-1)
    mixed = alpha * temperature**2 * soft + (1 - alpha) * hard
    return torch.where(has_teacher, mixed, hard).mean()


class SpanDistiller(nn.Module):
    """Trains an extractive ``student`` with :func:`span_distillation_loss`.

    ``forward`` takes a batch of :class:`DistillFeatures` (inputs, labels and
    the teacher's logits on the same positions) and returns the student's
    output with the mixed loss; without teacher logits it is the student.
    ``train.train`` trains it like any model; keep ``student`` afterwards.
    """

    def __init__(
        self, student: BertForQuestionAnswering, temperature: float = 2.0, alpha: float = 0.5
    ) -> None:
        super().__init__()
        if not (math.isfinite(temperature) and temperature > 0 and 0 <= alpha <= 1):
            raise ValueError(
                f"Need temperature > 0 and 0 <= alpha <= 1, got T={temperature}, alpha={alpha}."
            )
        self.student, self.temperature, self.alpha = student, temperature, alpha
        self.config = student.config

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        teacher_start_logits: torch.Tensor | None = None,
        teacher_end_logits: torch.Tensor | None = None,
        has_teacher: torch.Tensor | None = None,
    ) -> QuestionAnsweringOutput:
        """The student's scores; with labels and teacher logits, the distillation loss."""
        output = self.student(input_ids, token_type_ids, attention_mask)
        if start_positions is not None and end_positions is not None:
            if teacher_start_logits is None:
                teacher_start_logits = torch.full_like(output.start_logits, -math.inf)
                teacher_end_logits = teacher_start_logits
            output.loss = span_distillation_loss(
                output.start_logits,
                output.end_logits,
                start_positions,
                end_positions,
                teacher_start_logits,
                teacher_end_logits,
                self.temperature,
                self.alpha,
                has_teacher,
            )
        return output


@dataclass
class DistillFeatures(QAFeatures):
    """:class:`~bertedu.qa.extractive.QAFeatures` plus the teacher's logits on every window
    position (``-inf``: no teacher probability there) and whether a window has any."""

    teacher_start_logits: torch.Tensor | None = None  # [windows, max_length]
    teacher_end_logits: torch.Tensor | None = None
    has_teacher: torch.Tensor | None = None  # [windows] bool

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        if self.teacher_start_logits is not None:
            item["teacher_start_logits"] = self.teacher_start_logits[index]
            item["teacher_end_logits"] = self.teacher_end_logits[index]
            item["has_teacher"] = self.has_teacher[index]
        return item


def align_teacher_logits(
    features: QAFeatures, labels: Mapping[str, TeacherOutput]
) -> DistillFeatures:
    """Put each question's teacher labels on the positions of its windows
    (:func:`~bertedu.qa.roundtrip.window_soft_logits`).

    Positions the teacher did not score get ``-inf``. A window that holds
    none of its question's teacher starts or none of its ends (the teacher's
    answer lies in another window) and the windows of questions without
    labels are marked ``has_teacher = False``: they train on the hard label
    only.
    """
    from bertedu.qa.roundtrip import window_soft_logits

    n, length = features.input_ids.shape
    starts = torch.full((n, length), -math.inf)
    ends = torch.full((n, length), -math.inf)
    for w, window in enumerate(features.windows):
        soft = labels.get(features.examples[window.example_index].id)
        if soft is not None:
            starts[w], ends[w] = window_soft_logits(soft, window, length)
    has_teacher = torch.isfinite(starts).any(-1) & torch.isfinite(ends).any(-1)
    fields = {name: getattr(features, name) for name in QAFeatures.__dataclass_fields__}
    return DistillFeatures(
        **fields,
        teacher_start_logits=starts,
        teacher_end_logits=ends,
        has_teacher=has_teacher,
    )


def with_teacher_answers(
    examples: Sequence[QAExample], labels: Mapping[str, TeacherOutput]
) -> tuple[list[QAExample], int]:
    """Sequence-level distillation targets: each example whose id has teacher labels gets the
    teacher's answer as its one answer (when the teacher found a span); also how many targets
    changed (the teacher disagreed with the question's own answer)."""
    out, changed = [], 0
    for example in examples:
        soft = labels.get(example.id)
        new = example
        if soft is not None and soft.answer_start >= 0 and soft.answer:
            new = replace(example, answers=(soft.answer,), answer_starts=(soft.answer_start,))
        changed += new.answers[:1] != example.answers[:1]
        out.append(new)
    return out, changed


#: ``--synthetic``/``--teacher`` value meaning "the files shipped in bertedu/qa/data/".
SHIPPED = "shipped"


class TrainingDataError(ValueError):
    """The training questions cannot be put together as asked (the message names the file and
    the questions, and says what to change); ``finetune-qa`` prints it without a traceback."""


def check_distinct_ids(real: Sequence[QAExample], synthetic: Sequence[QAExample], source) -> None:
    """Refuse synthetic questions whose ids are also ids of real ones.

    The teacher's labels are keyed by question id: a real question sharing an id with a
    synthetic one would get the teacher's logits for *another* passage, at that passage's
    character offsets, and train on them silently. The message names the ids.
    """
    shared = sorted({e.id for e in real} & {e.id for e in synthetic})
    if shared:
        shown = ", ".join(repr(i) for i in shared[:5]) + (" ..." if len(shared) > 5 else "")
        raise TrainingDataError(
            f"--synthetic {source}: {len(shared)} question id(s) are also ids of --train "
            f"questions ({shown}). Ids must be unique across the files: the teacher's labels "
            "are looked up by id and would land on the wrong passage. Rename them in one file."
        )


def read_training_json(path: Path, flag: str) -> object:
    """A ``.json`` or ``.json.gz`` file given to ``flag``; :class:`TrainingDataError` naming the
    file when it is not gzip (a renamed ``.json``), not UTF-8 or not JSON."""
    from bertedu.qa.synthetic import read_json_gz

    try:
        if path.suffix == ".gz":
            return read_json_gz(path)
        return json.loads(path.read_text("utf-8"))
    except UnicodeDecodeError as error:
        problem = f"is not UTF-8 text ({error.reason} at byte {error.start}; Latin-1?)"
    except (json.JSONDecodeError, RecursionError) as error:
        problem = f"is not JSON ({str(error)[:100]})"
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        problem = f"cannot be read as {'gzip' if path.suffix == '.gz' else 'text'} ({error})"
    raise TrainingDataError(f"{flag} {path} {problem}. Give a UTF-8 JSON (.json or .json.gz) file.")


def load_synthetic(
    source: str, kinds: Sequence[str] | None = None, limit: int | None = None
) -> list[QAExample]:
    """Synthetic training questions: ``"shipped"`` (the book's set,
    :func:`~bertedu.qa.synthetic.load_synthetic_qa`, ``kinds`` of it) or a SQuAD v1.1 file
    (``.json`` or ``.json.gz``); the first ``limit`` questions."""
    from bertedu.qa.synthetic import KINDS, load_synthetic_qa

    if source == SHIPPED:
        return load_synthetic_qa(tuple(kinds or KINDS), limit=limit)
    from bertedu.qa.datasets import parse_squad

    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"No synthetic question file at {path}; give a SQuAD v1.1 .json or .json.gz file "
            f"or {SHIPPED!r} for the book's set."
        )
    data = read_training_json(path, "--synthetic")
    try:
        examples = parse_squad(data, source=f"--synthetic {path}")
    except ValueError as error:
        raise TrainingDataError(str(error)) from None
    if kinds is not None:
        kind_of = {
            str(qa["id"]): qa.get("kind")
            for article in data["data"]
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        }
        examples = [e for e in examples if kind_of[e.id] is None or kind_of[e.id] in kinds]
    return examples if limit is None else examples[:limit]


def check_teacher_folder(folder: Path) -> None:
    """Refuse (:class:`TrainingDataError`, saying what it is) a ``--teacher`` folder that is
    not an extractive reader: a generative reader gives no start and end scores to learn
    from. Reads the manifest only."""
    from bertedu.qa.reader import NotAReaderError, read_manifest

    try:
        task = read_manifest(folder)["task"]
    except NotAReaderError as error:
        raise TrainingDataError(
            f"--teacher {folder} is not an extractive reader saved by finetune-qa: {error}"
        ) from None
    if task != "extractive":
        raise TrainingDataError(
            f"--teacher {folder} is a {task} reader; a teacher must be an extractive reader "
            "(its start and end scores are what the student learns from). Train one with "
            "python -m bertedu finetune-qa --task extractive ... --output DIR."
        )


def load_teacher_reader(folder: Path):
    """The extractive reader saved in ``folder`` (:func:`bertedu.qa.reader.load_reader`)."""
    from bertedu.qa.reader import NotAReaderError, load_reader

    check_teacher_folder(folder)
    try:
        return load_reader(folder)
    except NotAReaderError as error:
        raise TrainingDataError(f"--teacher {folder}: {error}") from None


def load_teacher(
    source: str, examples: Sequence[QAExample], tokenizer, top_k: int = 20
) -> dict[str, TeacherOutput]:
    """Teacher labels ``{question id: TeacherOutput}`` for ``examples``.

    ``source``: ``"shipped"`` (the labels shipped with the synthetic set), a
    labels file in that format (``{"questions": {id: {"answer", "answer_start",
    "start", "end"}}}``, ``.json`` or ``.json.gz``), or a folder holding an
    extractive reader saved by ``finetune-qa``, which then reads every example
    (:func:`~bertedu.qa.roundtrip.teacher_pass` with its own recipe's windows).
    """
    from bertedu.qa.roundtrip import teacher_pass
    from bertedu.qa.synthetic import TEACHER_LABELS_PATH

    path = TEACHER_LABELS_PATH if source == SHIPPED else Path(source).expanduser()
    if path.is_dir():
        reader = load_teacher_reader(path)
        outputs = teacher_pass(
            reader.model, examples, tokenizer, reader.recipe.max_length, reader.recipe.stride, top_k
        )
        return {e.id: out for e, out in zip(examples, outputs, strict=True)}
    if not path.is_file():
        raise FileNotFoundError(
            f"No teacher labels at {path}: give {SHIPPED!r}, a labels .json/.json.gz file or the "
            "folder of an extractive reader saved by finetune-qa."
        )
    data = read_training_json(path, "--teacher")
    if not isinstance(data, dict) or not isinstance(data.get("questions"), dict):
        raise TrainingDataError(
            f"--teacher {path} is not a teacher labels file: expected {{'questions': {{id: "
            "{'answer', 'answer_start', 'start': [[char, logit], ...], 'end': [...]}}}."
        )
    contexts = {e.id: e.context for e in examples}
    labels = {
        qid: teacher_record(record, contexts[qid], f"--teacher {path}: question {qid!r}")
        for qid, record in data["questions"].items()
        if qid in contexts
    }
    if data["questions"] and not labels:
        raise TrainingDataError(
            f"--teacher {path}: none of its {len(data['questions'])} question ids is the id of "
            "a --synthetic question: the labels are for another set. Give the labels written "
            "with these synthetic questions."
        )
    return labels


def teacher_record(record: object, context: str, where: str) -> TeacherOutput:
    """One question's teacher labels, checked: the fields there, numbers where numbers go,
    every character offset inside the question's passage (:class:`TrainingDataError`)."""
    from bertedu.qa.roundtrip import TeacherOutput

    try:
        labels = TeacherOutput.from_json(record)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, OverflowError) as error:  # 1e400: int(inf)
        raise TrainingDataError(
            f"{where}: not a teacher record ({type(error).__name__}: {error}); each needs "
            "'answer', 'answer_start', 'start' and 'end' ([[character, logit], ...])."
        ) from None
    outside = [c for c, _ in (*labels.start, *labels.end) if not 0 <= c <= len(context)]
    if outside or not -1 <= labels.answer_start < len(context):
        raise TrainingDataError(
            f"{where}: character offset(s) {outside or [labels.answer_start]} lie outside its "
            f"passage ({len(context)} characters): the labels belong to another passage."
        )
    values = [v for _, v in (*labels.start, *labels.end)]
    if any(math.isnan(v) for v in values):
        raise TrainingDataError(f"{where}: a logit is NaN; the labels are damaged.")
    return labels


def check_sources(recipe) -> None:
    """Before any training starts: raise ``FileNotFoundError`` (saying what to give) when
    ``recipe.synthetic`` or ``recipe.teacher`` names something that is not there, and
    ``ValueError`` for a distillation weight outside [0, 1] or a temperature not above 0."""
    from bertedu.qa.synthetic import SYNTHETIC_QA_PATH, TEACHER_LABELS_PATH

    if not 0 <= recipe.distill_alpha <= 1:
        raise ValueError(f"--distill-alpha must be from 0 to 1, got {recipe.distill_alpha}.")
    if not (math.isfinite(recipe.distill_temperature) and recipe.distill_temperature > 0):
        raise ValueError(
            f"--distill-temperature must be a finite number above 0, got "
            f"{recipe.distill_temperature} (T^2 scales the soft loss: inf makes it NaN)."
        )

    for name, shipped in (("synthetic", SYNTHETIC_QA_PATH), ("teacher", TEACHER_LABELS_PATH)):
        source = getattr(recipe, name)
        if source is None:
            continue
        path = shipped if source == SHIPPED else Path(source).expanduser()
        if name == "teacher" and path.is_dir():
            check_teacher_folder(path)
        elif not path.is_file():
            raise FileNotFoundError(
                f"--{name} {source}: nothing at {path}. Give a file"
                + (" or a saved extractive reader's folder" if name == "teacher" else "")
                + f", {SHIPPED!r} (the book's files in bertedu/qa/data/) or 'none'."
            )


@dataclass
class TrainingSet:
    """What a reader trains on: the questions (targets as trained) and their features, with the
    counts a run records."""

    examples: list[QAExample]
    features: QAFeatures | DistillFeatures | Seq2SeqFeatures
    n_real: int
    n_synthetic: int
    n_teacher: int  # questions with teacher labels
    n_teacher_targets: int  # generative: targets the teacher's answer replaced

    def counts(self) -> dict[str, int]:
        """The counts, for ``metrics.json``."""
        return {
            "n_real": self.n_real,
            "n_synthetic": self.n_synthetic,
            "n_teacher": self.n_teacher,
            "n_teacher_targets": self.n_teacher_targets,
        }


def build_training_set(task: str, real: Sequence[QAExample], tokenizer, recipe) -> TrainingSet:
    """The real questions plus ``recipe.synthetic`` ones, with ``recipe.teacher``'s labels.

    Extractive: :class:`DistillFeatures` (soft labels on each window) when
    there is a teacher, else plain windows. Generative: the teacher's answers
    replace the synthetic questions' targets (sequence-level distillation);
    the real questions keep their hand-written answers.
    """
    from bertedu.qa.extractive import prepare_features
    from bertedu.qa.generative import prepare_seq2seq_features

    real = list(real)
    synthetic = []
    if recipe.synthetic:
        synthetic = load_synthetic(recipe.synthetic, recipe.synthetic_kinds, recipe.synthetic_limit)
        check_distinct_ids(real, synthetic, recipe.synthetic)
    labels = {}
    if recipe.teacher and synthetic:
        labels = load_teacher(recipe.teacher, synthetic, tokenizer)
    changed = 0
    if task == "generative":
        synthetic, changed = with_teacher_answers(synthetic, labels)
    examples = real + synthetic
    if task == "extractive":
        features = prepare_features(examples, tokenizer, recipe.max_length, recipe.stride)
        if labels:
            features = align_teacher_logits(features, labels)
    else:
        features = prepare_seq2seq_features(
            examples, tokenizer, recipe.max_length, recipe.max_target_length
        )
    return TrainingSet(examples, features, len(real), len(synthetic), len(labels), changed)


def trainable(model: nn.Module, features, recipe) -> nn.Module:
    """The module to train: a :class:`SpanDistiller` around an extractive ``model`` when
    ``features`` carry teacher logits, else ``model`` itself."""
    if isinstance(features, DistillFeatures):
        return SpanDistiller(model, recipe.distill_temperature, recipe.distill_alpha)
    return model
