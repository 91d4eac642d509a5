"""Finding and seeding codes: the nearest-code search, k-means, and the random rows codes
start from, each giving the same result on every rank of a distributed run."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from vqvae.models.metrics import code_usage

KMEANS_ITERATIONS = 10
ACCELERATOR_CHUNK = 4096  # rows an accelerator searches at once: few, large launches
# Distances a CPU search holds at once: a 4 MiB block of float32 stays in cache. Blocks of
# 4,096 rows were 2-3x slower at K 1,024 and K 16,384 on a 2-core x86_64 machine.
CPU_BLOCK = 2**20


def nearest_code(z: torch.Tensor, codebook: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Index of the nearest code for each row: z [N, D], codebook [K, D] -> [N] (int64).

    argmin_k ||z - e_k||^2 = argmin_k (||e_k||^2 - 2 z.e_k), since ||z||^2 is the same for
    every k. Computed in float32 outside autocast (bf16 distances pick wrong codes), and in
    chunks of rows, so peak memory is chunk*K floats rather than the N*K*D of broadcasting
    (chunk: by default CPU_BLOCK // K rows on a CPU, ACCELERATOR_CHUNK elsewhere).
    Ties go to the lowest index (argmin returns the first minimum).
    """
    if chunk is None:
        chunk = max(1, CPU_BLOCK // len(codebook)) if z.device.type == "cpu" else ACCELERATOR_CHUNK
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = z.detach().float()
        codes = codebook.detach().float()
        code_sq = codes.pow(2).sum(1)
        out = torch.empty(z.shape[0], dtype=torch.long, device=z.device)
        for start in range(0, z.shape[0], chunk):
            part = z[start : start + chunk]
            distances = torch.addmm(code_sq, part, codes.t(), alpha=-2.0)
            out[start : start + chunk] = distances.argmin(1)
        return out


@torch.no_grad()
def kmeans(z: torch.Tensor, centers: torch.Tensor, iterations: int) -> torch.Tensor:
    """Lloyd's iterations from `centers` [K, D] over the rows of z [N, D]; a centre that
    draws no row stays where it is. Sums and counts are summed over the ranks of a
    distributed run, so every rank moves its centres alike."""
    for _ in range(iterations):
        nearest = nearest_code(z, centers)
        counts = all_reduce_sum(code_usage(nearest, len(centers)).to(z.dtype))
        sums = all_reduce_sum(torch.zeros_like(centers).index_add_(0, nearest, z))
        centers = torch.where(counts.unsqueeze(1) > 0, sums / counts.clamp_min(1).unsqueeze(1), centers)
    return centers


def sample_rows(z: torch.Tensor, n: int) -> torch.Tensor:
    """n rows of z [N, D] drawn at random -> [n, D] (with repetition only when z has fewer
    rows), broadcast from rank 0 so every process of a distributed run gets the same codes."""
    reps = math.ceil(n / z.shape[0])
    pool = z.repeat(reps, 1) if reps > 1 else z
    rows = pool[torch.randperm(pool.shape[0], device=z.device)[:n]].contiguous()
    if dist.is_available() and dist.is_initialized():
        dist.broadcast(rows, src=0)
    return rows


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """t summed over the ranks of a distributed run, in place (alone: t as it is)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
    return t
