"""The benchmark's flags and main (`python -m tools.benchmark`; see tools/benchmark/__init__.py).

The measuring modules are imported once the flags say which one runs: a worker process
imports no more than its run needs.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import flags

from tools.benchmark.problem import ROOT


def main(argv) -> None:
    """A worker run, the memory report, the summary of saved jobs, or the whole benchmark."""
    del argv
    if flags.FLAGS.worker:
        from tools.benchmark import worker

        worker.run(flags.FLAGS.worker)
        return
    if flags.FLAGS.memory_report:
        from tools.benchmark.runner import memory_report

        memory_report(flags.FLAGS)
        return
    if flags.FLAGS.crowsonkb_dir:
        from tools.benchmark.crowsonkb import run_comparison

        run_comparison(flags.FLAGS)
        return
    if flags.FLAGS.report_only:
        from tools.benchmark.report import finish

        saved = json.loads((Path(flags.FLAGS.out_dir) / "benchmark.json").read_text())
        kept = {k: saved[k] for k in ("caffe_parse",) if k in saved}
        finish(flags.FLAGS, saved["jobs"], extra=kept)
        return
    from tools.benchmark.schedule import run_benchmark

    run_benchmark(flags.FLAGS)


def define_flags() -> None:
    """Defines the benchmark's flags (`python -m tools.benchmark --helpshort` lists them)."""
    flags.DEFINE_string("worker", "", "Internal: run one measured configuration (a spec file).")
    flags.DEFINE_boolean("report_only", False, "Summarise out_dir/benchmark.json's jobs again.")
    flags.DEFINE_string("peer_dir", "", "A checkout of ProGamerGov/neural-style-pt; empty: skip.")
    flags.DEFINE_string("peer_python", "python3", "A Python with torch for the peers.")
    flags.DEFINE_string(
        "crowsonkb_dir", "", "A checkout of crowsonkb/style-transfer-pytorch: run only the "
        "whole-run comparison with its CLI (tools/benchmark/crowsonkb.py); empty: skip.",
    )  # fmt: skip
    flags.DEFINE_integer("crowsonkb_size", 512, "The final size of the crowsonkb comparison.")
    flags.DEFINE_float(
        "crowsonkb_fraction", 1.0, "The share of each side's default iterations that the "
        "crowsonkb comparison runs (1: the peer's 1000 + 500 per later scale, quality's 150).",
    )  # fmt: skip
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
    flags.DEFINE_boolean("caffe_parse", False, "Also time the Caffe import (caffe_import.py).")
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
