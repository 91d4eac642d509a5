"""The bench's memory row: the peak resident memory one nearest-code search adds, the
library's chunked search against the textbook broadcast (Linux only: VmHWM)."""

from __future__ import annotations

import multiprocessing

import numpy as np
import torch

from bench.baseline import broadcast_nearest
from bench.table import ratio, row
from vqvae.models.quantize import nearest_code


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory(fn) -> float:
    """Peak resident memory (MiB) that fn adds: VmHWM after minus VmRSS before, with the
    high-water mark reset first (Linux clear_refs)."""
    before = _vm("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    fn()
    return (_vm("VmHWM:") - before) / 2**20


def _inputs(n: int, k: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)


def _peak_of(search: str, n: int, k: int, d: int) -> tuple[float, np.ndarray]:
    """In a fresh process: a long-lived one reuses what it freed, and a search that fits in
    memory the process already holds raises no high-water mark. The peak and the codes found."""
    z, codes = _inputs(n, k, d)
    fn = nearest_code if search == "ours" else broadcast_nearest
    found = []
    peak = peak_memory(lambda: found.append(fn(z, codes)))
    return peak, found[0].numpy()  # numpy: a tensor would come back through shared memory this process frees


def nearest_code_memory(n: int = 16384, k: int = 512, d: int = 64) -> tuple[float, float, bool]:
    """(ours MiB, broadcast MiB, whether they agree) for n vectors of d against k codes."""
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        (ours, ours_codes), (base, base_codes) = (pool.apply(_peak_of, (search, n, k, d))
                                                  for search in ("ours", "broadcast"))
    same = bool((ours_codes == base_codes).mean() > 0.999)
    return ours, base, same


def memory_rows(n: int = 16384) -> list[dict]:
    """The row for n vectors of 64 against 512 codes (the broadcast form holds n x 512 x 64 floats)."""
    ours, base, same = nearest_code_memory(n)
    return [row("nearest-code memory", ours, base, "MiB", bigger_is_better=False, target=ratio(">=", 10),
                note="" if same else "WARNING: the two searches disagree")]
