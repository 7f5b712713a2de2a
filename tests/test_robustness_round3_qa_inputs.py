"""finetune-qa's flags and files after the third hostile test (issue 35, items 1 and 4 and the
minor cases): each wrong input is one line naming the file, the question or the flag and
saying what to do, before any training; a run that fails stops with a line, not a traceback,
and leaves no folder of its own making behind."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from test_robustness_qa_inputs import CONTEXT, OTHER, labels, squad

from bertedu.cli import main
from bertedu.qa.datasets import embedded_qa_path

pytestmark = pytest.mark.usefixtures("one_thread")

QA = ["finetune-qa", "--profile", "smoke", "--no-progress", "--task", "extractive"]
QA += ["--encoder", "bert-tiny"]


@pytest.fixture
def never_train(monkeypatch):
    """Fail the test if anything is trained: every case here must be refused before."""
    from bertedu.qa import finetune

    def never(*args, **kwargs):
        raise AssertionError("trained on input that should have been refused")

    monkeypatch.setattr(finetune, "train", never)


def write_train(tmp_path, data: dict | None = None) -> str:
    path = tmp_path / "train.json"
    path.write_text(json.dumps(data or squad(CONTEXT, "Google's AI team", "q1")))
    return str(path)


def run(tmp_path, *flags: str) -> int:
    return main([*QA, "--output", str(tmp_path / "out"), *flags])


# ------------------------------------------------------------------ 1: --teacher alone


@pytest.mark.usefixtures("never_train")
def test_a_teacher_without_synthetic_questions_is_refused(tmp_path):
    teacher = tmp_path / "labels.json"
    teacher.write_text(json.dumps(labels("s1", OTHER, "Paris")))
    with pytest.raises(SystemExit, match=r"--teacher .*labels.json needs --synthetic"):
        run(tmp_path, "--teacher", str(teacher))
    with pytest.raises(SystemExit, match=r"--teacher shipped needs --synthetic"):
        run(tmp_path, "--synthetic", "none", "--teacher", "shipped")


# ------------------------------------------------------------------ 2: --synthetic/--teacher


GOOD_SYNTHETIC = json.dumps(squad(OTHER, "Paris", "s1")).encode()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@pytest.mark.usefixtures("never_train")
@pytest.mark.parametrize(
    ("synthetic", "teacher", "message"),
    [
        (
            ("s.json.gz", gzipped(GOOD_SYNTHETIC.replace(b"Paris", "Pàris".encode("latin-1")))),
            None,
            r"--synthetic .*s.json.gz is not UTF-8 text",
        ),
        (
            ("s.json", GOOD_SYNTHETIC.replace(b'"answer_start": 27', b'"answer_start": 999')),
            None,
            r"--synthetic .*question 's1': answer 'Paris' is not at character 999",
        ),
        (
            ("s.json", GOOD_SYNTHETIC),
            ("l.json", json.dumps(labels("s1", OTHER, "Paris")).replace("Paris", "Pàris")),
            r"--teacher .*l.json is not UTF-8 text",
        ),
        (
            ("s.json", GOOD_SYNTHETIC),
            ("l.json.gz", json.dumps(labels("s1", OTHER, "Paris"))),  # not gzip
            r"--teacher .*l.json.gz cannot be read as gzip",
        ),
        (
            ("s.json", GOOD_SYNTHETIC),
            ("l.json", json.dumps({"questions": {"s1": {"answer": "x", "answer_start": "y"}}})),
            r"--teacher .*question 's1': not a teacher record",
        ),
        (
            ("s.json", GOOD_SYNTHETIC),
            (  # 1e400 is infinity to JSON readers: no character offset
                "l.json",
                json.dumps(labels("s1", OTHER, "Paris")).replace(
                    '"start": [[27', '"start": [[1e400'
                ),
            ),
            r"--teacher .*question 's1': not a teacher record",
        ),
        (
            ("s.json", GOOD_SYNTHETIC),
            ("folder", None),  # an empty folder: not a reader
            r"--teacher .*folder is not an extractive reader saved by finetune-qa",
        ),
    ],
)
def test_more_synthetic_and_teacher_files_are_named(tmp_path, synthetic, teacher, message):
    write_train(tmp_path)
    name, data = synthetic
    (tmp_path / name).write_bytes(data)
    flags = ["--train", str(tmp_path / "train.json"), "--synthetic", str(tmp_path / name)]
    if teacher is not None:
        name, data = teacher
        if data is None:
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_bytes(data.encode("latin-1") if "à" in data else data.encode())
        flags += ["--teacher", str(tmp_path / name)]
    with pytest.raises(SystemExit, match=message):
        run(tmp_path, *flags)


@pytest.mark.usefixtures("never_train")
def test_a_generative_reader_as_teacher_is_named(tmp_path):
    from bertedu.model import BertConfig
    from bertedu.qa.finetune import QARecipe
    from bertedu.qa.generative import BertEncoderDecoder
    from bertedu.qa.reader import save_reader

    config = BertConfig.tiny(vocab_size=300, max_position_embeddings=32)
    save_reader(BertEncoderDecoder(config), tmp_path / "gen", recipe=QARecipe())
    (tmp_path / "s.json").write_bytes(GOOD_SYNTHETIC)
    with pytest.raises(SystemExit, match=r"--teacher .*gen is a generative reader"):
        run(
            tmp_path,
            *("--train", write_train(tmp_path), "--synthetic", str(tmp_path / "s.json")),
            *("--teacher", str(tmp_path / "gen")),
        )


# ------------------------------------------------------------------ 3: --train is --dev


@pytest.mark.usefixtures("never_train")
def test_train_equal_to_dev_is_refused(tmp_path):
    train = write_train(tmp_path)
    with pytest.raises(SystemExit, match=r"--train .*train.json and --dev .* are the same file"):
        run(tmp_path, "--train", train, "--dev", str(tmp_path / "." / "train.json"))
    shutil.copy(train, tmp_path / "copy.json")
    with pytest.raises(SystemExit, match=r"the same questions.*held-out scores"):
        run(tmp_path, "--train", train, "--dev", str(tmp_path / "copy.json"))
    shutil.copy(embedded_qa_path("dev"), tmp_path / "dev-copy.json")  # the default --dev
    with pytest.raises(SystemExit, match=r"the embedded dev set"):
        run(tmp_path, "--train", str(tmp_path / "dev-copy.json"))


# ------------------------------------------------------------------ 5: answer_start "²"


@pytest.mark.usefixtures("never_train")
def test_a_non_ascii_digit_answer_start_names_file_and_question(tmp_path):
    data = squad(CONTEXT, "Google's AI team", "q1")
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = "²"
    train = write_train(tmp_path, data)
    with pytest.raises(SystemExit, match=r"train.json: question 'q1': 'answer_start' .* '²'"):
        run(tmp_path, "--train", train)


# ------------------------------------------------------------------ 6: --distill-temperature


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-2", "1e999"])
def test_distill_temperature_is_checked_when_parsed(tmp_path, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        run(tmp_path, "--distill-temperature", value)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "argument --distill-temperature: must be a finite number above 0" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["nan", "-0.1", "1.5", "inf"])
def test_distill_alpha_is_checked_when_parsed(tmp_path, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        run(tmp_path, "--distill-alpha", value)
    assert stopped.value.code == 2
    assert "argument --distill-alpha: must be from 0 to 1" in capsys.readouterr().err


# ------------------------------------------------------------------ 7: --validation-fraction


@pytest.mark.usefixtures("never_train")
def test_a_validation_fraction_that_leaves_nothing_to_train_on(tmp_path):
    with pytest.raises(
        SystemExit,
        match=r"validation fraction 0.999 holds out all \d+ passages, leaving 0 of the "
        r"48 questions for training.*smaller fraction.*--validation-fraction 0 to train without",
    ):
        run(tmp_path, "--validation-fraction", "0.999")


@pytest.mark.parametrize("value", ["1", "-0.5", "nan"])
def test_a_validation_fraction_outside_0_to_1_is_refused_when_parsed(tmp_path, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        run(tmp_path, "--validation-fraction", value)
    assert stopped.value.code == 2
    assert "argument --validation-fraction" in capsys.readouterr().err


def test_a_validation_fraction_of_0_trains_without_one(tmp_path, monkeypatch):
    from bertedu.qa import finetune

    seen = []
    monkeypatch.setattr(finetune, "run_finetune_qa", lambda *a, **k: seen.append(a[5]) or 1 / 0)
    with pytest.raises(ZeroDivisionError):  # stopped once the recipe reached training
        run(tmp_path, "--validation-fraction", "0")
    assert seen[0].validation_fraction is None


# ------------------------------------------------------------------ 8 and 9: a failed run


def blow_up_at_update(monkeypatch, number: int) -> None:
    """The loss of update ``number`` is infinite (what --lr 1e10 does, without waiting)."""
    import torch

    from bertedu.train import loop

    real, calls = loop.loss_terms, []

    def terms(output):
        found = real(output)
        calls.append(1)
        if len(calls) == number:
            found["loss"] = found["loss"] * torch.tensor(float("inf"))
        return found

    monkeypatch.setattr(loop, "loss_terms", terms)


def test_a_huge_learning_rate_is_one_line_naming_the_step_and_lr(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        run(tmp_path, "--lr", "1e10", "--epochs", "2")
    message = str(stopped.value)
    assert "Traceback" not in message and "\n" not in message.strip()
    assert "finetune-qa: the loss became" in message and "1e+10, from --lr" in message, message
    assert "lower --lr (e.g. the profile's 0.0001)" in message and "update" in message


def twenty_questions(tmp_path) -> str:
    """A --train file of 20 one-window questions: 2 updates an epoch at the smoke batch of 16."""
    contexts = [f"Passage {i} says that the answer is word{i} today." for i in range(20)]
    data = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": c,
                        "qas": [
                            {
                                "id": f"q{i}",
                                "question": "What is the answer?",
                                "answers": [{"text": f"word{i}", "answer_start": c.index("word")}],
                            }
                        ],
                    }
                    for i, c in enumerate(contexts)
                ],
            }
        ]
    }
    return write_train(tmp_path, data)


def test_a_non_finite_loss_keeps_the_last_good_epoch(tmp_path, monkeypatch):
    from bertedu.train.run_folder import list_checkpoints

    blow_up_at_update(monkeypatch, 3)  # in epoch 2 (2 updates an epoch)
    with pytest.raises(SystemExit, match=r"update 3 .*lower --lr.*step-00000002.*--overwrite"):
        run(tmp_path, "--epochs", "2", "--train", twenty_questions(tmp_path))
    assert [p.name for p in list_checkpoints(tmp_path / "out")] == ["step-00000002"]


def test_a_run_that_fails_before_its_first_checkpoint_removes_the_folder_it_made(
    tmp_path, monkeypatch
):
    blow_up_at_update(monkeypatch, 1)
    with pytest.raises(SystemExit, match=r"update 1 .*lower --lr.*nothing was saved"):
        run(tmp_path, "--train", twenty_questions(tmp_path))
    assert not (tmp_path / "out").exists()


def test_a_failed_run_never_removes_a_folder_that_was_there(tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    blow_up_at_update(monkeypatch, 1)
    with pytest.raises(SystemExit, match=r"update 1"):
        run(tmp_path, "--train", twenty_questions(tmp_path))
    assert (tmp_path / "out").is_dir()
    monkeypatch.undo()
    assert run(tmp_path, "--train", write_train(tmp_path)) == 0  # accepted without --overwrite


@pytest.mark.usefixtures("never_train")
def test_a_run_refused_after_the_folder_is_claimed_removes_it(tmp_path):
    train = write_train(tmp_path)
    with pytest.raises(SystemExit, match="are the same file"):
        run(tmp_path, "--train", train, "--dev", train)
    assert not (tmp_path / "out").exists()


def test_ctrl_c_before_the_first_update_removes_the_folder_and_says_start_again(
    tmp_path, monkeypatch, capsys
):
    from bertedu.qa import finetune

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(finetune, "build_training_set", pressed)  # while the data is prepared
    assert run(tmp_path, "--train", write_train(tmp_path)) == 130
    printed = capsys.readouterr().out
    assert "No checkpoint was written yet: start again with the same command." in printed
    assert "--resume" not in printed and not (tmp_path / "out").exists()
