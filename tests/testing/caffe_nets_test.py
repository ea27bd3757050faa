"""Tests for tf_style.testing.caffe_nets: the tiny nets cover every Caffe layer type we read."""

import numpy as np

from tf_style.caffe import load_model
from tf_style.caffe.layer_types import METHODS
from tf_style.testing import caffe_nets as nets


def test_the_nets_hold_every_layer_type_the_builder_reads():
    types = {layer["type"] for make, _ in nets.NETS.values() for layer in make()}
    assert set(METHODS) <= types
    # V1 has no BatchNorm or Scale layer types: the nets written in V1 hold none.
    v1 = {layer["type"] for name in nets.V1_NETS for layer in nets.NETS[name][0]()}
    assert not v1 & {"BatchNorm", "Scale"}


def test_names_and_aliases():
    layers = nets.branchy_net()
    names = nets.layer_names(layers)
    assert names == [layer["name"] for layer in layers if layer["type"] != "Split"]
    assert len(names) < len(layers)  # branchy has a Split
    aliases = nets.top_aliases(layers)
    assert all(aliases[layer["name"]] == layer["top"][0] for layer in layers)


def test_each_net_loads_at_its_size_in_both_versions(tmp_path):
    for name, (make, hw) in nets.NETS.items():
        for version in (1, 2) if name in nets.V1_NETS else (2,):
            folder = tmp_path / f"{name}{version}"
            folder.mkdir()
            model = load_model(*nets.write(folder, make(), version, hw))
            out = np.asarray(model(nets.random_input(hw)))
            assert np.isfinite(out).all() and out.shape[0] == 1, (name, version)


def test_random_input_is_seeded():
    x = nets.random_input((5, 7))
    assert x.shape == (1, 5, 7, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x, nets.random_input((5, 7)))
    assert np.abs(x - nets.random_input((5, 7), seed=2)).max() > 1
    assert 20 < x.std() < 60  # Caffe space's spread
