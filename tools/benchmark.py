"""Speed and memory of tf_style, measured against neural-style-pt on the same machine.

    python tools/benchmark.py -peer_dir /path/to/neural-style-pt \
        -peer_python /path/to/venv-with-torch/bin/python -out_dir bench_out

One seeded synthetic VGG-19 (the real weights cannot be downloaded here) is written both as a
.caffemodel for tf_style and as a state_dict for neural-style-pt (ProGamerGov/neural-style-pt,
run through its own `neural_style.py`; its code is never part of this repository). Both solve
the same problem: the same square content and style images, already at the run's size (so no
resize happens on either side), the peer's preprocessing (x255, BGR, mean) fed to tf_style as
arrays, the peer's own `torch.randn * 0.001` initial image (seeded per round), fixed-step
L-BFGS with 100 pairs, default content and style weights and layers. TV is off in both:
neural-style-pt's TV is an L1 term that differs from the original's (semantics.md section 12).
First the iteration-1..5 losses of the two are compared (a check of losses, gradients and the
L-BFGS steps alike).

Every measured run is a fresh process; ours (A) and the peer's (B) alternate A, B, A, B, with a
2048^2 SGEMM timed before and after each (performance.md 6.2: this VM's speed swings). At the
first size a bfloat16 run of ours joins each round, ours run a quarter longer, and the time to
reach the peer's loss is taken at each quarter of its run; each round starts from its own
noise (seed + round), and the ratios are medians over the rounds. Then our own modes (optimizers,
bfloat16, XLA), float32 against bfloat16 over a longer run, the L-BFGS bookkeeping on a trivial
objective, and the scaling with image size. Results go to `out_dir/benchmark.json` and
`out_dir/loss_vs_time.png`; the table is printed last. Without `-peer_dir` (or without torch)
the peer rounds are skipped.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Before numpy loads OpenBLAS: the calibration SGEMM uses the same 2 threads as the runs.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_WEIGHT, STYLE_WEIGHT = 5.0, 100.0
PEER_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
# VGG-19 up to relu5_1: (block, convs) with their widths (performance.md 2.1).
_VGG19 = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 1, 512))
WARMUP = 2  # evaluations left out of the steady-state statistics

# Peak resident memory of the calling process (the kernel's high-water mark; unlike getrusage's
# ru_maxrss it is not inherited from a large parent across fork).
_HWM = """
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
"""


def hwm() -> int:
    """Peak resident memory of this process in bytes (what `_HWM` defines for the peer)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


# Runs neural-style-pt's own neural_style.py in this process and records when each line it
# prints appears: the peer's code is not changed or re-implemented.
_PEER_RUN = (
    """
import json, os, runpy, sys, time
T = {"spawn": float(os.environ["BENCH_SPAWN"]), "start": time.time()}
"""
    + _HWM
    + """
out, peer_dir, args = sys.argv[1], sys.argv[2], sys.argv[3:]
import torch, torchvision, PIL.Image
torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
torch.set_num_interop_threads(1)
T["imported"] = time.time()
base, lines = hwm(), []
class Lines:
    def __init__(self):
        self.rest = ""
    def write(self, text):
        self.rest += text
        while "\\n" in self.rest:
            line, self.rest = self.rest.split("\\n", 1)
            lines.append((time.time(), line))
        return len(text)
    def flush(self):
        pass
sys.stdout = Lines()
sys.argv = [os.path.join(peer_dir, "neural_style.py"), *args]
sys.path.insert(0, peer_dir)
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    sys.stdout = sys.__stdout__
    result = {"times": T, "lines": lines, "peak_rss": hwm(), "baseline_rss": base,
              "versions": {"torch": torch.__version__}}
    json.dump(result, open(out, "w"))
"""
)

# Writes the state_dict and the peer's seeded initial images, for each seed and size
# (torch.manual_seed(seed), then the peer's `torch.randn(C, H, W).mul(0.001)`).
_PEER_SETUP = """
import sys, numpy as np, torch
weights, pth, seeds, folder = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
if weights != "-":
    arrays = np.load(weights)
    torch.save({k: torch.from_numpy(arrays[k]) for k in arrays.files}, pth)
for seed in map(int, seeds.split(",")):
    for size in map(int, sys.argv[5:]):
        torch.manual_seed(seed)
        init = torch.randn(3, size, size).mul(0.001).numpy()
        np.save(f"{folder}/init_{size}_s{seed}.npy", init)
"""


def evaluation_flops(height: int, width: int) -> float:
    """FLOPs of one value+gradient evaluation to relu5_1 (performance.md section 2).

    Convolutions forward, the same again for the input-only backward, and each style layer's
    Gram matrix forward and backward (2 * C^2 * h * w each).
    """
    conv = gram = 0.0
    h, w, c_in = height, width, 3
    for block, convs, width_out in _VGG19:
        for _ in range(convs):
            conv += 2 * h * w * c_in * width_out * 9
            c_in = width_out
        gram += 2 * 2 * width_out**2 * h * w  # relu{block}_1's Gram, forward and backward
        if block < 5:
            h, w = h // 2, w // 2
    return 2 * conv + gram


def sgemm_gflops(n: int = 2048, repeats: int = 3) -> float:
    """The best of `repeats` n x n float32 matrix products, in GFLOP/s (numpy's BLAS)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), np.float32)
    b = rng.standard_normal((n, n), np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# Inputs: weights, images, initial images.


def _peer_keys() -> list[str]:
    """neural-style-pt's VGG-19 state_dict keys, in Caffe layer order (conv1_1 ... fc8)."""
    keys, index = [], 0
    for _, convs, _ in (*_VGG19[:4], (5, 4, 512)):
        for _ in range(convs):
            keys.append(f"features.{index}")
            index += 2  # Conv2d, ReLU
        index += 1  # MaxPool2d
    return keys + ["classifier.0", "classifier.3", "classifier.6"]


def write_weights(model: Path, npz: Path, seed: int) -> None:
    """Writes one seeded VGG-19 as a .caffemodel and as the peer's arrays (.npz).

    The npz holds the peer's state_dict (Caffe's blob layout is torch's: OIHW convolutions,
    (out, in) linear layers, BGR input).
    """
    from tf_style.testing import caffe_writer as writer

    # With zero biases a ReLU network is positively homogeneous (f(ax) = a f(x)), so at the
    # original's start (noise of 0.001) every feature, Gram and gradient is nearly zero: the
    # loss crawled for 85 evaluations, then the fixed-step L-BFGS overshot to 1e13 and the
    # runs turned chaotic. Real VGG-19 has biases of order 1 (its activations tens to
    # hundreds); with them the loss falls as in a real run (x100 in 50 evaluations at 256 px).
    layers = writer.vgg_layers(seed=seed, conv_bias=1.0)
    writer.write_net(
        model, layers, name="VGG_ILSVRC_19_layers", version=1, input_shape=(1, 3, 224, 224)
    )
    weighted = [layer for layer in layers if layer.get("blobs")]
    arrays = {}
    for key, layer in zip(_peer_keys(), weighted, strict=True):
        weight, bias = layer["blobs"]
        arrays[f"{key}.weight"], arrays[f"{key}.bias"] = weight, bias
    np.savez(npz, **arrays)


def write_images(folder: Path, sizes: list[int], content: str, style: str) -> None:
    """Square centre crops of the content and style images at each size, as PNG."""
    from PIL import Image

    for name, path in (("content", content), ("style", style)):
        image = Image.open(path).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        square = image.crop((left, top, left + side, top + side))
        for size in sizes:
            square.resize((size, size), Image.LANCZOS).save(folder / f"{name}_{size}.png")


def peer_preprocess(png: Path) -> np.ndarray:
    """neural-style-pt's preprocessing of an image already at its size, NHWC for tf_style.

    ToTensor (/255), x255, RGB -> BGR, minus its mean: float32 [1, H, W, 3].
    """
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB"), np.float32) / np.float32(255)
    bgr = (rgb * np.float32(255))[..., ::-1] - PEER_MEAN_BGR
    return np.ascontiguousarray(bgr[None], np.float32)


# ---------------------------------------------------------------------------------------------
# Worker: one of our runs, in a fresh process (`--worker spec.json`).


def _worker(spec_path: str) -> None:
    """Runs one measured configuration of tf_style and writes its JSON result."""
    times = {"start": time.time()}
    spec = json.loads(Path(spec_path).read_text())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tf_style import caffe, optimizers
    from tf_style.features import build_extractor
    from tf_style.objective import Objective

    times["imported"] = time.time()
    baseline = hwm()
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    result = {"spec": spec, "versions": {"tensorflow": tf.__version__}, "gpu": bool(gpus)}
    if spec.get("kind") == "lbfgs_overhead":
        result.update(_lbfgs_overhead(spec, optimizers, tf))
    else:
        model = caffe.load_model(None, spec["model"])
        times["loaded"] = time.time()
        precision = spec.get("precision", "float32")

        def objective_in(precision):
            extractor = build_extractor(
                model, CONTENT_LAYERS, STYLE_LAYERS, "max", precision,
                recompute=spec.get("recompute", False),
            )  # fmt: skip
            objective = Objective(
                extractor, content_weight=CONTENT_WEIGHT, style_weight=STYLE_WEIGHT, tv_weight=0.0
            )
            objective.capture_content(np.load(spec["content"]))
            objective.capture_styles([np.load(spec["style"])], [1.0])
            return objective

        objective = objective_in(precision)
        extractor = objective.extractor
        # As engine.prepare does: L-BFGS in bfloat16 starts with float32 evaluations.
        warms_up = optimizers.warms_up(spec["optimizer"], precision)
        warmup = objective_in("float32") if warms_up else None
        result["loaded_rss"] = hwm()
        init = np.load(spec["init"])
        if spec.get("estimate"):
            from tf_style import memory

            result["estimate"] = memory.estimate_peak_bytes(
                extractor,
                *init.shape[1:3],
                optimizer=spec["optimizer"],
                num_correction=spec.get("num_correction", 100),
                recompute=spec.get("recompute", False),
            )
        optimizer = optimizers.make_optimizer(
            spec["optimizer"],
            objective,
            init,
            num_correction=spec.get("num_correction", 100),
            jit_compile=spec.get("xla", False),
            warmup=warmup,
        )
        if gpus:
            tf.config.experimental.reset_memory_stats("GPU:0")
        times["built"] = t0 = time.time()
        evals = []
        if spec["optimizer"] == "tfp_lbfgs":
            # One iteration from the start and one resumed (each traces its function), then the
            # rest timed as one chunk: every chunk ends with one uncounted call for the
            # per-layer losses, which would bias per-iteration chunks.
            for chunk in (1, 1, spec["iterations"] - 2):
                loss, _ = optimizer.run(chunk)
                evals.append([time.time() - t0, float(loss), optimizer.evaluations, chunk])
        else:
            for _ in range(spec["evaluations"]):
                loss, aux = optimizer.run(1)
                evals.append([time.time() - t0, float(loss), optimizer.evaluations])
                if len(evals) <= 5:
                    evals[-1].append(aux.numpy().tolist())
        warm = optimizers.WARMUP_EVALUATIONS if warmup else 0
        result.update(t0=t0, evals=evals, float32_evaluations=warm)
        if gpus:
            result["gpu_peak_bytes"] = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    times["end"] = time.time()
    result.update(times=times, peak_rss=hwm(), baseline_rss=baseline)
    Path(spec["out"]).write_text(json.dumps(result))


def _lbfgs_overhead(spec: dict, optimizers, tf) -> dict:
    """Time per L-BFGS iteration on a trivial objective with a full history.

    The objective 0.5 * sum(d * x^2) with d spread over [1, 1e4] costs a few milliseconds and
    keeps L-BFGS accepting pairs; after `num_correction + 10` iterations the history is full
    and the two-loop runs over every pair, as in a long run.
    """
    size = spec["size"]
    rng = np.random.default_rng(0)
    d = tf.constant(10 ** rng.uniform(0, 4, (1, size, size, 3)).astype(np.float32))

    def objective(x):
        loss = 0.5 * tf.reduce_sum(d * x * x)
        return loss, d * x, tf.reshape(loss, [1])

    def bare(x):
        return objective(x)[:2]

    x0 = rng.standard_normal((1, size, size, 3)).astype(np.float32)
    m = spec["num_correction"]
    optimizer = optimizers.make_optimizer("lbfgs", objective, x0, num_correction=m)
    optimizer.run(m + 10)
    steps = [_timed(lambda: optimizer.run(1)[0].numpy()) for _ in range(spec["evaluations"])]
    traced = tf.function(bare)
    x = tf.constant(x0)
    traced(x)
    own = [_timed(lambda: traced(x)[0].numpy()) for _ in range(spec["evaluations"])]
    return {
        "iteration_s": statistics.median(steps),
        "objective_s": statistics.median(own),
        "overhead_s": statistics.median(steps) - statistics.median(own),
        "pairs": int(optimizer._num_pairs.numpy()),
    }


# ---------------------------------------------------------------------------------------------
# Running and reading the jobs.


class Bench:
    """Runs jobs in fresh processes, with an SGEMM calibration before and after each."""

    def __init__(self, folder: Path, threads: int, peer_dir: str, peer_python: str, log):
        self.folder, self.threads, self.log = folder, threads, log
        self.peer_dir, self.peer_python = peer_dir, peer_python
        self.jobs: list[dict] = []

    def _calibrated(self, name: str, command: list[str], out: Path, env: dict) -> dict | None:
        before = sgemm_gflops()
        env = {**os.environ, **env, "BENCH_SPAWN": repr(time.time())}
        spawn = time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.time() - spawn
        after = sgemm_gflops()
        if done.returncode != 0 or not out.exists():
            self.log(f"  {name}: FAILED ({done.returncode}): {done.stderr.strip()[-800:]}")
            return None
        result = json.loads(out.read_text())
        result.update(name=name, spawn=spawn, wall_s=wall, sgemm_gflops=(before, after))
        self.jobs.append(result)
        return result

    def ours(self, name: str, **spec) -> dict | None:
        """One of our runs (see `_worker` for the spec's keys)."""
        out = self.folder / f"{name}.json"
        spec.update(out=str(out), threads=self.threads)
        path = self.folder / f"{name}.spec.json"
        path.write_text(json.dumps(spec))
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path)]
        result = self._calibrated(name, command, out, {})
        if result is not None and "evals" in result:
            result.update(_curve_ours(result))
            self.log(f"  {name}: {_summary(result)}")
        elif result is not None:
            self.log(f"  {name}: {result['overhead_s'] * 1e3:.1f} ms per iteration")
        return result

    def peer(
        self,
        name: str,
        size: int,
        evaluations: int,
        pth: Path,
        num_correction: int = 100,
        seed: int = 0,
    ) -> dict | None:
        """One run of neural-style-pt's own CLI on the prepared images."""
        out = self.folder / f"{name}.json"
        script = self.folder / "peer_run.py"
        script.write_text(_PEER_RUN)
        args = [
            "-style_image", str(self.folder / f"style_{size}.png"),
            "-content_image", str(self.folder / f"content_{size}.png"),
            "-image_size", str(size), "-gpu", "c", "-backend", "nn",
            "-optimizer", "lbfgs", "-lbfgs_num_correction", str(num_correction),
            "-num_iterations", str(evaluations), "-print_iter", "1", "-save_iter", "0",
            "-content_weight", str(CONTENT_WEIGHT), "-style_weight", str(STYLE_WEIGHT),
            "-tv_weight", "0", "-init", "random", "-seed", str(seed),
            "-model_file", str(pth), "-output_image", str(self.folder / f"{name}.png"),
        ]  # fmt: skip
        command = [self.peer_python, str(script), str(out), self.peer_dir, *args]
        result = self._calibrated(name, command, out, {"BENCH_THREADS": str(self.threads)})
        if result is not None:
            result.update(_curve_peer(result))
            self.log(f"  {name}: {_summary(result)}")
        return result


def _steady(ends: list[float]) -> list[float]:
    """Seconds per evaluation from their end times, warm-ups left out where there are enough."""
    intervals = [float(d) for d in np.diff(ends)]
    return intervals[WARMUP:] or intervals[-1:] or ends[-1:]


def _curve_ours(result: dict) -> dict:
    evals = result["evals"]
    times = result["times"]
    startup = {
        "import_s": times["imported"] - result["spawn"],
        "load_s": times["loaded"] - times["imported"],
        "setup_s": times["built"] - times["loaded"],
        "first_evaluation_s": evals[0][0],
    }
    if result["spec"]["optimizer"] == "tfp_lbfgs":
        (t1, _, e1, _), (t2, loss, e2, k) = evals[-2:]
        # +1: the chunk's uncounted call for the per-layer losses.
        per_eval = (t2 - t1) / (e2 - e1 + 1)
        return {
            "per_eval": [per_eval],
            "evals_per_iteration": (e2 - e1) / k,
            "curve": [e[:2] for e in evals],
            "startup": startup,
        }
    # A bfloat16 L-BFGS run's per-evaluation time is that of its own evaluations, not of the
    # float32 ones it starts with.
    return {
        "per_eval": _steady([e[0] for e in evals[result.get("float32_evaluations", 0) :]]),
        "evals_per_iteration": 1.0,
        "curve": [[e[0], e[1]] for e in evals],
        "first_losses": [e[3] for e in evals[:5]],
        "startup": startup,
    }


def _curve_peer(result: dict) -> dict:
    """Eval times and losses from the peer's printed lines (printed after each evaluation)."""
    t0 = loaded = None
    ends, losses, layers = [], [], []
    for stamp, line in result["lines"]:
        if line.startswith("Successfully loaded"):
            loaded = stamp
        elif line.startswith("Running optimization"):
            t0 = stamp
        elif line.startswith("Iteration "):
            ends.append(stamp - t0)
            layers.append([])
        elif line.lstrip().startswith(("Content ", "Style ")):
            layers[-1].append(float(line.rsplit(":", 1)[1]))
        elif line.lstrip().startswith("Total loss:"):
            losses.append(float(line.rsplit(":", 1)[1]))
    times = result["times"]
    return {
        "per_eval": _steady(ends),
        "evals_per_iteration": 1.0,
        "curve": [list(p) for p in zip(ends, losses, strict=True)],
        "first_losses": layers[:5],
        "startup": {
            "import_s": times["imported"] - result["spawn"],
            "load_s": loaded - times["imported"],
            "setup_s": t0 - loaded,
            "first_evaluation_s": ends[0],
        },
    }


def _summary(result: dict) -> str:
    per = result["per_eval"]
    return (
        f"{statistics.median(per):.3f} s/eval (min {min(per):.3f}), final loss "
        f"{result['curve'][-1][1]:.5g}, peak RSS {result['peak_rss'] / 2**20:.0f} MiB, "
        f"SGEMM {result['sgemm_gflops'][0]:.0f}/{result['sgemm_gflops'][1]:.0f} GFLOP/s"
    )


def time_to_loss(curve: list, target: float, rtol: float = 1e-4) -> float | None:
    """Seconds from the start of optimisation until the loss first reaches `target`.

    Within `rtol` counts as reached: the two implementations follow the same path and differ
    by float rounding (the parity tolerance of performance.md 6.2).
    """
    for t, loss in curve:
        if loss <= target * (1 + rtol):
            return t
    return None


def parity(ours: dict, peer: dict) -> dict:
    """Largest relative difference of the per-layer losses over the first evaluations."""
    worst = []
    for a, b in zip(ours["first_losses"], peer["first_losses"]):
        worst.append(max(abs(x - y) / max(abs(y), 1e-30) for x, y in zip(a, b, strict=True)))
    return {"max_rel_per_evaluation": worst, "ok": bool(worst) and max(worst) < 1e-3}


# ---------------------------------------------------------------------------------------------
# The plot (PIL only: the project does not depend on matplotlib).


def plot(curves: dict[str, list], path: Path) -> None:
    """Loss (log scale) against seconds for each named curve, as a PNG."""
    from PIL import Image, ImageDraw

    width, height, margin = 900, 560, 70
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    points = [p for curve in curves.values() for p in curve if p[1] > 0]
    t_max = max(p[0] for p in points)
    lo, hi = (np.log10(min(p[1] for p in points)), np.log10(max(p[1] for p in points)))
    hi = hi if hi > lo else lo + 1

    def xy(t, loss):
        x = margin + (width - 2 * margin) * t / t_max
        y = height - margin - (height - 2 * margin) * (np.log10(loss) - lo) / (hi - lo)
        return x, y

    draw.rectangle([margin, margin, width - margin, height - margin], outline="black")
    for k in range(6):
        t = t_max * k / 5
        draw.text((xy(t, 10**lo)[0] - 10, height - margin + 8), f"{t:.0f}s", fill="black")
        value = lo + (hi - lo) * k / 5
        draw.text((8, xy(0, 10**value)[1] - 6), f"{10**value:.2e}", fill="black")
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for i, (name, curve) in enumerate(curves.items()):
        colour = colours[i % len(colours)]
        line = [xy(t, loss) for t, loss in curve if loss > 0]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        draw.text((margin + 10, margin + 10 + 16 * i), name, fill=colour)
    draw.text((width // 2 - 120, 20), "loss vs seconds since optimisation start", fill="black")
    image.save(path)


# ---------------------------------------------------------------------------------------------
# The benchmark.


def run_benchmark(flags, log=print) -> dict:
    """Runs every measurement the flags ask for; returns the report (also saved as JSON)."""
    folder = Path(flags.out_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in flags.sizes]
    large = [int(s) for s in flags.large_sizes]
    scaling = [int(s) for s in flags.scaling_sizes]
    all_sizes = sorted(set(sizes + large + scaling + [flags.mode_size, flags.quality_size]))
    peer_dir = flags.peer_dir
    if peer_dir and not (Path(peer_dir) / "neural_style.py").exists():
        log(f"-peer_dir {peer_dir}: no neural_style.py there; the peer rounds are skipped.")
        peer_dir = ""
    if not peer_dir:
        log("No neural-style-pt checkout (-peer_dir): measuring tf_style's own modes only.")
    log(f"Writing the synthetic VGG-19 and images to {folder} ...")
    # The peer picks VGG-19 by the file name ("vgg" and "19" in it).
    model = folder / f"vgg19_synthetic_biased_seed{flags.seed}.caffemodel"
    pth, npz = model.with_suffix(".pth"), model.with_suffix(".npz")
    if model.exists() and (pth.exists() or not peer_dir):
        log(f"Reusing {model} (delete it to write the weights again).")
    else:
        write_weights(model, npz, flags.seed)
    # Our runs load the converted file, as every zoo model run does after its first download
    # (tf_style.models.resolve): its weights are mapped, not parsed and copied.
    converted = model.with_suffix(".tfstyle")
    if not converted.exists() or converted.stat().st_mtime < model.stat().st_mtime:
        from tf_style import caffe

        caffe.convert(None, model, converted)
    write_images(folder, all_sizes, flags.content_image, flags.style_image)
    for size in all_sizes:
        np.save(folder / f"content_{size}.npy", peer_preprocess(folder / f"content_{size}.png"))
        np.save(folder / f"style_{size}.npy", peer_preprocess(folder / f"style_{size}.png"))
    # Each round starts from its own noise: from a tiny start the original's fixed-step L-BFGS
    # magnifies rounding (ours and the peer's losses part by 5e-4 after 5 evaluations and by
    # x2.5 after 25, then meet again), so a time to the peer's loss is a median over starts.
    seeds = [flags.seed + r for r in range(max(flags.rounds, 1))]
    if peer_dir:
        setup = [
            flags.peer_python,
            "-c",
            _PEER_SETUP,
            str(npz) if npz.exists() else "-",
            str(pth),
            ",".join(map(str, seeds)),
        ]
        done = subprocess.run(
            setup + [str(folder), *map(str, all_sizes)], capture_output=True, text=True
        )
        if done.returncode != 0:
            log(f"The peer's Python failed ({done.stderr.strip()[-300:]}); peer rounds skipped.")
            peer_dir = ""
    if not peer_dir:
        from tf_style import preprocess

        for seed in seeds:
            for size in all_sizes:
                init = preprocess.random_init(size, size, seed)[0].transpose(2, 0, 1)
                np.save(folder / f"init_{size}_s{seed}.npy", init)
    for seed in seeds:  # the peer's CHW noise -> NHWC
        for size in all_sizes:
            path = folder / f"init_{size}_s{seed}.npy"
            init = np.load(path).transpose(1, 2, 0)[None]
            np.save(path, np.ascontiguousarray(init))
    npz.unlink(missing_ok=True)

    bench = Bench(folder, flags.threads, peer_dir, flags.peer_python, log)

    def inputs(size, seed=flags.seed):
        return {
            "model": str(converted),
            "size": size,
            "content": str(folder / f"content_{size}.npy"),
            "style": str(folder / f"style_{size}.npy"),
            "init": str(folder / f"init_{size}_s{seed}.npy"),
        }

    def evaluations(size):
        return flags.evaluations if size == sizes[0] else flags.timing_evaluations

    # Every job is kept by `bench`; `finish` groups them by name.
    for r in range(flags.rounds):
        for size in sizes + (large if r == 0 else []):
            n = flags.large_evaluations if size in large else evaluations(size)
            log(f"Round {r + 1}, {size} px, {n} evaluations:")
            # At the first size ours run a quarter longer than the peer: the target is the time
            # to reach the peer's loss, which rounding (or bfloat16) may reach an evaluation or
            # two later.
            more = n // 4 if size == sizes[0] else 0
            start = inputs(size, seeds[r])
            bench.ours(f"ours_{size}_r{r}", optimizer="lbfgs", evaluations=n + more, **start)
            if peer_dir and (flags.large_peer or size not in large):
                bench.peer(f"peer_{size}_r{r}", size, n, pth, seed=seeds[r])
            if size == sizes[0] and flags.bfloat16_rounds:
                bench.ours(
                    f"bf16_{size}_r{r}", optimizer="lbfgs", precision="bfloat16",
                    evaluations=n + more, **start,
                )  # fmt: skip
    if flags.equal_history and peer_dir:
        # In the rounds above both histories hold the few pairs of a short run (ours are
        # allocated as they arrive, torch's L-BFGS appends them); here both hold all of theirs.
        size, m = sizes[-1], flags.equal_history
        n = m + 2  # full from evaluation m + 1 on
        log(f"Peak memory with full histories of {m} pairs, {size} px, {n} evaluations:")
        bench.ours(
            f"history_ours_{size}", optimizer="lbfgs", evaluations=n, num_correction=m,
            **inputs(size),
        )  # fmt: skip
        bench.peer(f"history_peer_{size}", size, n, pth, num_correction=m, seed=flags.seed)
    if flags.modes:
        from tf_style.optimizers import WARMUP_EVALUATIONS

        size, n = flags.mode_size, flags.mode_evaluations
        log(f"Our modes at {size} px:")
        for name, spec in {
            "lbfgs_float32": {"optimizer": "lbfgs"},
            # n of its own after the float32 ones it starts with.
            "lbfgs_bfloat16": {
                "optimizer": "lbfgs",
                "precision": "bfloat16",
                "evaluations": n + WARMUP_EVALUATIONS,
            },
            "adam_float32": {"optimizer": "adam"},
            # XLA with Adam: with L-BFGS the history updates dominate under XLA on the CPU.
            "adam_float32_xla": {"optimizer": "adam", "xla": True},
            "tfp_lbfgs_float32": {"optimizer": "tfp_lbfgs", "iterations": max(3, n // 3)},
        }.items():
            bench.ours(f"mode_{name}", **{"evaluations": n, **spec}, **inputs(size))
    if flags.quality_evaluations:
        size, n = flags.quality_size, flags.quality_evaluations
        log(f"float32 against bfloat16 at {size} px, {n} evaluations:")
        for precision in ("float32", "bfloat16"):
            bench.ours(
                f"quality_{precision}",
                optimizer="lbfgs",
                precision=precision,
                evaluations=n,
                **inputs(size),
            )
    if flags.overhead_size:
        log(f"L-BFGS bookkeeping at {flags.overhead_size} px, history 100:")
        bench.ours(
            "lbfgs_overhead",
            kind="lbfgs_overhead",
            size=flags.overhead_size,
            num_correction=100,
            evaluations=5,
        )
    for size in [s for s in scaling if s not in sizes + large]:
        log(f"Scaling, {size} px:")
        bench.ours(
            f"ours_{size}", optimizer="lbfgs", evaluations=flags.timing_evaluations, **inputs(size)
        )
    extra = {}
    if flags.caffe_parse:
        log("Caffe import (tools/bench_caffe.py):")
        from bench_caffe import benchmark_parse  # tools/ is on sys.path when run as a script

        extra["caffe_parse"] = benchmark_parse(folder)
        log(json.dumps(extra["caffe_parse"]))
    return finish(flags, bench.jobs, log, extra)


def finish(flags, jobs: list[dict], log=print, extra: dict | None = None) -> dict:
    """Summarises the jobs (grouped by their names), saves the JSON and the plot, prints."""
    folder = Path(flags.out_dir).resolve()
    sizes = [int(s) for s in flags.sizes]
    large = [int(s) for s in flags.large_sizes]
    scaling = [int(s) for s in flags.scaling_sizes]
    rounds = {size: {"ours": [], "peer": [], "bf16": []} for size in sizes + large}
    modes, overhead, scaled, history = {}, None, {}, {}
    for job in jobs:  # recomputed, so that -report_only uses the current definitions
        name = job["name"]
        if "lines" in job:
            job.update(_curve_peer(job))
        elif "evals" in job:
            job.update(_curve_ours(job))
        side, _, rest = name.partition("_")
        if side in ("ours", "peer", "bf16") and "_r" in rest:
            size = int(rest.split("_r")[0])
            rounds.setdefault(size, {"ours": [], "peer": [], "bf16": []})[side].append(job)
        elif side == "ours":
            scaled[int(rest)] = job
        elif side == "mode":
            modes[rest] = job
        elif side == "quality":
            modes[name] = job
        elif name == "lbfgs_overhead":
            overhead = job
        elif side == "history":
            history[rest.split("_")[0]] = job
    report = summarize(flags, rounds, modes, overhead, scaled, history, sizes, large, scaling)
    report.update(extra or {})
    report["jobs"] = jobs
    (folder / "benchmark.json").write_text(json.dumps(report, indent=1, default=float))
    curves = {}
    first = rounds[sizes[0]]
    if first["ours"]:
        curves[f"tf_style float32 {sizes[0]}px"] = first["ours"][0]["curve"]
    if first["bf16"]:
        curves[f"tf_style bfloat16 {sizes[0]}px"] = first["bf16"][0]["curve"]
    if first["peer"]:
        curves[f"neural-style-pt {sizes[0]}px"] = first["peer"][0]["curve"]
    if curves:
        plot(curves, folder / "loss_vs_time.png")
    for line in table(report):
        log(line)
    log(f"Results: {folder / 'benchmark.json'}")
    log(f"Plot: {folder / 'loss_vs_time.png'}")
    return report


def _good(jobs: list) -> list:
    return [j for j in jobs if j is not None]


def _stable(job: dict) -> bool:
    """Whether the calibration moved less than 25% across the job (performance.md 6.2)."""
    before, after = job["sgemm_gflops"]
    return abs(after - before) <= 0.25 * max(before, after)


def _paired(jobs: list, others: list) -> list[tuple]:
    """(job, other) of the same round (the same start), from names ending in _r<round>."""
    rounds = {o["name"].rsplit("_r", 1)[1]: o for o in others}
    return [(j, rounds[r]) for j in jobs if (r := j["name"].rsplit("_r", 1)[1]) in rounds]


def _quarters(n: int) -> list[int]:
    """The evaluation counts at each quarter of a run of `n` (at least 1, without repeats)."""
    return sorted({max(1, n * q // 4) for q in (1, 2, 3, 4)})


def summarize(flags, rounds, modes, overhead, scaled, history, sizes, large, scaling) -> dict:
    """Medians, ratios and the targets' verdicts from the raw jobs."""
    out = {"sizes": {}, "modes": {}, "targets": {}}
    for size, pair in rounds.items():
        ours, peer, bf16 = _good(pair["ours"]), _good(pair["peer"]), _good(pair["bf16"])
        row = {"flops": evaluation_flops(size, size)}
        for side, jobs in (("ours", ours), ("bf16", bf16), ("peer", peer)):
            if not jobs:
                continue
            per = [statistics.median(j["per_eval"]) for j in jobs]
            mins = [min(j["per_eval"]) for j in jobs]
            row[side] = {
                "per_eval_median_s": statistics.median(per),
                "per_eval_min_s": min(mins),
                "per_round_s": per,
                "peak_rss_mib": max(j["peak_rss"] for j in jobs) / 2**20,
                "peak_rss_above_import_mib": max(j["peak_rss"] - j["baseline_rss"] for j in jobs)
                / 2**20,
                "startup": {
                    k: statistics.median(j["startup"][k] for j in jobs) for k in jobs[0]["startup"]
                },
                "final_loss": [j["curve"][-1][1] for j in jobs],
                "evaluations": len(jobs[0]["curve"]),
                "stable_rounds": sum(_stable(j) for j in jobs),
            }
            row[side]["gflops_effective"] = row["flops"] / row[side]["per_eval_min_s"] / 1e9
            gemm = [max(j["sgemm_gflops"]) for j in jobs]
            row[side]["sgemm_gflops_max"] = max(gemm)
            if any("gpu_peak_bytes" in j for j in jobs):
                row[side]["gpu_peak_mib"] = max(j.get("gpu_peak_bytes", 0) for j in jobs) / 2**20
        if ours and peer:
            # Per-round ratios B/A (peer time over ours: > 1 means we are faster).
            ratios = [
                statistics.median(b["per_eval"]) / statistics.median(a["per_eval"])
                for a, b in _paired(ours, peer)
            ]
            row["speedup_per_round"] = ratios
            row["speedup_median"] = statistics.median(ratios)
            row["memory_ratio"] = row["ours"]["peak_rss_mib"] / row["peer"]["peak_rss_mib"]
            row["parity"] = parity(ours[0], peer[0])
            row["peer_final_loss"] = peer[0]["curve"][-1][1]
            # The time to reach the peer's loss after k evaluations, at each quarter of its
            # run, round by round (each round has its own start; see run_benchmark).
            n = len(peer[0]["curve"])
            row["time_to_peer_loss"] = []
            for k in _quarters(n):
                mark = {
                    "evaluations": k,
                    "peer_s": [j["curve"][k - 1][0] for j in peer],
                    "peer_loss": [j["curve"][k - 1][1] for j in peer],
                }
                for side, jobs in (("ours", ours), ("bf16", bf16)):
                    times, ratios = [], []
                    for a, b in _paired(jobs, peer):
                        t = time_to_loss(a["curve"], b["curve"][k - 1][1])
                        times.append(t)
                        ratios.append(math.inf if t is None else t / b["curve"][k - 1][0])
                    if ratios:
                        mark[f"{side}_s"], mark[f"{side}_ratio"] = times, ratios
                row["time_to_peer_loss"].append(mark)
            if bf16:
                row["bf16_speedup_median"] = statistics.median(
                    statistics.median(b["per_eval"]) / statistics.median(a["per_eval"])
                    for a, b in _paired(bf16, peer)
                )
        if ours and bf16:
            # bfloat16's loss over float32's from the same start after the same number of
            # evaluations (the median over the rounds), at each quarter of the peer's run (or
            # of the shorter of ours).
            n = min(len(ours[0]["curve"]), len(bf16[0]["curve"]))
            n = min(n, len(peer[0]["curve"])) if peer else n
            row["bf16_loss_ratio"] = {
                k: statistics.median(
                    b["curve"][k - 1][1] / a["curve"][k - 1][1] for b, a in _paired(bf16, ours)
                )
                for k in _quarters(n)
            }
        out["sizes"][size] = row
    for name, job in modes.items():
        if job is None:
            continue
        out["modes"][name] = {
            "per_eval_median_s": statistics.median(job["per_eval"]),
            "per_eval_min_s": min(job["per_eval"]),
            "evals_per_iteration": job["evals_per_iteration"],
            "first_evaluation_s": job["startup"]["first_evaluation_s"],
            "final_loss": job["curve"][-1][1],
            "evaluations": job["evals"][-1][2],
        }
    if overhead is not None:
        out["lbfgs_overhead"] = {k: overhead[k] for k in ("iteration_s", "overhead_s", "pairs")}
        out["lbfgs_overhead"]["size"] = flags.overhead_size
    per_pixel = {}
    for size in scaling:
        job = out["sizes"].get(size, {}).get("ours")
        if job:
            per_pixel[size] = job["per_eval_median_s"] / size**2
        elif scaled.get(size):
            per_pixel[size] = statistics.median(scaled[size]["per_eval"]) / size**2
    out["seconds_per_megapixel"] = {k: v * 1e6 for k, v in per_pixel.items()}
    if "ours" in history and "peer" in history:
        ours, peer = history["ours"], history["peer"]
        out["equal_history"] = {
            "size": ours["spec"]["size"],
            "pairs": ours["spec"]["num_correction"],
            "ours_mib": ours["peak_rss"] / 2**20,
            "peer_mib": peer["peak_rss"] / 2**20,
        }
    out["targets"] = targets(out, sizes, flags.mode_size)
    return out


def targets(out: dict, sizes: list, mode_size: int) -> dict:
    """Each target of the issue as (measured, goal, met)."""
    t = {}
    for size in sizes:
        row = out["sizes"].get(size, {})
        if "speedup_median" in row:
            t[f"float32 speed vs peer @{size}"] = (row["speedup_median"], ">= 1.0")
        if "ours" in row:
            eff = row["ours"]["gflops_effective"] / row["ours"]["sgemm_gflops_max"]
            t[f"float32 effective rate / SGEMM peak @{size}"] = (eff, ">= 0.85")
        if "memory_ratio" in row:
            t[f"peak RSS ours/peer @{size}"] = (row["memory_ratio"], "<= 1.0")
    first = out["sizes"].get(sizes[0], {})
    for mark in first.get("time_to_peer_loss", []):
        for key, name, goal in (("ours", "float32", "<= 1.0"), ("bf16", "bfloat16", "<= 0.7")):
            if f"{key}_ratio" in mark:
                ratio = statistics.median(mark[f"{key}_ratio"])  # inf: never reached
                t[f"{name} time to peer's loss after {mark['evaluations']}, ours/peer"] = (
                    None if math.isinf(ratio) else ratio,
                    goal,
                )
    if "bf16_speedup_median" in first:
        t[f"bfloat16 speed vs peer float32 @{sizes[0]}"] = (first["bf16_speedup_median"], ">= 1.5")
    else:  # without bfloat16 rounds: the single mode run against the peer's rounds
        bf16 = out["modes"].get("lbfgs_bfloat16")
        peer = out["sizes"].get(mode_size, {}).get("peer")
        if bf16 and peer:
            t[f"bfloat16 speed vs peer float32 @{mode_size}"] = (
                peer["per_eval_median_s"] / bf16["per_eval_median_s"],
                ">= 1.5",
            )
    fp32, bf16 = out["modes"].get("quality_float32"), out["modes"].get("quality_bfloat16")
    for k, ratio in first.get("bf16_loss_ratio", {}).items():
        t[f"bfloat16 loss / float32 loss - 1 after {k} evaluations @{sizes[0]}"] = (
            ratio - 1,
            "|x| <= 0.02",
        )
    if fp32 and bf16:
        t[f"bfloat16 final loss / float32 final loss - 1 ({bf16['evaluations']} evaluations)"] = (
            bf16["final_loss"] / fp32["final_loss"] - 1,
            "|x| <= 0.02",
        )
    if out.get("lbfgs_overhead"):
        size = out["lbfgs_overhead"]["size"]
        row = out["sizes"].get(size, {}).get("ours")
        if row:
            share = out["lbfgs_overhead"]["overhead_s"] / row["per_eval_median_s"]
            t[f"L-BFGS bookkeeping / evaluation @{size}, m=100"] = (share, "<= 0.05")
    spm = list(out["seconds_per_megapixel"].values())
    if len(spm) > 1:
        t["time/pixel spread (max/min - 1)"] = (max(spm) / min(spm) - 1, "<= 0.20")
    h = out.get("equal_history")
    if h:
        t[f"peak RSS ours/peer @{h['size']}, full histories"] = (
            h["ours_mib"] / h["peer_mib"],
            "<= 1.0",
        )
    return {k: {"measured": v, "goal": g} for k, (v, g) in t.items()}


def _seconds(values: list) -> str:
    return ", ".join("never" if v is None else f"{v:.1f}" for v in values) + " s"


def table(out: dict) -> list[str]:
    """The printed summary: per size, modes, then the ratios and targets last."""
    lines = ["", "size | side | s/eval median (min) | eff. GFLOP/s | peak RSS MiB | start-up s"]
    for size, row in out["sizes"].items():
        names = {"ours": "tf_style", "bf16": "tf_style bfloat16", "peer": "neural-style-pt"}
        for side, name in names.items():
            if side not in row:
                continue
            s = row[side]
            start = s["startup"]
            startup = start["import_s"] + start["load_s"] + start["setup_s"]
            lines.append(
                f"{size} | {name} | "
                f"{s['per_eval_median_s']:.3f} ({s['per_eval_min_s']:.3f}) | "
                f"{s['gflops_effective']:.0f} (SGEMM {s['sgemm_gflops_max']:.0f}) | "
                f"{s['peak_rss_mib']:.0f} | {startup:.1f} + first eval "
                f"{start['first_evaluation_s']:.1f}"
            )
        if "parity" in row:
            worst = max(row["parity"]["max_rel_per_evaluation"])
            lines.append(f"{size} | parity of per-layer losses, evaluations 1-5: {worst:.1e}")
        for mark in row.get("time_to_peer_loss", []):
            bf16 = f", bfloat16 {_seconds(mark['bf16_s'])}" if "bf16_s" in mark else ""
            losses = ", ".join(f"{v:.5g}" for v in mark["peer_loss"])
            lines.append(
                f"{size} | time to the peer's loss after {mark['evaluations']} evaluations "
                f"({losses}): peer {_seconds(mark['peer_s'])}, ours "
                f"{_seconds(mark['ours_s'])}{bf16}"
            )
    if out["modes"]:
        lines += ["", "mode | s/eval median (min) | evals/iteration | first call s | loss"]
        for name, m in out["modes"].items():
            lines.append(
                f"{name} | {m['per_eval_median_s']:.3f} ({m['per_eval_min_s']:.3f}) | "
                f"{m['evals_per_iteration']:.2f} | {m['first_evaluation_s']:.1f} | "
                f"{m['final_loss']:.5g} after {m['evaluations']} evaluations"
            )
    if out.get("lbfgs_overhead"):
        o = out["lbfgs_overhead"]
        lines.append(
            f"L-BFGS bookkeeping @{o['size']} px, {o['pairs']} pairs: "
            f"{o['overhead_s'] * 1e3:.1f} ms per iteration"
        )
    if out.get("equal_history"):
        h = out["equal_history"]
        lines.append(
            f"peak RSS @{h['size']} px with full histories of {h['pairs']} pairs: "
            f"tf_style {h['ours_mib']:.0f} MiB, neural-style-pt {h['peer_mib']:.0f} MiB"
        )
    if out["seconds_per_megapixel"]:
        spm = ", ".join(f"{k}: {v:.2f}" for k, v in out["seconds_per_megapixel"].items())
        lines.append(f"s per evaluation per megapixel: {spm}")
    lines += ["", "ratios and targets:"]
    for name, t in out["targets"].items():
        value = "n/a" if t["measured"] is None else f"{t['measured']:.3f}"
        lines.append(f"  {name}: {value} (goal {t['goal']})")
    return lines


def memory_report(flags, log=print) -> list[dict]:
    """Peak memory of one evaluation per megapixel, with and without recompute (-memory_report).

    Each row is a fresh process (VmHWM) that loads a conv-only synthetic VGG-19, builds
    fixed-step L-BFGS with `-memory_num_correction` pairs and runs one evaluation; it also
    records tf_style.memory's estimate. The floor is performance.md 5.1's: the ReLU outputs of
    the net to relu5_1, which an input-only backward must keep.
    """
    folder = Path(flags.out_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"vgg19_conv_seed{flags.seed}.caffemodel"
    if not model.exists():
        from tf_style.testing import caffe_writer as writer

        writer.write_vgg(model, fc=None, seed=flags.seed)
    rows = []
    rng = np.random.default_rng(flags.seed)
    for size in map(int, flags.memory_sizes):
        images = {}
        for name in ("content", "style", "init"):
            images[name] = str(folder / f"memory_{name}_{size}.npy")
            np.save(images[name], rng.normal(0, 50, (1, size, size, 3)).astype(np.float32))
        for recompute in (False, True):
            out = folder / f"memory_{size}_{int(recompute)}.json"
            spec = dict(
                model=str(model), **images, optimizer="lbfgs", evaluations=1,
                num_correction=flags.memory_num_correction, recompute=recompute, estimate=True,
                out=str(out), threads=flags.threads,
            )  # fmt: skip
            path = folder / f"memory_{size}_{int(recompute)}.spec.json"
            path.write_text(json.dumps(spec))
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 or not out.exists():
                log(f"  {size} px, recompute {recompute}: FAILED: {done.stderr.strip()[-400:]}")
                continue
            result = json.loads(out.read_text())
            floor = sum(
                convs * width * 4 * ((size + 2**block // 2 - 1) // (2**block // 2)) ** 2
                for block, convs, width in _VGG19
            )
            rows.append(
                dict(size=size, recompute=recompute, peak=result["peak_rss"],
                     baseline=result["loaded_rss"], estimate=result["estimate"], floor=floor)
            )  # fmt: skip
            log(_memory_row(rows[-1]))
    (folder / "memory_report.json").write_text(json.dumps(rows, indent=1))
    return rows


def _memory_row(row: dict) -> str:
    mib, mp = 2**20, row["size"] ** 2 / 1e6
    return (
        f"  {row['size']:5d} px  recompute {'on ' if row['recompute'] else 'off'}  "
        f"peak {row['peak'] / mib:7.0f} MiB  ({(row['peak'] - row['baseline']) / mib / mp:6.0f} "
        f"MiB/MP over the loaded model)  estimate {row['estimate'] / mib:7.0f} MiB  "
        f"ReLU floor {row['floor'] / mib / mp:5.0f} MiB/MP"
    )


def main(argv) -> None:
    del argv
    from absl import flags

    if flags.FLAGS.worker:
        _worker(flags.FLAGS.worker)
        return
    if flags.FLAGS.memory_report:
        memory_report(flags.FLAGS)
        return
    if flags.FLAGS.report_only:
        saved = json.loads((Path(flags.FLAGS.out_dir) / "benchmark.json").read_text())
        kept = {k: saved[k] for k in ("caffe_parse",) if k in saved}
        finish(flags.FLAGS, saved["jobs"], extra=kept)
        return
    run_benchmark(flags.FLAGS)


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("worker", "", "Internal: run one measured configuration (a spec file).")
    flags.DEFINE_boolean("report_only", False, "Summarise out_dir/benchmark.json's jobs again.")
    flags.DEFINE_string("peer_dir", "", "A checkout of ProGamerGov/neural-style-pt; empty: skip.")
    flags.DEFINE_string("peer_python", "python3", "A Python with torch for neural-style-pt.")
    flags.DEFINE_string("out_dir", "benchmark_out", "Where the files and results go.")
    flags.DEFINE_list("sizes", ["256", "512"], "Sizes of the paired rounds (square images).")
    flags.DEFINE_integer("evaluations", 100, "Evaluations per run at the first size.")
    flags.DEFINE_integer("timing_evaluations", 8, "Evaluations per run at the other sizes.")
    flags.DEFINE_integer("rounds", 3, "Paired rounds (A, B) per size, each from its own start.")
    flags.DEFINE_boolean(
        "bfloat16_rounds", True, "Also run -precision bfloat16 in the rounds at the first size "
        "(its speed and time to the peer's loss).",
    )  # fmt: skip
    flags.DEFINE_list("large_sizes", ["1024"], "Sizes run once, with -large_evaluations.")
    flags.DEFINE_integer("large_evaluations", 4, "Evaluations per run at the large sizes.")
    flags.DEFINE_boolean("large_peer", True, "Run the peer at the large sizes too.")
    flags.DEFINE_list("scaling_sizes", ["128", "256", "512", "1024"], "Sizes for the scaling.")
    flags.DEFINE_boolean("modes", True, "Compare our optimizers, bfloat16 and XLA.")
    flags.DEFINE_integer("mode_size", 256, "Size of the mode comparison.")
    flags.DEFINE_integer("mode_evaluations", 8, "Evaluations per mode.")
    flags.DEFINE_integer("quality_size", 256, "Size of the float32 / bfloat16 loss comparison.")
    flags.DEFINE_integer("quality_evaluations", 100, "Its evaluations; 0 skips it.")
    flags.DEFINE_integer("overhead_size", 512, "Size of the L-BFGS bookkeeping run; 0 skips.")
    flags.DEFINE_integer(
        "equal_history", 5, "L-BFGS pairs of a memory round at the last -sizes size in which "
        "both histories are full (the peer's grows by a pair per iteration); 0 skips it.",
    )  # fmt: skip
    flags.DEFINE_integer("threads", 2, "Intra-op threads of both (inter-op: 1).")
    flags.DEFINE_boolean("caffe_parse", False, "Also time the Caffe import (tools/bench_caffe).")
    flags.DEFINE_integer("seed", 0, "Seed of the weights and the initial image.")
    flags.DEFINE_boolean(
        "memory_report", False, "Only measure peak memory with and without -recompute."
    )
    flags.DEFINE_list("memory_sizes", ["512", "1024", "2048"], "Sizes of the memory report.")
    flags.DEFINE_integer("memory_num_correction", 5, "L-BFGS pairs in the memory report.")
    flags.DEFINE_string(
        "content_image", str(ROOT / "examples/inputs/tubingen.jpg"), "The content image."
    )
    flags.DEFINE_string(
        "style_image", str(ROOT / "examples/inputs/starry_night.jpg"), "The style image."
    )


if __name__ == "__main__":
    from absl import app

    _define_flags()
    app.run(main)
