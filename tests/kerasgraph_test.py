"""Tests for tf_style.kerasgraph on a tiny functional model with a residual branch."""

import keras
import numpy as np
import pytest

from tf_style import kerasgraph


@pytest.fixture(scope="module")
def model():
    #  data -> c1 -> r1 -> c2 -> add <- r1   (r1 feeds c2 and, around it, add)
    x = keras.Input((None, None, 3), name="data")
    r1 = keras.layers.ReLU(name="r1")(keras.layers.Conv2D(4, 3, name="c1")(x))
    c2 = keras.layers.Conv2D(4, 1, name="c2")(r1)
    return keras.Model(x, keras.layers.Add(name="add")([r1, c2]), name="branchy")


def test_nodes_are_one_per_layer_call(model):
    assert len(kerasgraph.nodes(model)) == len(model.layers) == 5
    twice = keras.layers.ReLU(name="twice")
    x = keras.Input((2,), name="x")
    reused = keras.Model(x, twice(twice(x)))
    assert len(kerasgraph.nodes(reused)) == len(reused.layers) + 1
    assert [pair for pair in kerasgraph.node_inputs(reused) if pair[0] == "twice"] == [
        ("twice", ("twice",)),
        ("twice", ("x",)),
    ]


def test_node_inputs_name_the_layers_feeding_each_node(model):
    assert dict(kerasgraph.node_inputs(model)) == {
        "data": (),
        "c1": ("data",),
        "r1": ("c1",),
        "c2": ("r1",),
        "add": ("r1", "c2"),  # in the order of the call's inputs
    }


def test_producer_names_the_layer_behind_a_tensor(model):
    assert kerasgraph.producer(model.inputs[0]) == "data"
    assert kerasgraph.producer(model.outputs[0]) == "add"
    assert kerasgraph.producer(model.get_layer("c2").output) == "c2"


def test_layer_outputs_are_this_models_tensors_also_for_shared_layers(model):
    outputs = kerasgraph.layer_outputs(model)
    assert set(outputs) == {"data", "c1", "r1", "c2", "add"}
    assert outputs["add"] is model.outputs[0] and outputs["data"] is model.inputs[0]
    # clone_model with the layers themselves shares them: `.output` is the first model's.
    clone = keras.models.clone_model(model, clone_function=lambda layer: layer)
    assert clone.get_layer("r1") is model.get_layer("r1")
    mine = kerasgraph.layer_outputs(clone)
    assert mine["r1"] is not model.get_layer("r1").output
    with pytest.raises(ValueError):
        keras.Model(clone.inputs, model.get_layer("r1").output)  # not in the clone's graph
    probe = keras.Model(clone.inputs, [mine["r1"], mine["add"]])
    x = np.random.default_rng(0).normal(size=(1, 6, 7, 3)).astype(np.float32)
    r1, added = (np.asarray(y) for y in probe([x]))
    c2 = model.get_layer("c2")
    weight, bias = (np.asarray(v) for v in c2.weights)
    np.testing.assert_allclose(added, r1 + (r1 @ weight[0, 0] + bias), rtol=1e-5, atol=1e-5)
