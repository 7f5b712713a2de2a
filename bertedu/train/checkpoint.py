"""Checkpoints: safetensors tensors plus a JSON file, written atomically, never unpickled.

A checkpoint is one folder, ``step-00000100/``, holding

* ``model.safetensors``: the weights. A tied tensor (BERT's MLM decoder *is*
  the word-embedding matrix) is stored once; safetensors refuses to store two
  names for one storage, and storing a copy would untie them on load. The JSON
  records the alias, and loading re-ties by copying into the one shared tensor;
* ``training_state.safetensors``: AdamW's moment tensors (named by parameter,
  not by index, so a mismatch can be reported by name) and the byte states of
  torch's random generators;
* ``state.json``: everything else, as text: the model config, the optimizer's
  hyper-parameters, the scheduler, the step, Python/NumPy RNG states, the data
  position, and the SHA-256 of both tensor files.

Why not ``torch.save``: a pickle can run arbitrary code when loaded, so a
checkpoint from the internet is a program. safetensors and JSON are data only.

Atomicity: every file is written to a temporary name, flushed to disk and
moved into place with ``os.replace`` (atomic on POSIX and Windows).
``state.json`` goes last: it is the commit marker. A run killed mid-save leaves
either the previous complete checkpoint or a folder without ``state.json``,
which :func:`latest_checkpoint` ignores; the hashes catch a tensor file that
does not belong to its JSON. Temporary files a killed write left behind are
removed by :func:`remove_stale_temporaries` once their process is gone.

A checkpoint from a stranger is data, and is read as untrusted data: only the
three known file names, regular files inside the folder (no ``..``, no
absolute path, no symlink out, no device), hashes checked before anything is
loaded.

Nothing a user trained is deleted by accident: a fresh run into a folder that
holds checkpoints is refused (:func:`claim_output_folder`; ``overwrite`` moves
the old run aside), and ``keep`` prunes only older checkpoints of the same run
(each checkpoint records its ``run_id``), never the one just written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from bertedu.nn_utils import model_device
from bertedu.train.rng import capture_rng_state, restore_rng_state

FORMAT_VERSION = 1
STATE_FILE = "state.json"
MODEL_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.safetensors"
CHECKPOINT_FILES = (MODEL_FILE, TRAINING_STATE_FILE)  # the files state.json may hash
_STEP_DIR = re.compile(r"^step-(\d+)$")
_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")  # what _write_tensors and write_json write first


class CheckpointMismatchError(ValueError):
    """The checkpoint was written for a different model, optimizer or configuration."""


class UnsafeCheckpointError(CheckpointMismatchError):
    """A checkpoint's ``state.json`` points at a file outside its folder or at no regular file."""


class ExistingRunError(FileExistsError):
    """A fresh run was asked to write into a folder that already holds another run's
    checkpoints."""


def new_run_id() -> str:
    """A random id for one training run, recorded in each of its checkpoints."""
    return uuid.uuid4().hex


@dataclass
class CheckpointState:
    """What :func:`load_checkpoint` hands back besides the restored objects."""

    step: int
    path: Path
    data_position: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None  # the run the checkpoint belongs to (None: written without one)


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


# ---------------------------------------------------------------- reading files safely


def checked_file(folder: Path, name: str) -> Path:
    """``folder / name`` when ``name`` is one of the checkpoint's own files and a regular file
    inside ``folder``; :class:`UnsafeCheckpointError` otherwise.

    ``name`` comes from a file anyone may have written: joined unchecked,
    ``../../secret`` or ``/dev/zero`` would make the loader read (or hang on)
    any file of the machine.
    """
    if name not in (STATE_FILE, *CHECKPOINT_FILES):
        raise UnsafeCheckpointError(
            f"{folder / STATE_FILE} names the file {name!r}; a checkpoint holds only "
            f"{', '.join((STATE_FILE, *CHECKPOINT_FILES))}. Do not load this checkpoint: it was "
            "not written by bertedu (or was altered)."
        )
    path = folder / name
    if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
        raise UnsafeCheckpointError(
            f"{path} is a symbolic link to {path.resolve()}, outside the checkpoint folder; "
            "refusing to read it. Copy the real file into the folder if you trust it."
        )
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: the checkpoint is incomplete. Use an earlier checkpoint."
        ) from None
    if not stat.S_ISREG(mode):
        raise UnsafeCheckpointError(
            f"{path} is not a regular file (a folder, device or pipe); refusing to read it. "
            "Use an earlier checkpoint."
        )
    return path


# ---------------------------------------------------------------- writing files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _replace_atomically(tmp: Path, final: Path) -> None:
    with tmp.open("rb+") as file:
        os.fsync(file.fileno())  # the bytes are on disk before the name points at them
    os.chmod(
        tmp, 0o644
    )  # safetensors creates owner-only files; a shipped checkpoint must be readable
    os.replace(tmp, final)


def _write_tensors(
    tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None
) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(
        {name: t.detach().contiguous().cpu() for name, t in tensors.items()},
        str(tmp),
        metadata=metadata,
    )
    _replace_atomically(tmp, path)


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files (``.NAME.tmp-PID``) of writes whose process no longer runs.

    A write killed between creating its temporary file and the ``os.replace``
    leaves the file behind; nothing reads it, so it only takes space. Files of
    a process that is still alive (another run writing now) are kept. Looks in
    ``directory`` and its ``step-*`` folders; returns what it deleted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    folders = [directory, *(p for p in directory.iterdir() if _STEP_DIR.match(p.name))]
    removed = []
    for folder in folders:
        if not folder.is_dir() or folder.is_symlink():
            continue
        for path in folder.iterdir():
            match = _TEMPORARY.match(path.name)
            if match and path.is_file() and not _process_alive(int(match.group(1))):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's) or we cannot tell: keep its files
    return True


def write_json_atomically(value: Any, path: Path) -> None:
    """Write ``value`` as indented JSON to ``path`` via a temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    _replace_atomically(tmp, path)


# ---------------------------------------------------------------- model weights


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
    _write_tensors(tensors, Path(path), meta | (metadata or {}))
    return aliases


def _check_config(
    saved: dict[str, Any] | None, model: nn.Module, where: Path, how_to_build: str | None = None
) -> None:
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
                or f"BertConfig.from_dict(json.load(open('{where / STATE_FILE}'))['model_config'])"
            )
            + "), or write this run to a new output folder instead of resuming."
        )


def load_model_tensors(
    model: nn.Module, tensors: dict[str, torch.Tensor], aliases: dict[str, str], where: Path | str
) -> None:
    """Copy ``tensors`` (and re-created aliases) into ``model``; errors name the tensor."""
    model = unwrap_model(model)
    expected = model.state_dict()
    full = dict(tensors)
    for alias, stored in aliases.items():
        if stored in full:
            full[alias] = full[stored]
    missing = sorted(set(expected) - set(full))
    unexpected = sorted(set(full) - set(expected))
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"The weights in {where} do not fit this model: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected "
            f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}. "
            "Is it a checkpoint of another model class (e.g. BertModel vs BertForPreTraining)?"
        )
    for name in expected:  # the model's order, so the first differing tensor is reported
        tensor = full[name]
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointMismatchError(
                f"Tensor {name!r} in {where} has shape {tuple(tensor.shape)} but the model's is "
                f"{tuple(expected[name].shape)}. The checkpoint belongs to a model of another "
                "size: build the "
                "model with the checkpoint's config, or start a new run in a new folder."
            )
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


def weights_config(path: str | Path) -> dict[str, Any] | None:
    """The model config recorded in a file written by :func:`save_weights` (None if absent)."""
    _, metadata = read_tensor_file(Path(path))
    return json.loads(metadata["model_config"]) if "model_config" in metadata else None


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a file written by :func:`save_weights` into ``model`` (any float dtype is converted).

    The file's recorded config must equal the model's, and its tensors its
    recorded digest (files written before the digest was stored are read
    without that check).
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
    if "model_config" in metadata:
        saved = json.loads(metadata["model_config"])
        _check_config(saved, model, path, f"BertConfig.from_dict(weights_config('{path}'))")
    load_model_tensors(model, tensors, json.loads(metadata.get("aliases", "{}")), path)
    return model


# ---------------------------------------------------------------- optimizer state


def _parameter_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The name of each optimizer parameter, in the optimizer's index order."""
    by_id = {id(p): n for n, p in unwrap_model(model).named_parameters()}
    names = []
    for group in optimizer.param_groups:
        for param in group["params"]:
            if id(param) not in by_id:
                raise ValueError(
                    "The optimizer holds a parameter that is not in the model; "
                    "build the optimizer from this model's parameters."
                )
            names.append(by_id[id(param)])
    return names


def _json_safe(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _split_optimizer_state(
    model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict, dict[str, torch.Tensor]]:
    names = _parameter_names(model, optimizer)
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, per_param in state["state"].items():
        scalars[names[index]] = {}
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{names[index]}/{key}"] = value
            else:
                scalars[names[index]][key] = value
    groups = [
        {k: _json_safe(v) for k, v in group.items() if k != "params"}
        | {"param_names": [names[i] for i in group["params"]]}
        for group in state["param_groups"]
    ]
    return {"class": type(optimizer).__name__, "param_groups": groups, "scalars": scalars}, tensors


def _restore_optimizer(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    saved: dict,
    tensors: dict[str, torch.Tensor],
    where: Path,
) -> None:
    if saved is None:
        raise CheckpointMismatchError(
            f"{where} holds no optimizer state (it was saved without one)."
        )
    if saved["class"] != type(optimizer).__name__:
        raise CheckpointMismatchError(
            f"{where} holds {saved['class']} state, but the optimizer is "
            f"{type(optimizer).__name__}."
        )
    names = _parameter_names(model, optimizer)
    current = optimizer.state_dict()
    saved_names = [n for g in saved["param_groups"] for n in g["param_names"]]
    if saved_names != names:
        first = next(
            (i for i, (a, b) in enumerate(zip(saved_names, names, strict=False)) if a != b),
            min(len(names), len(saved_names)),
        )
        raise CheckpointMismatchError(
            f"The optimizer in {where} was built over other parameters: at position {first} the "
            f"checkpoint has {saved_names[first] if first < len(saved_names) else 'nothing'!r}, "
            f"this optimizer {names[first] if first < len(names) else 'nothing'!r}. Build the "
            "optimizer the same way (bertedu.train.optim.build_optimizer) and with the same "
            "weight-decay grouping."
        )
    params = {n: p for n, p in unwrap_model(model).named_parameters()}
    state: dict[int, dict[str, Any]] = {}
    for index, name in enumerate(names):
        if name not in saved["scalars"]:
            continue
        entry = dict(saved["scalars"][name])
        prefix = f"optimizer/{name}/"
        for key, value in tensors.items():
            if key.startswith(prefix):
                slot = key[len(prefix) :]
                if value.dim() and tuple(value.shape) != tuple(params[name].shape):
                    raise CheckpointMismatchError(
                        f"Optimizer state {slot!r} of {name!r} in {where} has shape "
                        f"{tuple(value.shape)}, the parameter has {tuple(params[name].shape)}."
                    )
                entry[slot] = value
        state[index] = entry
    groups = []
    for saved_group, group in zip(saved["param_groups"], current["param_groups"], strict=False):
        restored = {k: v for k, v in saved_group.items() if k != "param_names"}
        if "betas" in restored:
            restored["betas"] = tuple(restored["betas"])
        groups.append(restored | {"params": group["params"]})
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ---------------------------------------------------------------- whole checkpoints


def step_directory(directory: str | Path, step: int) -> Path:
    """``directory/step-00000123``: zero-padded so that names sort by step."""
    return Path(directory) / f"step-{step:08d}"


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
    run* (see :func:`prune_checkpoints`).
    """
    folder = step_directory(directory, step)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE_FILE).unlink(missing_ok=True)  # un-commit first if this step is written again
    aliases = save_weights(model, folder / MODEL_FILE)
    rng_json, training_tensors = capture_rng_state(generators)
    optimizer_json = None
    if optimizer is not None:
        optimizer_json, optimizer_tensors = _split_optimizer_state(model, optimizer)
        training_tensors.update(optimizer_tensors)
    _write_tensors(training_tensors, folder / TRAINING_STATE_FILE)
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
        "scheduler": _json_safe(scheduler_state),
        "rng": rng_json,
        "data_position": data_position or {},
        "extra": extra or {},
        "sha256": {name: _sha256(folder / name) for name in (MODEL_FILE, TRAINING_STATE_FILE)},
    }
    write_json_atomically(state, folder / STATE_FILE)  # the commit marker
    if keep is not None:
        prune_checkpoints(directory, keep=keep, newest=folder, run_id=run_id)
    return folder


def prune_checkpoints(
    directory: str | Path, *, keep: int, newest: Path, run_id: str | None
) -> list[Path]:
    """Delete older checkpoints of run ``run_id`` so that ``keep`` remain, ``newest`` included.

    ``newest`` (the checkpoint just written) is never deleted, whatever the
    step numbers of the others, and neither is a checkpoint of another run (or
    one whose ``state.json`` cannot be read). A deletion first removes
    ``state.json``, so one cut short leaves an uncommitted folder, not a
    checkpoint with missing files. Returns the deleted folders.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    same_run = []
    for folder in list_checkpoints(directory):
        if folder == newest:
            continue
        try:
            if read_checkpoint_state(folder).get("run_id") == run_id:
                same_run.append(folder)
        except (ValueError, OSError):
            continue  # unreadable: not provably ours, so not ours to delete
    doomed = same_run[: max(len(same_run) - (keep - 1), 0)]
    for old in doomed:
        (old / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(old)
    return doomed


def claim_output_folder(directory: str | Path, *, resume: bool, overwrite: bool) -> Path | None:
    """Make ``directory`` ready for a run; return where an overwritten run was moved, else None.

    * ``directory`` is a file: refused (a clear message instead of a traceback later).
    * ``resume``: nothing to do; the run continues the checkpoints there.
    * a fresh run, and ``directory`` holds checkpoints: refused with
      :class:`ExistingRunError`, unless ``overwrite``, which *moves* the whole
      folder aside to ``DIRECTORY.old-YYYYMMDD-HHMMSS`` (never deletes it).
    """
    directory = Path(directory)
    if resume and overwrite:
        raise ValueError(
            "resume and overwrite exclude each other: --resume continues the run in the folder, "
            "--overwrite moves it aside and starts afresh. Pass one of them."
        )
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(
            f"The output folder {directory} is a file. Pass a folder (it is created if "
            "missing) to --output / checkpoint_dir, or move the file away."
        )
    found = list_checkpoints(directory)
    if resume or not found:
        return None
    if not overwrite:
        raise ExistingRunError(
            f"{directory} already holds a training run ({len(found)} checkpoint(s), newest "
            f"{found[-1].name}). Continue it with --resume (resume=True), start afresh with "
            "--overwrite (overwrite=True: the old run is moved to "
            f"{directory.name}.old-<timestamp>, nothing is deleted), or pick another --output."
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = directory.with_name(f"{directory.name}.old-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = directory.with_name(f"{directory.name}.old-{stamp}-{counter}")
    directory.rename(aside)
    return aside


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Committed checkpoints (folders with ``state.json``) under ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in directory.iterdir()
        if (m := _STEP_DIR.match(p.name)) and (p / STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest committed checkpoint under ``directory``, or ``None``."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def read_checkpoint_state(path: str | Path) -> dict[str, Any]:
    """The parsed ``state.json`` of a checkpoint folder (a clear error when it is not one)."""
    path = Path(path)
    if not (path / STATE_FILE).exists() and not (path / STATE_FILE).is_symlink():
        raise FileNotFoundError(
            f"{path} is not a committed checkpoint (no {STATE_FILE}); pass a step-NNNNNNNN "
            "folder, or use latest_checkpoint(output_dir) to find one."
        )
    state_file = checked_file(path, STATE_FILE)
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointMismatchError(
            f"{state_file} is not valid JSON ({error}): the checkpoint is damaged. Pick an "
            "earlier one (--checkpoint PATH, or load_checkpoint on another step-NNNNNNNN folder)."
        ) from error
    if not isinstance(state, dict):
        raise CheckpointMismatchError(
            f"{state_file} holds a {type(state).__name__}, not a checkpoint's JSON object. "
            "Pick an earlier checkpoint (--checkpoint PATH)."
        )
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointMismatchError(
            f"{path} has checkpoint format {state.get('format_version')}, this code reads "
            f"format {FORMAT_VERSION}."
        )
    return state


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

    The model's config and every tensor's shape are checked first; a mismatch
    raises :class:`CheckpointMismatchError` naming the field or tensor. Nothing
    is unpickled: only safetensors and JSON are read.
    """
    path = Path(path)
    state = read_checkpoint_state(path)
    hashes = state.get("sha256")
    if not isinstance(hashes, dict) or sorted(hashes) != sorted(CHECKPOINT_FILES):
        raise UnsafeCheckpointError(
            f"{path / STATE_FILE} must hash exactly {', '.join(CHECKPOINT_FILES)}, it lists "
            f"{sorted(hashes) if isinstance(hashes, dict) else hashes!r}. The checkpoint was not "
            "written by bertedu (or was altered): use another one."
        )
    files = {name: checked_file(path, name) for name in CHECKPOINT_FILES}
    for name, digest in hashes.items():
        if _sha256(files[name]) != digest:
            raise CheckpointMismatchError(
                f"{files[name]} does not match the hash in {STATE_FILE}: the file was "
                "changed or only partly written. Use an earlier checkpoint (--checkpoint PATH)."
            )
    _check_config(state["model_config"], model, path)
    weights, _ = read_tensor_file(files[MODEL_FILE])
    load_model_tensors(model, weights, state["aliases"], path)
    training, _ = read_tensor_file(files[TRAINING_STATE_FILE])
    if optimizer is not None:
        device = model_device(unwrap_model(model))
        _restore_optimizer(
            model,
            optimizer,
            state["optimizer"],
            {k: v.to(device) for k, v in training.items() if k.startswith("optimizer/")},
            path,
        )
    if scheduler is not None:
        if state["scheduler"] is None:
            raise CheckpointMismatchError(f"{path} holds no scheduler state.")
        scheduler.load_state_dict(
            state["scheduler"] | {"lr_lambdas": [None] * len(scheduler.lr_lambdas)}
            if hasattr(scheduler, "lr_lambdas")
            else state["scheduler"]
        )
    if restore_rng:
        restore_rng_state(state["rng"], training, generators)
    return CheckpointState(
        step=state["step"],
        path=path,
        data_position=state["data_position"],
        extra=state["extra"],
        run_id=state.get("run_id"),
    )
