"""Checkpoints: safetensors tensors plus a JSON file, written atomically, never unpickled.

A checkpoint is one folder, ``step-00000100/``, holding

* ``model.safetensors``: the weights, tied tensors once (:mod:`bertedu.train.weights_file`);
* ``training_state.safetensors``: AdamW's moment tensors, named by parameter
  (:mod:`bertedu.train.optimizer_state`), the byte states of torch's random
  generators (:mod:`bertedu.train.rng`), and in its metadata the digest of the state
  below;
* ``state.json``: everything else, as text: the model config, the optimizer's
  hyper-parameters, the scheduler, the step, Python/NumPy RNG states, the data
  position, the run id, and the SHA-256 of both tensor files.

Why not ``torch.save``: a pickle can run arbitrary code when loaded, so a
checkpoint from the internet is a program. safetensors and JSON are data only.

Atomicity (:mod:`bertedu.train.atomic_files`): every file is written to a
temporary name, flushed and moved into place; ``state.json`` goes last, as the
commit marker. A run killed mid-save leaves either the previous complete
checkpoint or a folder without ``state.json``, which :func:`latest_checkpoint`
ignores and the next start removes. A checkpoint from a stranger is read as
untrusted data (:mod:`bertedu.train.checkpoint_state`): known file names only,
every value type- and range-checked, hashes checked before anything is loaded.
Which folder a run may write to, pruning and cleaning: :mod:`bertedu.train.run_folder`.

This module saves and loads whole checkpoints; it also re-exports the names the
book and scripts import from it (``latest_checkpoint``, ``save_weights``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertedu.nn_utils import model_device
from bertedu.train.atomic_files import sha256_of_file, write_json_atomically, write_tensors
from bertedu.train.checkpoint_state import (
    CHECKPOINT_FILES,
    FORMAT_VERSION,
    MODEL_FILE,
    STATE_DIGEST_KEY,
    STATE_FILE,
    TRAINING_STATE_FILE,
    UnsafeCheckpointError,
    checked_file,
    read_checkpoint_state,
    state_digest,
    step_directory,
)
from bertedu.train.optimizer_state import json_safe, restore_optimizer, split_optimizer_state
from bertedu.train.rng import capture_rng_state, restore_rng_state
from bertedu.train.run_folder import (
    ExistingRunError,
    claim_output_folder,
    discard_uncommitted,
    latest_checkpoint,
    list_checkpoints,
    new_run_id,
    note_checkpoint,
    prune_checkpoints,
    remove_stale_temporaries,
)
from bertedu.train.weights_file import (
    CheckpointMismatchError,
    check_config,
    load_model_tensors,
    load_weights,
    model_config_dict,
    read_tensor_file,
    save_weights,
    unwrap_model,
    weights_config,
)

__all__ = [
    "CHECKPOINT_FILES",
    "MODEL_FILE",
    "STATE_FILE",
    "TRAINING_STATE_FILE",
    "CheckpointMismatchError",
    "CheckpointState",
    "ExistingRunError",
    "UnsafeCheckpointError",
    "claim_output_folder",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_weights",
    "new_run_id",
    "read_checkpoint_state",
    "remove_stale_temporaries",
    "save_checkpoint",
    "save_weights",
    "step_directory",
    "unwrap_model",
    "weights_config",
]


@dataclass
class CheckpointState:
    """What :func:`load_checkpoint` hands back besides the restored objects."""

    step: int
    path: Path
    data_position: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None  # the run the checkpoint belongs to (None: written without one)


def save_checkpoint(
    directory: str | Path,
    *,
    model: nn.Module,
    step: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    data_position: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    keep: int | None = None,
    run_id: str | None = None,
) -> Path:
    """Write a complete, resumable checkpoint of ``step`` under ``directory``; return its folder.

    ``data_position`` is whatever the data source needs to continue (e.g.
    ``{"epoch": 2, "batch": 17}``); ``extra`` is free JSON (the training
    config, the corpus). ``run_id`` names the run the checkpoint belongs to.
    ``keep`` then deletes all but the newest ``keep`` checkpoints *of that
    run* (see :func:`~bertedu.train.run_folder.prune_checkpoints`).
    """
    folder = step_directory(directory, step)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE_FILE).unlink(missing_ok=True)  # un-commit first if this step is written again
    try:
        _write_checkpoint(
            folder, model, step, optimizer, scheduler, data_position, extra, generators, run_id
        )
    except OSError:  # a full disk: free what was written, keep the earlier checkpoints
        discard_uncommitted(folder)
        raise
    note_checkpoint(directory)
    if keep is not None:
        prune_checkpoints(directory, keep=keep, newest=folder, run_id=run_id)
    return folder


def _write_checkpoint(
    folder: Path,
    model: nn.Module,
    step: int,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any,
    data_position: dict[str, Any] | None,
    extra: dict[str, Any] | None,
    generators: dict[str, torch.Generator] | None,
    run_id: str | None,
) -> None:
    """Write the checkpoint's files into ``folder``, ``state.json`` (the commit) last."""
    aliases = save_weights(model, folder / MODEL_FILE)
    rng_json, training_tensors = capture_rng_state(generators)
    optimizer_json = None
    if optimizer is not None:
        optimizer_json, optimizer_tensors = split_optimizer_state(model, optimizer)
        training_tensors.update(optimizer_tensors)
    scheduler_state = None
    if scheduler is not None:
        scheduler_state = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    state = {
        "format_version": FORMAT_VERSION,
        "step": step,
        "run_id": run_id,
        "model_class": type(unwrap_model(model)).__name__,
        "model_config": model_config_dict(model),
        "aliases": aliases,
        "optimizer": optimizer_json,
        "scheduler": json_safe(scheduler_state),
        "rng": rng_json,
        "data_position": data_position or {},
        "extra": extra or {},
    }
    write_tensors(
        training_tensors,
        folder / TRAINING_STATE_FILE,
        metadata={STATE_DIGEST_KEY: state_digest(state)},  # covers every value of state.json
    )
    state["sha256"] = {name: sha256_of_file(folder / name) for name in CHECKPOINT_FILES}
    write_json_atomically(state, folder / STATE_FILE)  # the commit marker


def _checked_files(path: Path, state: dict[str, Any]) -> dict[str, Path]:
    """The two tensor files, after their hashes in ``state.json`` are checked."""
    hashes = state.get("sha256")
    if not isinstance(hashes, dict) or sorted(hashes) != sorted(CHECKPOINT_FILES):
        raise UnsafeCheckpointError(
            f"{path / STATE_FILE} must hash exactly {', '.join(CHECKPOINT_FILES)}, it lists "
            f"{sorted(hashes) if isinstance(hashes, dict) else hashes!r}. The checkpoint was not "
            "written by bertedu (or was altered): use another one."
        )
    files = {name: checked_file(path, name) for name in CHECKPOINT_FILES}
    for name, digest in hashes.items():
        if sha256_of_file(files[name]) != digest:
            raise CheckpointMismatchError(
                f"{files[name]} does not match the hash in {STATE_FILE}: the file was "
                "changed or only partly written. Use an earlier checkpoint (--checkpoint PATH)."
            )
    return files


def load_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    generators: dict[str, torch.Generator] | None = None,
    restore_rng: bool = True,
) -> CheckpointState:
    """Restore ``model`` (and optimizer, scheduler, RNGs if given) from a checkpoint folder.

    ``state.json``'s values, the files' hashes and the state's digest are
    checked first, then the model's config and every tensor's shape; a
    mismatch raises :class:`CheckpointMismatchError` naming the field or
    tensor. Nothing is unpickled: only safetensors and JSON are read.
    """
    path = Path(path)
    state = read_checkpoint_state(path)
    files = _checked_files(path, state)
    training, metadata = read_tensor_file(files[TRAINING_STATE_FILE])
    recorded = metadata.get(STATE_DIGEST_KEY)
    if recorded is not None and recorded != state_digest(state):
        raise CheckpointMismatchError(
            f"{path / STATE_FILE} was changed after it was written: its values no longer match "
            f"the digest recorded in {TRAINING_STATE_FILE}. Use an earlier checkpoint "
            "(--checkpoint PATH), or undo the edit."
        )
    check_config(state.get("model_config"), model, path)
    weights, _ = read_tensor_file(files[MODEL_FILE])
    load_model_tensors(model, weights, state["aliases"], path)
    if optimizer is not None:
        device = model_device(unwrap_model(model))
        restore_optimizer(
            model,
            optimizer,
            state.get("optimizer"),
            {k: v.to(device) for k, v in training.items() if k.startswith("optimizer/")},
            path,
        )
    if scheduler is not None:
        if state.get("scheduler") is None:
            raise CheckpointMismatchError(f"{path} holds no scheduler state.")
        scheduler.load_state_dict(
            state["scheduler"] | {"lr_lambdas": [None] * len(scheduler.lr_lambdas)}
            if hasattr(scheduler, "lr_lambdas")
            else state["scheduler"]
        )
    if restore_rng:
        _restore_rng(state, training, generators, path)
    return CheckpointState(
        step=state["step"],
        path=path,
        data_position=state["data_position"],
        extra=state["extra"],
        run_id=state.get("run_id"),
    )


def _restore_rng(
    state: dict[str, Any],
    training: dict[str, torch.Tensor],
    generators: dict[str, torch.Generator] | None,
    path: Path,
) -> None:
    """Restore the RNGs; a state the generators refuse is named, not a traceback."""
    try:
        restore_rng_state(state["rng"], training, generators)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = str(error) if isinstance(error, ValueError) else repr(error)
        raise CheckpointMismatchError(
            f"The random-generator states in {path} cannot be restored ({reason}): the "
            "checkpoint was altered or written by other code. Use an earlier checkpoint "
            "(--checkpoint PATH)."
        ) from None
