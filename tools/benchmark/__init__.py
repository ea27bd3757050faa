"""Speed and memory of tf_style, measured against neural-style-pt on the same machine.

    python -m tools.benchmark -peer_dir /path/to/neural-style-pt \
        -peer_python /path/to/venv-with-torch/bin/python -out_dir bench_out

(from the repository root). One seeded synthetic VGG-19 (the real weights cannot be downloaded
here) is written both as a .caffemodel for tf_style and as a state_dict for neural-style-pt
(ProGamerGov/neural-style-pt, run through its own `neural_style.py`; its code is never part of
this repository). Both solve the same problem: the same square content and style images,
already at the run's size (so no resize happens on either side), the peer's preprocessing
(x255, BGR, mean) fed to tf_style as arrays, the peer's own `torch.randn * 0.001` initial image
(seeded per round), fixed-step L-BFGS with 100 pairs, default content and style weights and
layers. TV is off in both: neural-style-pt's TV is an L1 term that differs from the original's
(docs/semantics.md#how-neural-style-pt-differs). First the iteration-1..5 losses of the two are
compared (a check of
losses, gradients and the L-BFGS steps alike).

Every measured run is a fresh process; ours (A) and the peer's (B) alternate A, B, A, B, with a
2048^2 SGEMM timed before and after each (docs/performance.md#pairing-and-noise: this VM's speed
swings). At the
first size a bfloat16 run of ours joins each round, ours run a quarter longer, and the time to
reach the peer's loss is taken at each quarter of its run; each round starts from its own
noise (seed + round), and the ratios are medians over the rounds. Then our own modes (optimizers,
bfloat16, XLA), float32 against bfloat16 over a longer run, the L-BFGS bookkeeping on a trivial
objective, and the scaling with image size. Results go to `out_dir/benchmark.json` and
`out_dir/loss_vs_time.png`; the table is printed last. Without `-peer_dir` (or without torch)
the peer rounds are skipped.

The modules, one concern each (data flows down the list):

- `problem.py`: what both sides solve (layers, weights, VGG-19's shape, FLOPs per evaluation);
  `measure.py`: peak memory (VmHWM), the SGEMM calibration.
- `peers/neural_style_pt.py`: the program run with the peer's Python (`-peer_python`): writes
  its state_dict and initial images, and runs its `neural_style.py`; `peer.py`: our side of it.
- `inputs.py`: the weights, images and initial images both sides are given.
- `worker.py`: one of our measured runs, in a fresh process (`--worker spec.json`).
- `runner.py`: the fresh processes, each with an SGEMM before and after; the memory report.
- `stats.py`: curves, time to a loss, parity, pairing of rounds, the summary and the targets;
  `report.py`: the table, the plot, the saved results.
- `schedule.py`: the order of the measurements; `cli.py` (and `__main__.py`): the flags.
- `crowsonkb.py` (`-crowsonkb_dir`, alone): whole runs of crowsonkb/style-transfer-pytorch's
  CLI against ours, multi-scale to 512 px, wall time and peak memory; `peers/crowsonkb.py`
  writes the synthetic VGG-19 where its torchvision loads vgg19's weights.
- `caffe_import.py`, `caffe_steps.py`: the Caffe import benchmark (`-caffe_parse`, or alone as
  `python -m tools.benchmark.caffe_import`), each step a fresh process.
- Standalone measurements, each `python -m tools.benchmark.<name>`: `quality.py` (what the
  quality options buy at equal time), `print_size.py` (a chain to 8192 px, the peak per tile
  size), `resnet.py` (open_nsfw's evaluation, BatchNorm folded or not), `overhead.py` (what
  masks, W2, tiles and the temporal loss cost per evaluation).

Only `worker.py`, `caffe_steps.py` (what they measure), `inputs.py` and the standalone
measurements import tf_style's computation; `__main__.py` takes `tf_style.apps` (a help that
exits 0), which loads nothing.
"""
