"""neural-style-pt's side of the benchmark, run with the peer's own Python (`-peer_python`).

    python neural_style_pt.py setup WEIGHTS.npz|- STATE_DICT.pth SEED,SEED,... FOLDER SIZE...
    python neural_style_pt.py run OUT.json PEER_DIR NEURAL_STYLE_ARGS...

`setup` writes the state_dict (from the arrays tools/benchmark/inputs.py wrote; `-` skips it)
and the peer's seeded initial images for each seed and size. `run` runs the peer's own
neural_style.py in this process and records when each line it prints appears: the peer's code
is not changed or re-implemented.

This file runs in a venv with torch, torchvision, numpy and pillow only: it imports nothing
from this repository (tests/benchmark_test.py checks that).
"""

import json
import os
import runpy
import sys
import time


def hwm():
    """Peak resident memory of this process in bytes (the kernel's high-water mark)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024


def setup(weights, pth, seeds, folder, sizes):
    """The state_dict, then torch.manual_seed(seed) and the peer's randn(C, H, W).mul(0.001)."""
    import numpy as np
    import torch

    if weights != "-":
        arrays = np.load(weights)
        torch.save({k: torch.from_numpy(arrays[k]) for k in arrays.files}, pth)
    for seed in map(int, seeds.split(",")):
        for size in map(int, sizes):
            torch.manual_seed(seed)
            init = torch.randn(3, size, size).mul(0.001).numpy()
            np.save(f"{folder}/init_{size}_s{seed}.npy", init)


class Lines:
    """A stdout that keeps each complete line with the time it was written."""

    def __init__(self, lines):
        self.rest, self.lines = "", lines

    def write(self, text):
        self.rest += text
        while "\n" in self.rest:
            line, self.rest = self.rest.split("\n", 1)
            self.lines.append((time.time(), line))
        return len(text)

    def flush(self):
        pass


def run(out, peer_dir, args):
    """One run of the peer's neural_style.py; writes its times, lines and peak memory to `out`."""
    times = {"spawn": float(os.environ["BENCH_SPAWN"]), "start": time.time()}
    # The peer's imports, in the order the driver has always made them.
    import torch  # noqa: I001
    import torchvision  # noqa: F401
    import PIL.Image  # noqa: F401

    torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    torch.set_num_interop_threads(1)
    times["imported"] = time.time()
    base, lines = hwm(), []
    sys.stdout = Lines(lines)
    sys.argv = [os.path.join(peer_dir, "neural_style.py"), *args]
    sys.path.insert(0, peer_dir)
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        sys.stdout = sys.__stdout__
        result = {
            "times": times,
            "lines": lines,
            "peak_rss": hwm(),
            "baseline_rss": base,
            "versions": {"torch": torch.__version__},
        }
        with open(out, "w") as file:
            json.dump(result, file)


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "setup":
        setup(rest[0], rest[1], rest[2], rest[3], rest[4:])
    elif command == "run":
        run(rest[0], rest[1], rest[2:])
    else:
        sys.exit(f"{sys.argv[0]}: unknown command {command!r} (setup or run)")
