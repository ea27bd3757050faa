"""open_nsfw's ResNet: one value-and-gradient evaluation, folded against unfolded.

    python -m tools.benchmark.resnet [-rounds 5] [-evaluations 10] [-size 384] \
        [-baseline /path/to/another/checkout]

(from the repository root; the model must be in the cache: `tf-style -flagfile
configs/open_nsfw.flags` fetches it). Each measured configuration is a fresh process that loads
the converted open_nsfw, builds the extractor with the quickstart's layers
(configs/open_nsfw.flags) and its objective (its weights, the Tübingen and Starry Night images
at `-size`), and times `-evaluations` calls of the traced evaluation after the first (which
traces). The configurations, float32 and bfloat16 each with BatchNorm and Scale folded
(`caffe.fold`, the default) and without (`build_extractor(..., fold=False)`, the same code),
alternate within each round, so all of them see the same swings of the machine; `-baseline`
adds the extractor of another checkout (say, the main branch before a change), whose tf_style
is imported instead of this one. Prints each configuration's median seconds per evaluation (the
median over rounds of each process's median, with the range of the rounds) and the ratios
taken within each round (their median and range), with the load average before and after.
Nothing else may run: docs/performance.md#resnets has the figures.
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
CONTENT_LAYERS = ["relu_stage1_block1"]  # configs/open_nsfw.flags
STYLE_LAYERS = ["relu_1", "relu_stage0_block2", "relu_stage1_block3", "relu_stage2_block5"]
WEIGHTS = dict(content_weight=1e3, style_weight=5e8, tv_weight=1e-6)
MODEL = Path("~/.cache/tf_style/open_nsfw/open_nsfw.tfstyle").expanduser()
IMAGES = ROOT / "examples" / "inputs"


def _caffe_image(path: Path, size: int):
    """An image as the network sees it: longest side `size`, BGR, open_nsfw's mean removed."""
    import numpy as np
    from PIL import Image

    image = Image.open(path).convert("RGB")
    scale = size / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    rgb = np.asarray(image, np.float32)
    return np.ascontiguousarray(rgb[None, :, :, ::-1] - np.float32([104, 117, 123]))


def worker(spec: dict) -> dict:
    """One configuration in this process: seconds of the first and of each later evaluation."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tf_style import caffe
    from tf_style.features import build_extractor
    from tf_style.objective import Objective

    model = caffe.load_model(None, spec["model"])
    fold = {} if spec["fold"] is None else {"fold": spec["fold"]}
    extractor = build_extractor(
        model, CONTENT_LAYERS, STYLE_LAYERS, "max", spec["precision"], **fold
    )
    objective = Objective(extractor, **WEIGHTS)
    content = _caffe_image(IMAGES / "tubingen.jpg", spec["size"])
    objective.capture_content(content)
    objective.capture_styles([_caffe_image(IMAGES / "starry_night.jpg", spec["size"])], [1.0])
    evaluate = tf.function(objective.evaluate)
    x = tf.constant(np.random.default_rng(0).normal(0, 1, content.shape).astype(np.float32))
    start = time.perf_counter()
    evaluate(x)[0].numpy()
    first = time.perf_counter() - start
    times = []
    for _ in range(spec["evaluations"]):
        start = time.perf_counter()
        evaluate(x)[0].numpy()
        times.append(time.perf_counter() - start)
    ops = len(evaluate.get_concrete_function(x).graph.get_operations())
    return {"first": first, "times": times, "median": statistics.median(times), "ops": ops}


def run_worker(spec: dict, root: Path = ROOT) -> dict:
    """`worker(spec)` in a fresh process that imports tf_style from `root`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def configurations(baseline: str | None) -> dict[str, tuple[dict, Path]]:
    """Name -> (the spec's varying part, the checkout whose tf_style it imports)."""
    configs = {}
    for precision in ("float32", "bfloat16"):
        configs[f"{precision} folded"] = ({"precision": precision, "fold": True}, ROOT)
        configs[f"{precision} unfolded"] = ({"precision": precision, "fold": False}, ROOT)
        if baseline:
            configs[f"{precision} baseline"] = (
                {"precision": precision, "fold": None},
                Path(baseline),
            )
    return configs


RATIOS = [
    ("float32: unfolded / folded", "float32 unfolded", "float32 folded"),
    ("bfloat16: unfolded / folded", "bfloat16 unfolded", "bfloat16 folded"),
    ("folded: float32 / bfloat16", "float32 folded", "bfloat16 folded"),
    ("unfolded: float32 / bfloat16", "float32 unfolded", "bfloat16 unfolded"),
    ("float32: baseline / folded", "float32 baseline", "float32 folded"),
    ("bfloat16: baseline / folded", "bfloat16 baseline", "bfloat16 folded"),
    ("baseline: float32 / bfloat16", "float32 baseline", "bfloat16 baseline"),
]


def measure(rounds: int, evaluations: int, size: int, baseline: str | None, threads: int = 2):
    """Runs the rounds; returns (each configuration's results by round, the load averages)."""
    configs = configurations(baseline)
    results = {name: [] for name in configs}
    loads = [os.getloadavg()[0]]
    for r in range(rounds):
        names = list(configs) if r % 2 == 0 else list(reversed(configs))
        for name in names:
            varying, root = configs[name]
            spec = {"model": str(MODEL), "size": size, "evaluations": evaluations,
                    "threads": threads, **varying}  # fmt: skip
            results[name].append(run_worker(spec, root))
            print(f"round {r + 1} {name}: {results[name][-1]['median'] * 1e3:.1f} ms", flush=True)
    loads.append(os.getloadavg()[0])
    return results, loads


def report(results: dict, loads: list[float]) -> str:
    """The table: per configuration and per ratio, the median and the range over rounds."""
    lines = [f"load average (1 min) before {loads[0]:.2f}, after {loads[1]:.2f}"]
    for name, runs in results.items():
        medians = [run["median"] * 1e3 for run in runs]
        firsts = [run["first"] for run in runs]
        lines.append(
            f"{name:20s} {statistics.median(medians):7.1f} ms per evaluation "
            f"({min(medians):.1f}-{max(medians):.1f}), first {statistics.median(firsts):.2f} s, "
            f"{runs[0]['ops']} traced ops"
        )
    for label, a, b in RATIOS:
        if a in results and b in results:
            ratios = [x["median"] / y["median"] for x, y in zip(results[a], results[b])]
            lines.append(
                f"{label:30s} {statistics.median(ratios):.2f}x "
                f"({min(ratios):.2f}-{max(ratios):.2f})"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    from absl import flags

    if not MODEL.exists():
        sys.exit(f"{MODEL} is missing: run `tf-style -flagfile configs/open_nsfw.flags` once")
    f = flags.FLAGS
    results, loads = measure(f.rounds, f.evaluations, f.size, f.baseline)
    print(report(results, loads))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        # Run as a file: its folder is not a place to import from (PYTHONPATH says where).
        sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
        print(json.dumps(worker(json.loads(sys.argv[2]))))
    else:
        from absl import flags

        from tf_style import apps

        flags.DEFINE_integer("rounds", 5, "Rounds; each runs every configuration once.")
        flags.DEFINE_integer("evaluations", 10, "Timed evaluations per process (after the first).")
        flags.DEFINE_integer("size", 384, "The longest side of the images, in pixels.")
        flags.DEFINE_string("baseline", None, "Another checkout whose tf_style is measured too.")
        apps.run(main)
