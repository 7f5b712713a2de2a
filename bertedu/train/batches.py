"""Where the training loop gets its batches, and how it finds its place again after a restart.

The loop keeps a *data position*: ``(epoch, batch)``, the number of batches of
the current epoch already consumed. To resume exactly, the data must be able
to start an epoch part-way. Three kinds of source are accepted:

* an object with ``epoch_batches(epoch, start)`` (:class:`ResumableBatches`):
  it jumps straight to batch ``start`` of epoch ``epoch``, with nothing
  replayed (the book's pretraining data,
  :class:`bertedu.pretraining.data.PretrainingBatches`);
* a callable ``epoch -> iterable``: called once per epoch; on resume the first
  ``start`` batches are drawn and dropped;
* any re-iterable (a list, a ``DataLoader``): iterated again each epoch,
  skipping as above. A shuffling ``DataLoader`` draws its order from a
  generator: pass that generator to ``train(generators=...)`` so its state is
  checkpointed too, or the resumed epoch sees another order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Batch = dict[str, Any]


@runtime_checkable
class ResumableBatches(Protocol):
    """A data source that can start any epoch at any batch."""

    def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches ``start, start + 1, ...`` of ``epoch``."""
        ...


@dataclass
class DataPosition:
    """How far the loop has read: ``batch`` batches of epoch ``epoch`` are consumed."""

    epoch: int = 0
    batch: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch": self.batch}


def epoch_iterator(
    source: ResumableBatches | Callable[[int], Iterable[Batch]] | Iterable[Batch],
    epoch: int,
    start: int,
) -> Iterator[Batch]:
    """The batches of ``epoch`` from number ``start`` on, for any of the three kinds of source."""
    if isinstance(source, ResumableBatches):
        return iter(source.epoch_batches(epoch, start))
    iterable = source(epoch) if callable(source) else source
    return itertools.islice(iter(iterable), start, None)


class BatchStream:
    """An endless stream of batches over epochs that tracks its :class:`DataPosition`."""

    def __init__(self, source: Any, position: DataPosition | None = None) -> None:
        self.source = source
        self.position = position or DataPosition()
        self._iterator = epoch_iterator(source, self.position.epoch, self.position.batch)

    def __next__(self) -> Batch:
        try:
            batch = next(self._iterator)
        except StopIteration:  # end of an epoch: start the next one
            self.position = DataPosition(self.position.epoch + 1, 0)
            self._iterator = epoch_iterator(self.source, self.position.epoch, 0)
            try:
                batch = next(self._iterator)
            except StopIteration:
                raise ValueError(
                    f"The training data yielded no batch in epoch {self.position.epoch}. Is it "
                    "empty (or smaller than one batch with drop_last)? A one-shot iterator (a "
                    "generator) cannot be read twice: pass a list, a DataLoader or a function "
                    "epoch -> batches instead."
                ) from None
        self.position.batch += 1
        return batch

    def __iter__(self) -> BatchStream:
        return self


class ReshuffledBatches:
    """A shuffling ``DataLoader`` that resumes exactly, even part-way through an epoch.

    The loader draws each epoch's order from ``generator`` when the epoch starts. A
    checkpoint saves the generator's state *after* that draw, so a resumption that
    iterated the loader again would draw another order. This wrapper keeps the state the
    epoch started from in a second generator (:meth:`generators` lists both, for
    ``train(generators=...)``): resuming inside epoch ``e`` puts it back, draws the same
    order and skips the batches done; resuming at an epoch's end draws nothing. Without
    an interruption it draws exactly what the bare loader draws.
    """

    def __init__(self, loader: Iterable[Batch], generator: Any) -> None:
        import torch

        self.loader, self.generator = loader, generator
        self.epoch_start = torch.Generator()
        self.epoch_start.set_state(generator.get_state())

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches ``start, start + 1, ...`` of ``epoch`` (the epoch number is not needed: the
        generators carry the order)."""
        if start >= len(self):
            return iter(())
        if start == 0:
            self.epoch_start.set_state(self.generator.get_state())
        else:
            self.generator.set_state(self.epoch_start.get_state())
        return itertools.islice(iter(self.loader), start, None)

    def generators(self, name: str = "data") -> dict[str, Any]:
        """The generators to checkpoint: the loader's, and the state its epoch started from."""
        return {name: self.generator, f"{name}_epoch_start": self.epoch_start}
