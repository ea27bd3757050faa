"""Caffe import benchmark: parse time and peak memory for a VGG-19-sized file (575 MB).

    python -m tools.benchmark.caffe_import [tmpdir]

(from the repository root; the benchmark's `-caffe_parse` runs it too). Writes a synthetic
VGG-19 with fc layers (V1, legacy dims, like Oxford's file), converts it, and times each step
of caffe_steps.py in a fresh subprocess, with the peak resident memory above an import-only
baseline. The two `load_model` steps alternate over several rounds (this VM's speed swings)
and their medians and the median of the per-round ratios are reported. The files are deleted
afterwards.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.benchmark import inputs
from tools.benchmark.caffe_steps import STEPS
from tools.benchmark.measure import module_command


def run_step(name: str, paths: dict) -> tuple[float, int]:
    """(seconds, peak RSS in bytes) of caffe_steps.py's step `name` in a fresh process."""
    files = (str(paths[k]) for k in ("MODEL", "PROTO", "CONVERTED"))
    command, env = module_command("tools.benchmark.caffe_steps", name, *files)
    done = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    seconds, rss = done.stdout.split()[-2:]
    return float(seconds), int(rss)


def benchmark_parse(tmpdir, rounds: int = 5) -> dict:
    """Measures the Caffe reader on a synthetic VGG-19 (575 MB) written into `tmpdir`.

    Returns:
      A dict: file size, and for each step its seconds and peak RSS above the import-only
      baseline (bytes; for the load_model steps the median seconds and the largest peak over
      `rounds` alternating runs), plus the speed-up of the converted file over the caffemodel
      (the median of the per-round ratios, and each round's).
    """
    tmpdir = Path(tmpdir)
    paths = {
        "MODEL": tmpdir / "vgg19_synthetic.caffemodel",
        "PROTO": tmpdir / "vgg19_synthetic.prototxt",
        "CONVERTED": tmpdir / "vgg19_synthetic.tfstyle",
    }
    try:
        inputs.write_caffe_vgg(paths["MODEL"], paths["PROTO"], paths["CONVERTED"])
        baseline = run_step("baseline", paths)[1]
        result = {
            "file_bytes": paths["MODEL"].stat().st_size,
            "converted_bytes": paths["CONVERTED"].stat().st_size,
        }
        loads = ("load_model_caffemodel", "load_model_converted")
        for name in STEPS:
            if name not in loads:
                seconds, rss = run_step(name, paths)
                result[name] = {
                    "seconds": round(seconds, 3),
                    "peak_rss_above_import": rss - baseline,
                }
        runs = {name: [] for name in loads}
        for _ in range(rounds):  # A, B, A, B: both sides see the same swings of the VM
            for name in loads:
                runs[name].append(run_step(name, paths))
        for name in loads:
            result[name] = {
                "seconds": round(statistics.median(s for s, _ in runs[name]), 3),
                "seconds_per_round": [round(s, 3) for s, _ in runs[name]],
                "peak_rss_above_import": max(rss for _, rss in runs[name]) - baseline,
            }
        ratios = [a[0] / b[0] for a, b in zip(*runs.values(), strict=True)]
        result["converted_speedup_load_model"] = round(statistics.median(ratios), 1)
        result["converted_speedup_per_round"] = [round(r, 1) for r in ratios]
        return result
    finally:
        for path in paths.values():
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(dir=sys.argv[1] if len(sys.argv) > 1 else None) as d:
        print(json.dumps(benchmark_parse(d), indent=2))
