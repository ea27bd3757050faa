"""Print sizes on one machine: a chain to 8192 px with tiles, and the peak memory per tile size.

    python -m tools.benchmark.print_size -out_dir print_out

(from the repository root). Two measurements, each run a fresh process whose peak resident
memory (VmHWM) is read at its end:

* the chain: the open_nsfw preset coarse to fine over -sizes (default 512 to 8192 px on the
  long side) with -tile_size auto and L-BFGS keeping 5 pairs, few iterations at the top; each
  stage's seconds and the whole chain's peak;
* the peak per tile size: one stage at -tile_image_size with each of -tile_sizes and untiled.

Writes print_size.json and the result into -out_dir and prints Markdown tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

# A run in a fresh process: its StyleConfig as JSON in, its peak RSS and its log out.
_RUN = """
import json, sys, time
from tf_style import stylizer
from tf_style.config import StyleConfig
from tf_style.report import Reporter

class Lines(Reporter):
    def note(self, message):
        print(f"{time.time():.3f} {message}", flush=True)

stylizer.run(StyleConfig(**json.loads(sys.argv[1])), Lines(sys.stdout))
print(f"{time.time():.3f} END", flush=True)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print("PEAK", peak * 1024)
"""


def run(options: dict) -> tuple[float, int, list[str]]:
    """(seconds, peak bytes, log lines) of one run of `options` in a fresh process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _RUN, json.dumps(options)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        raise SystemExit(f"the run of {json.dumps(options)} failed:\n{done.stderr[-4000:]}")
    lines = done.stdout.splitlines()
    peak = int(next(line.split()[1] for line in lines if line.startswith("PEAK")))
    return time.perf_counter() - start, peak, lines


def base(out_dir: Path) -> dict:
    return {
        "model_file": "open_nsfw",
        "content_image": "examples/inputs/tubingen.jpg",
        "style_image": "examples/inputs/starry_night.jpg",
        "lbfgs_num_correction": 5,
        "print_iter": 0,
        "save_iter": 0,
        "seed": 0,
        "gpu": -1,
        "output_image": str(out_dir / "chain.png"),
    }


def chain(out_dir: Path, sizes: list[int], iterations: list[int]) -> dict:
    """The whole chain in one process: each stage's start from its log line, the peak."""
    options = {**base(out_dir), "scales": sizes, "scale_iterations": iterations}
    options["tile_size"] = "auto"
    seconds, peak, lines = run(options)
    marks = [float(line.split()[0]) for line in lines if " Scale " in line or line.endswith(" END")]
    stages = [b - a for a, b in zip(marks, marks[1:])]
    tiles = [line.split(" ", 1)[1] for line in lines if " Tiles: " in line]
    return {"sizes": sizes, "iterations": iterations, "seconds": seconds, "peak": peak,
            "stage_seconds": stages, "tiles": tiles}  # fmt: skip


def per_tile(out_dir: Path, size: int, tiles: list[int], iterations: int) -> list[dict]:
    rows = []
    for tile in [0, *tiles]:
        options = {**base(out_dir), "image_size": size, "num_iterations": iterations,
                   "tile_size": tile, "output_image": str(out_dir / f"tile{tile}.png")}  # fmt: skip
        seconds, peak, lines = run(options)
        together = 2 if any("two at a time" in line for line in lines) else 1
        rows.append({"tile_size": tile, "seconds": seconds, "peak": peak, "together": together})
    return rows


def main(argv) -> None:
    from absl import flags

    del argv
    f = flags.FLAGS
    out = Path(f.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tiles = list(map(int, f.tile_sizes))
    result = {"per_tile": per_tile(out, f.tile_image_size, tiles, f.tile_iterations)}
    print(f"| -tile_size at {f.tile_image_size} px | tiles at a time | peak | seconds |")
    print("| --- | --- | --- | --- |")
    for row in result["per_tile"]:
        name, together = row["tile_size"] or "untiled", row["together"] if row["tile_size"] else ""
        print(f"| {name} | {together} | {row['peak'] / 2**30:.2f} GiB | {row['seconds']:.0f} |")
    sizes = list(map(int, f.sizes))
    result["chain"] = chain(out, sizes, list(map(int, f.iterations)))
    (out / "print_size.json").write_text(json.dumps(result, indent=1))
    c = result["chain"]
    print(f"\nchain {c['sizes']}: {c['seconds']:.0f} s, peak {c['peak'] / 2**30:.2f} GiB")
    for size, seconds in zip(sizes, c["stage_seconds"]):
        print(f"  {size} px: {seconds:.0f} s")
    for line in c["tiles"]:
        print(f"  {line}")


if __name__ == "__main__":
    from absl import flags

    from tf_style import apps

    flags.DEFINE_string("out_dir", "print_out", "Where the results and print_size.json go.")
    flags.DEFINE_list("sizes", ["512", "1024", "2048", "4096", "8192"], "The chain's sizes.")
    flags.DEFINE_list("iterations", ["200", "50", "10", "3", "2"], "Iterations at each size.")
    flags.DEFINE_integer("tile_image_size", 2048, "The image size of the per-tile runs.")
    flags.DEFINE_list("tile_sizes", ["256", "512", "1024"], "The tile sizes measured there.")
    flags.DEFINE_integer("tile_iterations", 3, "Iterations of each per-tile run.")
    apps.run(main)
