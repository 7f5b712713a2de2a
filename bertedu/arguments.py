"""Command-line value types: a wrong number is refused when the command line is read.

``argparse`` calls these on the text of a flag; a ``ValueError`` becomes
``error: argument --epochs: ...`` and exit status 2, before anything is loaded
or trained. (``--epochs 0`` once trained one update silently, ``--seed -1``
failed with a traceback deep in NumPy.)
"""

from __future__ import annotations

import argparse
import math

#: NumPy seeds must be below 2**32; torch's and Python's take these too.
MAX_SEED = 2**32 - 1


def _number(text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {'a whole number' if kind is int else 'a number'}"
        ) from None


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate, a number of epochs)."""
    value = _number(text, float)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (updates, threads)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def seed(text: str) -> int:
    """A seed from 0 to 2**32 - 1 (what NumPy, torch and Python all accept)."""
    value = _number(text, int)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}, got {text!r}")
    return value


def share(text: str) -> float:
    """A share from 0 to 1, both included (a loss weight such as ``--distill-alpha``)."""
    value = _number(text, float)
    if not 0 <= value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A share from 0 (inclusive) to 1 (exclusive)."""
    value = _number(text, float)
    if not 0 <= value < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be from 0 up to (not including) 1, got {text!r}")
    return value
