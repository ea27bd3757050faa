"""Tests for tf_style.caffe.kernels: the fast kernels give TensorFlow's own results.

The oracles are TensorFlow's MaxPoolGrad and its gradient of a plain padded VALID convolution,
and numpy's rot90 for the turned kernel.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_style.caffe import CaffePooling, kernels


@pytest.mark.parametrize("size", [(128, 128), (129, 131)])
def test_large_2x2_max_pools_route_the_gradient_as_tensorflow_does(size, monkeypatch):
    # From 2^20 values on, VGG's 2x2 pools take a compiled gradient of their own where oneDNN
    # is off. Every window's gradient must go where MaxPoolGrad sends it: to its first maximum,
    # ties (ReLU zeros) too.
    monkeypatch.setattr(kernels, "_onednn_without_gpu", lambda: False)
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


@pytest.mark.parametrize(
    "kernel,pad,stride,channels",
    [(3, 1, 1, 4), (5, 2, 1, 4), (1, 0, 1, 4), (3, 1, 2, 4), (7, 3, 2, 3), (11, 0, 4, 3),
     (2, 0, 2, 3), (3, 1, 2, 8), (1, 0, 2, 3)],
)  # fmt: skip
def test_convolution_gradients_match_tensorflows_own(kernel, pad, stride, channels):
    # Stride-1 SAME convolutions compute their input gradient as a forward convolution, and so
    # do strided ones of at most 4 channels whose windows overlap, on the space-to-depth grid
    # (odd sizes: rows that no window reaches); the oracle is TensorFlow's gradient of a plain
    # padded VALID convolution.
    import tensorflow as tf

    from tf_style.caffe import CaffeConvolution

    rng = np.random.default_rng(0)
    layer = CaffeConvolution(6, kernel, strides=stride, pad=pad)
    x = tf.constant(rng.standard_normal((2, 11, 13, channels)), tf.float32)
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
    got_x, got_w = ours(x)
    want_x, want_w = tape.gradient(loss, [x, w])
    np.testing.assert_allclose(got_x, want_x, rtol=1e-5, atol=1e-5 * np.abs(want_x).max())
    # Only the image gradient (the weights are constants): where the gradient is a forward
    # convolution, neither an input-gradient kernel nor the weights' gradient is built.
    forward = stride == 1 or (channels <= 4 and kernel > stride)
    if forward:
        assert got_w is None
    else:
        np.testing.assert_allclose(got_w, want_w, rtol=1e-5, atol=1e-5 * np.abs(want_w).max())
    graph = tf.function(lambda x: tf.gradients(tf.reduce_sum(layer(x) * up), x))
    ops = {op.type for op in graph.get_concrete_function(x).graph.get_operations()}
    assert ("Conv2DBackpropInput" in ops) != forward
    assert ("Conv2DBackpropFilter" in ops) != forward
    assert layer.forward_gradient == forward


def test_the_turned_kernel_is_rotated_and_its_channels_swapped():
    kernel = np.random.default_rng(0).standard_normal((3, 5, 4, 6)).astype(np.float32)
    want = np.rot90(kernel, 2, axes=(0, 1)).transpose(0, 1, 3, 2)
    np.testing.assert_array_equal(kernels.turned_kernel(tf.constant(kernel)), want)


def test_same_convolution_with_and_without_a_snapshot():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((1, 9, 7, 3)), tf.float32)
    kernel = tf.constant(rng.standard_normal((3, 3, 3, 5)), tf.float32)
    up = tf.constant(rng.standard_normal((1, 9, 7, 5)), tf.float32)

    def gradient(convolve):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = convolve(x)
        return y, tape.gradient(y, x, up)

    want_y, want_dx = gradient(lambda v: tf.nn.conv2d(v, kernel, 1, "SAME"))
    for turned in (None, kernels.turned_kernel(kernel)):
        y, dx = gradient(lambda v, t=turned: kernels.same_convolution(v, kernel, t))
        np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-5)
    # The gradient takes the snapshot it is given, stale or not: the owner keeps it current.
    _, stale = gradient(
        lambda v: kernels.same_convolution(v, kernel, kernels.turned_kernel(-kernel))
    )
    np.testing.assert_allclose(stale, -want_dx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels,compiled", [((256, 256), True), ((128, 256), False)])
def test_wide_float32_convolutions_run_through_xla_where_onednn_would(
    monkeypatch, channels, compiled
):
    # On a CPU where oneDNN runs the convolutions, wide float32 ones (and their input gradients,
    # forward convolutions too) go through a compiled XLA function; the oracle is TensorFlow's
    # own convolution and its gradient, in float64.
    monkeypatch.setattr(kernels, "_onednn_without_gpu", lambda: True)
    rng = np.random.default_rng(2)
    cin, cout = channels
    x = rng.standard_normal((1, 6, 5, cin))
    kernel = rng.standard_normal((3, 3, cin, cout)) / 30
    up = rng.standard_normal((1, 6, 5, cout))

    @tf.function
    def ours(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = kernels.same_convolution(x, tf.constant(kernel, tf.float32))
        return y, tape.gradient(y, x, tf.constant(up, tf.float32))

    x64 = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x64)
        want_y = tf.nn.conv2d(x64, tf.constant(kernel), 1, "SAME")
    want_dx = tape.gradient(want_y, x64, tf.constant(up))
    y, dx = ours(tf.constant(x, tf.float32))
    np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-4 * np.abs(want_y).max())
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4 * np.abs(want_dx).max())
    graph = ours.get_concrete_function(tf.TensorSpec(x.shape, tf.float32)).graph
    calls = [op for op in graph.get_operations() if op.type == "PartitionedCall"]
    plain = [op for op in graph.get_operations() if op.type == "Conv2D"]
    assert (len(calls), len(plain)) == ((2, 0) if compiled else (0, 2))


def test_snapshots_follow_the_weights_and_are_not_weights():
    conv = keras.layers.Conv2D(4, 3, padding="same")
    conv.build((1, 6, 6, 2))
    assert kernels.turned_snapshot(conv) is None
    kernels.snapshot_turned_kernels([(conv, None)])
    snapshot = kernels.turned_snapshot(conv)
    np.testing.assert_array_equal(snapshot, kernels.turned_kernel(conv.kernel))
    conv.kernel.assign(conv.kernel * 2)
    kernels.snapshot_turned_kernels([(conv, "/CPU:0")])
    assert kernels.turned_snapshot(conv) is snapshot  # the same variable, assigned anew
    np.testing.assert_array_equal(snapshot, kernels.turned_kernel(conv.kernel))
    # Derived from the weights: in no weight list, checkpoint or weight count.
    assert len(conv.weights) == 2 and all(w is not snapshot for w in conv.weights)
    assert conv.count_params() == 3 * 3 * 2 * 4 + 4


@pytest.mark.parametrize(
    "shape, taken",
    [
        ((1, 128, 128, 64), True),  # 2^20 values
        ((1, 128, 128, 63), False),  # just below
        ((1, 256, 258, 16), True),
        ((1, 129, 128, 64), False),  # odd: Caffe's ceil rounding pads a last window
        ((2, 128, 130, 32), True),
    ],
)
def test_large_even_pools_take_the_compiled_gradient(shape, taken, monkeypatch):
    monkeypatch.setattr(kernels, "_onednn_without_gpu", lambda: False)
    assert kernels.takes_compiled_pool(tf.zeros(shape)) is taken


def test_with_onednn_on_the_cpu_pools_keep_tensorflows_gradient(monkeypatch):
    monkeypatch.setattr(kernels, "_onednn_without_gpu", lambda: True)
    assert not kernels.takes_compiled_pool(tf.zeros((1, 256, 256, 64)))


def test_a_pool_of_unknown_size_takes_tensorflows():
    seen = []

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 64])])
    def probe(x):
        seen.append(kernels.takes_compiled_pool(x))
        return x

    probe(tf.zeros((1, 256, 256, 64)))
    assert seen == [False]


@pytest.mark.parametrize("mode", ["replicate", "circular"])
def test_the_padding_gradient_is_dense(mode):
    # Gathered edges had a scatter (UnsortedSegmentSum) as their gradient, whose sums were not
    # the same from run to run inside a whole evaluation: W2 runs with -padding replicate
    # differed from their 20th iteration on. Slices have a dense pad as theirs.
    x = tf.constant(np.arange(2 * 5 * 6 * 3, dtype=np.float32).reshape(2, 5, 6, 3))

    @tf.function
    def gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            padded = kernels.pad(v, (1, 2), (2, 1), mode)
        return tape.gradient(padded, v, output_gradients=tf.ones_like(padded))

    ops = {op.type for op in gradient.get_concrete_function(x).graph.get_operations()}
    assert not ops & {"UnsortedSegmentSum", "ScatterNd", "TensorScatterAdd", "GatherV2"}
    # Each input pixel's gradient counts how often the padding copies it (numpy's own pads).
    np_mode = "edge" if mode == "replicate" else "wrap"
    index = np.arange(5 * 6).reshape(5, 6)
    copies = np.bincount(np.pad(index, [(1, 2), (2, 1)], mode=np_mode).ravel(), minlength=30)
    want = np.broadcast_to(copies.reshape(1, 5, 6, 1), x.shape)
    np.testing.assert_array_equal(gradient(x).numpy(), want)
