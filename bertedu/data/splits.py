"""Held-out sets by document, never by sentence.

A held-out sentence whose neighbours were trained on is not held out: the model
has seen its context, often its very words in the next sentence. Splitting by
whole documents keeps evaluation honest, for MLM and for NSP alike.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def split_by_document(
    documents: Sequence[T], *, held_out_fraction: float, seed: int
) -> tuple[list[T], list[T]]:
    """Split into ``(train, held_out)`` whole documents; the same seed gives the same split.

    At least one document goes to each side; both keep the corpus order.
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(
            f"held_out_fraction must be strictly between 0 and 1, got {held_out_fraction}"
        )
    if len(documents) < 2:
        raise ValueError(
            f"Need at least 2 documents to hold some out, got {len(documents)}. Evaluation holds "
            "out whole documents and NSP draws its negatives from another document: give more "
            "text, with a blank line between documents."
        )
    count = min(len(documents) - 1, max(1, round(len(documents) * held_out_fraction)))
    held_out = set(random.Random(seed).sample(range(len(documents)), count))
    train = [document for index, document in enumerate(documents) if index not in held_out]
    return train, [documents[index] for index in sorted(held_out)]
