"""Shared fixtures: tiny Caffe models written by the tests, tiny images, runs of seconds, bad
image files, a local HTTP server."""

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tf_style.config import StyleConfig
from tf_style.testing import caffe_writer, httpserver

# The commands the tests start keep no XLA cache in the user's folder (~/.cache/tf_style);
# tests/cli_test.py turns it on in a temporary one.
os.environ.setdefault("TF_STYLE_XLA_CACHE", "0")

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
def quiet_run(tiny_run, tmp_path):
    """tiny_run for 12 iterations that prints and saves nothing on the way, its output alone in
    the folder tmp_path/out (so a test sees every file the run leaves)."""
    (tmp_path / "out").mkdir()
    output = str(tmp_path / "out" / "out.png")
    return tiny_run.replace(num_iterations=12, print_iter=0, save_iter=0, output_image=output)


def png_header_only(path, width, height):
    """A PNG that claims width x height pixels: a decompression bomb's header."""

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    )


@pytest.fixture
def bad_images(images, tmp_path):
    """Files that are no readable image, by case: (path, what the error message says)."""
    folder = tmp_path / "bad"
    folder.mkdir()
    png = images["content"].read_bytes()
    jpeg = io.BytesIO()
    Image.open(images["content"]).save(jpeg, format="JPEG")
    files = {
        "missing": (folder / "no_such.png", "no such file"),
        "directory": (folder, "is a directory"),
        "empty": (folder / "empty.png", "empty"),
        "truncated_png": (folder / "cut.png", "truncated or corrupt"),
        "truncated_jpeg": (folder / "cut.jpg", "truncated or corrupt"),
        "not_an_image": (folder / "notes.jpg", "not an image"),
        "bomb": (folder / "bomb.png", "-max_pixels"),
    }
    files["empty"][0].write_bytes(b"")
    files["truncated_png"][0].write_bytes(png[: len(png) // 2])
    files["truncated_jpeg"][0].write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    files["not_an_image"][0].write_text("not a picture\n")
    png_header_only(files["bomb"][0], 20_000, 20_000)  # 4e8 pixels: above the default limit
    return files


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


@pytest.fixture
def clip_run(tiny_vgg, images, tmp_path):
    """A 4-frame clip of the moving square and its run on the tiny model (seconds)."""
    from tests.clipdata import FRAMES, W, square_frame, write_clip
    from tf_style.config import StyleConfig

    write_clip(tmp_path / "in.mp4", [square_frame(t) for t in range(FRAMES)])
    proto, model = tiny_vgg
    return StyleConfig(
        content_video=str(tmp_path / "in.mp4"),
        output_video=str(tmp_path / "out.mp4"),
        style_image=str(images["style1"]),
        model_file=str(model),
        proto_file=str(proto),
        image_size=W,
        num_iterations=100,
        video_iterations=(100, 30),
        print_iter=10,
        gpu=-1,
        seed=1,
    )
