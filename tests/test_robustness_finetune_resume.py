"""Long fine-tuning never loses its work (issue 35, item 3): finetune-qa checkpoints every
epoch, Ctrl-C saves the update it was on and says how to continue, ``--resume`` continues
bit for bit (inside an epoch, with the best-epoch selection), and a full disk at a save is
one clear message that keeps the last good checkpoint."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from bertedu.cli import main
from bertedu.qa.datasets import load_embedded_qa
from bertedu.qa.extractive import BertForQuestionAnswering, prepare_features
from bertedu.qa.finetune import finetune, get_qa_recipe
from bertedu.train import loop
from bertedu.train.checkpoint import latest_checkpoint, list_checkpoints
from bertedu.weights import load_pretrained_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def ctrl_c_at_update(monkeypatch, number: int) -> None:
    """Press Ctrl-C (a real SIGINT) during update ``number`` of the loop."""
    real, calls = loop.apply_update, []

    def pressed(*args, **kwargs):
        calls.append(1)
        if len(calls) == number:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "apply_update", pressed)


@pytest.fixture(scope="module")
def qa_data(tokenizer):
    recipe = get_qa_recipe("extractive", "smoke", epochs=3, batch_size=8)
    features = prepare_features(
        load_embedded_qa("train", 24), tokenizer, recipe.max_length, recipe.stride
    )
    return recipe, features


def fine_tune(qa_data, folder, *, resume=False):
    recipe, features = qa_data
    torch.manual_seed(0)
    model = BertForQuestionAnswering.from_encoder(load_pretrained_tiny().bert)

    def score(m):  # a deterministic stand-in for held-out F1: it varies with the weights
        return {"f1": float(m.qa_outputs.weight.sum() * 1e3 % 7)}

    run = finetune(
        model,
        features,
        recipe,
        generator=torch.Generator().manual_seed(0),
        evaluate=score,
        keep_best="f1",
        checkpoint_dir=str(folder),
        resume=resume,
    )
    return model, run


def test_ctrl_c_then_resume_equals_an_uninterrupted_fine_tuning(tmp_path, qa_data, monkeypatch):
    expected, reference = fine_tune(qa_data, tmp_path / "reference")
    per_epoch = reference.train.step // 3
    with monkeypatch.context() as patch:
        ctrl_c_at_update(patch, per_epoch + 2)  # inside the second epoch
        with pytest.raises(KeyboardInterrupt):
            fine_tune(qa_data, tmp_path / "run")
    saved = latest_checkpoint(tmp_path / "run")
    assert saved.name == f"step-{per_epoch + 2:08d}"  # the update Ctrl-C came in is saved
    model, resumed = fine_tune(qa_data, tmp_path / "run", resume=True)
    assert resumed.train.step == reference.train.step
    assert resumed.curve == reference.curve and resumed.best_epoch == reference.best_epoch
    for name, tensor in expected.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert len(list((tmp_path / "run").glob("best-*.safetensors"))) <= 3
    # The interrupted epoch's logged loss averages the whole epoch, not the updates after
    # the resume: the log's running sums travel in the checkpoint.
    expected_log = train_records(tmp_path / "reference")
    assert [r["step"] for r in expected_log] == [per_epoch, 2 * per_epoch, 3 * per_epoch]
    assert train_records(tmp_path / "run") == expected_log


def train_records(folder) -> list[dict]:
    """The metrics log's training records: step and the window's means (tokens/s and times
    vary from run to run)."""
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    keys = ("step", "loss", "grad_norm", "lr")
    return [{k: r[k] for k in keys} for r in records if r["split"] == "train"]


QA = ["finetune-qa", "--profile", "smoke", "--no-progress", "--task", "extractive"]


def test_finetune_qa_ctrl_c_says_how_to_resume_and_resume_finishes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "my run"  # a space: the printed command quotes it
    command = [*QA, "--encoder", "bert-tiny", "--output", str(out)]
    with monkeypatch.context() as patch:
        ctrl_c_at_update(patch, 2)
        assert main(command) == 130
    printed = capsys.readouterr().out
    assert "interrupted" in printed and f"'{out}'" in printed and "--resume" in printed
    assert list_checkpoints(out)
    with pytest.raises(SystemExit, match="already holds a training run"):
        main(command)  # a fresh run does not replace it
    assert main([*command, "--resume"]) == 0
    assert (out / "metrics.json").is_file() and (out / "model.safetensors").is_file()


def test_finetune_qa_full_disk_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    from bertedu.train import atomic_files

    real, written = atomic_files.save_file, []

    def fills_up(tensors, path, metadata=None):
        if len(written) >= 2:  # the first checkpoint's two files fit, then the disk is full
            raise SafetensorError(
                "Error while serializing: I/O error: No space left on device (os error 28) at "
                f'path "{path}"'
            )
        written.append(path)
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(atomic_files, "save_file", fills_up)
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="disk is full") as stopped:
        main([*QA, "--encoder", "bert-tiny", "--epochs", "2", "--output", str(out)])
    (kept,) = list_checkpoints(out)
    assert str(kept) in str(stopped.value) and "--resume" in str(stopped.value)
    assert [p.name for p in out.iterdir() if p.name.startswith("step-")] == [kept.name]


def test_pretraining_full_disk_is_a_message_not_a_safetensor_error(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    from bertedu.train import atomic_files

    def full(tensors, path, metadata=None):
        raise SafetensorError(
            f'Error while serializing: I/O error: No space left on device (os error 28) at "{path}"'
        )

    monkeypatch.setattr(atomic_files, "save_file", full)
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="the disk is full.*No space left on device"):
        main(
            [
                "pretrain",
                "--profile",
                "smoke",
                "--steps",
                "2",
                "--no-progress",
                "--output",
                str(out),
            ]
        )
    assert list_checkpoints(out) == [] and not list(out.glob("step-*"))


def killed_at(qa_data, folder, operation: int) -> int:
    """Fine-tune in a forked child that SIGKILLs itself at its ``operation``-th ``os.replace``
    (a file moved into place: inside a checkpoint, a best-epoch file, the metrics log)."""
    import multiprocessing

    def child():
        real, count = os.replace, [0]

        def counted(*args, **kwargs):
            count[0] += 1
            if count[0] == operation:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        os.replace = counted
        fine_tune(qa_data, folder)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join()
    return process.exitcode


@pytest.mark.parametrize("operation", [3, 7, 12])
def test_kill_9_then_resume_equals_an_uninterrupted_fine_tuning(tmp_path, qa_data, operation):
    expected, reference = fine_tune(qa_data, tmp_path / "reference")
    assert killed_at(qa_data, tmp_path / "run", operation) == -signal.SIGKILL
    model, resumed = fine_tune(qa_data, tmp_path / "run", resume=True)
    assert resumed.curve == reference.curve and resumed.best_epoch == reference.best_epoch
    for name, tensor in expected.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), f"{name} (killed at {operation})"
