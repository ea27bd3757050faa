"""Tests for tf_style.caffe.load_model: the architecture from the .caffemodel alone; bad files."""

from __future__ import annotations

import numpy as np
import pytest

from tf_style.caffe import CaffeError, load_model
from tf_style.testing import caffe_nets as nets
from tf_style.testing import caffe_writer, oracles


def test_architecture_from_caffemodel_alone(tmp_path):
    layers = nets.vgg_net()
    proto, model_file = nets.write(tmp_path, layers, 1, (40, 40))
    names = nets.layer_names(layers)
    x = nets.random_input((40, 40))
    ours = oracles.our_outputs(load_model(None, model_file), x, names)
    oracles.assert_layers_close(ours, oracles.opencv_outputs(proto, model_file, x, names))


def test_files_that_are_not_caffemodels(tmp_path):
    good = caffe_writer.encode_net(nets.vgg_net(), version=1, input_shape=(1, 3, 40, 40))
    cases = {"truncated": good[: len(good) // 2], "random": np.random.default_rng(0).bytes(999),
             "empty": b""}  # fmt: skip
    for name, data in cases.items():
        path = tmp_path / f"{name}.caffemodel"
        path.write_bytes(data)
        with pytest.raises(CaffeError, match=f"{name}.caffemodel"):
            load_model(None, path)
    with pytest.raises(CaffeError, match="missing.caffemodel"):
        load_model(None, tmp_path / "missing.caffemodel")
