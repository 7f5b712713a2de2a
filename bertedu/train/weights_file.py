"""Model weights as one safetensors file: tied tensors once, config and digest in its metadata.

:func:`save_weights` writes a model's ``state_dict`` with each storage once (BERT's
MLM decoder *is* the word-embedding matrix; safetensors refuses two names for one
storage, and a copy would untie them on load), recording the aliases, the model's
config and a digest of every tensor's bytes in the file's metadata.
:func:`load_weights` reads it back into a model and refuses, naming the field or
tensor, a file of another config, shape, dtype kind, damaged numbers or NaN weights.
A checkpoint (:mod:`bertedu.train.checkpoint`) stores its weights this way too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from bertedu.train.atomic_files import write_tensors


class CheckpointMismatchError(ValueError):
    """The checkpoint was written for a different model, optimizer or configuration."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under ``DistributedDataParallel`` (``.module``) and ``torch.compile``
    (``._orig_mod``)."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def model_config_dict(model: nn.Module) -> dict[str, Any] | None:
    """``model.config`` as a dict when the model has a config with ``to_dict()`` (as BertConfig
    does)."""
    config = getattr(unwrap_model(model), "config", None)
    return config.to_dict() if hasattr(config, "to_dict") else None


def deduplicated_state_dict(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, aliases)``: each storage once under its first name; ``aliases[name] =
    stored_name``.

    Two entries are aliases when they are the same tensor view (same storage,
    offset, shape and strides), which is what ``decoder.weight = embedding.weight``
    makes.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, tensor in unwrap_model(model).state_dict().items():
        key = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tensor.stride(),
        )
        if tensor.numel() and key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
            tensors[name] = tensor
    return tensors, aliases


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes (in name order).

    safetensors checks a file's layout but not its numbers: a flipped bit in the
    data loads silently. The digest, stored in the file's metadata, catches it.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_weights(
    model: nn.Module,
    path: str | Path,
    *,
    dtype: torch.dtype | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, str]:
    """Write the model's weights to one safetensors file (tied tensors once); return the aliases.

    ``dtype`` (e.g. ``torch.float16``) converts floating-point tensors, halving
    a shipped file. The file's metadata holds the aliases (so
    :func:`load_weights` can re-tie without any other file), the model's config
    (so loading into a model of another size names the field) and
    :func:`tensors_digest` (so damaged numbers are caught).
    """
    tensors, aliases = deduplicated_state_dict(model)
    if dtype is not None:
        tensors = {n: t.to(dtype) if t.is_floating_point() else t for n, t in tensors.items()}
    meta = {"aliases": json.dumps(aliases), "sha256": tensors_digest(tensors)}
    config = model_config_dict(model)
    if config is not None:
        meta["model_config"] = json.dumps(config)
    write_tensors(tensors, Path(path), meta | (metadata or {}))
    return aliases


def check_config(
    saved: dict[str, Any] | None, model: nn.Module, where: Path, how_to_build: str | None = None
) -> None:
    """Refuse, naming every differing field, a saved config that is not the model's."""
    current = model_config_dict(model)
    if saved is None or current is None:
        return
    differing = [
        f"{key}: checkpoint {saved.get(key)!r}, model {current.get(key)!r}"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key)
    ]
    if differing:
        raise CheckpointMismatchError(
            f"The checkpoint {where} was written for a model with a different config ("
            + "; ".join(differing)
            + "). Build the model from the checkpoint's config ("
            + (
                how_to_build
                or f"BertConfig.from_dict(json.load(open('{where / 'state.json'}'))"
                "['model_config'])"
            )
            + "), or write this run to a new output folder instead of resuming."
        )


def weights_mismatch(
    expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], where: Path | str
) -> str | None:
    """What keeps ``tensors`` (aliases included) out of a model whose ``state_dict`` is
    ``expected``: missing or unexpected names, a shape, a dtype kind, a NaN; None when they fit.

    The first problem found is named, in the model's order, with its tensor: a shape first
    (a model of another size also misses or adds names, and its size is the real difference),
    then missing or unexpected names, then dtypes and NaN.
    """
    for name, wanted in expected.items():
        if name in tensors and tuple(tensors[name].shape) != tuple(wanted.shape):
            return (
                f"Tensor {name!r} in {where} has shape {tuple(tensors[name].shape)} but the "
                f"model's is {tuple(wanted.shape)}. The checkpoint belongs to a model of another "
                "size: build the model with the checkpoint's config, or start a new run in a "
                "new folder."
            )
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        return (
            f"The weights in {where} do not fit this model: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected "
            f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}. "
            "Is it a checkpoint of another model class (e.g. BertModel vs BertForPreTraining)?"
        )
    for name, wanted in expected.items():  # the model's order: the first problem is named
        tensor = tensors[name]
        if wanted.is_floating_point() != tensor.is_floating_point():
            return (
                f"Tensor {name!r} in {where} holds {tensor.dtype} values but the model's are "
                f"{wanted.dtype}: converting would change the numbers (a float weight stored as "
                "integers has lost its fractions). Save the weights in a floating-point dtype."
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            return (
                f"Tensor {name!r} in {where} holds {bad} NaN or infinite value(s) of "
                f"{tensor.numel()}: the weights were saved from a run that diverged, or damaged. "
                "Use an earlier checkpoint (before the loss became NaN)."
            )
    return None


def fill_tied(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Give a name the file lacks the tensor of the name ``model`` ties it to (in place).

    Files written elsewhere store a tied pair once and may say so in their own way or not
    at all (``safetensors.torch.save_model`` keeps one name and notes the other in its
    metadata; a stranger's file just drops one): the model's own ties say which names are
    one tensor, whichever of them the file kept.
    """
    for alias, stored in deduplicated_state_dict(model)[1].items():
        if alias not in tensors and stored in tensors:
            tensors[alias] = tensors[stored]
        elif stored not in tensors and alias in tensors:
            tensors[stored] = tensors[alias]


def load_model_tensors(
    model: nn.Module, tensors: dict[str, torch.Tensor], aliases: dict[str, str], where: Path | str
) -> None:
    """Copy ``tensors`` (and re-created aliases) into ``model``; errors name the tensor
    (:func:`weights_mismatch`)."""
    model = unwrap_model(model)
    expected = model.state_dict()
    full = dict(tensors)
    for alias, stored in aliases.items():
        if stored in full:
            full[alias] = full[stored]
    fill_tied(model, full)
    problem = weights_mismatch(expected, full, where)
    if problem is not None:
        raise CheckpointMismatchError(problem)
    with torch.no_grad():
        model.load_state_dict({n: t.to(expected[n].dtype) for n, t in full.items()}, strict=True)


def read_tensor_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file; a clear error when it is not one."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointMismatchError(
            f"{path} is not a readable safetensors file ({error}): it was cut short, damaged, "
            "or is another format. Use an earlier checkpoint, or write the weights again."
        ) from error


def _metadata_json(metadata: dict[str, str], key: str, path: Path, default: Any) -> Any:
    """A JSON value of the file's metadata, with a clear error when it is not JSON."""
    if key not in metadata:
        return default
    try:
        return json.loads(metadata[key])
    except json.JSONDecodeError as error:
        raise CheckpointMismatchError(
            f"The metadata {key!r} of {path} is not JSON ({error}): the file was not written by "
            "bertedu's save_weights (or was altered). Write the weights again."
        ) from None


def weights_config(path: str | Path) -> dict[str, Any] | None:
    """The model config recorded in a file written by :func:`save_weights` (None if absent)."""
    path = Path(path)
    _, metadata = read_tensor_file(path)
    return _metadata_json(metadata, "model_config", path, None)


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a file written by :func:`save_weights` into ``model`` (any float dtype is converted).

    The file's recorded config must equal the model's, and its tensors its
    recorded digest (files written before the digest was stored are read
    without that check); integers where the model has floats, and NaN or
    infinite weights, are refused. A file written by other code loads too when it
    holds a tied pair once (:func:`fill_tied`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist or is not a file; pass the model.safetensors written by "
            "save_weights."
        )
    tensors, metadata = read_tensor_file(path)
    if "sha256" in metadata and tensors_digest(tensors) != metadata["sha256"]:
        raise CheckpointMismatchError(
            f"The tensors in {path} do not match the digest stored in the file: its numbers "
            "were changed or damaged. Write the weights again or use another copy."
        )
    saved = _metadata_json(metadata, "model_config", path, None)
    if saved is not None:
        check_config(saved, model, path, f"BertConfig.from_dict(weights_config('{path}'))")
    aliases = _metadata_json(metadata, "aliases", path, {})
    load_model_tensors(model, tensors, aliases if isinstance(aliases, dict) else {}, path)
    return model
