"""Small helpers for any ``torch.nn.Module``: evaluation mode, its device, its size.

This module imports nothing from bertedu, so every part (models included) may use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (no dropout) for a block, then restore its previous mode.

    The previous mode comes back even when the block raises, so a failed
    prediction in the middle of fine-tuning does not leave dropout switched off::

        with eval_mode(model), torch.no_grad():
            logits = model(**batch).logits
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (where its inputs must go)."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ValueError(
            f"{type(model).__name__} has no parameters, so it has no device; "
            "move the inputs where you want them yourself."
        ) from None


def num_parameters(module: nn.Module | Iterable[torch.Tensor]) -> int:
    """The number of parameters of a module (a tied tensor counts once) or of a list of tensors."""
    tensors = module.parameters() if isinstance(module, nn.Module) else module
    return sum(tensor.numel() for tensor in tensors)
