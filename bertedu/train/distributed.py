"""Data-parallel training over several processes (``torchrun``), with torch.distributed.

Each process holds a full copy of the model and reads its own slice of every
global batch; after ``backward`` DistributedDataParallel averages the gradients
across processes (an all-reduce), so every copy takes the same AdamW step and
the copies stay identical. One GPU per process on a multi-GPU machine:

    torchrun --standalone --nproc_per_node=4 -m bertedu pretrain --profile gpu

``torchrun`` starts the processes and tells each who it is through environment
variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``); :func:`init_distributed` reads them. Without them (a plain
``python``) everything runs in one process and nothing here does anything.
"""

from __future__ import annotations

import os
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
    """This process's rows of a global batch: contiguous blocks, one per rank, of equal size."""
    rows = next(iter(batch.values())).shape[0]
    if rows % world_size:
        raise ValueError(
            f"A global batch of {rows} rows cannot be split evenly over {world_size} processes; "
            "use a batch size divisible by the number of processes."
        )
    size = rows // world_size
    return {name: value[rank * size : (rank + 1) * size] for name, value in batch.items()}


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
