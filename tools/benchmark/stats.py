"""From the raw jobs to the numbers: curves, time to a loss, parity, pairing, summary, targets."""

from __future__ import annotations

import math
import statistics

import numpy as np

from tools.benchmark.problem import evaluation_flops

WARMUP = 2  # evaluations left out of the steady-state statistics


def _steady(ends: list[float]) -> list[float]:
    """Seconds per evaluation from their end times, warm-ups left out where there are enough."""
    intervals = [float(d) for d in np.diff(ends)]
    return intervals[WARMUP:] or intervals[-1:] or ends[-1:]


def curve_ours(result: dict) -> dict:
    """Per-evaluation times, the loss curve, the first per-layer losses and the start-up."""
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


def curve_peer(result: dict) -> dict:
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


def time_to_loss(curve: list, target: float, rtol: float = 1e-4) -> float | None:
    """Seconds from the start of optimisation until the loss first reaches `target`.

    Within `rtol` counts as reached: the two implementations follow the same path and differ
    by float rounding (the parity tolerance of docs/performance.md#pairing-and-noise).
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


def group(jobs: list[dict], sizes: list[int], large: list[int]) -> tuple:
    """The jobs by their names: (rounds, modes, overhead, scaled, history).

    Each job's curve is recomputed, so that -report_only uses the current definitions.
    """
    rounds = {size: {"ours": [], "peer": [], "bf16": []} for size in sizes + large}
    modes, overhead, scaled, history = {}, None, {}, {}
    for job in jobs:
        name = job["name"]
        if "lines" in job:
            job.update(curve_peer(job))
        elif "evals" in job:
            job.update(curve_ours(job))
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
    return rounds, modes, overhead, scaled, history


def _good(jobs: list) -> list:
    return [j for j in jobs if j is not None]


def _stable(job: dict) -> bool:
    """Whether the calibration moved less than 25% across the job
    (docs/performance.md#pairing-and-noise)."""
    before, after = job["sgemm_gflops"]
    return abs(after - before) <= 0.25 * max(before, after)


def paired(jobs: list, others: list) -> list[tuple]:
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
                for a, b in paired(ours, peer)
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
                    for a, b in paired(jobs, peer):
                        t = time_to_loss(a["curve"], b["curve"][k - 1][1])
                        times.append(t)
                        ratios.append(math.inf if t is None else t / b["curve"][k - 1][0])
                    if ratios:
                        mark[f"{side}_s"], mark[f"{side}_ratio"] = times, ratios
                row["time_to_peer_loss"].append(mark)
            if bf16:
                row["bf16_speedup_median"] = statistics.median(
                    statistics.median(b["per_eval"]) / statistics.median(a["per_eval"])
                    for a, b in paired(bf16, peer)
                )
        if ours and bf16:
            # bfloat16's loss over float32's from the same start after the same number of
            # evaluations (the median over the rounds), at each quarter of the peer's run (or
            # of the shorter of ours).
            n = min(len(ours[0]["curve"]), len(bf16[0]["curve"]))
            n = min(n, len(peer[0]["curve"])) if peer else n
            row["bf16_loss_ratio"] = {
                k: statistics.median(
                    b["curve"][k - 1][1] / a["curve"][k - 1][1] for b, a in paired(bf16, ours)
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
