"""Data-parallel training over several processes (``torchrun``), with torch.distributed.

Each process holds a full copy of the model and reads its own slice of every
global batch; after ``backward`` DistributedDataParallel averages the gradients
across processes (an all-reduce), so every copy takes the same AdamW step and
the copies stay identical. One GPU per process on a multi-GPU machine:

    torchrun --standalone --nproc_per_node=4 -m bertedu pretrain --profile gpu

Any number of processes works: a global batch that does not divide by it is cut
to the largest multiple (:func:`split_batch`, checked before any data is prepared).
The corpus is prepared once, by rank 0, inside :func:`main_process_first`; the
other processes read rank 0's caches. Logged losses are averaged over all
processes (:func:`mean_across_processes`).

``torchrun`` starts the processes and tells each who it is through environment
variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``); :func:`init_distributed` reads them. Without them (a plain
``python``) everything runs in one process and nothing here does anything.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from bertedu.device import resolve_device


@dataclass(frozen=True)
class DistributedInfo:
    """Who this process is: ``rank`` of ``world_size``, using ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Rank 0 prints, logs, evaluates and writes checkpoints."""
        return self.rank == 0


def current() -> DistributedInfo:
    """The info of an already initialised process group (single process otherwise)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistributedInfo(device=str(resolve_device()))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = str(resolve_device(local_rank=local_rank))
    return DistributedInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def init_distributed(backend: str | None = None) -> DistributedInfo:
    """Join the process group described by torchrun's environment variables (no-op without them).

    ``backend``: ``nccl`` for GPUs (the default when CUDA exists), ``gloo`` for CPUs.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (
        dist.is_available() and dist.is_initialized()
    ):
        return current()
    missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE is set but {missing} are not: start the processes with torchrun "
            "(torchrun --standalone --nproc_per_node=N -m bertedu pretrain ...)."
        )
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)
    return current()


def shard(batch: dict[str, torch.Tensor], rank: int, world_size: int) -> dict[str, torch.Tensor]:
    """This process's rows of a global batch: contiguous blocks, one per rank, of equal size.

    A batch whose rows do not divide by ``world_size`` loses its last rows (fewer than
    ``world_size``; see :class:`BatchSplit`); :func:`bertedu.pretraining.pretrain` sizes its
    batches with :func:`split_batch` so nothing is lost there.
    """
    rows = next(iter(batch.values())).shape[0]
    size = split_batch(rows, world_size).per_rank
    return {name: value[rank * size : (rank + 1) * size] for name, value in batch.items()}


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@dataclass(frozen=True)
class BatchSplit:
    """How a global batch is cut over the processes: ``per_rank`` rows each, ``used`` in all.

    When ``requested`` does not divide by ``world_size`` the remainder
    (``dropped`` rows, fewer than ``world_size``) is left out of every batch,
    so each process still gets the same number of rows (DDP averages the
    per-process gradients with equal weights, so unequal shards would weight
    some sequences more than others).
    """

    requested: int
    world_size: int
    per_rank: int
    used: int
    dropped: int

    def describe(self) -> str:
        """One line for the log: what the processes will read."""
        line = f"{self.world_size} processes x {self.per_rank} sequences = {self.used} per batch"
        if self.dropped:
            line += f" (the requested {self.requested} does not divide by {self.world_size}: "
            line += f"{self.dropped} fewer)"
        return line


def split_batch(global_batch: int, world_size: int) -> BatchSplit:
    """The per-process batch for ``global_batch`` sequences over ``world_size`` processes.

    Call it before preparing any data, so a batch that cannot be split stops the run in
    seconds, not after the corpus is read.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    if global_batch < world_size:
        raise ValueError(
            f"A global batch of {global_batch} sequences cannot give each of {world_size} "
            f"processes a row: use batch_size >= {world_size} or fewer processes."
        )
    per_rank = global_batch // world_size
    used = per_rank * world_size
    return BatchSplit(global_batch, world_size, per_rank, used, global_batch - used)


def mean_across_processes(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """The mean of every value over all processes (the values themselves in one process).

    The logged training loss must be the loss of the whole global batch, not of
    rank 0's rows only: one all-reduce of a small tensor per update.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return dict(values)
    names = sorted(values)
    packed = torch.tensor([values[name] for name in names], dtype=torch.float64, device=device)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    packed /= dist.get_world_size()
    return dict(zip(names, packed.tolist(), strict=True))


def sum_across_processes(value: int, device: torch.device) -> int:
    """The sum of an integer (a token count) over all processes."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    packed = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    return int(packed.item())


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first; the others wait, then run it (and find rank 0's caches).

    Data preparation goes in this block: rank 0 reads, splits and tokenizes the
    corpus once and writes the caches; every other process then memory-maps the
    cached files instead of doing the same hours of work and holding its own copy.
    """
    active = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    if active and dist.get_rank() != 0:
        dist.barrier()  # wait until rank 0 has prepared
    try:
        yield
    finally:
        if active and dist.get_rank() == 0:
            dist.barrier()  # release the others
