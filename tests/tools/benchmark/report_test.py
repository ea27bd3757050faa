"""Tests for tools/benchmark/report.py: a tiny run through the worker, then the summary, the
table and the plot. No timing is asserted: only shapes and consistency."""

import json

import numpy as np
import pytest
from PIL import Image

from tools.benchmark import runner
from tools.benchmark.report import finish


@pytest.mark.slow
def test_worker_run_summary_table_and_plot(tiny_vgg, tmp_path):
    """One tiny run through a fresh worker process, then the summary, the table and the plot."""
    _, model = tiny_vgg
    rng = np.random.default_rng(0)
    files = {}
    for name in ("content", "style", "init"):
        files[name] = tmp_path / f"{name}.npy"
        scale = 10.0 if name == "init" else 60.0
        np.save(files[name], (rng.standard_normal((1, 32, 32, 3)) * scale).astype(np.float32))
    bench = runner.Bench(tmp_path, threads=2, peer_dir="", peer_python="", log=lambda _: None)
    job = bench.ours(
        "ours_32_r0",
        optimizer="lbfgs",
        evaluations=4,
        model=str(model),
        size=32,
        **{k: str(v) for k, v in files.items()},
    )
    assert job is not None, "the worker failed"
    saved = json.loads((tmp_path / "ours_32_r0.json").read_text())
    assert [e[2] for e in saved["evals"]] == [1, 2, 3, 4]
    assert len(job["per_eval"]) == 1  # 3 intervals minus the 2 warm-ups
    assert job["peak_rss"] >= job["baseline_rss"] > 0
    assert set(job["startup"]) == {"import_s", "load_s", "setup_s", "first_evaluation_s"}
    losses = [loss for _, loss in job["curve"]]
    assert losses[-1] < losses[0]  # L-BFGS makes progress on this objective

    class Flags:
        out_dir, sizes, large_sizes, scaling_sizes = str(tmp_path), ["32"], [], ["32"]
        mode_size, overhead_size = 32, 0

    printed = []
    report = finish(Flags, bench.jobs, printed.append)
    row = report["sizes"][32]["ours"]
    assert row["evaluations"] == 4 and row["per_eval_median_s"] == job["per_eval"][0]
    assert any(line.startswith("32 | tf_style |") for line in printed)
    with Image.open(tmp_path / "loss_vs_time.png") as plot:
        assert plot.size == (900, 560)
    # -report_only: the saved jobs give the same summary again.
    again = finish(Flags, json.loads((tmp_path / "benchmark.json").read_text())["jobs"])
    assert again["sizes"][32]["ours"] == row
    # The memory round with full histories on both sides: the two peaks and their ratio.
    history = [
        dict(job, name="history_ours_32", spec={**job["spec"], "num_correction": 5}),
        {"name": "history_peer_32", "peak_rss": 2 * job["peak_rss"]},
    ]
    report = finish(Flags, bench.jobs + history, printed.append)
    assert report["equal_history"]["pairs"] == 5
    ratio = report["targets"]["peak RSS ours/peer @32, full histories"]["measured"]
    assert ratio == pytest.approx(0.5)
    assert any("with full histories of 5 pairs" in line for line in printed)
    # A peer round (here a copy of ours) and a bfloat16 round with the same losses twice as
    # fast: the speed ratios, the time to the peer's loss and the loss after as many
    # evaluations as float32's.
    bf16 = dict(job, name="bf16_32_r0", evals=[[t / 2, *rest] for t, *rest in saved["evals"]])
    peer = dict(job, name="peer_32_r0")
    report = finish(Flags, bench.jobs + [peer, bf16], printed.append)
    targets = {k: v["measured"] for k, v in report["targets"].items()}
    assert targets["float32 speed vs peer @32"] == pytest.approx(1.0)
    assert targets["bfloat16 speed vs peer float32 @32"] == pytest.approx(2.0)
    # Checkpoints at each quarter of the peer's 4 evaluations: 1, 2, 3 and 4.
    for k in (1, 2, 3, 4):
        # (float32's curve may come within 1e-4 of the peer's loss an evaluation early here.)
        float32_time = targets[f"float32 time to peer's loss after {k}, ours/peer"]
        assert 0 < float32_time <= 1
        bfloat16_time = targets[f"bfloat16 time to peer's loss after {k}, ours/peer"]
        assert bfloat16_time == pytest.approx(float32_time / 2)
        assert targets[f"bfloat16 loss / float32 loss - 1 after {k} evaluations @32"] == 0
    assert any(line.startswith("32 | tf_style bfloat16 |") for line in printed)
