"""Capture and restore every random-number generator a training run draws from.

A resumed run continues *exactly* only if every source of randomness is where
it was when the checkpoint was written: Python's ``random`` (used by NSP pair
building), NumPy, torch's global CPU generator (dropout, initialisation), each
CUDA device's generator, and any explicit ``torch.Generator`` the caller passes
(masking, shuffling). Python and NumPy states are plain numbers (JSON); torch
states are byte tensors (stored in safetensors next to the optimizer state).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_rng_state(
    generators: dict[str, torch.Generator] | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Return ``(json_part, tensor_part)`` describing all generators now."""
    version, mt_state, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    json_part = {
        "python": {"version": version, "state": list(mt_state), "gauss_next": gauss_next},
        "numpy": {
            "kind": kind,
            "keys": keys.tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "generators": sorted(generators or {}),
    }
    tensors = {"rng/torch": torch.get_rng_state()}
    for index in range(json_part["cuda_devices"]):
        tensors[f"rng/cuda/{index}"] = torch.cuda.get_rng_state(index)
    for name, generator in (generators or {}).items():
        tensors[f"rng/generator/{name}"] = generator.get_state()
    return json_part, tensors


def restore_rng_state(
    json_part: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    generators: dict[str, torch.Generator] | None = None,
) -> None:
    """Put every generator back in the state :func:`capture_rng_state` recorded.

    Generators named in the checkpoint but not passed here (or the reverse)
    raise a ``ValueError`` before any generator is touched: silently leaving one
    unrestored would break the exact-resume guarantee without any sign.
    """
    saved, given = json_part["generators"], sorted(generators or {})
    if not isinstance(saved, list) or sorted(map(str, saved)) != given:
        raise ValueError(
            f"the checkpoint recorded generators {saved!r} but {given} were passed; pass the "
            "same named torch.Generator objects that the run was started with"
        )
    python = json_part["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss_next"]))
    numpy = json_part["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            np.asarray(numpy["keys"], dtype=np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(tensors["rng/torch"])
    if torch.cuda.is_available():
        for index in range(min(json_part["cuda_devices"], torch.cuda.device_count())):
            torch.cuda.set_rng_state(tensors[f"rng/cuda/{index}"], index)
    for name, generator in (generators or {}).items():
        generator.set_state(tensors[f"rng/generator/{name}"])
