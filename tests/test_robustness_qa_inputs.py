"""finetune-qa's extra training files are checked where they are used (issue 35, items 1 and 4):
synthetic questions and teacher labels that cannot be trained on as given are refused with one
line naming the file and the questions, before any training and without a traceback."""

from __future__ import annotations

import json

import pytest

from bertedu.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

CONTEXT = "BERT was developed by Google's AI team in 2018."
OTHER = "The Eiffel Tower stands in Paris and was finished in 1889."


def squad(context: str, answer: str, qid: str) -> dict:
    qa = {
        "id": qid,
        "question": "What?",
        "answers": [{"text": answer, "answer_start": context.index(answer)}],
    }
    return {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}]}


def labels(qid: str, context: str, answer: str) -> dict:
    start = context.index(answer)
    return {
        "questions": {
            qid: {
                "answer": answer,
                "answer_start": start,
                "start": [[start, 5.0]],
                "end": [[start + len(answer), 5.0]],
            }
        }
    }


def finetune_qa(tmp_path, *flags: str) -> int:
    train = tmp_path / "train.json"
    if not train.exists():
        train.write_text(json.dumps(squad(CONTEXT, "Google's AI team", "q1")))
    return main(
        ["finetune-qa", "--profile", "smoke", "--no-progress", "--task", "extractive"]
        + ["--encoder", "bert-tiny", "--train", str(train), "--output", str(tmp_path / "out")]
        + list(flags)
    )


def test_ids_shared_by_train_and_synthetic_files_are_refused_and_named(tmp_path, monkeypatch):
    from bertedu.qa import finetune

    def never(*args, **kwargs):
        raise AssertionError("trained although the ids collide")

    monkeypatch.setattr(finetune, "train", never)
    synthetic, teacher = tmp_path / "synthetic.json", tmp_path / "labels.json"
    synthetic.write_text(json.dumps(squad(OTHER, "Paris", "q1")))  # q1 is a --train id too
    teacher.write_text(json.dumps(labels("q1", OTHER, "Paris")))
    with pytest.raises(SystemExit, match=r"question id\(s\) are also ids of --train.*'q1'"):
        finetune_qa(tmp_path, "--synthetic", str(synthetic), "--teacher", str(teacher))


def never_train(monkeypatch) -> None:
    from bertedu.qa import finetune

    def never(*args, **kwargs):
        raise AssertionError("trained on files that should have been refused")

    monkeypatch.setattr(finetune, "train", never)


GOOD_SYNTHETIC = json.dumps(squad(OTHER, "Paris", "s1")).encode()
GOOD_LABELS = json.dumps(labels("s1", OTHER, "Paris")).encode()


@pytest.mark.parametrize(
    ("name", "synthetic", "teacher", "message"),
    [
        ("bad-json", b"{not json", None, r"--synthetic .*bad-json.json is not JSON"),
        (
            "latin1",
            GOOD_SYNTHETIC.replace(b"Paris", "Pàris".encode("latin-1")),
            None,
            r"--synthetic .* is not UTF-8 text",
        ),
        ("fake.json", GOOD_SYNTHETIC, None, None),  # renamed to .gz below
        (
            "schema",
            json.dumps({"data": [{"paragraphs": [{"qas": [{}]}]}]}).encode(),
            None,
            r"--synthetic .*: every entry of 'qas' needs an 'id'",
        ),
        ("teacher-json", GOOD_SYNTHETIC, b"[1, 2", r"--teacher .* is not JSON"),
        (
            "outside",
            GOOD_SYNTHETIC,
            json.dumps(
                {
                    "questions": {
                        "s1": {
                            "answer": "Paris",
                            "answer_start": 3,
                            "start": [[900, 1.0]],
                            "end": [[905, 1.0]],
                        }
                    }
                }
            ).encode(),
            r"question 's1': character offset\(s\) \[900, 905\] lie outside its passage",
        ),
        (
            "fields",
            GOOD_SYNTHETIC,
            json.dumps({"questions": {"s1": {"answer": "x"}}}).encode(),
            r"question 's1': not a teacher record",
        ),
        (
            "no-id",
            GOOD_SYNTHETIC,
            json.dumps(labels("zz", OTHER, "Paris")).encode(),
            r"none of its 1 question ids is the id of a --synthetic question",
        ),
    ],
)
def test_synthetic_and_teacher_files_are_checked_where_they_are_used(
    tmp_path, monkeypatch, name, synthetic, teacher, message
):
    never_train(monkeypatch)
    path = tmp_path / f"{name}.json"
    path.write_bytes(synthetic)
    if name == "fake.json":  # a plain .json renamed to .gz
        path = path.rename(tmp_path / "fake.json.gz")
        message = r"--synthetic .*fake.json.gz cannot be read as gzip"
    flags = ["--synthetic", str(path)]
    if teacher is not None:
        (tmp_path / "labels.json").write_bytes(teacher)
        flags += ["--teacher", str(tmp_path / "labels.json")]
    with pytest.raises(SystemExit, match=message):
        finetune_qa(tmp_path, *flags)


# ------------------------------------------------------------------ item 4: --train files


def test_a_byte_order_mark_is_read(tmp_path):
    from bertedu.qa.datasets import load_squad_json

    path = tmp_path / "bom.json"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps(squad(CONTEXT, "Google's AI team", "q1")).encode()
    )
    (example,) = load_squad_json(path)
    assert example.id == "q1" and example.answers == ("Google's AI team",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(id=None),
            r"question id None \(of question 'What\?'\) must be a string or a whole number",
        ),
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(question="Who\ud800?"),
            r"question 'q1': 'question' holds a lone surrogate '\\ud800' at character 3",
        ),
    ],
)
def test_a_train_file_with_a_null_id_or_a_lone_surrogate_is_named(
    tmp_path, monkeypatch, change, message
):
    never_train(monkeypatch)
    data = squad(CONTEXT, "Google's AI team", "q1")
    change(data)
    (tmp_path / "train.json").write_text(json.dumps(data))  # json.dumps escapes the surrogate
    with pytest.raises(SystemExit, match=message):
        finetune_qa(tmp_path)
