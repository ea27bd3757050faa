"""Peak memory of a process, the SGEMM calibration timed around every measured run, and the
command that starts a measured process of ours."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from tools.benchmark.problem import ROOT


def module_command(module: str, *args: str) -> tuple[list[str], dict]:
    """The command and the environment variables that run `python -m module args` afresh.

    The repository goes first on PYTHONPATH, so that the process finds this package from any
    working directory.
    """
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return [sys.executable, "-m", module, *args], {"PYTHONPATH": path}


def hwm() -> int:
    """Peak resident memory of this process in bytes.

    The kernel's high-water mark: unlike getrusage's ru_maxrss it is not inherited from a large
    parent across fork (a parent that wrote a 575 MB file would give its children its peak).
    The peer's driver (peers/neural_style_pt.py) reads it the same way.
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
