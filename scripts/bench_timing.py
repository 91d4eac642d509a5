"""One way to time a piece of work for the bench rows: the median of repeated runs, which a
shared, noisy machine disturbs less than the mean."""

from __future__ import annotations

import statistics
import time


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
