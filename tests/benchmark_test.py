"""tools/benchmark's plumbing at a tiny size, and the -precision bfloat16 mode.

No timing is asserted: the tool's numbers are only checked for shape and consistency.
"""

import ast
import json
import pickle
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_style import caffe
from tf_style.config import ConfigError, StyleConfig
from tf_style.features import build_extractor
from tf_style.objective import Objective
from tools.benchmark import caffe_import, caffe_steps, peer, problem, runner, stats
from tools.benchmark.report import finish

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def test_evaluation_flops_match_performance_md():
    # docs/performance.md#one-evaluation: 397 GFLOP at 512^2 and 99 at 256^2, written out there by
    # hand.
    assert problem.evaluation_flops(512, 512) / 1e9 == pytest.approx(397, abs=1)
    assert problem.evaluation_flops(256, 256) / 1e9 == pytest.approx(99.3, abs=0.5)


def test_peer_keys_follow_neural_style_pt_sequential():
    # neural-style-pt's CaffeLoader.buildSequential: a Conv2d and a ReLU per number, a pool
    # per 'P'; the state_dict names the convolutions by their position.
    channels = [64, 64, "P", 128, 128, "P", *[256] * 4, "P", *[512] * 4, "P", *[512] * 4, "P"]
    expected, index = [], 0
    for c in channels:
        if c == "P":
            index += 1
        else:
            expected.append(f"features.{index}")
            index += 2
    expected += ["classifier.0", "classifier.3", "classifier.6"]
    assert peer.peer_keys() == expected


def test_peer_preprocess(tmp_path):
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 13
    Image.fromarray(pixels).save(tmp_path / "a.png")
    out = peer.peer_preprocess(tmp_path / "a.png")
    assert out.shape == (1, 2, 3, 3) and out.dtype == np.float32
    # x255 of ToTensor's /255, BGR order, minus the peer's mean (B, G, R).
    expected = pixels[..., ::-1].astype(np.float64) - [103.939, 116.779, 123.68]
    np.testing.assert_allclose(out[0], expected, atol=1e-4)


def test_peer_driver_is_python_that_imports_nothing_of_ours():
    # It runs with the peer's Python: a venv with torch, torchvision, numpy and pillow only.
    tree = ast.parse(peer.DRIVER.read_text(), str(peer.DRIVER))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            imported.add(node.module.split(".")[0])
    allowed = {"torch", "torchvision", "numpy", "PIL"}
    assert imported - allowed <= set(sys.stdlib_module_names), imported
    assert {"torch", "numpy"} <= imported


# A stand-in for torch, enough for the peer driver: seeded normal noise, save as a pickle.
FAKE_TORCH = """
import pickle
import numpy as np
__version__ = "0.0+fake"
_rng = np.random.default_rng(0)
class Tensor:
    def __init__(self, array):
        self.array = array
    def mul(self, k):
        return Tensor(self.array * np.float32(k))
    def numpy(self):
        return self.array
def manual_seed(seed):
    global _rng
    _rng = np.random.default_rng(seed)
def randn(*shape):
    return Tensor(_rng.standard_normal(shape).astype(np.float32))
def from_numpy(array):
    return Tensor(array)
def save(state, path):
    with open(path, "wb") as f:
        pickle.dump({k: v.array for k, v in state.items()}, f)
def set_num_threads(n):
    assert n == 2
def set_num_interop_threads(n):
    assert n == 1
"""

# A stand-in for neural-style-pt's neural_style.py that prints in its format.
FAKE_NEURAL_STYLE = """
import json, sys
args = sys.argv[1:]
n = int(args[args.index("-num_iterations") + 1])
json.dump(args, open(args[args.index("-output_image") + 1] + ".args.json", "w"))
print("Successfully loaded models/vgg19.pth")
print("Running optimization with L-BFGS")
for i in range(1, n + 1):
    print(f"Iteration {i} / {n}")
    print(f"  Content 1 loss: {10.0 / i}")
    for k in range(1, 6):
        print(f"  Style {k} loss: {100.0 / i + k}")
    print(f"  Total loss: {600.0 / i}")
"""


@pytest.fixture
def fake_peer(tmp_path, monkeypatch):
    """A peer checkout and a Python whose torch is the stand-in above."""
    site = tmp_path / "site"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text(FAKE_TORCH)
    (site / "torchvision").mkdir()
    (site / "torchvision" / "__init__.py").write_text("")
    checkout = tmp_path / "neural-style-pt"
    checkout.mkdir()
    (checkout / "neural_style.py").write_text(FAKE_NEURAL_STYLE)
    monkeypatch.setenv("PYTHONPATH", str(site))
    return checkout


def test_peer_driver_setup_and_run(fake_peer, tmp_path):
    """peers/neural_style_pt.py run as the peer's Python does: setup, then a run of its CLI."""
    folder = tmp_path / "bench"
    folder.mkdir()
    npz, pth = folder / "w.npz", folder / "w.pth"
    np.savez(npz, **{"features.0.weight": np.ones((2, 3, 3, 3), np.float32)})
    done = peer.setup(sys.executable, npz, pth, [0, 1], folder, [4, 6])
    assert done.returncode == 0, done.stderr
    state = pickle.loads(pth.read_bytes())
    np.testing.assert_array_equal(state["features.0.weight"], np.ones((2, 3, 3, 3)))
    for seed in (0, 1):
        for size in (4, 6):
            init = np.load(folder / f"init_{size}_s{seed}.npy")
            expected = np.random.default_rng(seed).standard_normal((3, size, size)) * 0.001
            np.testing.assert_allclose(init, expected, rtol=1e-6)
    pth.unlink()
    assert peer.setup(sys.executable, folder / "none.npz", pth, [0], folder, [4]).returncode == 0
    assert not pth.exists()  # "-": no weights to write

    bench = runner.Bench(folder, 2, str(fake_peer), sys.executable, log=lambda _: None)
    job = bench.peer("peer_4_r0", 4, 3, pth, num_correction=7, seed=5)
    assert job is not None, "the peer driver failed"
    assert [loss for _, loss in job["curve"]] == [600.0, 300.0, 200.0]
    assert job["first_losses"][1] == [5.0, 51.0, 52.0, 53.0, 54.0, 55.0]
    assert job["peak_rss"] >= job["baseline_rss"] > 0
    assert job["versions"] == {"torch": "0.0+fake"}
    assert set(job["startup"]) == {"import_s", "load_s", "setup_s", "first_evaluation_s"}
    args = json.loads((folder / "peer_4_r0.png.args.json").read_text())
    options = dict(zip(args[::2], args[1::2]))
    assert options["-lbfgs_num_correction"] == "7" and options["-seed"] == "5"
    assert options["-content_image"] == str(folder / "content_4.png")
    assert options["-tv_weight"] == "0" and options["-model_file"] == str(pth)


def test_time_to_loss_and_parity():
    curve = [[1.0, 10.0], [2.0, 5.0], [3.0, 4.0]]
    assert stats.time_to_loss(curve, 5.0) == 2.0
    assert stats.time_to_loss(curve, 1.0) is None
    assert stats.time_to_loss(curve, 3.9999) == 3.0  # within 1e-4 of the target
    same = {"first_losses": [[1.0, 2.0], [0.5, 1.0]]}
    off = {"first_losses": [[1.0, 2.0], [0.5, 1.1]]}
    assert stats.parity(same, same)["ok"]
    # Rounds pair by their number (each has its own start), also when one failed.
    ours = [{"name": "ours_32_r0"}, {"name": "ours_32_r1"}]
    peer = [{"name": "peer_32_r1"}]
    assert stats.paired(ours, peer) == [(ours[1], peer[0])]
    result = stats.parity(same, off)
    assert not result["ok"] and result["max_rel_per_evaluation"][1] == pytest.approx(0.1 / 1.1)


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
    assert Image.open(tmp_path / "loss_vs_time.png").size == (900, 560)
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


def test_caffe_import_steps_run_in_fresh_processes(tiny_vgg, tmp_path, monkeypatch):
    proto, model = tiny_vgg
    converted = tmp_path / "tiny.tfstyle"
    caffe.convert(proto, model, converted)
    paths = {"MODEL": model, "PROTO": proto, "CONVERTED": converted}
    monkeypatch.chdir(tmp_path)  # the steps find this package from anywhere
    seconds, peak = caffe_import.run_step("parse", paths)  # one process: TF's import is seconds
    assert seconds > 0 and peak > model.stat().st_size
    assert list(caffe_steps.STEPS) == [
        "parse", "parse_structure_only", "read_converted",
        "load_model_caffemodel", "load_model_converted",
    ]  # fmt: skip


def test_precision_is_validated():
    assert StyleConfig().precision == "float32"
    with pytest.raises(ConfigError, match="-precision"):
        StyleConfig(precision="float16")


def test_bfloat16_losses_close_to_float32(tiny_vgg):
    """Iteration 1: bfloat16 convolutions change the losses by well under 1% in total."""
    _, model_file = tiny_vgg
    model = caffe.load_model(None, model_file)
    rng = np.random.default_rng(1)
    content, style, x = (rng.uniform(-100, 100, (1, 48, 48, 3)).astype(np.float32) for _ in "abc")
    results = {}
    for precision in ("float32", "bfloat16"):
        extractor = build_extractor(model, ["relu4_2"], STYLE, precision=precision)
        objective = Objective(extractor, content_weight=5.0, style_weight=100.0, tv_weight=1e-3)
        objective.capture_content(content)
        objective.capture_styles([style], [1.0])
        loss, grad, terms = objective(tf.constant(x))
        results[precision] = loss.numpy(), grad, terms.numpy()
        wanted = tf.bfloat16 if precision == "bfloat16" else tf.float32
        assert all(t.dtype == wanted for t in extractor.model.outputs)
        assert loss.dtype == grad.dtype == tf.float32
    (l32, g32, t32), (l16, g16, t16) = results["float32"], results["bfloat16"]
    assert l16 == pytest.approx(l32, rel=0.01)
    # Per layer up to several percent on this 4-to-12-channel net (bfloat16 keeps 8 bits of
    # mantissa; a real VGG's 64-512 channels average much of it away).
    np.testing.assert_allclose(t16, t32, rtol=0.1)
    assert l16 != l32  # the bfloat16 path really is another computation
    cosine = tf.reduce_sum(g16 * g32) / (tf.norm(g16) * tf.norm(g32))
    assert float(cosine) > 0.95
