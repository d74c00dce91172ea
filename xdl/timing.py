"""Latency measurement, shared by `xdl bench` and the deployment variants' speed-up."""

from __future__ import annotations

import time

import numpy as np


def measure(fn, *, reps: int, warmup: int) -> tuple[float, float]:
    """(p50, p90) in milliseconds of `reps` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = np.empty(reps)
    for i in range(reps):
        start = time.perf_counter_ns()
        fn()
        times[i] = time.perf_counter_ns() - start
    return float(np.percentile(times, 50) / 1e6), float(np.percentile(times, 90) / 1e6)
