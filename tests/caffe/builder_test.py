"""Tests for tf_style.caffe.builder: every layer against OpenCV's Caffe importer; mismatches."""

from __future__ import annotations

import numpy as np
import pytest

from tf_style.caffe import CaffeError, load_model
from tf_style.testing import caffe_nets as nets
from tf_style.testing import caffe_writer, oracles


@pytest.mark.parametrize(
    "net,version",
    [(n, v) for n in nets.NETS for v in (1, 2) if v == 2 or n in nets.V1_NETS],
)
def test_every_layer_matches_opencv(tmp_path, net, version):
    make, hw = nets.NETS[net]
    layers = make()
    proto, model_file = nets.write(tmp_path, layers, version, hw)
    names = nets.layer_names(layers)
    x = nets.random_input(hw)
    theirs = oracles.opencv_outputs(proto, model_file, x, names, nets.top_aliases(layers))
    oracles.assert_layers_close(
        oracles.our_outputs(load_model(proto, model_file), x, names), theirs
    )


def test_in_place_layers_have_their_own_outputs(tmp_path):
    proto, model_file = nets.write(tmp_path, nets.vgg_net(), 2, (40, 40))
    model = load_model(proto, model_file)
    out = oracles.our_outputs(model, nets.random_input((40, 40)), ["conv4_2", "relu4_2"])
    assert out["conv4_2"].min() < 0
    np.testing.assert_array_equal(out["relu4_2"], np.maximum(out["conv4_2"], 0))
    assert not model.trainable and not model.trainable_weights


def test_any_input_size_for_convolutional_nets(tmp_path):
    layers = nets.nin_net()
    proto, model_file = nets.write(tmp_path, layers, 1, (227, 227))
    model = load_model(proto, model_file)
    names = ["relu0", "pool0", "relu12", "pool4"]
    for hw in ((227, 227), (240, 250)):
        x = nets.random_input(hw, seed=hw[0])
        theirs = oracles.opencv_outputs(proto, model_file, x, names, nets.top_aliases(layers))
        oracles.assert_layers_close(oracles.our_outputs(model, x, names), theirs)


def _mismatch_case(tmp_path, change):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3), np.float32)
    layers = [
        caffe_writer.conv("conv1", "data", "conv1", w, np.zeros(4, np.float32), kernel_size=3)
    ]
    model_file = tmp_path / "m.caffemodel"
    caffe_writer.write_net(model_file, layers, input_shape=(1, 3, 8, 8))
    proto = tmp_path / "p.prototxt"
    proto.write_text(caffe_writer.prototxt_text(change(layers), input_shape=(1, 3, 8, 8)))
    return proto, model_file


def test_prototxt_weight_mismatch_names_layer_and_shapes(tmp_path):
    def more_outputs(layers):
        return [{**layers[0], "params": {"convolution_param": {"num_output": 5,
                                                               "kernel_size": 3}}}]  # fmt: skip

    with pytest.raises(CaffeError, match=r"'conv1'.*\(4, 3, 3, 3\).*\(5, 3, 3, 3\)"):
        load_model(*_mismatch_case(tmp_path, more_outputs))


def test_absurd_prototxt_dims_are_refused_before_allocating(tmp_path):
    def huge(layers):
        return [{**layers[0], "params": {"convolution_param": {"num_output": 10**6,
                                                               "kernel_size": 10**4}}}]  # fmt: skip

    # 3e14 floats would be 1.2 PB: the count check must come before any allocation.
    with pytest.raises(CaffeError, match="'conv1'.*do not match"):
        load_model(*_mismatch_case(tmp_path, huge))


def test_layer_without_weights_in_caffemodel_is_named(tmp_path):
    def extra(layers):
        return layers + [{**layers[0], "name": "conv_extra", "bottom": ["conv1"],
                          "top": ["conv_extra"]}]  # fmt: skip

    with pytest.raises(CaffeError, match="'conv_extra'.*no weights"):
        load_model(*_mismatch_case(tmp_path, extra))


def test_unknown_layer_type_is_named(tmp_path):
    layers = [caffe_writer.simple("act", "PReLU", "data", "act")]
    proto, model_file = nets.write(tmp_path, layers, 2, (4, 4))
    with pytest.raises(CaffeError, match="'act'.*'PReLU'"):
        load_model(proto, model_file)


def test_slash_in_layer_name_is_sanitised(tmp_path):
    layers = [caffe_writer.simple("block/relu", "ReLU", "data", "r")]
    proto, model_file = nets.write(tmp_path, layers, 2, (4, 4))
    model = load_model(proto, model_file)
    assert model.get_layer("block_relu") and "'block_relu'" in " ".join(model.caffe_notes)
