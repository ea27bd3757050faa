"""Whole runs of crowsonkb/style-transfer-pytorch's CLI against tf_style's (`-crowsonkb_dir`).

    python -m tools.benchmark -crowsonkb_dir /path/to/style-transfer-pytorch \
        -peer_python /path/to/venv-with-torch/bin/python -out_dir bench_out -rounds 2

runs this comparison alone (the rest of the benchmark does not run). Each program runs its own
command line to a finished image, from the same content and style files (each resizes them
itself), with the same seeded synthetic VGG-19 as the rest of the benchmark: tf_style loads the
converted `.caffemodel`, the peer loads it as torchvision's cached vgg19 weights
(peers/crowsonkb.py writes them under `out_dir/torch_home`; $TORCH_HOME points there, so
nothing in the user's home changes). Per round, each a fresh process:

- `ours_adam`: `python -m tf_style -image_size SIZE -scales auto -optimizer adam`, the
  original's defaults otherwise, with the peer's iterations at each scale (`-scale_iterations`);
- `ours_quality`: `-flagfile configs/quality.flags` at SIZE (its own 150 iterations per scale);
- `peer`: `python -m style_transfer.cli --devices cpu --end-scale SIZE`, its defaults otherwise
  (multi-scale from 128 px, Adam with iterate averaging, 1000 iterations at the first scale and
  500 at each later one, the Wasserstein-2 style loss).

`-crowsonkb_fraction` scales every side's iterations alike (the peer's defaults take hours on
two CPU cores). Wall time is the parent's, from the spawn to the exit (and to the final image's
mtime); peak memory is GNU time's (`/usr/bin/time -v`): the maximum RSS of the run's process
(and of any child it waited for), not a sum over a tree. A 2048^2 SGEMM is timed before and
after each run, as in the rest of the benchmark (docs/performance.md#pairing-and-noise). The
ratios ours / peer are per round, and their medians.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from tools.benchmark import inputs
from tools.benchmark.measure import module_command, sgemm_gflops
from tools.benchmark.problem import ROOT

DRIVER = Path(__file__).resolve().parent / "peers" / "crowsonkb.py"
QUALITY_FLAGS = ROOT / "configs" / "quality.flags"
# The peer's stylize() defaults: iterations at its first scale, and at each later one.
PEER_ITERATIONS = (1000, 500)
# configs/quality.flags's -num_iterations, at each of its scales.
QUALITY_ITERATIONS = 150
NAMES = ("ours_adam", "ours_quality", "peer")


def iterations(default: int, fraction: float) -> int:
    """`fraction` of a default iteration count, at least 1."""
    return max(1, round(default * fraction))


def peer_command(
    python: str, content: str, style: str, output: Path, size: int, fraction: float
) -> list[str]:
    """The peer's own CLI at `size`, its defaults otherwise but for its iteration counts."""
    first, later = (iterations(n, fraction) for n in PEER_ITERATIONS)
    return [
        python, "-m", "style_transfer.cli", content, style, "--output", str(output),
        "--devices", "cpu", "--end-scale", str(size),
        "--initial-iterations", str(first), "--iterations", str(later),
    ]  # fmt: skip


def ours_args(
    name: str, content: str, style: str, output: Path, model: Path, size: int, fraction: float
) -> list[str]:
    """tf_style's command-line arguments for `ours_adam` or `ours_quality`."""
    from tf_style.config import auto_scales

    common = [
        "-content_image", content, "-style_image", style, "-image_size", str(size),
        "-model_file", str(model), "-output_image", str(output),
    ]  # fmt: skip
    if name == "ours_quality":
        # The preset first; the flags after it replace its model, images and size.
        n = iterations(QUALITY_ITERATIONS, fraction)
        return ["-flagfile", str(QUALITY_FLAGS), *common, "-num_iterations", str(n)]
    first, later = (iterations(n, fraction) for n in PEER_ITERATIONS)
    per_scale = [first] + [later] * (len(auto_scales(size)) - 1)
    return [
        *common, "-scales", "auto", "-optimizer", "adam",
        "-scale_iterations", ",".join(map(str, per_scale)),
    ]  # fmt: skip


def timed(command: list[str], time_file: Path) -> list[str]:
    """`command` under GNU time, which writes its report (-v) to `time_file`."""
    return ["/usr/bin/time", "-v", "-o", str(time_file), *command]


def parse_time_v(text: str) -> dict:
    """GNU time -v's report: peak RSS in bytes, elapsed seconds, exit status."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().rpartition(": ")
        if sep:
            fields[key] = value.strip()
    clock = fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
    elapsed = sum(float(part) * 60**i for i, part in enumerate(reversed(clock)))
    return {
        "peak_rss": int(fields["Maximum resident set size (kbytes)"]) * 1024,
        "elapsed_s": elapsed,
        "exit_status": int(fields.get("Exit status", "0")),
    }


def peer_scales(trace: dict) -> list[dict]:
    """The peer's scales from its trace.json: size, iterations, median seconds per iteration
    (the first iteration of a scale, which includes the scale's setup, left out)."""
    scales: list[dict] = []
    previous = None
    for it in trace["iterates"]:
        if not scales or (it["w"], it["h"]) != (scales[-1]["w"], scales[-1]["h"]):
            scales.append({"w": it["w"], "h": it["h"], "iterations": 0, "steps": []})
        elif previous is not None:
            scales[-1]["steps"].append(it["time"] - previous)
        scales[-1]["iterations"] += 1
        previous = it["time"]
    for scale in scales:
        steps = scale.pop("steps")
        scale["s_per_iteration"] = statistics.median(steps) if steps else None
    return scales


SCALE_LINE = re.compile(r"^Scale \d+ / \d+: (\d+) px, (\d+) iterations")


def ours_scales(stdout: str) -> list[dict]:
    """Our scales from the lines the CLI prints ("Scale 1 / 5: 128 px, 20 iterations")."""
    found = (SCALE_LINE.match(line) for line in stdout.splitlines())
    return [{"size": int(m[1]), "iterations": int(m[2])} for m in found if m]


def ratios(jobs: list[dict], key: str) -> dict:
    """Per round, ours / peer of `key` for each of our runs, and the medians."""
    rounds: dict[int, dict] = {}
    for job in jobs:
        rounds.setdefault(job["round"], {})[job["name"]] = job[key]
    result = {}
    for name in NAMES[:2]:
        per_round = [r[name] / r["peer"] for r in rounds.values() if name in r and "peer" in r]
        if per_round:
            result[name] = {"rounds": per_round, "median": statistics.median(per_round)}
    return result


def prepare(folder: Path, python: str, seed: int, log) -> tuple[Path, dict]:
    """The synthetic VGG-19 for both sides: our converted file, and the peer's environment
    (TORCH_HOME with the weights torchvision loads for vgg19)."""
    model = folder / f"vgg19_synthetic_biased_seed{seed}.caffemodel"
    converted, npz = model.with_suffix(".tfstyle"), model.with_suffix(".npz")
    torch_home = folder / "torch_home"
    env = {"TORCH_HOME": str(torch_home)}
    where = subprocess.run(
        [python, str(DRIVER), "where"], env={**os.environ, **env}, capture_output=True, text=True
    )
    if where.returncode != 0:
        raise RuntimeError(f"The peer's Python failed: {where.stderr.strip()[-500:]}")
    checkpoint = Path(where.stdout.strip())
    if not (model.exists() and converted.exists() and checkpoint.exists()):
        log(f"Writing the synthetic VGG-19 to {folder} and {checkpoint} ...")
        inputs.write_weights(model, npz, seed)
        from tf_style import caffe

        caffe.convert(None, model, converted)
        done = subprocess.run(
            [python, str(DRIVER), "setup", str(npz)],
            env={**os.environ, **env}, capture_output=True, text=True,
        )  # fmt: skip
        npz.unlink(missing_ok=True)
        if done.returncode != 0:
            raise RuntimeError(f"Writing the peer's weights failed: {done.stderr[-500:]}")
    else:
        log(f"Reusing {model}, {converted.name} and {checkpoint}.")
    return converted, env


def run_one(name: str, command: list[str], env: dict, folder: Path, output: Path) -> dict:
    """One fresh process under GNU time, with an SGEMM before and after it."""
    time_file, out, err = (folder / f"{name}.{ext}" for ext in ("time", "out", "err"))
    before = sgemm_gflops()
    spawn = time.time()
    with open(out, "w") as stdout, open(err, "w") as stderr:
        done = subprocess.run(
            timed(command, time_file), env={**os.environ, **env}, cwd=folder,
            stdout=stdout, stderr=stderr,
        )  # fmt: skip
    wall = time.time() - spawn
    after = sgemm_gflops()
    if done.returncode != 0 or not output.exists():
        raise RuntimeError(f"{name} failed ({done.returncode}): {err.read_text()[-800:]}")
    return {
        **parse_time_v(time_file.read_text()),
        "wall_s": wall,
        "image_s": output.stat().st_mtime - spawn,
        "sgemm_gflops": (before, after),
    }


def run_comparison(flags, log=print) -> dict:
    """Paired rounds of ours_adam, ours_quality and peer; returns (and saves) the results."""
    checkout = Path(flags.crowsonkb_dir).resolve()
    if not (checkout / "style_transfer" / "cli.py").exists():
        raise SystemExit(f"-crowsonkb_dir {checkout}: no style_transfer/cli.py there.")
    folder = Path(flags.out_dir).resolve() / "crowsonkb"
    folder.mkdir(parents=True, exist_ok=True)
    # The runs start in `folder`: a relative -peer_python (not a bare name on PATH) is made
    # absolute first.
    python = flags.peer_python
    python = str(Path(python).absolute()) if os.sep in python else python
    model, peer_env = prepare(folder, python, flags.seed, log)
    peer_env["PYTHONPATH"] = str(checkout)
    size, fraction = flags.crowsonkb_size, flags.crowsonkb_fraction
    content = str(Path(flags.content_image).resolve())
    style = str(Path(flags.style_image).resolve())
    jobs = []
    for r in range(flags.rounds):
        log(f"Round {r + 1} at {size} px (fraction {fraction} of the iterations):")
        for name in NAMES:
            run = f"{name}_r{r}"
            output = folder / f"{run}.png"
            output.unlink(missing_ok=True)
            if name == "peer":
                command = peer_command(python, content, style, output, size, fraction)
                env = peer_env
            else:
                args = ours_args(name, content, style, output, model, size, fraction)
                command, env = module_command("tf_style", *args)
            job = {"name": name, "round": r, "command": command}
            job.update(run_one(run, command, env, folder, output))
            if name == "peer":
                trace = folder / f"{run}.trace.json"
                (folder / "trace.json").replace(trace)
                job["scales"] = peer_scales(json.loads(trace.read_text()))
            else:
                job["scales"] = ours_scales((folder / f"{run}.out").read_text())
            jobs.append(job)
            before, after = job["sgemm_gflops"]
            log(
                f"  {run}: {job['wall_s']:.1f} s, peak {job['peak_rss'] / 2**20:.0f} MiB "
                f"(SGEMM {before:.0f}, {after:.0f} GFLOP/s)"
            )
    result = {
        "size": size,
        "fraction": fraction,
        "load": os.getloadavg(),
        "jobs": jobs,
        "wall_ratio": ratios(jobs, "wall_s"),
        "memory_ratio": ratios(jobs, "peak_rss"),
    }
    (folder / "crowsonkb.json").write_text(json.dumps(result, indent=1))
    for line in summary(result):
        log(line)
    return result


def summary(result: dict) -> list[str]:
    """The printed table: medians per run, the scales, and the ratios ours / peer."""
    lines = [f"crowsonkb/style-transfer-pytorch at {result['size']} px:"]
    for name in NAMES:
        jobs = [j for j in result["jobs"] if j["name"] == name]
        if not jobs:
            continue
        wall = statistics.median(j["wall_s"] for j in jobs)
        peak = statistics.median(j["peak_rss"] for j in jobs) / 2**20
        scales = (
            ", ".join(
                f"{s.get('size', max(s.get('w', 0), s.get('h', 0)))} px x {s['iterations']}"
                for s in jobs[0]["scales"]
            )
            or "one (no chain)"
        )
        lines.append(f"  {name}: {wall:.1f} s, peak {peak:.0f} MiB; scales {scales}")
    for key, label in (("wall_ratio", "wall time"), ("memory_ratio", "peak memory")):
        for name, ratio in result[key].items():
            rounds = ", ".join(f"{x:.2f}" for x in ratio["rounds"])
            lines.append(f"  {label} {name} / peer: {ratio['median']:.2f}x ({rounds})")
    return lines
