"""Our side of neural-style-pt: its state_dict keys, its preprocessing, its command lines.

The peer itself runs in its own Python through peers/neural_style_pt.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from tools.benchmark.problem import CONTENT_WEIGHT, STYLE_WEIGHT, VGG19

DRIVER = Path(__file__).resolve().parent / "peers" / "neural_style_pt.py"
MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def peer_keys() -> list[str]:
    """neural-style-pt's VGG-19 state_dict keys, in Caffe layer order (conv1_1 ... fc8)."""
    keys, index = [], 0
    for _, convs, _ in (*VGG19[:4], (5, 4, 512)):
        for _ in range(convs):
            keys.append(f"features.{index}")
            index += 2  # Conv2d, ReLU
        index += 1  # MaxPool2d
    return keys + ["classifier.0", "classifier.3", "classifier.6"]


def peer_preprocess(png: Path) -> np.ndarray:
    """neural-style-pt's preprocessing of an image already at its size, NHWC for tf_style.

    ToTensor (/255), x255, RGB -> BGR, minus its mean: float32 [1, H, W, 3].
    """
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB"), np.float32) / np.float32(255)
    bgr = (rgb * np.float32(255))[..., ::-1] - MEAN_BGR
    return np.ascontiguousarray(bgr[None], np.float32)


def setup(
    python: str, npz: Path, pth: Path, seeds: list[int], folder: Path, sizes: list[int]
) -> subprocess.CompletedProcess:
    """Writes the state_dict (from `npz` where it exists) and the peer's initial images."""
    command = [
        python,
        str(DRIVER),
        "setup",
        str(npz) if npz.exists() else "-",
        str(pth),
        ",".join(map(str, seeds)),
        str(folder),
        *map(str, sizes),
    ]
    return subprocess.run(command, capture_output=True, text=True)


def run_command(
    python: str,
    peer_dir: str,
    out: Path,
    folder: Path,
    name: str,
    size: int,
    evaluations: int,
    pth: Path,
    num_correction: int,
    seed: int,
) -> list[str]:
    """The command of one run of neural-style-pt's own CLI on the prepared images."""
    args = [
        "-style_image", str(folder / f"style_{size}.png"),
        "-content_image", str(folder / f"content_{size}.png"),
        "-image_size", str(size), "-gpu", "c", "-backend", "nn",
        "-optimizer", "lbfgs", "-lbfgs_num_correction", str(num_correction),
        "-num_iterations", str(evaluations), "-print_iter", "1", "-save_iter", "0",
        "-content_weight", str(CONTENT_WEIGHT), "-style_weight", str(STYLE_WEIGHT),
        "-tv_weight", "0", "-init", "random", "-seed", str(seed),
        "-model_file", str(pth), "-output_image", str(folder / f"{name}.png"),
    ]  # fmt: skip
    return [python, str(DRIVER), "run", str(out), peer_dir, *args]
