"""AdamW's state in a checkpoint: moment tensors by parameter *name*, the rest as JSON.

``torch.optim``'s own ``state_dict`` indexes parameters by position; stored that
way, an optimizer built over other parameters (or in another order) would load
silently and update the wrong weights. Here each moment tensor is stored as
``optimizer/<parameter name>/<slot>`` in ``training_state.safetensors`` and the
groups' hyper-parameters and parameter names as JSON, so a mismatch is refused
naming the first parameter that differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertedu.train.weights_file import CheckpointMismatchError, unwrap_model


def parameter_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
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


def json_safe(value: Any) -> Any:
    """``value`` with tensors as numbers and tuples as lists, ready for JSON."""
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def split_optimizer_state(
    model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(json_part, tensors)`` of the optimizer's state, every entry named by its parameter."""
    names = parameter_names(model, optimizer)
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
        {k: json_safe(v) for k, v in group.items() if k != "params"}
        | {"param_names": [names[i] for i in group["params"]]}
        for group in state["param_groups"]
    ]
    return {"class": type(optimizer).__name__, "param_groups": groups, "scalars": scalars}, tensors


def restore_optimizer(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    saved: dict,
    tensors: dict[str, torch.Tensor],
    where: Path,
) -> None:
    """Load what :func:`split_optimizer_state` saved into ``optimizer``; refuse another class,
    other parameters or shapes, naming the first that differs."""
    if saved is None:
        raise CheckpointMismatchError(
            f"{where} holds no optimizer state (it was saved without one)."
        )
    if saved["class"] != type(optimizer).__name__:
        raise CheckpointMismatchError(
            f"{where} holds {saved['class']} state, but the optimizer is "
            f"{type(optimizer).__name__}."
        )
    names = parameter_names(model, optimizer)
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
        missing = [s for s in ("exp_avg", "exp_avg_sq") if f"{prefix}{s}" not in tensors]
        if isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW) and missing:
            raise CheckpointMismatchError(
                f"The optimizer state of {name!r} in {where} lacks {', '.join(missing)}: "
                "Adam's moments would restart from zero. Use an earlier checkpoint."
            )
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
