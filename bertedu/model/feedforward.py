"""The position-wise feed-forward network: two linear maps with an exact GELU between.

    FFN(x) = W_2 GELU(W_1 x + b_1) + b_2,   GELU(x) = x * Phi(x) = x/2 * (1 + erf(x / sqrt(2)))

It acts on every position independently (attention is the only place where
positions exchange information) and widens to ``intermediate_size`` (4 x hidden
in BERT) before narrowing back. BERT uses the exact, erf-based GELU; the tanh
approximation (``gelu_new``) gives slightly different numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeedForward(nn.Module):
    """``hidden -> intermediate -> GELU -> hidden``.

    ``intermediate`` and ``output`` mirror transformers' ``intermediate.dense``
    and ``output.dense``.
    """

    def __init__(self, hidden_size: int, intermediate_size: int) -> None:
        super().__init__()
        self.intermediate = nn.Linear(hidden_size, intermediate_size)
        self.output = nn.Linear(intermediate_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., hidden]`` -> ``[..., hidden]``."""
        return self.output(F.gelu(self.intermediate(x)))  # F.gelu is the exact erf form
