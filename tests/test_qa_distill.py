"""Distillation (:mod:`bertedu.qa.distill`): the loss, the labels on the student's windows, the
recipes per encoder and ``finetune-qa --synthetic --teacher`` on a tiny file."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from test_qa_command import CONTEXT, squad_file  # the same tiny passage

from bertedu.cli import main
from bertedu.qa.datasets import QAExample
from bertedu.qa.distill import (
    DistillFeatures,
    SpanDistiller,
    align_teacher_logits,
    build_training_set,
    distillation_kl,
    load_teacher,
    span_distillation_loss,
    with_teacher_answers,
)
from bertedu.qa.extractive import BertForQuestionAnswering, prepare_features
from bertedu.qa.finetune import get_qa_recipe
from bertedu.qa.roundtrip import TeacherOutput

pytestmark = pytest.mark.usefixtures("one_thread")

REAL = [
    ("q1", "Who developed BERT?", "Google's AI team"),
    ("q2", "When was BERT developed?", "2018"),
]
SYNTHETIC = [
    ("s1", "BERT is a what?", "language model"),
    ("s2", "It was developed by who in 2018?", "Google's AI team"),
    ("s3", "Where was it developed?", "Mountain View"),
]


def example(qid: str, question: str, answer: str) -> QAExample:
    return QAExample(qid, question, CONTEXT, (answer,), (CONTEXT.index(answer),), "BERT")


def teacher_output(answer: str, start_logit: float = 8.0) -> TeacherOutput:
    """Labels a teacher would give: most mass on ``answer``, some on "2018", as characters."""
    at = CONTEXT.index(answer)
    other = CONTEXT.index("2018")
    return TeacherOutput(
        answer,
        at,
        ((at, start_logit), (other, 3.0)),
        ((at + len(answer), start_logit), (other + 4, 2.5)),
    )


def test_kl_is_zero_when_the_student_matches_the_teacher():
    logits = torch.randn(3, 7)
    assert torch.allclose(distillation_kl(logits, logits, 2.0), torch.zeros(3), atol=1e-6)
    # The loss keeps only the hard term then, scaled by (1 - alpha).
    targets = torch.tensor([1, 2, 3])
    hard = F.cross_entropy(logits, targets)
    mixed = span_distillation_loss(logits, logits, targets, targets, logits, logits, 3.0, 0.25)
    assert torch.allclose(mixed, 0.75 * hard, atol=1e-5)
    # A different student is penalised.
    assert (distillation_kl(torch.randn(3, 7), logits, 2.0) > 0).all()


def test_positions_the_teacher_did_not_score_add_nothing():
    teacher = torch.tensor([[2.0, 1.0, -math.inf, -math.inf]])
    student = torch.tensor([[2.0, 1.0, 5.0, -3.0]])
    # Same as the KL over the scored positions, with the student's softmax over all of them.
    p = torch.softmax(torch.tensor([2.0, 1.0]), -1)
    log_q = torch.log_softmax(student[0], -1)[:2]
    expected = (p * (p.log() - log_q)).sum()
    assert torch.allclose(distillation_kl(student, teacher, 1.0), expected.unsqueeze(0))
    assert distillation_kl(student, torch.full_like(teacher, -math.inf), 1.0).item() == 0


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_gradient_moves_the_student_towards_the_teacher_at_any_temperature(temperature):
    # d/ds [T^2 KL(p_T || softmax(s / T))] = T (q_T - p_T): the T^2 keeps the soft gradients as
    # large at any temperature as they would be at T = 1 (they shrink as 1/T without it).
    student = torch.randn(1, 6, requires_grad=True)
    teacher = torch.randn(1, 6) * 3
    labels = torch.tensor([0])
    loss = span_distillation_loss(
        student, student, labels, labels, teacher, teacher, temperature, alpha=1.0
    )
    loss.backward()
    p = torch.softmax(teacher / temperature, -1)
    q = torch.softmax(student.detach() / temperature, -1)
    assert torch.allclose(student.grad, 2 * temperature * (q - p) / 2, atol=1e-5)
    # One small step against the gradient brings the student's distribution closer.
    before = distillation_kl(student.detach(), teacher, temperature)
    after = distillation_kl(student.detach() - 0.1 * student.grad, teacher, temperature)
    assert after < before


def test_rows_without_teacher_labels_train_on_the_label_alone():
    logits = torch.randn(2, 5)
    targets = torch.tensor([1, 4])
    none = torch.full_like(logits, -math.inf)
    teacher = torch.stack([torch.randn(5), none[1]])
    mixed = span_distillation_loss(logits, logits, targets, targets, teacher, teacher, 2.0, 0.9)
    per_row = F.cross_entropy(logits, targets, reduction="none")
    soft = distillation_kl(logits[:1], teacher[:1], 2.0)
    expected = ((0.9 * 4 * soft + 0.1 * per_row[0]) + per_row[1]) / 2
    assert torch.allclose(mixed, expected.squeeze(), atol=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        span_distillation_loss(logits, logits, targets, targets, teacher, teacher, 2.0, 1.5)


def test_labels_land_on_the_students_own_windows(tokenizer):
    examples = [example(*row) for row in SYNTHETIC]
    features = prepare_features(examples, tokenizer, max_length=48, stride=8)
    labels = {"s2": teacher_output("Google's AI team")}
    aligned = align_teacher_logits(features, labels)
    assert isinstance(aligned, DistillFeatures)
    assert aligned.has_teacher.tolist() == [e.id == "s2" for e in aligned.examples]
    row = next(i for i, w in enumerate(features.windows) if examples[w.example_index].id == "s2")
    # The teacher's best start and end are the labelled span's first and last token.
    assert int(aligned.teacher_start_logits[row].argmax()) == int(features.start_positions[row])
    assert int(aligned.teacher_end_logits[row].argmax()) == int(features.end_positions[row])
    assert torch.isfinite(aligned.teacher_start_logits[row]).sum() == 2
    batch = aligned[row]
    assert {"teacher_start_logits", "has_teacher", "start_positions"} <= set(batch)


def test_the_distiller_trains_the_student_it_wraps(tokenizer):
    from bertedu.weights import load_pretrained_tiny

    torch.manual_seed(0)
    student = BertForQuestionAnswering.from_encoder(load_pretrained_tiny().bert)
    examples = [example(*row) for row in SYNTHETIC]
    labels = {e.id: teacher_output(e.answers[0]) for e in examples}
    features = align_teacher_logits(
        prepare_features(examples, tokenizer, max_length=48, stride=8), labels
    )
    distiller = SpanDistiller(student, temperature=2.0, alpha=0.5)
    batch = {k: v for k, v in features[0].items()}
    batch = {k: v.unsqueeze(0) for k, v in batch.items()}
    out = distiller(**batch)
    plain = student(**{k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")})
    assert torch.equal(out.start_logits, plain.start_logits) and out.loss.item() > 0
    out.loss.backward()
    assert student.qa_outputs.weight.grad is not None
    with pytest.raises(ValueError, match="temperature"):
        SpanDistiller(student, temperature=0.0)


def test_sequence_level_targets_are_the_teachers_answers():
    examples = [example(*row) for row in SYNTHETIC]
    labels = {
        "s1": teacher_output("a language model"),  # the teacher disagrees: its answer is taken
        "s2": teacher_output("Google's AI team"),  # agrees
        "s3": TeacherOutput("", -1, (), ()),  # found no span: the question keeps its own
    }
    targets, changed = with_teacher_answers(examples, labels)
    assert [t.answers[0] for t in targets] == [
        "a language model",
        "Google's AI team",
        "Mountain View",
    ]
    assert targets[0].answer_starts == (CONTEXT.index("a language model"),)
    assert changed == 1


def test_recipes_per_encoder():
    minilm = get_qa_recipe("generative", "cpu", "minilm")
    assert (minilm.epochs, minilm.lr) == (14, 3e-4)  # the recorded best, not BERT-Tiny's 1e-3
    assert get_qa_recipe("generative", "cpu").lr == 1e-3
    assert get_qa_recipe("generative", "cpu", "minilm", lr=1e-4).lr == 1e-4  # changes win
    tiny = get_qa_recipe("extractive", "cpu", "bert-tiny")
    assert tiny.synthetic == "shipped" and tiny.teacher == "shipped"
    # 9,224 questions: 8 epochs (the best measured), not the 20 that 739 questions needed.
    assert (tiny.lr, tiny.epochs) == (1e-3, 8)
    assert get_qa_recipe("generative", "cpu", "bert-tiny").epochs == 3
    assert get_qa_recipe("extractive", "cpu", "/some/folder") == get_qa_recipe("extractive", "cpu")
    assert get_qa_recipe("extractive", "smoke", "bert-tiny").synthetic is None


def labels_file(path):
    questions = {qid: teacher_output(answer).to_json() for qid, _, answer in SYNTHETIC}
    path.write_text(json.dumps({"questions": questions}))
    return path


def run_command(tmp_path, task, *more):
    real = squad_file(tmp_path / "real.json", REAL)
    dev = squad_file(tmp_path / "dev.json", [(i, f"{q} (again)", a) for i, q, a in REAL])
    args = ["finetune-qa", "--task", task, "--encoder", "bert-tiny", "--profile", "smoke"]
    args += ["--train", str(real), "--dev", str(dev), "--output", str(tmp_path / "out")]
    return main([*args, "--no-progress", "--validation-fraction", "0", *more])


@pytest.mark.parametrize("task", ["extractive", "generative"])
def test_finetune_qa_with_synthetic_questions_and_a_teacher(tmp_path, task):
    synthetic = squad_file(tmp_path / "synthetic.json", SYNTHETIC)
    teacher = labels_file(tmp_path / "teacher.json")
    more = ["--synthetic", str(synthetic), "--teacher", str(teacher)]
    more += ["--distill-alpha", "0.7", "--distill-temperature", "3"]
    assert run_command(tmp_path, task, *more) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (metrics["n_real"], metrics["n_synthetic"], metrics["n_teacher"]) == (2, 3, 3)
    assert metrics["n_teacher_targets"] == 0  # the teacher agrees with every synthetic answer
    recipe = metrics["qa_recipe"]
    assert recipe["synthetic"] == str(synthetic) and recipe["teacher"] == str(teacher)
    assert (recipe["distill_alpha"], recipe["distill_temperature"]) == (0.7, 3.0)
    assert sorted(json.loads((tmp_path / "out" / "predictions.json").read_text())) == ["q1", "q2"]


def test_none_turns_the_recipes_data_off(tmp_path):
    assert run_command(tmp_path, "extractive", "--synthetic", "none", "--teacher", "none") == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n_synthetic"] == 0 and metrics["qa_recipe"]["synthetic"] is None


def test_a_saved_reader_can_be_the_teacher(tmp_path, tokenizer):
    assert run_command(tmp_path, "extractive") == 0  # a smoke reader, as a teacher
    examples = [example(*row) for row in SYNTHETIC]
    labels = load_teacher(str(tmp_path / "out"), examples, tokenizer, top_k=5)
    assert sorted(labels) == ["s1", "s2", "s3"]
    assert all(len(label.start) == 5 and label.answer in CONTEXT for label in labels.values())
    recipe = get_qa_recipe("extractive", "smoke", synthetic=None, teacher=str(tmp_path / "out"))
    training = build_training_set("extractive", examples, tokenizer, recipe)
    assert training.n_teacher == 0  # labels are for synthetic questions; none were given


def test_clear_errors(tmp_path, tokenizer, capsys):
    with pytest.raises(SystemExit, match="synthetic"):
        run_command(tmp_path, "extractive", "--synthetic", str(tmp_path / "missing.json"))
    for flag, value in (("--distill-alpha", "1.5"), ("--distill-temperature", "0")):
        with pytest.raises(SystemExit) as refused:  # when the command line is read
            run_command(tmp_path, "extractive", flag, value)
        assert refused.value.code == 2 and f"argument {flag}" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="teacher labels"):
        load_teacher(str(tmp_path / "missing.json"), [], tokenizer)
    (tmp_path / "bad.json").write_text(json.dumps({"data": []}))
    with pytest.raises(ValueError, match="not a teacher labels file"):
        load_teacher(str(tmp_path / "bad.json"), [], tokenizer)
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="not an extractive reader"):
        load_teacher(str(tmp_path / "folder"), [], tokenizer)
