"""One of our measured runs, in a fresh process (`python -m tools.benchmark --worker spec.json`).

With inputs.py and caffe_steps.py the only modules that import tf_style; here the imports wait
until the threads are set and the start-up times taken.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from tools.benchmark.measure import hwm, module_command, timed
from tools.benchmark.problem import CONTENT_LAYERS, CONTENT_WEIGHT, STYLE_LAYERS, STYLE_WEIGHT


def command(spec_path: Path) -> tuple[list[str], dict]:
    """The command and the environment variables that run the worker on a spec file."""
    return module_command("tools.benchmark", "--worker", str(spec_path))


def warmup_evaluations() -> int:
    """The float32 evaluations a bfloat16 L-BFGS run starts with."""
    from tf_style.optimizers import WARMUP_EVALUATIONS

    return WARMUP_EVALUATIONS


def run(spec_path: str) -> None:
    """Runs one measured configuration of tf_style and writes its JSON result."""
    times = {"start": time.time()}
    spec = json.loads(Path(spec_path).read_text())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # As the command does: XLA keeps its compiled functions across runs (tf_style/cli.py), here
    # in the benchmark's own folder, so that the first round compiles and later rounds load.
    os.environ["TF_STYLE_HOME"] = str(Path(spec["out"]).parent / "home")
    from tf_style.cli import cache_compilations

    cache_compilations()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tf_style import caffe, optimizers
    from tf_style.features import build_extractor
    from tf_style.objective import Objective
    from tf_style.prepare import sums_in_a_fixed_order

    sums_in_a_fixed_order()  # as every run of the command does

    times["imported"] = time.time()
    baseline = hwm()
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    result = {"spec": spec, "versions": {"tensorflow": tf.__version__}, "gpu": bool(gpus)}
    if spec.get("kind") == "lbfgs_overhead":
        result.update(lbfgs_overhead(spec, optimizers, tf))
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


def lbfgs_overhead(spec: dict, optimizers, tf) -> dict:
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
    steps = [timed(lambda: optimizer.run(1)[0].numpy()) for _ in range(spec["evaluations"])]
    traced = tf.function(bare)
    x = tf.constant(x0)
    traced(x)
    own = [timed(lambda: traced(x)[0].numpy()) for _ in range(spec["evaluations"])]
    return {
        "iteration_s": statistics.median(steps),
        "objective_s": statistics.median(own),
        "overhead_s": statistics.median(steps) - statistics.median(own),
        "pairs": optimizer.num_pairs,
    }
