"""Tests for tf_style.models.keras_vgg: keras.applications' VGG as the Caffe VGG."""

from __future__ import annotations

import numpy as np
import pytest

from tf_style import models
from tf_style.testing import caffe_writer, oracles


def _synthetic_keras_vgg19(tmp_path):
    """keras.applications VGG19 (no download) with the writer's seeded VGG weights.

    Returns (layer dicts with Caffe-layout blobs, the Keras base model, its saved weights file).
    """
    import keras

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

    layers, _, weights = _synthetic_keras_vgg19(tmp_path)
    caffe_writer.write_net(tmp_path / "v.caffemodel", layers, prototxt_path=tmp_path / "v.prototxt",
                           version=1, input_shape=(1, 3, 224, 224))  # fmt: skip
    through_caffe = caffe.load_model(tmp_path / "v.prototxt", tmp_path / "v.caffemodel")
    through_keras = models.load_keras_vgg(19, weights=str(weights))
    # Odd sizes: the Caffe ceil-mode pooling must match too.
    x = np.random.default_rng(3).normal(0, 60, (1, 37, 45, 3)).astype(np.float32)
    names = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    oracles.assert_close(
        oracles.outputs(through_keras, names, x), oracles.outputs(through_caffe, names, x)
    )


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
    oracles.assert_close(oracles.outputs(ours, models.ZOO["keras:vgg19"].style_layers, x),
                         oracles.outputs(base, keras_names, x))  # fmt: skip
    assert not np.allclose(
        oracles.outputs(ours, ["conv1_1"], x)[0], oracles.outputs(ours, ["relu1_1"], x)[0]
    )
    # On odd sizes the pooling rounds up as Caffe does: 37 -> 19 -> 10 -> 5 -> 3.
    odd = np.zeros((1, 37, 45, 3), np.float32)
    assert oracles.outputs(ours, ["pool4"], odd)[0].shape == (1, 3, 3, 512)
    # The entry's preprocessing is keras.applications' own ('caffe' mode: BGR, x255, minus mean).
    rgb = np.random.default_rng(2).random((1, 4, 5, 3)).astype(np.float32)
    entry = models.ZOO["keras:vgg19"]
    ours_pre = (rgb * entry.scale)[..., ::-1] - np.array(entry.mean_bgr, np.float32)
    expected = keras.applications.vgg19.preprocess_input(rgb * 255.0)
    np.testing.assert_allclose(ours_pre, expected, rtol=1e-6, atol=1e-4)
