"""What the benchmark prints and saves: the table, the plot, benchmark.json, the memory rows."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from tools.benchmark import stats


def summary_line(result: dict) -> str:
    """The line printed after each run: its speed, final loss, peak memory and calibration."""
    per = result["per_eval"]
    return (
        f"{statistics.median(per):.3f} s/eval (min {min(per):.3f}), final loss "
        f"{result['curve'][-1][1]:.5g}, peak RSS {result['peak_rss'] / 2**20:.0f} MiB, "
        f"SGEMM {result['sgemm_gflops'][0]:.0f}/{result['sgemm_gflops'][1]:.0f} GFLOP/s"
    )


def plot(curves: dict[str, list], path: Path) -> None:
    """Loss (log scale) against seconds for each named curve, as a PNG.

    PIL only: the project does not depend on matplotlib.
    """
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


def finish(flags, jobs: list[dict], log=print, extra: dict | None = None) -> dict:
    """Summarises the jobs (grouped by their names), saves the JSON and the plot, prints."""
    folder = Path(flags.out_dir).resolve()
    sizes = [int(s) for s in flags.sizes]
    large = [int(s) for s in flags.large_sizes]
    scaling = [int(s) for s in flags.scaling_sizes]
    rounds, modes, overhead, scaled, history = stats.group(jobs, sizes, large)
    report = stats.summarize(flags, rounds, modes, overhead, scaled, history, sizes, large, scaling)
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


def memory_row(row: dict) -> str:
    """One printed row of the memory report."""
    mib, mp = 2**20, row["size"] ** 2 / 1e6
    return (
        f"  {row['size']:5d} px  recompute {'on ' if row['recompute'] else 'off'}  "
        f"peak {row['peak'] / mib:7.0f} MiB  ({(row['peak'] - row['baseline']) / mib / mp:6.0f} "
        f"MiB/MP over the loaded model)  estimate {row['estimate'] / mib:7.0f} MiB  "
        f"ReLU floor {row['floor'] / mib / mp:5.0f} MiB/MP"
    )
