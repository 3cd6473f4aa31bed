"""Distributed helpers: one process group from torchrun's environment, rank-0 helpers.

torchrun (and `srun` with the same variables) sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR/PORT. Backend: nccl when CUDA is present, gloo otherwise (CPU DDP measured
25-40 ms/step for a tiny model on 2 cores). Every helper also works in a plain single
process, where it is a no-op: recipes call them unconditionally.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def init_distributed(backend: str | None = None, timeout_s: int = 1800) -> DistInfo:
    """Join the process group torchrun describes (no-op for one process or when joined)."""
    import torch

    world = env_world_size()
    if world > 1 and not _initialized():
        import datetime

        import torch.distributed as dist

        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(env_local_rank())
        dist.init_process_group(backend=backend,
                                timeout=datetime.timedelta(seconds=timeout_s))
    return info()


def info() -> DistInfo:
    if _initialized():
        import torch.distributed as dist

        return DistInfo(dist.get_rank(), dist.get_world_size(), env_local_rank(),
                        dist.get_backend())
    return DistInfo(env_rank(), env_world_size(), env_local_rank(), None)


def rank() -> int:
    return info().rank


def world_size() -> int:
    return info().world_size


def is_main() -> bool:
    """True on global rank 0 (and in a single process)."""
    return rank() == 0


def barrier() -> None:
    if _initialized():
        import torch.distributed as dist

        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. builds a cache), then the others."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def broadcast_object(obj):
    """Rank 0's `obj` on every rank."""
    if not _initialized():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_lists(items: list) -> list:
    """Every rank's `items` concatenated in rank order, on every rank (picklable objects;
    one list in a single process). For metrics and tables that must cover every rank."""
    if not _initialized():
        return list(items)
    import torch.distributed as dist

    boxes: list = [None] * dist.get_world_size()
    dist.all_gather_object(boxes, list(items))
    return [x for box in boxes for x in box]


def all_reduce_mean(value: float) -> float:
    """Mean of a scalar over ranks (the value itself in a single process)."""
    if not _initialized():
        return float(value)
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def all_reduce_sum(t, world: int | None = None):
    """Sum tensor `t` over ranks in place and return it (a no-op in one process). Under NCCL
    a CPU tensor takes a round trip through the GPU: NCCL reduces device memory only."""
    if not _initialized() or (world is not None and world <= 1):
        return t
    import torch.distributed as dist

    if dist.get_backend() == "nccl" and t.device.type != "cuda":
        on_gpu = t.cuda()
        dist.all_reduce(on_gpu)
        t.copy_(on_gpu.cpu())
    else:
        dist.all_reduce(t)
    return t


def cleanup() -> None:
    if _initialized():
        import torch.distributed as dist

        dist.destroy_process_group()
