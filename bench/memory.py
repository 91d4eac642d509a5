"""The bench's memory row: the peak resident memory one nearest-code search adds, the
library's chunked search against the textbook broadcast (Linux only: VmHWM)."""

from __future__ import annotations

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


def nearest_code_memory(n: int = 16384, k: int = 512, d: int = 64) -> tuple[float, float, bool]:
    """(ours MiB, broadcast MiB, whether they agree) for n vectors of d against k codes."""
    g = torch.Generator().manual_seed(0)
    z, codes = torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)
    # A search that fits in memory the process already holds (a long-lived process reuses
    # what it freed) raises no high-water mark: below one MiB the mark cannot tell, so count one.
    ours = max(peak_memory(lambda: nearest_code(z, codes)), 1.0)
    base = peak_memory(lambda: broadcast_nearest(z, codes))
    same = bool((nearest_code(z, codes) == broadcast_nearest(z, codes)).float().mean() > 0.999)
    return ours, base, same


def memory_rows() -> list[dict]:
    ours, base, same = nearest_code_memory()
    return [row("nearest-code memory", ours, base, "MiB", bigger_is_better=False, target=ratio(">=", 10),
                note="" if same else "WARNING: the two searches disagree")]
