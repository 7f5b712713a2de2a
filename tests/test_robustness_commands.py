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
    import bertedu.qa.finetune as finetune

    monkeypatch.setattr(finetune, "run_finetune_qa", lambda *a, **k: trained.append(1))
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
    import bertedu.qa.finetune as finetune

    trained = []
    monkeypatch.setattr(finetune, "run_finetune_qa", lambda *a, **k: trained.append(1))
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


PRE = ["pretrain", "--profile", "smoke", "--no-progress"]


@pytest.mark.parametrize(
    ("command", "flag", "value", "message"),
    [
        *(
            (QA, flag, value, message)
            for flag, value, message in [
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
            ]
        ),
        # item 4: pretrain's flags
        (PRE, "--seed", "-1", "from 0 to 4294967295"),
        (PRE, "--steps", "0", "at least 1"),
        (PRE, "--threads", "0", "at least 1"),
        (PRE, "--threads", "many", "not a whole number"),
    ],
)
def test_bad_numbers_are_refused_when_parsing(tmp_path, capsys, command, flag, value, message):
    err = refused_at_parse([*command, "--output", str(tmp_path / "out"), f"{flag}={value}"], capsys)
    assert f"argument {flag}" in err and message in err
    assert not (tmp_path / "out").exists()


def test_pretrain_threads_beyond_the_cores(tmp_path):
    with pytest.raises(SystemExit, match="CPU core"):
        main([*PRE, "--output", str(tmp_path / "out"), "--threads", "100000"])
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ item 4: pretrain's inputs


def pretrain(out, *flags: str) -> int:
    return main([*PRE, "--threads", "1", "--output", str(out), *flags])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "does not exist"),
        ("empty.txt", b"", "No documents with any text"),
        ("binary.txt", bytes(range(256)) * 8, "not a text file .*invalid UTF-8"),
        ("single.txt", b"One sentence. Another one.\nA third.\n", "at least 2 documents"),
    ],
)
def test_a_corpus_that_cannot_be_used_is_named_and_leaves_nothing(tmp_path, name, content, message):
    corpus = tmp_path / name
    if content is not None:
        corpus.write_bytes(content)
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=f"--corpus {corpus}: .*{message}"):
        pretrain(out, "--steps", "2", "--corpus", str(corpus))
    assert not out.exists()  # no out/cache (nor the folder) left behind


def test_profile_gpu_without_cuda_names_the_flag(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    needs = "--profile gpu needs a CUDA GPU.*--profile cpu"
    with pytest.raises(SystemExit, match=needs) as refused:
        main(["pretrain", "--profile", "gpu", "--output", str(tmp_path / "out")])
    assert "BERTEDU_PROFILE" not in str(refused.value)


def test_an_unwritable_output_says_so(tmp_path, monkeypatch):
    import errno

    from bertedu.train import run_folder

    def read_only(directory, run_id, **options):
        raise PermissionError(errno.EROFS, "Read-only file system", str(directory))

    monkeypatch.setattr(run_folder, "_mark", read_only)
    with pytest.raises(SystemExit, match="cannot write to .*Read-only file system.*--output"):
        pretrain(tmp_path / "out", "--steps", "2")


def test_a_full_disk_says_how_to_continue(tmp_path, monkeypatch):
    import errno

    from bertedu.train import atomic_files

    written = []
    real = atomic_files.save_file

    def fills_up(tensors, path, metadata=None):
        if len(written) >= 2:  # the first checkpoint's two tensor files fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", path)
        written.append(path)
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(atomic_files, "save_file", fills_up)
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="disk is full") as stopped:
        pretrain(out, "--steps", "10")  # checkpoints at 5 and 10: the second does not fit
    message = str(stopped.value)
    assert "No space left on device" in message and "--resume" in message
    assert f"{out / 'step-00000005'}" in message  # the last complete checkpoint is named


def test_ctrl_c_prints_how_to_resume(tmp_path, monkeypatch, capsys):
    from bertedu.train import loop

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "apply_update", interrupted)
    out = tmp_path / "out"
    assert pretrain(out, "--steps", "2", "--seed", "3") == 130
    printed = capsys.readouterr().out
    assert "interrupted" in printed
    command = f"python -m bertedu pretrain --profile smoke --output {out} --steps 2 --seed 3"
    assert f"{command} --resume" in printed


def test_resuming_a_finished_run_says_there_was_nothing_to_do(tmp_path, capsys):
    out = tmp_path / "out"
    assert pretrain(out, "--steps", "2") == 0
    capsys.readouterr()
    assert pretrain(out, "--steps", "2", "--resume") == 0
    printed = capsys.readouterr().out
    assert "held-out \n" not in printed and "no update was left to do" in printed
