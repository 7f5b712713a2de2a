"""bertedu.train.checkpoint: safetensors + JSON, tied weights, RNGs, atomic commit, clear
mismatches."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bertedu.model import BertConfig, BertForPreTraining
from bertedu.train.checkpoint import (
    MODEL_FILE,
    STATE_FILE,
    CheckpointMismatchError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from bertedu.train.optim import build_optimizer, warmup_linear_schedule

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = BertConfig.tiny(vocab_size=300, max_position_embeddings=32)


def trained_state(seed: int = 0):
    """A model, AdamW and schedule after two updates (so the moments are non-zero)."""
    torch.manual_seed(seed)
    model = BertForPreTraining(CONFIG)
    optimizer = build_optimizer(model, lr=1e-3)
    scheduler = warmup_linear_schedule(optimizer, 2, 10)
    ids = torch.randint(5, 300, (2, 12))
    for _ in range(2):
        model(ids, labels=ids, next_sentence_label=torch.tensor([0, 1])).loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return model, optimizer, scheduler


def fresh(seed: int = 99):
    torch.manual_seed(seed)
    model = BertForPreTraining(CONFIG)
    optimizer = build_optimizer(model, lr=1e-3)
    return model, optimizer, warmup_linear_schedule(optimizer, 2, 10)


def test_round_trip_restores_everything(tmp_path, monkeypatch):
    model, optimizer, scheduler = trained_state()
    generator = torch.Generator().manual_seed(5)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    folder = save_checkpoint(
        tmp_path,
        model=model,
        step=2,
        optimizer=optimizer,
        scheduler=scheduler,
        data_position={"epoch": 1, "batch": 7},
        extra={"note": "x"},
        generators={"masking": generator},
    )
    expected_draws = (
        random.random(),
        np.random.rand(),
        torch.rand(1),
        torch.rand(1, generator=generator),
    )

    # Loading must never unpickle: make every pickle entry point fail.
    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint must never be unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)

    model2, optimizer2, scheduler2 = fresh()
    generator2 = torch.Generator().manual_seed(0)
    random.seed(10), np.random.seed(20), torch.manual_seed(30)
    state = load_checkpoint(
        folder,
        model=model2,
        optimizer=optimizer2,
        scheduler=scheduler2,
        generators={"masking": generator2},
    )
    assert (
        state.step == 2
        and state.data_position == {"epoch": 1, "batch": 7}
        and state.extra == {"note": "x"}
    )
    for (name, a), b in zip(model.state_dict().items(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for a, b in zip(optimizer.state.values(), optimizer2.state.values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(
            a["exp_avg_sq"], b["exp_avg_sq"]
        )
        assert torch.equal(a["step"], b["step"])
    assert (
        scheduler2.last_epoch == scheduler.last_epoch
        and scheduler2.get_last_lr() == scheduler.get_last_lr()
    )
    assert optimizer2.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    draws = (random.random(), np.random.rand(), torch.rand(1), torch.rand(1, generator=generator2))
    assert draws[:2] == expected_draws[:2]
    assert torch.equal(draws[2], expected_draws[2]) and torch.equal(draws[3], expected_draws[3])


def test_tied_weights_stored_once_and_retied(tmp_path):
    model, _, _ = trained_state()
    folder = save_checkpoint(tmp_path, model=model, step=1)
    stored = load_file(str(folder / MODEL_FILE))
    assert "bert.embeddings.word_embeddings.weight" in stored
    assert "cls.predictions.decoder.weight" not in stored
    assert json.loads((folder / STATE_FILE).read_text())["aliases"] == {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"
    }
    model2, _, _ = fresh()
    load_checkpoint(folder, model=model2)
    assert model2.cls.predictions.decoder.weight is model2.bert.embeddings.word_embeddings.weight
    assert torch.equal(
        model2.cls.predictions.decoder.weight, model.bert.embeddings.word_embeddings.weight
    )


def test_optimizer_state_is_in_safetensors_not_json(tmp_path):
    model, optimizer, scheduler = trained_state()
    folder = save_checkpoint(
        tmp_path, model=model, step=2, optimizer=optimizer, scheduler=scheduler
    )
    tensors = load_file(str(folder / "training_state.safetensors"))
    assert "optimizer/bert.embeddings.word_embeddings.weight/exp_avg" in tensors
    assert "rng/torch" in tensors
    text = (folder / STATE_FILE).read_text()
    assert len(text) < 100_000  # hyper-parameters and names only, no tensor data


def test_uncommitted_and_corrupt_checkpoints(tmp_path):
    model, optimizer, _ = trained_state()
    save_checkpoint(tmp_path, model=model, step=1, optimizer=optimizer)
    second = save_checkpoint(tmp_path, model=model, step=2, optimizer=optimizer)
    # A save killed before its JSON: the folder exists but is not committed.
    (tmp_path / "step-00000003").mkdir()
    (tmp_path / "step-00000003" / MODEL_FILE).write_bytes(b"partial")
    assert latest_checkpoint(tmp_path) == second
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001", "step-00000002"]
    with pytest.raises(FileNotFoundError, match="not a committed checkpoint"):
        load_checkpoint(tmp_path / "step-00000003", model=fresh()[0])
    # A tensor file replaced behind the JSON's back is caught by the hash.
    save_weights(fresh()[0], second / MODEL_FILE)
    with pytest.raises(CheckpointMismatchError, match="does not match the hash"):
        load_checkpoint(second, model=fresh()[0])


def test_keep_deletes_old_checkpoints(tmp_path):
    model, _, _ = trained_state()
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, model=model, step=step, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]


def test_config_mismatch_names_the_field(tmp_path):
    model, _, _ = trained_state()
    folder = save_checkpoint(tmp_path, model=model, step=1)
    other = BertForPreTraining(
        BertConfig.tiny(vocab_size=300, max_position_embeddings=32, intermediate_size=256)
    )
    with pytest.raises(
        CheckpointMismatchError,
        match=r"intermediate_size: checkpoint 512, model 256.*BertConfig.from_dict",
    ):
        load_checkpoint(folder, model=other)


def test_shape_mismatch_names_the_tensor(tmp_path):
    small, big = (
        torch.nn.Sequential(torch.nn.Linear(4, 3)),
        torch.nn.Sequential(torch.nn.Linear(4, 5)),
    )
    folder = save_checkpoint(tmp_path, model=small, step=1)
    with pytest.raises(CheckpointMismatchError, match=r"Tensor '0.weight'.*\(3, 4\).*\(5, 4\)"):
        load_checkpoint(folder, model=big)
    with pytest.raises(CheckpointMismatchError, match=r"missing \['1.bias', '1.weight'\]"):
        load_checkpoint(
            folder, model=torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 1))
        )


def test_optimizer_mismatch_names_the_parameter(tmp_path):
    model, optimizer, _ = trained_state()
    folder = save_checkpoint(tmp_path, model=model, step=1, optimizer=optimizer)
    model2 = fresh()[0]
    plain = torch.optim.AdamW(model2.parameters(), lr=1e-3)  # one group, another order
    with pytest.raises(CheckpointMismatchError, match="at position"):
        load_checkpoint(folder, model=model2, optimizer=plain)


def test_generators_must_match(tmp_path):
    model, _, _ = trained_state()
    folder = save_checkpoint(
        tmp_path, model=model, step=1, generators={"masking": torch.Generator()}
    )
    with pytest.raises(ValueError, match="generators"):
        load_checkpoint(folder, model=fresh()[0])


def test_fp16_weights_file(tmp_path):
    model, _, _ = trained_state()
    path = tmp_path / "w.safetensors"
    save_weights(model, path, dtype=torch.float16)
    assert all(t.dtype == torch.float16 for t in load_file(str(path)).values())
    model2 = load_weights(fresh()[0], path)
    assert model2.cls.predictions.decoder.weight is model2.bert.embeddings.word_embeddings.weight
    for (name, a), b in zip(model.state_dict().items(), model2.state_dict().values(), strict=True):
        assert b.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=name)
