"""Splitting the network over devices (-gpu a,b,... -multigpu_strategy) and -jit.

Several devices are logical CPU devices, which must be configured before TensorFlow starts, so
the placement test runs in a fresh Python process.
"""

import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_style import devices, features, models, stylizer
from tf_style.objective import Objective
from tf_style.report import Reporter
from tf_style.testing import processes

CONTENT = ("relu4_2",)
STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# docs/semantics.md#loss-modules: the original's default net, module by module, with the TV module
# first.
ORIGINAL_NET = (
    "TV conv1_1 relu1_1 S conv1_2 relu1_2 pool1 conv2_1 relu2_1 S conv2_2 relu2_2 pool2 "
    "conv3_1 relu3_1 S conv3_2 relu3_2 conv3_3 relu3_3 conv3_4 relu3_4 pool3 conv4_1 relu4_1 S "
    "conv4_2 relu4_2 C conv4_3 relu4_3 conv4_4 relu4_4 pool4 conv5_1 relu5_1 S"
).split()


@pytest.fixture(scope="module")
def model(tiny_vgg):
    proto, model_file = tiny_vgg
    return models.load(str(model_file), str(proto))[0]


@pytest.fixture(scope="module")
def extractor(model):
    return features.build_extractor(model, CONTENT, STYLE)


@pytest.fixture
def base(tiny_run):
    return tiny_run.replace(num_iterations=4, print_iter=0, save_iter=0)


def _layer_after(module: int, tv: bool) -> str | None:
    """The layer a module of ORIGINAL_NET sits after (None: the TV module, before them all)."""
    net = ORIGINAL_NET if tv else ORIGINAL_NET[1:]
    layers = [m for m in net[:module] if m not in ("TV", "S", "C")]
    return layers[-1] if layers else None


def test_modules_are_counted_as_the_original_counts(extractor):
    assert len(devices.original_modules(extractor, tv_weight=1e-3)) == 37
    assert len(devices.original_modules(extractor, tv_weight=0)) == 36
    for tv in (0.0, 1e-3):
        modules = devices.original_modules(extractor, tv)
        assert modules == [_layer_after(i, tv > 0) for i in range(1, len(modules) + 1)]


def test_the_original_example_split(extractor):
    # docs/semantics.md#several-gpus, tv=0, 3,6,12: GPU0 conv1_1 relu1_1 Style1; GPU1 conv1_2
    # relu1_2 pool1;
    # GPU2 conv2_1 .. pool2; GPU3 the rest.
    assert devices.split_points(("3", "6", "12"), extractor, 0.0, 4) == [
        "relu1_1",
        "pool1",
        "pool2",
    ]
    # With TV the same modules are one further on.
    assert devices.split_points(("4", "7", "13"), extractor, 1.0, 4) == [
        "relu1_1",
        "pool1",
        "pool2",
    ]
    assert devices.split_points(("1",), extractor, 1.0, 2) == [None]  # TV alone on device 0


def test_default_split_for_two_devices(extractor):
    assert devices.split_points((), extractor, 0.0, 2) == ["relu1_1"]
    assert devices.split_points((), extractor, 1e-3, 2) == ["relu1_1"]
    assert devices.split_points(("2",), extractor, 0.0, 2) == ["relu1_1"]
    assert devices.split_points((), extractor, 0.0, 1) == []
    with pytest.raises(devices.DeviceError, match="give -multigpu_strategy with 2 split"):
        devices.split_points((), extractor, 0.0, 3)


def test_bad_indices_are_refused(extractor):
    with pytest.raises(devices.DeviceError, match="has 37 modules.*from 1 to 36"):
        devices.split_points(("37",), extractor, 1.0, 2)
    with pytest.raises(devices.DeviceError, match="fall after layer relu1_1"):
        devices.split_points(("2", "3"), extractor, 0.0, 3)


def test_layer_name_splits(extractor):
    cuts = devices.split_points(("relu2_1", "relu4_1"), extractor, 0.0, 3)
    assert cuts == ["relu2_1", "relu4_1"]
    split = features.split_extractor(extractor, cuts, ["/CPU:0"] * 3)
    names = [[extractor.names[i] for i in s.features] for s in split.segments]
    assert names == [["relu1_1", "relu2_1"], ["relu3_1", "relu4_1"], ["relu4_2", "relu5_1"]]
    assert [s.boundary for s in split.segments] == [1, 1, None]
    # relu5_2 exists in the model but comes after the last loss layer, where the net is cut.
    for bad, message in (("relu9_9", "not a layer"), ("relu5_2", "not a layer")):
        with pytest.raises(features.LayerError, match=message):
            features.split_extractor(extractor, [bad], ["/CPU:0"] * 2)
    with pytest.raises(features.LayerError, match="leaves no layer"):
        features.split_extractor(extractor, ["relu5_1"], ["/CPU:0"] * 2)
    with pytest.raises(features.LayerError, match="follow the network's order"):
        features.split_extractor(extractor, ["relu3_1", "relu2_1"], ["/CPU:0"] * 3)


def test_a_cut_across_branches_is_refused():
    x = keras.Input((None, None, 3), name="data")
    a = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(x)
    b = keras.layers.ReLU(name="relu_b")(a)
    c = keras.layers.Conv2D(4, 3, padding="same", name="conv_c")(b)
    d = keras.layers.Add(name="sum")([a, c])  # a skip connection around relu_b and conv_c
    e = keras.layers.ReLU(name="relu_e")(d)
    extractor = features.build_extractor(keras.Model(x, e), ["relu_e"], ["relu_b"])
    with pytest.raises(features.LayerError, match="after relu_b: the outputs of conv_a"):
        features.split_extractor(extractor, ["relu_b"], ["/CPU:0"] * 2)
    split = features.split_extractor(extractor, ["conv_a"], ["/CPU:0"] * 2)
    assert [s.features for s in split.segments] == [(), (0, 1)]


@pytest.mark.parametrize("pooling", ["max", "avg"])  # avg: a cloned graph with shared layers
def test_split_objective_equals_the_whole(model, pooling):
    extractor = features.build_extractor(model, CONTENT, STYLE, pooling)
    rng = np.random.default_rng(0)
    content, style, x = (rng.normal(0, 30, (1, 24, 32, 3)).astype("float32") for _ in range(3))
    results = []
    for cuts in ([], ["relu1_1", "pool1", "pool2"], ["relu2_1", "relu4_1"]):
        ex = extractor
        if cuts:
            ex = features.split_extractor(extractor, cuts, ["/CPU:0"] * (len(cuts) + 1))
        objective = Objective(ex, content_weight=5, style_weight=100, tv_weight=1e-3)
        objective.capture_content(content)
        objective.capture_styles([style], [1.0])
        results.append([t.numpy() for t in tf.function(objective)(tf.constant(x))])
    for loss, grad, terms in results[1:]:
        np.testing.assert_allclose(loss, results[0][0], rtol=1e-5)
        np.testing.assert_allclose(terms, results[0][2], rtol=1e-5)
        scale = np.abs(results[0][1]).max()
        np.testing.assert_allclose(grad, results[0][1], rtol=0, atol=1e-5 * scale)


def test_select_devices():
    reporter = Reporter(io.StringIO())
    available = ["/device:GPU:0", "/device:GPU:1"]
    assert devices.select_devices((1, 0), reporter, available) == tuple(available[::-1])
    assert devices.select_devices(None, reporter, available) == ("/device:GPU:0",)
    assert devices.select_devices((-1,), reporter, available) == ("/CPU:0",)
    with pytest.raises(devices.DeviceError, match="-gpu 2: this machine has 2 GPU"):
        devices.select_devices((0, 2), reporter, available)


@pytest.mark.slow
def test_jit_agrees_and_needs_one_device(base):
    plain = stylizer.run(base)
    compiled = stylizer.run(base.replace(jit=True))
    np.testing.assert_allclose(compiled, plain, rtol=0, atol=1e-5)
    with pytest.raises(devices.DeviceError, match="-jit compiles the evaluation for one"):
        stylizer.run(base.replace(jit=True, gpu="0,1"), devices=["/CPU:0", "/CPU:0"])


# Runs in a fresh process with 4 logical CPU devices; prints one JSON line.
_PLACEMENT = """
import json, re, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 4)
cpus = [d.name for d in tf.config.list_logical_devices("CPU")]

from tf_style import devices, features, models, stylizer
from tf_style.config import StyleConfig
from tf_style.objective import Objective

config = StyleConfig(**json.loads(sys.argv[1]))
model, _ = models.load(config.model_file, config.proto_file)
ex = features.build_extractor(model, config.content_layers, config.style_layers)
ex = features.split_extractor(ex, devices.split_points(("3", "6", "12"), ex, 0.0, 4), cpus)
objective = Objective(ex, content_weight=5, style_weight=100, tv_weight=0)
x = np.zeros((1, 24, 32, 3), np.float32)
objective.capture_content(x)
objective.capture_styles([x], [1.0])
graph = tf.function(objective).get_concrete_function(tf.TensorSpec(x.shape, tf.float32)).graph
# A convolution's input gradient is a forward Conv2D in its layer's "_grad" scope.
convs = [
    ("backward" if "_grad/" in op.name else "forward",
     re.search(r"conv\\d_\\d", op.name).group(), op.device)
    for op in graph.get_operations() if op.type in ("Conv2D", "Conv2DBackpropInput")
]
targets = [v.device for v in tf.nest.flatten(objective.style_targets)]
whole = stylizer.run(config)
split = stylizer.run(
    config.replace(gpu="0,1,2,3", multigpu_strategy="3,6,12"), devices=cpus)
named = stylizer.run(
    config.replace(gpu="2,0,1", multigpu_strategy="relu2_1,relu4_1"), devices=cpus)
print(json.dumps({
    "cpus": cpus, "convs": convs, "targets": targets,
    "split": float(np.abs(split - whole).max()), "named": float(np.abs(named - whole).max()),
}))
"""


@pytest.mark.slow
def test_segments_run_on_their_devices(base):
    settings = {
        k: getattr(base, k)
        for k in ("content_image", "style_image", "model_file", "proto_file", "image_size")
    }
    settings.update(num_iterations=4, print_iter=0, save_iter=0, seed=1, tv_weight=0)
    settings["output_image"] = base.output_image
    result = processes.run(
        processes.snippet(_PLACEMENT, json.dumps(settings)),
        env={"TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    cpus = found["cpus"]
    assert len(cpus) == 4
    # docs/semantics.md#several-gpus: 3,6,12 puts conv1_1 on device 0, conv1_2 on 1, conv2_* on 2,
    # the rest on 3.
    expected = {"conv1_1": 0, "conv1_2": 1, "conv2_1": 2, "conv2_2": 2}
    kinds = {"forward": 0, "backward": 0}
    for kind, layer, device in found["convs"]:
        kinds[kind] += 1
        assert device == cpus[expected.get(layer, 3)], (kind, layer, device)
    assert kinds == {"forward": 13, "backward": 13}  # each conv forward and backward
    # Each style target lives with its layer: relu1_1 on 0, relu2_1 on 2, the rest on 3.
    assert [t.endswith(cpus[k][-5:]) for t, k in zip(found["targets"], (0, 2, 3, 3, 3))] == [
        True
    ] * 5
    assert found["split"] <= 1e-5
    assert found["named"] <= 1e-5
