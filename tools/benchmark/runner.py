"""The measured runs, each a fresh process with an SGEMM calibration before and after it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from tools.benchmark import inputs, peer, report, stats, worker
from tools.benchmark.measure import sgemm_gflops
from tools.benchmark.problem import relu_floor_bytes


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
        """One of our runs (see `worker.run` for the spec's keys)."""
        out = self.folder / f"{name}.json"
        spec.update(out=str(out), threads=self.threads)
        path = self.folder / f"{name}.spec.json"
        path.write_text(json.dumps(spec))
        command, env = worker.command(path)
        result = self._calibrated(name, command, out, env)
        if result is not None and "evals" in result:
            result.update(stats.curve_ours(result))
            self.log(f"  {name}: {report.summary_line(result)}")
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
        command = peer.run_command(
            self.peer_python, self.peer_dir, out, self.folder, name, size, evaluations, pth,
            num_correction, seed,
        )  # fmt: skip
        result = self._calibrated(name, command, out, {"BENCH_THREADS": str(self.threads)})
        if result is not None:
            result.update(stats.curve_peer(result))
            self.log(f"  {name}: {report.summary_line(result)}")
        return result


def memory_report(flags, log=print) -> list[dict]:
    """Peak memory of one evaluation per megapixel, with and without recompute (-memory_report).

    Each row is a fresh process (VmHWM) that loads a conv-only synthetic VGG-19, builds
    fixed-step L-BFGS with `-memory_num_correction` pairs and runs one evaluation; it also
    records tf_style.memory's estimate. The floor is docs/performance.md#activation-floor: the ReLU
    outputs of
    the net to relu5_1, which an input-only backward must keep.
    """
    folder = Path(flags.out_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"vgg19_conv_seed{flags.seed}.caffemodel"
    if not model.exists():
        inputs.write_conv_vgg(model, flags.seed)
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
            command, env = worker.command(path)
            done = subprocess.run(
                command, env={**os.environ, **env}, capture_output=True, text=True
            )
            if done.returncode != 0 or not out.exists():
                log(f"  {size} px, recompute {recompute}: FAILED: {done.stderr.strip()[-400:]}")
                continue
            result = json.loads(out.read_text())
            rows.append(
                dict(size=size, recompute=recompute, peak=result["peak_rss"],
                     baseline=result["loaded_rss"], estimate=result["estimate"],
                     floor=relu_floor_bytes(size))
            )  # fmt: skip
            log(report.memory_row(rows[-1]))
    (folder / "memory_report.json").write_text(json.dumps(rows, indent=1))
    return rows
