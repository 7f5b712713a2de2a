"""What the model's input checks share: how an input's shape reads in an error message, and
the check that a per-token tensor lines up with ``input_ids``.

The checks themselves stay beside the layer that reads the input (``validate_input_ids`` in
:mod:`bertedu.model.embeddings`, ``validate_attention_mask`` in :mod:`bertedu.model.bert`,
``validate_pretraining_labels`` in :mod:`bertedu.model.pretraining`); this module only keeps
them from each spelling out the same shape test and message.
"""

from __future__ import annotations

import torch


def describe_shape(value: object) -> str:
    """A tensor's shape as an error message shows it, ``(2, 7)``; for anything else (a list,
    ``None``) the name of its type, which is usually the mistake."""
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    return type(value).__name__


def require_shape_of_input_ids(
    name: str, value: object, input_ids: torch.Tensor, advice: str
) -> None:
    """Raise a ``ValueError`` unless ``value`` is a tensor of ``input_ids``' shape.

    The message names both shapes, then ``advice`` (what one entry per token means, starting
    with its own separator): ``"token_type_ids has shape (1, 8) but input_ids has (2, 8);
    they must match (one segment id per token)."``
    """
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(input_ids.shape):
        raise ValueError(
            f"{name} has shape {describe_shape(value)} but input_ids has "
            f"{tuple(input_ids.shape)}{advice}"
        )
