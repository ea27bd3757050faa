"""Peak memory of a process and the SGEMM calibration timed around every measured run."""

from __future__ import annotations

import time

import numpy as np


def hwm() -> int:
    """Peak resident memory of this process in bytes.

    The kernel's high-water mark: unlike getrusage's ru_maxrss it is not inherited from a large
    parent across fork. The peer's driver (peers/neural_style_pt.py) reads it the same way.
    """
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def timed(fn) -> float:
    """Seconds that `fn()` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sgemm_gflops(n: int = 2048, repeats: int = 3) -> float:
    """The best of `repeats` n x n float32 matrix products, in GFLOP/s (numpy's BLAS)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), np.float32)
    b = rng.standard_normal((n, n), np.float32)
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9
