"""Where tensors go: the one place that decides between the CPU and a GPU."""

from __future__ import annotations

import torch

CPU_PROFILES = ("smoke", "cpu")


def resolve_device(
    requested: str | torch.device | None = None,
    *,
    profile: str | None = None,
    local_rank: int | None = None,
) -> torch.device:
    """The device to compute on.

    * ``requested`` (a device or its name, e.g. ``"cuda:1"``) wins;
    * the ``smoke`` and ``cpu`` profiles always compute on the CPU, so that
      their stored outputs are the same on every machine;
    * otherwise CUDA when it is available (``cuda:<local_rank>`` for one
      process of a ``torchrun`` job), else the CPU.
    """
    if requested is not None:
        return torch.device(requested)
    if profile in CPU_PROFILES or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda" if local_rank is None else f"cuda:{local_rank}")
