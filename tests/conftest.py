"""Shared fixtures: tiny Caffe models written by the tests, tiny images, a local HTTP server."""

import numpy as np
import pytest
from PIL import Image

from tf_style.config import StyleConfig
from tf_style.testing import caffe_writer, httpserver

# Narrow enough to run in milliseconds, with the real VGG-19 layer names and pooling.
TINY_WIDTHS = (4, 8, 8, 12, 12)


@pytest.fixture(scope="session")
def tiny_vgg(tmp_path_factory):
    """(prototxt, caffemodel) of a VGG-19-shaped net with tiny widths and no fc layers."""
    folder = tmp_path_factory.mktemp("tiny_vgg")
    proto, model = folder / "tiny.prototxt", folder / "tiny.caffemodel"
    caffe_writer.write_vgg(model, widths=TINY_WIDTHS, fc=None, seed=3, prototxt_path=proto)
    return proto, model


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """Small smooth content and two style images (PNG) of different sizes and aspects."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    paths = {}
    for name, (h, w) in {"content": (40, 56), "style1": (50, 50), "style2": (36, 60)}.items():
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        base = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in range(3)], -1)
        noise = rng.uniform(-0.2, 0.2, (h, w, 3))
        pixels = np.clip(0.5 + 0.4 * base + noise, 0, 1)
        paths[name] = folder / f"{name}.png"
        Image.fromarray((pixels * 255).astype(np.uint8)).save(paths[name])
    return paths


@pytest.fixture
def tiny_run(tiny_vgg, images, tmp_path):
    """A run of seconds: the tiny model on the small images, 6 iterations, CPU, seed 1."""
    proto, model = tiny_vgg
    return StyleConfig(
        content_image=str(images["content"]),
        style_image=str(images["style1"]),
        model_file=str(model),
        proto_file=str(proto),
        image_size=32,
        num_iterations=6,
        print_iter=2,
        save_iter=3,
        output_image=str(tmp_path / "out.png"),
        gpu=-1,
        seed=1,
    )


@pytest.fixture
def traces(monkeypatch):
    """The list of the image shapes `Objective.__call__` was traced with, growing as it is:
    Python runs it only while a tf.function traces."""
    from tf_style.objective import Objective

    found = []
    original = Objective.__call__

    def counting(self, image):
        found.append(image.shape)
        return original(self, image)

    monkeypatch.setattr(Objective, "__call__", counting)
    return found


@pytest.fixture
def server():
    """A local HTTP server for the test (tf_style.testing.httpserver); `server.url(path)`."""
    with httpserver.serve() as httpd:
        yield httpd


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty model cache ($TF_STYLE_HOME) for the test."""
    monkeypatch.setenv("TF_STYLE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
