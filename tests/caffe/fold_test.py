"""Tests for tf_style.caffe.fold: BatchNorm and Scale folded into the convolutions of an
extractor, against OpenCV's Caffe importer at every layer and against the unfolded extractor."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_style.caffe import CaffeConvolution, ChannelAffine, convert, load_model
from tf_style.caffe import fold as folding
from tf_style.features import build_extractor, network_layers
from tf_style.testing import caffe_nets as nets
from tf_style.testing import oracles

HW = nets.RESNET_INPUT


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    layers = nets.resnet_net()
    proto, model_file = nets.write(tmp_path_factory.mktemp("resnet"), layers, 2, HW)
    spatial = [n for n in nets.layer_names(layers) if n not in ("fc", "prob")]
    x = nets.random_input(HW)
    theirs = oracles.opencv_outputs(proto, model_file, x, spatial, nets.top_aliases(layers))
    return proto, model_file, load_model(proto, model_file), x, theirs


def _kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in network_layers(model)]


def test_each_layer_alone_matches_opencv(resnet):
    # Each layer asked for alone: the chains before it fold, its own up to itself.
    _, _, model, x, theirs = resnet
    for name, want in theirs.items():
        extractor = build_extractor(model, [name], [])
        ours = {name: np.asarray(extractor.model(x))}
        oracles.assert_layers_close(ours, {name: want})
    whole = build_extractor(model, ["relu_eltwise"], [])
    assert "ChannelAffine" not in _kinds(whole.model)
    assert _kinds(whole.model).count("Identity") == 10  # 5 convolutions, each BatchNorm + Scale


def test_requested_layers_inside_a_chain_stop_its_fold(resnet):
    _, _, model, x, theirs = resnet
    names = ["bn_branch2a", "relu_branch2b", "scale_branch2c", "relu_eltwise"]
    extractor = build_extractor(model, names[:1], names[1:])
    kinds = dict(zip((layer.name for layer in network_layers(extractor.model)),
                     _kinds(extractor.model)))  # fmt: skip
    # branch2a folds its BatchNorm only; its Scale stays an affine layer.
    assert kinds["branch2a"] == "CaffeConvolution" and kinds["bn_branch2a"] == "Identity"
    assert kinds["scale_branch2a"] == "ChannelAffine"
    assert list(kinds.values()).count("ChannelAffine") == 1
    ours = dict(zip(extractor.names, (np.asarray(t) for t in extractor.model(x))))
    oracles.assert_layers_close(ours, {n: theirs[n] for n in names})


def test_folding_keeps_the_names_indices_and_gradient(resnet):
    _, _, model, x, _ = resnet
    layers = ["relu_1"], ["relu_branch2b", "relu_eltwise"]
    for recompute in (False, True):
        folded = build_extractor(model, *layers, recompute=recompute)
        plain = build_extractor(model, *layers, recompute=recompute, fold=False)
        assert folded.indices == plain.indices and folded.names == plain.names
        if not recompute:
            assert [layer.name for layer in network_layers(folded.model)] == [
                layer.name for layer in network_layers(plain.model)
            ]
            assert "ChannelAffine" in _kinds(plain.model)
        grads = []
        for extractor in (folded, plain):
            image = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(image)
                loss = sum(tf.reduce_sum(tf.square(f)) for f in extractor.model(image))
            grads.append(tape.gradient(loss, image).numpy())
        oracles.assert_close([grads[0]], [grads[1]], rtol=1e-5)


def test_the_converted_file_folds_the_same(resnet, tmp_path):
    proto, model_file, model, x, theirs = resnet
    out = tmp_path / "resnet.tfstyle"
    convert(proto, model_file, out)
    names = ["relu_1", "scale_branch1", "relu_branch2b", "relu_eltwise"]
    from_file = build_extractor(load_model(None, out), names, [])
    got, want = from_file.model(x), build_extractor(model, names, []).model(x)
    for name, g, w in zip(from_file.names, got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w), err_msg=name)
    oracles.assert_layers_close(dict(zip(from_file.names, map(np.asarray, got))),
                                {n: theirs[n] for n in names})  # fmt: skip


def test_bfloat16_folds_too(resnet):
    _, _, model, x, theirs = resnet
    extractor = build_extractor(model, ["relu_eltwise"], [], precision="bfloat16")
    assert "ChannelAffine" not in _kinds(extractor.model)
    got = np.asarray(tf.cast(extractor.model(x), tf.float32))
    want = theirs["relu_eltwise"]
    assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()


def _net(consumers: str):
    """conv -> affine a1 -> affine a2 -> ReLU, with extra readers of the conv's output."""
    x = keras.Input((None, None, 3))
    y = CaffeConvolution(4, 3, pad=1, name="conv", use_bias=consumers != "no bias")(x)
    a1 = ChannelAffine(4, name="a1")(y)
    out = keras.layers.ReLU(name="relu")(ChannelAffine(4, use_bias=False, name="a2")(a1))
    if consumers == "two":
        out = keras.layers.Add(name="sum")([out, y])
    if consumers == "after a pool":
        x2 = keras.layers.MaxPooling2D(name="pool")(out)
        out = ChannelAffine(4, name="a3")(x2)
    model = keras.Model(x, out)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights([rng.normal(1, 0.5, w.shape).astype(np.float32) for w in layer.weights])
    return model


@pytest.mark.parametrize(
    "consumers,keep,chains",
    [
        ("one", (), {"conv": ["a1", "a2"]}),
        ("no bias", (), {"conv": ["a1", "a2"]}),
        ("one", ("a1",), {"conv": ["a1"]}),
        ("one", ("conv",), {}),
        ("two", (), {}),
        ("after a pool", (), {"conv": ["a1", "a2"]}),
    ],
)
def test_what_folds_and_what_it_computes(consumers, keep, chains):
    model = _net(consumers)
    assert folding.chains(model, keep) == chains
    folded = folding.fold(model, keep)
    assert (folded is model) == (not chains)
    x = np.random.default_rng(1).normal(0, 1, (1, 6, 7, 3)).astype(np.float32)
    oracles.assert_close([np.asarray(folded(x))], [np.asarray(model(x))], rtol=1e-5)
    # Unchanged layers are shared; the model itself is left as it was.
    assert folded.get_layer("relu") is model.get_layer("relu")
    assert isinstance(model.get_layer("a1"), ChannelAffine)


@pytest.mark.slow
@pytest.mark.network
def test_open_nsfw_folded_matches_opencv_at_every_layer(tmp_path):
    # Through the converted file, as the zoo loads it, at an odd size (the strided layers'
    # edges). Four extractors cover every layer name: the ReLUs, Eltwise sums and pools with
    # every chain folded, the BatchNorm and the Scale outputs with their chains folded up to
    # them, and the convolutions (nothing folds where a convolution's own output is asked for).
    from tests.caffe.open_nsfw_test import _image
    from tf_style import models

    proto, caffemodel = models.open_nsfw_files()
    out = tmp_path / "open_nsfw.tfstyle"
    model = convert(proto, caffemodel, out)
    folded_from_file = load_model(None, out)
    names = [layer.name for layer in network_layers(model)]
    names = [n for n in names[: names.index("pool") + 1] if n != "data"]
    groups = [
        [n for n in names if not n.startswith(("conv_", "bn_", "scale_"))],
        [n for n in names if n.startswith("bn_")],
        [n for n in names if n.startswith("scale_")],
        [n for n in names if n.startswith("conv_")],
    ]
    assert sum(map(len, groups)) == len(names) == 226
    x = _image(227, 301)
    theirs = oracles.opencv_outputs(proto, caffemodel, x, names)
    for group in groups:
        extractor = build_extractor(folded_from_file, group, [])
        ours = dict(zip(extractor.names, (np.asarray(t) for t in extractor.model(x))))
        oracles.assert_layers_close(ours, {n: theirs[n] for n in group})
    assert "ChannelAffine" not in _kinds(build_extractor(folded_from_file, groups[0], []).model)
