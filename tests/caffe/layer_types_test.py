"""Tests for tf_style.caffe.layer_types: each layer type refuses what tf_style does not support,
in one line that names the layer (every supported case is checked against OpenCV in
builder_test.py)."""

import numpy as np
import pytest

from tf_style.caffe import CaffeError, load_model
from tf_style.caffe.layer_types import METHODS
from tf_style.testing import caffe_nets as nets
from tf_style.testing.caffe_writer import conv, simple

RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)  # 4 outputs of 3x3 over 3 channels


def conv1(**param):
    return [conv("conv1", "data", "conv1", W, None, **param)]


def after_conv(name, layer_type, bottom, params=None, blobs=()):
    """conv1, then one layer `name` of `layer_type` on `bottom`."""
    return [*conv1(kernel_size=3, pad=1), simple(name, layer_type, bottom, name, params, blobs)]


TWO = ["conv1", "conv1"]
CASES = {
    "three kernel sizes": (conv1(kernel_size=[3, 3, 3]), "conv1", "only 2-D layers"),
    "no kernel size": (conv1(), "conv1", "kernel_size is not set"),
    "conv axis 2": (conv1(kernel_size=3, axis=2), "conv1", "only axis 1 (channels)"),
    "no outputs": (conv1(kernel_size=3, num_output=0), "conv1", "num_output is not set"),
    "stride 0": (conv1(kernel_size=3, stride=0), "conv1", "must be positive"),
    "dilation and stride": (conv1(kernel_size=3, dilation=2, stride=2), "conv1", "dilation"),
    "groups": (conv1(kernel_size=3, group=2), "conv1", "3 inputs or 4 outputs do not split"),
    "slope": (
        after_conv("relu", "ReLU", "conv1", {"relu_param": {"negative_slope": np.inf}}),
        "relu",
        "negative_slope is inf",
    ),
    "dropout 1": (
        after_conv("drop", "Dropout", "conv1", {"dropout_param": {"dropout_ratio": 1.0}}),
        "drop",
        "dropout_ratio 1.0 is not in [0, 1)",
    ),
    "softmax axis": (
        after_conv("prob", "Softmax", "conv1", {"softmax_param": {"axis": 2}}),
        "prob",
        "only axis 1 (channels)",
    ),
    "stochastic pooling": (
        after_conv("pool", "Pooling", "conv1", {"pooling_param": {"pool": "STOCHASTIC"}}),
        "pool",
        "STOCHASTIC pooling is not supported (only MAX and AVE)",
    ),
    "pool stride 0": (
        after_conv("pool", "Pooling", "conv1", {"pooling_param": {"kernel_size": 2, "stride": 0}}),
        "pool",
        "kernel and stride must be positive",
    ),
    "even LRN": (
        after_conv("norm", "LRN", "conv1", {"lrn_param": {"local_size": 4}}),
        "norm",
        "local_size must be odd, not 4",
    ),
    "scale by a blob": (
        after_conv("scale", "Scale", TWO, blobs=[np.ones(4, np.float32)]),
        "scale",
        "only a learned per-channel scale (one bottom)",
    ),
    "coefficients": (
        after_conv("sum", "Eltwise", TWO, {"eltwise_param": {"coeff": [1.0, 2.0, 3.0]}}),
        "sum",
        "3 coefficients for 2 bottoms",
    ),
    "coefficients of a product": (
        after_conv(
            "prod", "Eltwise", TWO, {"eltwise_param": {"operation": "PROD", "coeff": [1, 2]}}
        ),
        "prod",
        "coefficients need operation SUM",
    ),
    "concat axis": (
        after_conv("cat", "Concat", TWO, {"concat_param": {"axis": 2}}),
        "cat",
        "only axis 1 (channels)",
    ),
    "flatten axis": (
        after_conv("flat", "Flatten", "conv1", {"flatten_param": {"axis": 2}}),
        "flat",
        "only axis 1 to the end",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unsupported_parameters_are_refused_naming_the_layer(tmp_path, case):
    layers, name, needle = CASES[case]
    proto, model_file = nets.write(tmp_path, layers, 2, (8, 8))
    with pytest.raises(CaffeError) as info:
        load_model(proto, model_file)
    message = str(info.value)
    assert f"'{name}'" in message and needle in message, message
    assert "\n" not in message


def test_every_type_has_a_refusal_or_none_to_make():
    # Types without a parameter tf_style refuses: BatchNorm (any eps) and InnerProduct (its
    # blob shapes, checked in builder_test.py).
    refused = {layer["type"] for layers, _, _ in CASES.values() for layer in layers[-1:]}
    assert refused | {"BatchNorm", "InnerProduct"} == set(METHODS)
