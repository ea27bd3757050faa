"""Tests for tf_style.models: resolve, load and the cache, and the zoo-defaults rule."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tf_style import models
from tf_style.config import StyleConfig
from tf_style.testing import caffe_writer, oracles


def _serve_tiny_vgg(server, tmp_path, monkeypatch) -> models.ZooModel:
    """Puts a synthetic VGG-19 (tiny widths, real layer names) on the server and in the zoo."""
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
    names = ["relu3_1", "relu5_1"]
    oracles.assert_close(oracles.outputs(loaded, names, x), oracles.outputs(direct, names, x))


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


NIN_LAYERS = ("relu0", "relu3", "relu7", "relu12")  # the original README's NIN layers


def test_zoo_models_bring_their_own_default_layers_and_weights(tmp_path):
    config, taken = models.apply_zoo_defaults(StyleConfig(model_file="nin"))
    nin = {"content_layers": NIN_LAYERS, "style_layers": NIN_LAYERS}
    weights = {"content_weight": 10.0, "style_weight": 1000.0}  # the original README's example
    assert taken == {**nin, **weights}
    assert config == StyleConfig(model_file="nin", **nin, **weights)
    # Each option the user gives wins on its own; the others are still the model's (VGG's
    # relu4_2 would be no layer of NIN's).
    chosen = StyleConfig(model_file="nin", content_layers="relu3", style_layers="relu0,relu7")
    assert models.apply_zoo_defaults(chosen) == (chosen.replace(**weights), weights)
    config, taken = models.apply_zoo_defaults(
        StyleConfig(model_file="nin", style_layers="relu0,relu7", style_weight=50)
    )
    assert taken == {"content_layers": NIN_LAYERS, "content_weight": 10.0}
    assert (config.style_layers, config.style_weight) == (("relu0", "relu7"), 50.0)
    # open_nsfw brings the weights that balance its small activations (its preset's).
    _, taken = models.apply_zoo_defaults(StyleConfig(model_file="open_nsfw"))
    assert (taken["content_weight"], taken["style_weight"], taken["tv_weight"]) == (1e3, 5e8, 1e-6)
    # VGG's own defaults, and a file path (no zoo entry), change nothing.
    for plain in (StyleConfig(), StyleConfig(model_file=str(tmp_path / "nin.caffemodel"))):
        assert models.apply_zoo_defaults(plain) == (plain, {})
    defaults = StyleConfig()
    assert (defaults.content_layers, defaults.style_layers) == (
        ("relu4_2",),
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    )


def test_a_file_named_like_a_zoo_model_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nin").write_bytes(b"")
    assert models.zoo_entry("nin") is None and models.zoo_entry("open_nsfw") is not None
    config = StyleConfig(model_file="nin")
    assert models.apply_zoo_defaults(config) == (config, {})
    assert models.resolve("nin") == (Path("nin"), None, None)


def test_zoo_defaults_take_any_option_the_user_left_alone(monkeypatch):
    entry = models.ZooModel(
        name="custom",
        files=(),
        proto=None,
        defaults={"tv_weight": 0.0, "style_layers": ("relu2_1",), "pooling": "max"},
    )
    monkeypatch.setitem(models.ZOO, "custom", entry)
    config, taken = models.apply_zoo_defaults(StyleConfig(model_file="custom"))
    # pooling is already "max": nothing taken for it.
    assert taken == {"tv_weight": 0.0, "style_layers": ("relu2_1",)}
    assert (config.tv_weight, config.style_layers, config.content_layers) == (
        0.0,
        ("relu2_1",),
        ("relu4_2",),
    )
    mine = StyleConfig(model_file="custom", tv_weight=0.01, content_layers="relu3_1")
    config, taken = models.apply_zoo_defaults(mine)
    assert taken == {"style_layers": ("relu2_1",)}  # the user's content layers alone
    assert config == mine.replace(style_layers=("relu2_1",))
    mine = mine.replace(style_layers="relu1_1")
    config, taken = models.apply_zoo_defaults(mine)
    assert taken == {} and config is mine
