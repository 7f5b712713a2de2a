"""The best-scoring weights of a run so far, kept so that a resumption finds them again.

Model selection (keep the epoch that scored best on a validation split) needs the best
epoch's weights at the end. Held in memory they are lost with the process, and a resumed
run would end with the best of its own epochs only. With a ``folder`` (the run's
checkpoint folder) :class:`BestWeights` writes them there instead, one
``best-NNNNNNNN.safetensors`` per new best (atomically), and :meth:`BestWeights.resume`
rebuilds the choice from the scores the metrics log kept up to the checkpoint resumed.

A file is deleted only once no checkpoint the run can still resume from needs it: the
run keeps the files of the best as of each of its last ``keep`` evaluations (the
evaluations and checkpoints of a fine-tuning run fall on the same updates).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from bertedu.train.weights_file import load_weights, save_weights


class BestWeights:
    """The weights with the highest score offered so far (ties: the earliest)."""

    def __init__(self, folder: str | Path | None = None, keep: int = 3) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.keep = keep
        self.history: list[tuple[int, float]] = []  # (step, score) of every evaluation
        self.state: dict[str, torch.Tensor] | None = None  # in memory, without a folder

    def best_as_of(self, step: int | None = None) -> tuple[int, float] | None:
        """``(step, score)`` of the best evaluation up to ``step`` (all: None)."""
        best = None
        for at, score in self.history:
            if (step is None or at <= step) and score > (best[1] if best else -math.inf):
                best = (at, score)
        return best

    def file(self, step: int) -> Path:
        """Where the weights of the evaluation at ``step`` are kept."""
        assert self.folder is not None
        return self.folder / f"best-{step:08d}.safetensors"

    def offer(self, model: nn.Module, step: int, score: float) -> bool:
        """Record the evaluation at ``step``; keep ``model``'s weights when it is the best.
        True when it is."""
        previous = self.best_as_of()
        self.history.append((step, score))
        if not score > (previous[1] if previous is not None else -math.inf):  # NaN: never
            return False
        if self.folder is None:
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            save_weights(model, self.file(step))
            self._prune()
        return True

    def _prune(self) -> None:
        """Delete the files no longer the best as of any of the last ``keep`` evaluations."""
        needed = {self.best_as_of(at) for at, _ in self.history[-self.keep :]}
        wanted = {self.file(best[0]).name for best in needed if best is not None}
        for path in self.folder.glob("best-*.safetensors"):
            if path.name not in wanted:
                path.unlink(missing_ok=True)

    def resume(self, history: list[tuple[int, float]]) -> None:
        """Continue from the evaluations a resumed run had made (from its metrics log, up to
        its checkpoint); their best's file must be in the folder."""
        self.history = list(history)
        best = self.best_as_of()
        if best is not None and self.folder is not None and not self.file(best[0]).is_file():
            raise FileNotFoundError(
                f"{self.file(best[0])} is missing: the weights of the best evaluation so far "
                f"(update {best[0]}) are needed to finish this run's model selection. Restore "
                "the file, or start the run afresh."
            )

    def load_into(self, model: nn.Module) -> bool:
        """Put the best weights into ``model``; False when nothing was offered yet."""
        best = self.best_as_of()
        if best is None:
            return False
        if self.folder is not None:
            load_weights(model, self.file(best[0]))
        elif self.state is not None:
            model.load_state_dict(self.state)
        return True
