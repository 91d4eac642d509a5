"""Training on several processes under torchrun: one per GPU (NCCL) or per CPU slot (gloo).

    torchrun --nproc_per_node=N -m vqvae train ...

Every rank shuffles the same epoch order and takes its share of each batch, so a run has
the same steps as on one process; DistributedDataParallel averages the gradients, the
quantizers all-reduce their EMA statistics and broadcast rank 0's codebook seeds and
restarts (vqvae/models/code_search.py), so every rank keeps the same codebook. Only rank 0
writes the run folder (vqvae/store asks `is_writer`). Without torchrun all of this is a no-op.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_writer() -> bool:
    return rank() == 0


def init() -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1); whether this started it."""
    if active() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def shutdown() -> None:
    if active():
        dist.destroy_process_group()


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This rank's share of a batch of indices."""
    return batch[rank() :: world()]


def wrap(model: nn.Module) -> nn.Module:
    """The module to train: DDP around `model` in a distributed run, else `model` itself.
    Buffers are not broadcast: the EMA codebook is kept equal by its own all-reduce."""
    if not active():
        return model
    device_ids = [torch.cuda.current_device()] if next(model.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)


def any_rank(flag: bool) -> bool:
    """True on every rank when it is true on one (e.g. a cancel signal reached one rank first)."""
    if not active():
        return flag
    t = torch.tensor([float(flag)], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def in_sync(model: nn.Module) -> bool:
    """Whether every rank holds the same parameters and buffers (compared by checksums)."""
    if not active():
        return True
    sums = torch.stack([s for t in model.state_dict().values() if t.is_floating_point()
                        for s in (t.detach().double().sum(), t.detach().double().pow(2).sum())])
    sums = sums.to(_collective_device())
    everyone = [torch.empty_like(sums) for _ in range(world())]
    dist.all_gather(everyone, sums)
    return all(torch.equal(everyone[0], other) for other in everyone[1:])


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
