"""What each feature costs per evaluation, against a plain run at the same size.

    python -m tools.benchmark.overhead [-rounds 5] [-evaluations 20] [-image_size 384]

(from the repository root; open_nsfw must be in the cache: `tf-style -flagfile
configs/open_nsfw.flags` fetches it). Each configuration is the open_nsfw preset
(configs/open_nsfw.flags) with Adam (whose step costs next to nothing, so the time is the
evaluation's) and one feature on:

* masks: the style through a mask (examples/inputs/tubingen_sky.png);
* w2: `-style_loss w2`;
* tiles: `-tile_size` of half the image's long side, so the same pixels are evaluated as 2 x 2
  tiles with their overlap (one at a time: two of their crops hold more than the image);
* tiles3: a third, 3 x 3 tiles (two at a time where two fit, the last tile alone);
* temporal: a video frame's temporal loss (the previous frame's target and a consistency mask).

Every measured configuration is a fresh process that prepares the run as the command does and
times `-evaluations` evaluations after two that trace; the configurations alternate within each
round, so all see the same swings of the machine. Prints each one's median seconds per
evaluation and its ratio to the plain run of the same round (median and range over the rounds).
Nothing else may run: docs/performance.md#what-the-features-cost has the figures.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MASK = ROOT / "examples" / "inputs" / "tubingen_sky.png"
FEATURES = {
    "plain": {},
    "masks": {"style_masks": str(MASK)},
    "w2": {"style_loss": "w2", "style_weight": 1e3},
    "tiles": {"tile_size": "half"},
    "tiles3": {"tile_size": "third"},
    "temporal": {"content_video": "frames", "output_video": "out.mp4"},
}


def worker(spec: dict) -> dict:
    """Seconds per evaluation of one configuration, in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from tf_style import image_io, prepare
    from tf_style.report import Reporter
    from tools.benchmark.quality import preset

    changes = dict(FEATURES[spec["feature"]])
    config = preset(
        str(ROOT / "configs" / "open_nsfw.flags"),
        image_size=spec["size"],
        optimizer="adam",
        learning_rate=1.0,
        print_iter=0,
        save_iter=0,
        gpu=-1,
    )
    fraction = {"half": 2, "third": 3}.get(changes.get("tile_size"))
    if fraction:
        changes["tile_size"] = spec["size"] // fraction
    config = config.replace(
        **changes,
        content_image=str(ROOT / config.content_image),
        style_image=[str(ROOT / s) for s in config.style_image],
    )
    temporal = None
    if "content_video" in changes:
        # The previous frame: the content itself, trusted everywhere but a border strip
        # (`prepare.capture` brings both to the run's size).
        content = image_io.read_image(config.content_image)
        mask = np.ones(content.shape[:2])
        mask[:, : content.shape[1] // 8] = 0
        temporal = (content, mask)
    prepared = prepare.prepare(config, Reporter(), temporal=temporal)
    optimizer = prepared.optimizer
    optimizer.run(2)  # traces
    times = []
    for _ in range(spec["chunks"]):
        start = time.perf_counter()
        optimizer.run(spec["evaluations"])
        float(optimizer.loss)
        times.append((time.perf_counter() - start) / spec["evaluations"])
    # The pixels one evaluation runs through the network: tiles add their overlaps.
    grid = getattr(prepared.objective, "grid", None)
    height, width = optimizer.image.shape[1:3]
    pixels = len(grid) * grid.crop[0] * grid.crop[1] if grid else height * width
    together = getattr(prepared.objective, "together", 1)
    return {
        "median": statistics.median(times),
        "times": times,
        "pixels": pixels,
        "together": together,
    }


def run_worker(spec: dict) -> dict:
    """`worker(spec)` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.benchmark.overhead", "--worker", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{spec['feature']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def measure(rounds: int, evaluations: int, size: int) -> tuple[dict, dict[str, int]]:
    """Each feature's seconds per evaluation, by round, and the pixels it evaluates."""
    results, pixels = {name: [] for name in FEATURES}, {}
    for r in range(rounds):
        names = list(FEATURES) if r % 2 == 0 else list(reversed(FEATURES))
        for name in names:
            spec = {"feature": name, "size": size, "evaluations": evaluations, "chunks": 3}
            done = run_worker(spec)
            results[name].append(done["median"])
            pixels[name] = done["pixels"]
            pairs = ", tiles two at a time" if done["together"] == 2 else ""
            print(f"round {r + 1} {name}: {results[name][-1] * 1e3:.1f} ms{pairs}", flush=True)
    return results, pixels


def _span(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}x ({min(values):.3f}-{max(values):.3f})"


def report(results: dict[str, list[float]], pixels: dict[str, int], loads) -> list[str]:
    """Markdown rows: median ms per evaluation (range), the ratio to plain (range), and the
    ratio per pixel evaluated (tiles evaluate their overlaps too)."""
    lines = [
        f"load average (1 min) before {loads[0]:.2f}, after {loads[1]:.2f}",
        "| feature | ms / evaluation | against plain | per pixel evaluated |",
        "| --- | --- | --- | --- |",
    ]
    for name, times in results.items():
        ms = [t * 1e3 for t in times]
        ratios = [t / p for t, p in zip(times, results["plain"])]
        share = pixels["plain"] / pixels[name]
        lines.append(
            f"| {name} | {statistics.median(ms):.1f} ({min(ms):.1f}-{max(ms):.1f}) | "
            f"{_span(ratios)} | {_span([r * share for r in ratios])} |"
        )
    return lines


def main(argv) -> None:
    from absl import flags

    del argv
    f = flags.FLAGS
    loads = [os.getloadavg()[0]]
    results, pixels = measure(f.rounds, f.evaluations, f.image_size)
    loads.append(os.getloadavg()[0])
    print("\n".join(report(results, pixels, loads)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(json.loads(sys.argv[2]))))
    else:
        from absl import flags

        from tf_style import apps

        flags.DEFINE_integer("rounds", 5, "Rounds; each runs every configuration once.")
        flags.DEFINE_integer("evaluations", 20, "Evaluations per timed chunk (3 chunks).")
        flags.DEFINE_integer("image_size", 384, "The longer side of the image, in pixels.")
        apps.run(main)
