"""Caffe import benchmark: parse time and peak memory for a VGG-19-sized file (575 MB).

    python tools/bench_caffe.py [tmpdir]

Writes a synthetic VGG-19 with fc layers (V1, legacy dims, like Oxford's file), converts it, and
times each step in a fresh subprocess, with the peak resident memory above an import-only
baseline. The two `load_model` steps alternate over several rounds (this VM's speed swings) and
their medians and the median of the per-round ratios are reported. The files are deleted
afterwards.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Peak RSS from VmHWM: getrusage's ru_maxrss is inherited from the parent across fork, so a
# child started by a process that wrote the 575 MB file would report the parent's peak.
_PEAK = """
def peak_rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
"""
_BASELINE = _PEAK + "import tf_style.caffe\nprint(peak_rss())\n"

# Each step prints: seconds, peak RSS in bytes.
_STEPS = {
    # Structure plus zero-copy views of every blob, then one pass over all weights so that the
    # whole file really is read (views alone would leave it on disk).
    "parse": """
from tf_style.caffe import wire
from tf_style.caffe.netspec import net_from_message
t = time.perf_counter()
net = net_from_message(wire.read_file(MODEL), MODEL)
checksum = sum(float(b.data.sum()) for s in net.layers for b in s.blobs)
""",
    "parse_structure_only": """
from tf_style.caffe import wire
from tf_style.caffe.netspec import net_from_message
t = time.perf_counter()
net = net_from_message(wire.read_file(MODEL), MODEL)
""",
    "read_converted": """
from tf_style.caffe import converted
t = time.perf_counter()
net, weights = converted.read(CONVERTED)
checksum = sum(float(a.sum()) for arrays in weights.values() for a in arrays)
""",
    "load_model_caffemodel": """
from tf_style.caffe import load_model
t = time.perf_counter()
model = load_model(PROTO, MODEL)
""",
    "load_model_converted": """
from tf_style.caffe import load_model
t = time.perf_counter()
model = load_model(None, CONVERTED)
""",
}


def _run(code: str, paths: dict) -> tuple[float, int]:
    header = _PEAK + "import time\n" + "".join(f"{k} = {str(v)!r}\n" for k, v in paths.items())
    footer = "\nelapsed = time.perf_counter() - t\nprint(elapsed, peak_rss())\n"
    out = subprocess.run(
        [sys.executable, "-c", header + "import tf_style.caffe\n" + code + footer],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds, rss = out.stdout.split()[-2:]
    return float(seconds), int(rss)


def benchmark_parse(tmpdir, rounds: int = 5) -> dict:
    """Measures the Caffe reader on a synthetic VGG-19 (575 MB) written into `tmpdir`.

    Returns:
      A dict: file size, and for each step its seconds and peak RSS above the import-only
      baseline (bytes; for the load_model steps the median seconds and the largest peak over
      `rounds` alternating runs), plus the speed-up of the converted file over the caffemodel
      (the median of the per-round ratios, and each round's).
    """
    from tf_style import caffe
    from tf_style.testing import caffe_writer as writer

    tmpdir = Path(tmpdir)
    paths = {
        "MODEL": tmpdir / "vgg19_synthetic.caffemodel",
        "PROTO": tmpdir / "vgg19_synthetic.prototxt",
        "CONVERTED": tmpdir / "vgg19_synthetic.tfstyle",
    }
    try:
        writer.write_vgg(paths["MODEL"], prototxt_path=paths["PROTO"])
        caffe.convert(paths["PROTO"], paths["MODEL"], paths["CONVERTED"])
        base = subprocess.run([sys.executable, "-c", _BASELINE], capture_output=True, text=True,
                              check=True)  # fmt: skip
        baseline = int(base.stdout.split()[-1])
        result = {
            "file_bytes": paths["MODEL"].stat().st_size,
            "converted_bytes": paths["CONVERTED"].stat().st_size,
        }
        loads = ("load_model_caffemodel", "load_model_converted")
        for name, code in _STEPS.items():
            if name not in loads:
                seconds, rss = _run(code, paths)
                result[name] = {
                    "seconds": round(seconds, 3),
                    "peak_rss_above_import": rss - baseline,
                }
        runs = {name: [] for name in loads}
        for _ in range(rounds):  # A, B, A, B: both sides see the same swings of the VM
            for name in loads:
                runs[name].append(_run(_STEPS[name], paths))
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
