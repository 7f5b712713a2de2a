"""A stranger's checkpoint can do nothing: crafted ``state.json`` files, symlinks, devices, FIFOs,
and weights files whose numbers or config were changed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal

import pytest
import torch

from bertedu.model import BertConfig, BertForPreTraining
from bertedu.train.checkpoint import (
    MODEL_FILE,
    STATE_FILE,
    TRAINING_STATE_FILE,
    CheckpointMismatchError,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = BertConfig.tiny(vocab_size=300, max_position_embeddings=32)


@contextlib.contextmanager
def fails_instead_of_hanging(seconds: int = 10):
    """Turn a read that blocks forever (a FIFO, /dev/zero) into a test failure."""

    def alarm(signum, frame):
        raise TimeoutError("the loader hung on a crafted checkpoint")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def model(seed: int = 0) -> BertForPreTraining:
    torch.manual_seed(seed)
    return BertForPreTraining(CONFIG)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "run", model=model(), step=3)


def rewrite_state(folder, change) -> None:
    state = json.loads((folder / STATE_FILE).read_text())
    change(state)
    (folder / STATE_FILE).write_text(json.dumps(state))


@pytest.mark.parametrize("where", ["dotdot", "absolute"])
def test_hash_keys_cannot_name_files_outside_the_folder(tmp_path, checkpoint, where):
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    # A key with the right hash of the outside file: the old loader read it and accepted.
    name = "../../secret.txt" if where == "dotdot" else str(secret)
    rewrite_state(checkpoint, lambda state: state["sha256"].update({name: sha256(secret)}))
    with pytest.raises(CheckpointMismatchError, match="holds only|must hash exactly"):
        load_checkpoint(checkpoint, model=model(1))


def test_hash_keys_must_be_the_known_files(checkpoint):
    rewrite_state(checkpoint, lambda state: state["sha256"].pop(TRAINING_STATE_FILE))
    with pytest.raises(CheckpointMismatchError, match="must hash exactly"):
        load_checkpoint(checkpoint, model=model(1))


def test_a_symlink_out_of_the_folder_is_refused(tmp_path, checkpoint):
    # A valid weights file elsewhere, linked in with the right hash: the old loader followed it.
    outside = tmp_path / "elsewhere.safetensors"
    save_weights(model(2), outside)
    (checkpoint / MODEL_FILE).unlink()
    (checkpoint / MODEL_FILE).symlink_to(outside)
    rewrite_state(checkpoint, lambda state: state["sha256"].update({MODEL_FILE: sha256(outside)}))
    with pytest.raises(CheckpointMismatchError, match="symbolic link .* outside"):
        load_checkpoint(checkpoint, model=model(1))


def test_a_symlink_inside_the_folder_is_followed(checkpoint):
    (checkpoint / MODEL_FILE).rename(checkpoint / "weights.bin")
    (checkpoint / MODEL_FILE).symlink_to(checkpoint / "weights.bin")
    restored = model(1)
    load_checkpoint(checkpoint, model=restored)
    assert torch.equal(restored.bert.pooler.dense.weight, model().bert.pooler.dense.weight)


def test_a_state_json_pointing_at_a_device_does_not_hang(checkpoint):
    (checkpoint / STATE_FILE).unlink()
    (checkpoint / STATE_FILE).symlink_to("/dev/zero")
    with fails_instead_of_hanging(), pytest.raises(CheckpointMismatchError, match="outside"):
        load_checkpoint(checkpoint, model=model(1))


def test_a_fifo_in_place_of_a_tensor_file_does_not_hang(checkpoint):
    (checkpoint / TRAINING_STATE_FILE).unlink()
    os.mkfifo(checkpoint / TRAINING_STATE_FILE)
    with fails_instead_of_hanging(), pytest.raises(CheckpointMismatchError, match="regular file"):
        load_checkpoint(checkpoint, model=model(1))


@pytest.mark.parametrize(
    "garbage, message",
    [(b"{not json", "not valid JSON"), (b"\xff\xfe\x00", "not valid JSON"), (b"[1, 2]", "list")],
)
def test_garbage_state_json_says_what_to_do(checkpoint, garbage, message):
    (checkpoint / STATE_FILE).write_bytes(garbage)
    with pytest.raises(CheckpointMismatchError, match=message) as raised:
        load_checkpoint(checkpoint, model=model(1))
    assert "--checkpoint" in str(raised.value)


def test_load_weights_catches_changed_numbers(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(model(), path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # one bit of the last tensor's data; the header stays valid
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointMismatchError, match="do not match the digest"):
        load_weights(model(1), path)


def test_load_weights_checks_the_config(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(model(), path)
    # Same shapes, another config: the old loader filled the model silently.
    other = BertForPreTraining(
        BertConfig.tiny(vocab_size=300, max_position_embeddings=32, layer_norm_eps=1e-6)
    )
    with pytest.raises(CheckpointMismatchError, match="layer_norm_eps"):
        load_weights(other, path)


def test_load_weights_of_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_weights(model(), tmp_path / "nothing.safetensors")
    pickle_named_safetensors = tmp_path / "fake.safetensors"
    torch.save({"a": torch.zeros(2)}, pickle_named_safetensors)
    with pytest.raises(CheckpointMismatchError, match="not a readable safetensors file"):
        load_weights(model(), pickle_named_safetensors)


def test_weights_round_trip_still_exact(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(model(), path)
    restored = load_weights(model(1), path)
    for (name, a), b in zip(
        model().state_dict().items(), restored.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
