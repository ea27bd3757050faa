"""The order of the measurements: paired rounds, full histories, modes, quality, scaling."""

from __future__ import annotations

import json
from pathlib import Path

from tools.benchmark import inputs, report, worker
from tools.benchmark.runner import Bench


def run_benchmark(flags, log=print) -> dict:
    """Runs every measurement the flags ask for; returns the report (also saved as JSON)."""
    folder = Path(flags.out_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in flags.sizes]
    large = [int(s) for s in flags.large_sizes]
    scaling = [int(s) for s in flags.scaling_sizes]
    all_sizes = sorted(set(sizes + large + scaling + [flags.mode_size, flags.quality_size]))
    # Each round starts from its own noise: from a tiny start the original's fixed-step L-BFGS
    # magnifies rounding (ours and the peer's losses part by 5e-4 after 5 evaluations and by
    # x2.5 after 25, then meet again), so a time to the peer's loss is a median over starts.
    seeds = [flags.seed + r for r in range(max(flags.rounds, 1))]
    converted, pth, peer_dir = inputs.prepare(flags, folder, all_sizes, seeds, log)
    bench = Bench(folder, flags.threads, peer_dir, flags.peer_python, log)

    def run_files(size, seed=flags.seed):
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
            start = run_files(size, seeds[r])
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
            **run_files(size),
        )  # fmt: skip
        bench.peer(f"history_peer_{size}", size, n, pth, num_correction=m, seed=flags.seed)
    if flags.modes:
        size, n = flags.mode_size, flags.mode_evaluations
        log(f"Our modes at {size} px:")
        for name, spec in {
            "lbfgs_float32": {"optimizer": "lbfgs"},
            # n of its own after the float32 ones it starts with.
            "lbfgs_bfloat16": {
                "optimizer": "lbfgs",
                "precision": "bfloat16",
                "evaluations": n + worker.warmup_evaluations(),
            },
            "adam_float32": {"optimizer": "adam"},
            # XLA with Adam: with L-BFGS the history updates dominate under XLA on the CPU.
            "adam_float32_xla": {"optimizer": "adam", "xla": True},
            "tfp_lbfgs_float32": {"optimizer": "tfp_lbfgs", "iterations": max(3, n // 3)},
        }.items():
            bench.ours(f"mode_{name}", **{"evaluations": n, **spec}, **run_files(size))
    if flags.quality_evaluations:
        size, n = flags.quality_size, flags.quality_evaluations
        log(f"float32 against bfloat16 at {size} px, {n} evaluations:")
        for precision in ("float32", "bfloat16"):
            bench.ours(
                f"quality_{precision}",
                optimizer="lbfgs",
                precision=precision,
                evaluations=n,
                **run_files(size),
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
            f"ours_{size}",
            optimizer="lbfgs",
            evaluations=flags.timing_evaluations,
            **run_files(size),
        )
    extra = {}
    if flags.caffe_parse:
        log("Caffe import (tools/benchmark/caffe_import.py):")
        from tools.benchmark.caffe_import import benchmark_parse

        extra["caffe_parse"] = benchmark_parse(folder)
        log(json.dumps(extra["caffe_parse"]))
    return report.finish(flags, bench.jobs, log, extra)
