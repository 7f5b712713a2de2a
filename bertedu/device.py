"""Pick the device a notebook computes on."""

from __future__ import annotations

import torch


def default_device(profile: str | None = None) -> torch.device:
    """Return ``cuda`` for the ``gpu`` profile (or when unspecified and CUDA exists), else ``cpu``.

    The ``smoke`` and ``cpu`` profiles always compute on the CPU so that their
    stored outputs are the same on every machine.
    """
    if profile in ("smoke", "cpu"):
        return torch.device("cpu")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
