"""Clocks for the bench rows: the median of repeated runs (which a shared, noisy machine
disturbs less than the mean), and a clock that waits for the device first."""

from __future__ import annotations

import statistics
import time

import torch


def median_seconds(work, repeats: int, warm: bool = False) -> float:
    """Median wall time of `repeats` calls of work() (after one untimed call when warm)."""
    if warm:
        work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def synced(device: torch.device) -> float:
    """The clock once the device has finished what was queued (GPU work is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
