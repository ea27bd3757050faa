"""Tests for tools/benchmark/peer.py and peers/: neural-style-pt's driver with a stand-in torch.

No timing is asserted: the tool's numbers are only checked for shape and consistency.
"""

import ast
import json
import pickle
import sys

import numpy as np
import pytest
from PIL import Image

from tools.benchmark import crowsonkb, peer, runner


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


@pytest.mark.parametrize(
    "driver,allowed",
    [(peer.DRIVER, {"torch", "torchvision", "numpy", "PIL"}),
     (crowsonkb.DRIVER, {"torch", "torchvision", "numpy"})],
)  # fmt: skip
def test_peer_drivers_are_python_that_imports_nothing_of_ours(driver, allowed):
    # Each runs with the peer's Python: a venv with the peers' packages and no tf_style.
    tree = ast.parse(driver.read_text(), str(driver))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            imported.add(node.module.split(".")[0])
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
