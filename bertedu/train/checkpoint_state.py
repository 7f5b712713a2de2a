"""What a checkpoint folder is, and its ``state.json`` read as untrusted data.

A checkpoint is one folder, ``step-00000100/``, holding ``model.safetensors``
(the weights), ``training_state.safetensors`` (optimizer moments, torch RNG
states) and ``state.json`` (everything else, as text, and the SHA-256 of both
tensor files). ``state.json`` is written last: it is the commit marker.

A checkpoint from a stranger, or one edited by hand, is read as untrusted data:

* only the three known file names, regular files inside the folder (no ``..``,
  no absolute path, no symlink out, no device or pipe) (:func:`checked_file`);
* every value :func:`~bertedu.train.checkpoint.load_checkpoint` and the loop use
  is checked for its type and range before anything is loaded
  (:func:`check_state_values`): a ``"step": -5`` would otherwise resume at
  "update -5 of 10" and overwrite a checkpoint, a Python RNG state of
  ``"garbage"`` fail deep inside ``random.setstate``;
* the state itself is covered by a digest (:func:`state_digest`) stored in
  ``training_state.safetensors``, whose own hash is in ``state.json``: a value
  changed by hand, even a plausible one (a data position of 3 instead of 2), is
  caught.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bertedu.train.weights_file import CheckpointMismatchError

FORMAT_VERSION = 1
STATE_FILE = "state.json"
MODEL_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.safetensors"
CHECKPOINT_FILES = (MODEL_FILE, TRAINING_STATE_FILE)  # the files state.json may hash
STEP_DIR = re.compile(r"^step-(\d+)$")
#: The metadata key of ``training_state.safetensors`` holding :func:`state_digest`.
STATE_DIGEST_KEY = "state_sha256"


class UnsafeCheckpointError(CheckpointMismatchError):
    """A checkpoint's ``state.json`` points at a file outside its folder or at no regular file."""


def step_directory(directory: str | Path, step: int) -> Path:
    """``directory/step-00000123``: zero-padded so that names sort by step."""
    return Path(directory) / f"step-{step:08d}"


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


def state_digest(state: dict[str, Any]) -> str:
    """SHA-256 of ``state`` without its ``sha256`` entry, as canonical JSON (sorted keys).

    The JSON is read back once before hashing, so the state as written (tuples,
    float values) and as loaded from ``state.json`` hash alike.
    """
    core = json.loads(json.dumps({k: v for k, v in state.items() if k != "sha256"}))
    return hashlib.sha256(
        json.dumps(core, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


# ---------------------------------------------------------------- checking values


def _whole(value: Any, low: int = 0, high: int | None = None) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value <= high)
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _list_of(check: Callable[[Any], bool], length: int | None = None) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, list)
        and (length is None or len(value) == length)
        and all(check(v) for v in value)
    )


def _dict_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, dict) and all(isinstance(k, str) and check(v) for k, v in value.items())
    )


def _anything(value: Any) -> bool:
    return True


_UINT32 = 2**32 - 1


def _python_state_ok(value: Any) -> bool:
    """A Mersenne Twister state as ``random.getstate`` gives it: 624 words < 2**32 and a
    position from 0 to 624."""
    return (
        isinstance(value, list)
        and len(value) == 625
        and all(_whole(v, 0, _UINT32) for v in value[:624])
        and _whole(value[624], 0, 624)
    )


#: (dotted field, check, what it must be). Fields of older checkpoints that lack one are
#: checked where they are used.
_FIELDS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("step", _whole, "a whole number >= 0"),
    ("run_id", lambda v: v is None or isinstance(v, str), "a string or null"),
    ("model_class", lambda v: v is None or isinstance(v, str), "a string"),
    ("model_config", lambda v: v is None or isinstance(v, dict), "an object or null"),
    ("aliases", _dict_of(lambda v: isinstance(v, str)), "an object of tensor names"),
    ("optimizer", lambda v: v is None or isinstance(v, dict), "an object or null"),
    ("optimizer.class", lambda v: isinstance(v, str), "a class name"),
    (
        "optimizer.param_groups",
        _list_of(
            lambda g: (
                isinstance(g, dict) and _list_of(lambda n: isinstance(n, str))(g.get("param_names"))
            )
        ),
        "a list of groups, each with its param_names",
    ),
    ("optimizer.scalars", _dict_of(lambda v: isinstance(v, dict)), "an object per parameter"),
    ("scheduler", lambda v: v is None or isinstance(v, dict), "an object or null"),
    ("data_position", _dict_of(_anything), "an object"),
    ("extra", _dict_of(_anything), "an object"),
    ("rng", lambda v: isinstance(v, dict), "an object"),
    ("rng.python", lambda v: isinstance(v, dict), "an object"),
    ("rng.python.version", _whole, "a whole number"),
    ("rng.python.state", _python_state_ok, "624 numbers < 2**32 and a position up to 624"),
    ("rng.python.gauss_next", lambda v: v is None or _number(v), "a number or null"),
    ("rng.numpy", lambda v: isinstance(v, dict), "an object"),
    ("rng.numpy.kind", lambda v: v == "MT19937", '"MT19937"'),
    ("rng.numpy.keys", _list_of(lambda v: _whole(v, 0, _UINT32), 624), "624 numbers < 2**32"),
    ("rng.numpy.pos", lambda v: _whole(v, 0, 624), "a whole number from 0 to 624"),
    ("rng.numpy.has_gauss", lambda v: v in (0, 1) and not isinstance(v, float), "0 or 1"),
    ("rng.numpy.cached_gaussian", _number, "a number"),
    ("rng.cuda_devices", _whole, "a whole number >= 0"),
    ("rng.generators", _list_of(lambda v: isinstance(v, str)), "a list of names"),
)


def _lookup(state: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    """``(present, value)`` of a dotted field of ``state``."""
    value: Any = state
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


#: Fields the loaders read in every checkpoint (the optimizer's only when it holds one).
_REQUIRED = frozenset(
    {"step", "aliases", "data_position", "extra", "rng", "rng.python", "rng.numpy"}
    | {f"rng.python.{k}" for k in ("version", "state")}
    | {f"rng.numpy.{k}" for k in ("kind", "keys", "pos", "has_gauss", "cached_gaussian")}
    | {"rng.cuda_devices", "rng.generators"}
    | {f"optimizer.{k}" for k in ("class", "param_groups", "scalars")}
)


def check_state_values(state: dict[str, Any], state_file: Path) -> None:
    """Refuse, naming the field, a ``state.json`` value of the wrong type or range, and a
    step that is not its folder's (``step-00000005`` must hold step 5).

    Every field the loaders read is checked; ``run_id`` and the like, absent from
    checkpoints of older code, only when present.
    """
    for dotted, check, wanted in _FIELDS:
        present, value = _lookup(state, dotted)
        if dotted.startswith("optimizer.") and not isinstance(state.get("optimizer"), dict):
            continue  # saved without an optimizer
        if not present:
            if dotted in _REQUIRED:
                _refuse(state_file, dotted, "missing", wanted)
            continue
        if not check(value):
            _refuse(state_file, dotted, repr(value)[:80], wanted)
    folder = STEP_DIR.match(state_file.parent.name)
    if folder and int(folder.group(1)) != state["step"]:
        raise CheckpointMismatchError(
            f"{state_file} records step {state['step']}, but its folder is "
            f"{state_file.parent.name}: the folder was renamed or the state edited. Use an "
            "earlier checkpoint, or give the folder its own step's name."
        )


def _refuse(state_file: Path, field: str, found: str, wanted: str) -> None:
    raise CheckpointMismatchError(
        f"{state_file}: {field} is {found}; it must be {wanted}. The checkpoint was not written "
        "by bertedu (or was altered): use an earlier checkpoint (--checkpoint PATH)."
    )


def read_checkpoint_state(path: str | Path) -> dict[str, Any]:
    """The parsed and checked ``state.json`` of a checkpoint folder (a clear error when it is
    not one, or when a value has the wrong type or range)."""
    path = Path(path)
    if not (path / STATE_FILE).exists() and not (path / STATE_FILE).is_symlink():
        raise FileNotFoundError(
            f"{path} is not a committed checkpoint (no {STATE_FILE}); pass a step-NNNNNNNN "
            "folder, or use latest_checkpoint(output_dir) to find one."
        )
    state_file = checked_file(path, STATE_FILE)
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointMismatchError(
            f"{state_file} is not valid JSON ({str(error)[:200]}): the checkpoint is damaged. "
            "Pick an earlier one (--checkpoint PATH, or load_checkpoint on another "
            "step-NNNNNNNN folder)."
        ) from None
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
    check_state_values(state, state_file)
    return state
