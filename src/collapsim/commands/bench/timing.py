"""The one timer every benchmark shares: the median wall time of a few calls (the machines are noisy)."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` (which must block until its work is done)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compiled_median_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median seconds of ``repeats`` calls, seconds of the first call): the first call of a jitted loop
    compiles it (and runs once), so it is timed apart and excluded from the median."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    return median_time(fn, repeats), first
