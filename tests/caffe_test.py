"""Tests for tf_style.caffe: OpenCV's Caffe importer and numpy loops are the oracles."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests import caffe_fixtures as fx
from tf_style.caffe import CaffeError, CaffePooling, convert, load_model, wire, writer
from tf_style.caffe.netspec import net_from_message
from tf_style.caffe.prototxt import parse_text

NETS = {
    "vgg": (fx.vgg_net, (50, 45)),  # odd sizes all the way down: 25x23 ... 2x2 into fc6
    "nin": (fx.nin_net, (227, 241)),
    "misc": (fx.misc_net, fx.MISC_INPUT),
    "branchy": (fx.branchy_net, (13, 10)),
    "resnet": (fx.resnet_net, fx.RESNET_INPUT),
}
V1_NETS = ("vgg", "nin", "misc", "branchy")  # V1 has no BatchNorm/Scale types


def _write(tmp_path, layers, version, hw, **kw):
    model = tmp_path / f"v{version}.caffemodel"
    proto = tmp_path / f"v{version}.prototxt"
    writer.write_net(model, layers, prototxt_path=proto, version=version,
                     input_shape=(1, 3, *hw), **kw)  # fmt: skip
    return proto, model


def _input(hw, seed=1):
    return (np.random.default_rng(seed).standard_normal((1, *hw, 3)) * 40).astype(np.float32)


@pytest.mark.parametrize(
    "net,version",
    [(n, v) for n in NETS for v in (1, 2) if v == 2 or n in V1_NETS],
)
def test_every_layer_matches_opencv(tmp_path, net, version):
    make, hw = NETS[net]
    layers = make()
    proto, model_file = _write(tmp_path, layers, version, hw)
    names = fx.layer_names(layers)
    x = _input(hw)
    theirs = fx.opencv_outputs(proto, model_file, x, names, fx.top_aliases(layers))
    fx.assert_layers_close(fx.our_outputs(load_model(proto, model_file), x, names), theirs)


def test_architecture_from_caffemodel_alone(tmp_path):
    layers = fx.vgg_net()
    proto, model_file = _write(tmp_path, layers, 1, (40, 40))
    names = fx.layer_names(layers)
    x = _input((40, 40))
    ours = fx.our_outputs(load_model(None, model_file), x, names)
    fx.assert_layers_close(ours, fx.opencv_outputs(proto, model_file, x, names))


def test_synthetic_vgg_biases_are_seeded_apart_from_the_weights():
    def convs(**kwargs):
        layers = writer.vgg_layers(widths=(64, 8, 8, 8, 8), fc=None, seed=2, **kwargs)
        return [layer["blobs"] for layer in layers if layer["type"] == "Convolution"]

    plain, biased = convs(), convs(conv_bias=0.5)
    for (w0, b0), (w1, b1) in zip(plain, biased, strict=True):
        np.testing.assert_array_equal(w1, w0)
        assert b0.dtype == b1.dtype == np.float32 and not b0.any()
    first = biased[0][1]  # 64 draws of N(0.5, 0.25)
    assert abs(first.mean() - 0.5) < 0.25 and 0.25 < first.std() < 0.75
    assert len({b.tobytes() for _, b in biased}) == len(biased)


def test_in_place_layers_have_their_own_outputs(tmp_path):
    proto, model_file = _write(tmp_path, fx.vgg_net(), 2, (40, 40))
    model = load_model(proto, model_file)
    out = fx.our_outputs(model, _input((40, 40)), ["conv4_2", "relu4_2"])
    assert out["conv4_2"].min() < 0
    np.testing.assert_array_equal(out["relu4_2"], np.maximum(out["conv4_2"], 0))
    assert not model.trainable and not model.trainable_weights


def test_any_input_size_for_convolutional_nets(tmp_path):
    layers = fx.nin_net()
    proto, model_file = _write(tmp_path, layers, 1, (227, 227))
    model = load_model(proto, model_file)
    names = ["relu0", "pool0", "relu12", "pool4"]
    for hw in ((227, 227), (240, 250)):
        x = _input(hw, seed=hw[0])
        theirs = fx.opencv_outputs(proto, model_file, x, names, fx.top_aliases(layers))
        fx.assert_layers_close(fx.our_outputs(model, x, names), theirs)


def _caffe_pool(x, kernel, stride, pad, method, ceil):
    """A literal port of Caffe's CPU pooling loops (pooling_layer.cpp) for one (H, W) map."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    h, w = x.shape

    def pooled(n, k, s, p):
        span = n + 2 * p - k
        o = (-(-span // s) if ceil else span // s) + 1
        if p > 0 and (o - 1) * s >= n + p:
            o -= 1
        return o

    out = np.empty((pooled(h, kh, sh, ph), pooled(w, kw, sw, pw)))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            hs, ws = i * sh - ph, j * sw - pw
            he, we = min(hs + kh, h + ph), min(ws + kw, w + pw)
            size = (he - hs) * (we - ws)
            window = x[max(hs, 0) : min(he, h), max(ws, 0) : min(we, w)]
            out[i, j] = window.max() if method == "max" else window.sum() / size
    return out


@pytest.mark.parametrize("method", ["max", "ave"])
@pytest.mark.parametrize("round_mode", ["ceil", "floor"])
@pytest.mark.parametrize(
    "kernel,stride,pad",
    [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)),
     ((6, 6), (1, 1), (0, 0)), ((3, 2), (1, 2), (1, 0)), ((5, 5), (3, 3), (2, 2)),
     ((2, 3), (2, 2), (1, 1))],
)  # fmt: skip
def test_pooling_matches_caffe_loops(method, round_mode, kernel, stride, pad):
    layer = CaffePooling(method, kernel, stride, pad, round_mode)
    # Sizes unknown until run time take the padding arithmetic as tensors.
    dynamic = tf.function(layer, input_signature=[tf.TensorSpec([1, None, None, 1])])
    rng = np.random.default_rng(0)
    for h in range(max(kernel) + 1, 14, 3):
        for w in (h, h + 1):
            # All-negative values: padding must never win a max.
            x = -rng.uniform(1, 2, (h, w)).astype(np.float32)
            want = _caffe_pool(x.astype(np.float64), kernel, stride, pad, method,
                               round_mode == "ceil")  # fmt: skip
            for pool in (layer, dynamic):
                got = np.asarray(pool(x[None, :, :, None]))[0, :, :, 0]
                assert got.shape == want.shape, (h, w)
                np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{h}x{w}")
            assert layer.compute_output_shape((1, h, w, 1))[1:3] == want.shape


@pytest.mark.parametrize("method", ["max", "ave"])
def test_pooling_whose_windows_fit_pads_nothing(method):
    # VGG's 2x2 pools on even sizes: no padded copy of the activation, in either pass.
    layer = CaffePooling(method, (2, 2), (2, 2), (0, 0), "ceil")
    x = tf.constant(np.random.default_rng(0).normal(size=(1, 8, 6, 2)).astype(np.float32))

    def pooled_sum(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x))
        return tape.gradient(y, x)

    def pads(x):
        ops = tf.function(pooled_sum).get_concrete_function(x).graph.get_operations()
        return bool({"Pad", "PadV2"} & {op.type for op in ops})

    assert not pads(x)
    assert pads(x[:, :7])  # 7 rows: ceil rounding pads the last window


@pytest.mark.parametrize("size", [(128, 128), (129, 131)])
def test_large_2x2_max_pools_route_the_gradient_as_tensorflow_does(size):
    # From 2^20 values on, VGG's 2x2 pools take a compiled gradient of their own. Every window's
    # gradient must go where MaxPoolGrad sends it: to its first maximum, ties (ReLU zeros) too.
    rng = np.random.default_rng(0)
    x = tf.constant(np.maximum(rng.normal(size=(1, *size, 64)), 0).astype(np.float32))
    rows, cols = -(-size[0] // 2), -(-size[1] // 2)
    dy = tf.constant(rng.normal(size=(1, rows, cols, 64)).astype(np.float32))
    layer = CaffePooling("max", (2, 2), (2, 2), (0, 0), "ceil")

    def ours(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return y, tape.gradient(y, x, dy)

    def tensorflows(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            pads = [[0, 0], [0, 2 * rows - size[0]], [0, 2 * cols - size[1]], [0, 0]]
            y = tf.nn.max_pool2d(tf.pad(x, pads, constant_values=-3e38), 2, 2, "VALID")
        return y, tape.gradient(y, x, dy)

    (y, dx), (want_y, want_dx) = ours(x, dy), tensorflows(x)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(dx, want_dx)
    assert float(tf.reduce_mean(tf.cast(x == 0, tf.float32))) > 0.4  # many ties
    traced = tf.function(ours).get_concrete_function(x, dy).graph.get_operations()
    assert "MaxPoolGrad" not in {op.type for op in traced}
    small = tf.function(ours).get_concrete_function(x[:, :8, :8], dy[:, :4, :4])
    assert "MaxPoolGrad" in {op.type for op in small.graph.get_operations()}


def test_pooling_config_round_trip():
    layer = CaffePooling("max", (3, 3), (2, 2), (1, 1), "ceil", name="pool0")
    config = layer.get_config()
    assert {k: config[k] for k in ("pool", "kernel_size", "strides", "padding", "round_mode",
                                   "global_pooling")} == {
        "pool": "max", "kernel_size": (3, 3), "strides": (2, 2), "padding": (1, 1),
        "round_mode": "ceil", "global_pooling": False}  # fmt: skip
    swapped = CaffePooling.from_config({**config, "pool": "ave", "padding": (0, 0),
                                        "round_mode": "floor"})  # fmt: skip
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    np.testing.assert_allclose(np.asarray(swapped(x))[0, :, :, 0], [[6, 8], [16, 18]])


def _caffe_lrn(x, n, alpha, beta, k, region):
    """Caffe's LRN on NHWC float64, from lrn_layer.cpp."""
    c = x.shape[-1]
    sq = x.astype(np.float64) ** 2
    r = (n - 1) // 2
    if region == "ACROSS_CHANNELS":
        padded = np.pad(sq, [(0, 0), (0, 0), (0, 0), (r, r)])
        window = sum(padded[..., i : i + c] for i in range(n))
        return x / (k + alpha / n * window) ** beta
    padded = np.pad(sq, [(0, 0), (r, r), (r, r), (0, 0)])
    h, w = x.shape[1:3]
    window = sum(padded[:, i : i + h, j : j + w] for i in range(n) for j in range(n))
    return x * (1 + alpha * window / n**2) ** -beta


@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
def test_lrn_matches_caffe_formula(tmp_path, region):
    # OpenCV ignores LRN's k, so k != 1 and WITHIN_CHANNEL are checked against numpy.
    params = {"local_size": 5, "alpha": 0.3, "beta": 0.6, "k": 2.5, "norm_region": region}
    layers = [writer.simple("norm", "LRN", "data", "norm", {"lrn_param": params})]
    proto, model_file = _write(tmp_path, layers, 2, (7, 9))
    x = _input((7, 9))
    got = fx.our_outputs(load_model(proto, model_file), x, ["norm"])["norm"]
    want = _caffe_lrn(x, 5, 0.3, 0.6, 2.5, region)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


# --- encodings and the text format -------------------------------------------------------


def _blob_values(net, name):
    return [b.data for b in next(s for s in net.layers if s.name == name).blobs]


@pytest.mark.parametrize(
    "options",
    [{"legacy_dims": True}, {"legacy_dims": False}, {"double": True}, {"packed": False}],
)
@pytest.mark.parametrize("version", [1, 2])
def test_blob_encodings_read_back(version, options):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3, 2, 5)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    layer = writer.conv("conv", "data", "conv", w, b, kernel_h=2, kernel_w=5)
    data = writer.encode_net([layer], version=version, **options)
    net = net_from_message(wire.parse_bytes(data), "test")
    got_w, got_b = _blob_values(net, "conv")
    np.testing.assert_array_equal(got_w.reshape(w.shape), w)
    np.testing.assert_array_equal(got_b, b)
    assert got_w.dtype == (np.float64 if options.get("double") else np.float32)
    assert net.layers[0].type == "Convolution"


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    return bytes(out + bytes([v]))


def _ld(field, payload):
    """A length-delimited protobuf field, written here independently of our encoder."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _v2_layer(name, layer_type, *extra):
    return _ld(100, _ld(1, name.encode()) + _ld(2, layer_type.encode()) + b"".join(extra))


def test_split_packed_data_and_unpacked_dims():
    values = np.float32([1.5, -2.0, 3.25])
    blob = (_ld(7, _varint(1 << 3) + _varint(3))  # BlobShape{dim: 3}, dim unpacked
            + _ld(5, values[:2].tobytes()) + _ld(5, values[2:].tobytes()))  # fmt: skip
    net = net_from_message(wire.parse_bytes(_v2_layer("s", "Scale", _ld(7, blob))), "t")
    np.testing.assert_array_equal(net.layers[0].blobs[0].data, values)


@pytest.mark.parametrize(
    "data,message",
    [
        (_ld(2, _ld(4, b"a")) + _v2_layer("b", "ReLU"), "both V1"),
        (_ld(2, _ld(1, b"") + _ld(4, b"old")), "V0"),
        (_v2_layer("big", "Scale", _ld(7, _ld(7, _varint(8) + _varint(10**12) + _varint(8)
                                              + _varint(10**12)) + _ld(5, bytes(12)))),
         "needs 1000000000000000000000000 values but the file holds 3"),
        (_varint(100 << 3 | 2) + _varint(1 << 40) + b"xyz", "claims 1099511627776 bytes"),
        (b"", "no layers"),
        (b"\x0a\x05ab", "claims 5 bytes"),
        (b"\x0b\x01", "wire type 3"),
    ],
)  # fmt: skip
def test_bad_bytes_give_one_clear_error(data, message):
    with pytest.raises(CaffeError, match=message):
        net_from_message(wire.parse_bytes(data, "bad.caffemodel"), "bad.caffemodel")


NIN_STYLE_PROTOTXT = """
# A NIN-style train_val.prototxt (V1) with both phases and training-only layers.
name: 'nin_tiny'
layers {
  name: "data"  type: DATA  top: "data" top: "label"
  data_param { source: "train_lmdb" batch_size: 64 }
  transform_param { crop_size: 224 mirror: true mean_file: "mean.binaryproto" }
  include: { phase: TRAIN }
}
layers { name: "data" type: DATA top: "data" top: "label" include { phase: TEST } }
layers {
  bottom: "data" top: "conv1" name: "conv1" type: CONVOLUTION
  blobs_lr: 1 blobs_lr: 2 weight_decay: 1. weight_decay: 0
  convolution_param {
    num_output: 4 kernel_size: [3] stride: 2
    weight_filler { type: "gaussian" std: 1e-2 }  # ignored
  }
}
layers { name: "relu0"; type: RELU; bottom: "conv1"; top: "conv1" }
layers { name: 'pool0' type: POOLING bottom: "conv1" top: "pool0"
         pooling_param < pool: AVE kernel_size: 3 stride: 2 > }
layers { name: "accuracy" type: ACCURACY bottom: "pool0" bottom: "label" top: "accuracy"
         include: { phase: TEST } }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "pool0" bottom: "label" top: "loss" }
"""


def test_text_format_phases_and_skipped_layers(tmp_path):
    net = net_from_message(parse_text(NIN_STYLE_PROTOTXT), "train_val.prototxt")
    assert [(s.name, s.type) for s in net.layers] == [
        ("data", "Data"), ("conv1", "Convolution"), ("relu0", "ReLU"), ("pool0", "Pooling"),
        ("accuracy", "Accuracy"), ("loss", "SoftmaxWithLoss")]  # fmt: skip
    assert net.layers[1].params["convolution_param"][0]["kernel_size"] == [3]
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((4, 3, 3, 3), np.float32), rng.standard_normal(4, np.float32)
    deploy = [
        writer.conv("conv1", "data", "conv1", w, b, kernel_size=3, stride=2),
        writer.simple("relu0", "ReLU", "conv1", "conv1"),
        writer.simple(
            "pool0",
            "Pooling",
            "conv1",
            "pool0",
            {"pooling_param": {"pool": "AVE", "kernel_size": 3, "stride": 2}},
        ),
    ]
    deploy_proto, model_file = _write(tmp_path, deploy, 1, (16, 17))  # fmt: skip
    proto = tmp_path / "train_val.prototxt"
    proto.write_text(NIN_STYLE_PROTOTXT)
    model = load_model(proto, model_file)
    assert [layer.name for layer in model.layers] == ["data", "conv1", "relu0", "pool0"]
    notes = " ".join(model.caffe_notes)
    assert "'accuracy'" in notes and "'loss'" in notes and "TEST phase" in notes
    x = _input((16, 17))
    fx.assert_layers_close(fx.our_outputs(model, x, ["pool0"]),
                           fx.opencv_outputs(deploy_proto, model_file, x, ["pool0"]))  # fmt: skip


@pytest.mark.parametrize(
    "text,message",
    [
        ('layer { name: "a" type: "ReLU" ', "missing '}'"),
        ('layer { name: "a" type: "Pooling" pooling_param { pool: MEDIAN } }', "MEDIAN"),
        ('layer { name: "a" convolution_param { num_output: "x" } }', "num_output"),
        ('layer { name: "a" @ }', ":1: unexpected character"),
        ('name: "only a name"', "no 'layer'"),
    ],
)
def test_bad_prototxt_gives_one_clear_error(text, message):
    with pytest.raises(CaffeError, match=message):
        parse_text(text, "bad.prototxt")


def _mismatch_case(tmp_path, change):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3), np.float32)
    layers = [writer.conv("conv1", "data", "conv1", w, np.zeros(4, np.float32), kernel_size=3)]
    model_file = tmp_path / "m.caffemodel"
    writer.write_net(model_file, layers, input_shape=(1, 3, 8, 8))
    proto = tmp_path / "p.prototxt"
    proto.write_text(writer.prototxt_text(change(layers), input_shape=(1, 3, 8, 8)))
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
    layers = [writer.simple("act", "PReLU", "data", "act")]
    proto, model_file = _write(tmp_path, layers, 2, (4, 4))
    with pytest.raises(CaffeError, match="'act'.*'PReLU'"):
        load_model(proto, model_file)


def test_slash_in_layer_name_is_sanitised(tmp_path):
    layers = [writer.simple("block/relu", "ReLU", "data", "r")]
    proto, model_file = _write(tmp_path, layers, 2, (4, 4))
    model = load_model(proto, model_file)
    assert model.get_layer("block_relu") and "'block_relu'" in " ".join(model.caffe_notes)


def test_files_that_are_not_caffemodels(tmp_path):
    good = writer.encode_net(fx.vgg_net(), version=1, input_shape=(1, 3, 40, 40))
    cases = {"truncated": good[: len(good) // 2], "random": np.random.default_rng(0).bytes(999),
             "empty": b""}  # fmt: skip
    for name, data in cases.items():
        path = tmp_path / f"{name}.caffemodel"
        path.write_bytes(data)
        with pytest.raises(CaffeError, match=f"{name}.caffemodel"):
            load_model(None, path)
    with pytest.raises(CaffeError, match="missing.caffemodel"):
        load_model(None, tmp_path / "missing.caffemodel")


def test_fuzz_only_caffe_errors(tmp_path):
    rng = np.random.default_rng(1234)
    good = writer.encode_net(fx.misc_net(), version=1, input_shape=(1, 3, *fx.MISC_INPUT))
    cases = [rng.bytes(int(rng.integers(1, 300))) for _ in range(200)]
    cases += [good[: int(rng.integers(0, len(good)))] for _ in range(200)]
    for _ in range(200):
        flipped = bytearray(good)
        for i in rng.integers(0, len(good), int(rng.integers(1, 4))):
            flipped[i] = int(rng.integers(0, 256))
        cases.append(bytes(flipped))
    built = 0
    for i, data in enumerate(cases):
        try:
            net_from_message(wire.parse_bytes(data), "fuzz")
        except CaffeError:
            continue
        if i >= 400 and built < 40:  # building Keras models is slow: a sample of the flips
            built += 1
            path = tmp_path / "fuzz.caffemodel"
            path.write_bytes(data)
            try:
                load_model(None, path)
            except CaffeError:
                pass
    assert built > 0


# --- converted files and the tool ---------------------------------------------------------


@pytest.mark.parametrize("net", ["misc", "branchy", "resnet"])
def test_converted_file_gives_identical_outputs(tmp_path, net):
    make, hw = NETS[net]
    layers = make()
    proto, model_file = _write(tmp_path, layers, 2, hw)
    out = tmp_path / "converted.caffemodel"  # the content decides, not the extension
    convert(proto, model_file, out)
    names = fx.layer_names(layers)
    x = _input(hw)
    want = fx.our_outputs(load_model(proto, model_file), x, names)
    got = fx.our_outputs(load_model(None, out), x, names)
    for name in names:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    with pytest.raises(CaffeError, match="damaged"):
        (tmp_path / "cut").write_bytes(out.read_bytes()[:-100])
        load_model(None, tmp_path / "cut")


def test_converted_file_with_wrong_shapes(tmp_path):
    proto, model_file = _write(tmp_path, fx.misc_net(), 2, fx.MISC_INPUT)
    out = tmp_path / "misc.tfstyle"
    convert(proto, model_file, out)
    data = out.read_bytes()
    # conv1's kernel is (kh, kw, in, out) = (3, 5, 3, 6); same size, other shape.
    bad = data.replace(b'"shape": [3, 5, 3, 6]', b'"shape": [5, 3, 3, 6]')
    assert bad != data
    out.write_bytes(bad)
    with pytest.raises(CaffeError, match=r"'conv1'.*\(5, 3, 3, 6\).*\(3, 5, 3, 6\)"):
        load_model(None, out)


def test_layers_are_reusable_by_clone_model(tmp_path):
    import keras

    proto, model_file = _write(tmp_path, fx.branchy_net(), 2, (13, 10))
    model = load_model(proto, model_file)
    clone = keras.models.clone_model(model, clone_function=lambda layer: layer)
    x = _input((13, 10))
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(model(x)))
    assert clone.get_layer("conv1") is model.get_layer("conv1")


def test_convert_tool(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(__file__).resolve().parents[1] / "tools" / "convert_caffe.py"
    proto, model_file = _write(tmp_path, fx.misc_net(), 1, fx.MISC_INPUT)
    out = tmp_path / "misc.tfstyle"
    run = subprocess.run(
        [
            sys.executable,
            str(tool),
            "-proto_file",
            str(proto),
            "-model_file",
            str(model_file),
            "-output",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    x = _input(fx.MISC_INPUT)
    np.testing.assert_array_equal(
        np.asarray(load_model(None, out)(x)), np.asarray(load_model(proto, model_file)(x))
    )
    (tmp_path / "bad.caffemodel").write_bytes(b"\x0a\x05ab")
    run = subprocess.run(
        [
            sys.executable,
            str(tool),
            "-model_file",
            str(tmp_path / "bad.caffemodel"),
            "-output",
            str(tmp_path / "bad.out"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.startswith("convert_caffe:")]
    assert len(lines) == 1 and "bad.caffemodel" in lines[0] and "Traceback" not in run.stderr
    assert not (tmp_path / "bad.out").exists()


# --- the convolution's gradient --------------------------------------------------------------


@pytest.mark.parametrize("kernel,pad,stride", [(3, 1, 1), (5, 2, 1), (1, 0, 1), (3, 1, 2)])
def test_convolution_gradients_match_tensorflows_own(kernel, pad, stride):
    # Stride-1 SAME convolutions compute their input gradient as a forward convolution; the
    # oracle is TensorFlow's gradient of a plain padded VALID convolution.
    import tensorflow as tf

    from tf_style.caffe import CaffeConvolution

    rng = np.random.default_rng(0)
    layer = CaffeConvolution(6, kernel, strides=stride, pad=pad)
    x = tf.constant(rng.standard_normal((2, 11, 13, 4)), tf.float32)
    layer.build(x.shape)
    w = tf.constant(rng.standard_normal(layer.kernel.shape), tf.float32)
    layer.kernel.assign(w)
    up = tf.constant(rng.standard_normal(layer.compute_output_shape(x.shape)), tf.float32)

    @tf.function
    def ours(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * up)
        return tape.gradient(loss, [x, layer.kernel])

    with tf.GradientTape() as tape:
        tape.watch([x, w])
        padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        loss = tf.reduce_sum((tf.nn.conv2d(padded, w, stride, "VALID") + layer.bias) * up)
    for got, want in zip(ours(x), tape.gradient(loss, [x, w])):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    # Only the image gradient (the weights are constants): no input-gradient kernel at all
    # for SAME convolutions, whose gradient is a forward convolution.
    graph = tf.function(lambda x: tf.gradients(tf.reduce_sum(layer(x) * up), x))
    ops = {op.type for op in graph.get_concrete_function(x).graph.get_operations()}
    assert ("Conv2DBackpropInput" in ops) == (stride != 1)
