"""Training on several processes: joining the process group that `torchrun` describes.

Each process trains a copy of the model on its own batches; DistributedDataParallel averages
the gradients across processes before every optimizer step, so the copies stay identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..data import TokenDataset, load_dataset


@dataclass
class Distributed:
    """This process's place in a `torchrun` job (rank 0 of 1 without one)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # True when `train` started the process group

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str) -> Distributed:
    """Join the process group that torchrun describes in RANK, WORLD_SIZE, MASTER_ADDR, ...

    NCCL connects the GPUs; without CUDA (or with `device="cpu"`) the gloo backend is used.
    """
    if dist.is_available() and dist.is_initialized():
        return Distributed(
            dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_world_size()
        )
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name.split(":")[0] in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(dist.get_rank(), local_rank, dist.get_world_size(), owns_group=True)


def distributed_summary(model: nn.Module, distributed: Distributed) -> dict[str, Any] | None:
    """For run.json: the process group, and whether every rank ended with the same weights
    (compared by a checksum per parameter). None for a single-process run."""
    if not distributed.enabled:
        return None
    sums = torch.stack([p.detach().double().sum() for p in model.parameters()])
    gathered = [torch.zeros_like(sums) for _ in range(distributed.world_size)]
    dist.all_gather(gathered, sums)
    return {
        "world_size": distributed.world_size,
        "backend": dist.get_backend(),
        "weights_identical_across_ranks": all(torch.equal(gathered[0], g) for g in gathered),
    }


def load_once_per_machine(
    distributed: Distributed, data: str, tokenizer: Any, val_fraction: float
) -> TokenDataset:
    """`load_dataset`, with one process per machine encoding the corpus while the others wait,
    then read the ids it cached."""
    if distributed.enabled and distributed.local_rank != 0:
        dist.barrier()
    dataset = load_dataset(data, tokenizer, val_fraction)
    if distributed.enabled and distributed.local_rank == 0:
        dist.barrier()
    return dataset


def wrap_model(model: nn.Module, distributed: Distributed, device: torch.device) -> nn.Module:
    """The model as this process trains it: wrapped in DDP when there are several processes."""
    if not distributed.enabled:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)
