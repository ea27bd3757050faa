"""Tests for tf_style.caffe.layers: Caffe's loops and formulas written out in numpy, and
TensorFlow's own gradients, are the oracles."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tf_style.caffe import CaffePooling, load_model
from tf_style.testing import caffe_nets as nets
from tf_style.testing import caffe_writer, oracles


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
    layers = [caffe_writer.simple("norm", "LRN", "data", "norm", {"lrn_param": params})]
    proto, model_file = nets.write(tmp_path, layers, 2, (7, 9))
    x = nets.random_input((7, 9))
    got = oracles.our_outputs(load_model(proto, model_file), x, ["norm"])["norm"]
    want = _caffe_lrn(x, 5, 0.3, 0.6, 2.5, region)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_layers_are_reusable_by_clone_model(tmp_path):
    import keras

    proto, model_file = nets.write(tmp_path, nets.branchy_net(), 2, (13, 10))
    model = load_model(proto, model_file)
    clone = keras.models.clone_model(model, clone_function=lambda layer: layer)
    x = nets.random_input((13, 10))
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(model(x)))
    assert clone.get_layer("conv1") is model.get_layer("conv1")


def _np_conv(x, kernel):
    """A VALID cross-correlation of [H, W, C] with [kh, kw, C, O], written out in numpy."""
    kh, kw = kernel.shape[:2]
    h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((h, w, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("hwc,co->hwo", x[i : i + h, j : j + w], kernel[i, j])
    return out


@pytest.mark.parametrize(
    "mode,np_mode", [("zero", "constant"), ("replicate", "edge"), ("reflect", "reflect"),
                     ("circular", "wrap")]
)  # fmt: skip
@pytest.mark.parametrize("kernel,pad", [(3, 1), (5, 2), (3, 2)])
def test_padding_modes_match_numpy_padding(mode, np_mode, kernel, pad):
    from tf_style.caffe import CaffeConvolution

    rng = np.random.default_rng(kernel + pad)
    x = rng.normal(size=(1, 7, 9, 3)).astype(np.float32)
    layer = CaffeConvolution(4, kernel, pad=pad, padding_mode=mode, use_bias=False)
    layer.build(x.shape)
    weights = rng.normal(size=(kernel, kernel, 3, 4)).astype(np.float32)
    layer.kernel.assign(weights)
    padded = np.pad(x[0].astype(np.float64), [(pad, pad), (pad, pad), (0, 0)], mode=np_mode)
    want = _np_conv(padded, weights.astype(np.float64))
    np.testing.assert_allclose(layer(tf.constant(x))[0], want, rtol=1e-4, atol=1e-4)
    # The input gradient (a forward convolution with the turned kernel, then the padding's
    # own) equals the gradient of numpy's padding written as TensorFlow ops.
    index_h = np.pad(np.arange(7), pad, mode=np_mode if mode != "zero" else "edge")
    index_w = np.pad(np.arange(9), pad, mode=np_mode if mode != "zero" else "edge")
    upstream = tf.constant(rng.normal(size=want[None].shape).astype(np.float32))

    def reference(v):
        taken = tf.gather(tf.gather(v, index_h, axis=1), index_w, axis=2)
        if mode == "zero":
            keep = np.zeros((len(index_h), len(index_w)), np.float32)
            keep[pad:-pad, pad:-pad] = 1
            taken = taken * keep[None, :, :, None]
        return tf.nn.conv2d(taken, weights, 1, "VALID")

    grads = []
    for fn in (layer, reference):
        v = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(v)
            out = fn(v)
        grads.append(tape.gradient(out, v, output_gradients=upstream).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-4)
    assert layer.forward_gradient == (mode != "zero" or 2 * pad == kernel - 1)
