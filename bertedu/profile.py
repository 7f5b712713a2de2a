"""Run profiles: how big a run a notebook or command makes.

Every notebook starts with one parameters cell that calls :func:`resolve_profile`.
The profile comes from the ``BERTEDU_PROFILE`` environment variable so CI, a
laptop reader and a GPU reader run the same notebook at three sizes:

* ``smoke``: seconds, for CI (tiny data, a handful of steps);
* ``cpu``: minutes on a laptop CPU, on the embedded data (what the book shows);
* ``gpu``: the full run on the full datasets;
* ``auto``: ``gpu`` when CUDA is available, otherwise ``cpu``.
"""

from __future__ import annotations

import os

from bertedu.device import resolve_device

PROFILES = ("smoke", "cpu", "gpu")
PROFILE_ENV_VAR = "BERTEDU_PROFILE"


def resolve_profile(requested: str | None = None) -> str:
    """Return the concrete profile (``smoke``, ``cpu`` or ``gpu``) to run.

    ``requested`` wins over the environment variable; ``auto`` (the default)
    picks ``gpu`` only when CUDA is really available, so a notebook never asks
    for a GPU the machine does not have.
    """
    name = (requested or os.environ.get(PROFILE_ENV_VAR) or "auto").strip().lower()
    has_gpu = resolve_device().type == "cuda"
    if name == "auto":
        return "gpu" if has_gpu else "cpu"
    if name not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r}. Use one of {', '.join(PROFILES)} or 'auto' "
            f"(set it with the {PROFILE_ENV_VAR} environment variable)."
        )
    if name == "gpu" and not has_gpu:
        raise ValueError(
            "Profile 'gpu' was requested but CUDA is not available on this machine. "
            f"Use {PROFILE_ENV_VAR}=cpu (or 'auto') to run on the CPU."
        )
    return name
