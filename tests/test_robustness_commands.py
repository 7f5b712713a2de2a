"""The commands refuse bad values when they read them, and fail before they train (issue 27,
items 2 and 4): ``finetune-qa``'s output folder is checked first, its and ``pretrain``'s numbers
are checked when the command line is parsed, and a wrong input gives a message, not a
traceback."""

from __future__ import annotations

import os

import pytest

from bertedu.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

QA = ["finetune-qa", "--profile", "smoke", "--no-progress", "--task", "extractive"]
QA += ["--encoder", "bert-tiny"]


def refused_at_parse(argv, capsys) -> str:
    """The error argparse printed for ``argv`` (exit status 2: nothing ran)."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err


# ------------------------------------------------------------------ item 2: finetune-qa


def test_finetune_qa_checks_its_output_folder_before_training(tmp_path, monkeypatch):
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(0o555)
    trained = []
    import bertedu.qa.command as command

    monkeypatch.setattr(command, "run_finetune_qa", lambda *a, **k: trained.append(1))
    try:
        if os.access(parent, os.W_OK):  # root writes anywhere: nothing to test
            pytest.skip("the tests run as root, who can write into a read-only folder")
        with pytest.raises(SystemExit, match="cannot write to --output .*Nothing was trained"):
            main([*QA, "--output", str(parent / "out")])
    finally:
        parent.chmod(0o755)
    assert trained == []


def test_finetune_qa_an_unwritable_output_is_found_before_training(tmp_path, monkeypatch):
    """The same check, as root too: creating the folder fails (its parent is a file)."""
    import bertedu.qa.command as command

    trained = []
    monkeypatch.setattr(command, "run_finetune_qa", lambda *a, **k: trained.append(1))
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="cannot write to --output .*Nothing was trained"):
        main([*QA, "--output", str(tmp_path / "file" / "out")])
    assert trained == []


def test_finetune_qa_output_that_is_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    with pytest.raises(SystemExit, match="is a file"):
        main([*QA, "--output", str(target)])
    assert target.read_text() == "mine"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--epochs", "0", "above 0"),
        ("--epochs", "-1", "above 0"),
        ("--epochs", "nan", "above 0"),
        ("--lr", "0", "above 0"),
        ("--lr", "-1e-3", "above 0"),
        ("--lr", "nan", "above 0"),
        ("--lr", "inf", "above 0"),
        ("--lr", "fast", "not a number"),
        ("--seed", "-1", "from 0 to 4294967295"),
        ("--seed", str(2**32), "from 0 to 4294967295"),
        ("--seed", "1.5", "not a whole number"),
        ("--validation-fraction", "1", "up to (not including) 1"),
        ("--validation-fraction", "-0.1", "up to (not including) 1"),
    ],
)
def test_finetune_qa_refuses_bad_numbers_when_parsing(tmp_path, capsys, flag, value, message):
    err = refused_at_parse([*QA, "--output", str(tmp_path / "out"), f"{flag}={value}"], capsys)
    assert f"argument {flag}" in err and message in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ item 4: pretrain's flags


PRE = ["pretrain", "--profile", "smoke", "--no-progress"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--seed", "-1", "from 0 to 4294967295"),
        ("--steps", "0", "at least 1"),
        ("--threads", "0", "at least 1"),
        ("--threads", "many", "not a whole number"),
    ],
)
def test_pretrain_refuses_bad_numbers_when_parsing(tmp_path, capsys, flag, value, message):
    err = refused_at_parse([*PRE, "--output", str(tmp_path / "out"), f"{flag}={value}"], capsys)
    assert f"argument {flag}" in err and message in err
    assert not (tmp_path / "out").exists()


def test_pretrain_threads_beyond_the_cores(tmp_path):
    with pytest.raises(SystemExit, match="CPU core"):
        main([*PRE, "--output", str(tmp_path / "out"), "--threads", "100000"])
    assert not (tmp_path / "out").exists()
