"""Explicit seeds: every random number in the book flows from one of these."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a fresh ``torch.Generator`` seeded with ``seed``.

    Library code never draws from global state: it takes a generator (or an
    ``random.Random``) as an argument. Seeding the globals as well keeps layer
    initialisation (which uses torch's global generator) reproducible.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
