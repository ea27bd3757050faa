"""Faster kernels behind the Caffe layers: same results, less time and memory.

* `same_convolution`: a stride-1 SAME convolution whose input gradient runs as a forward
  convolution with the kernel turned by 180 degrees (`turned_kernel`), from a snapshot of that
  kernel when its owner made one (`snapshot_turned_kernels`).
* `valid_convolution`: the same for a VALID convolution after `pad` (tf_style's other padding
  modes than Caffe's zeros).
* `strided_convolution`: a strided VALID convolution of the image (a net's first layer), whose
  input gradient is a stride-1 forward convolution on the space-to-depth grid.
* `max_pool_2x2`: VGG's 2x2 stride-2 max pooling with a compiled (XLA) gradient, where
  oneDNN does not run the CPU kernels.

`layers.py` holds Caffe's semantics; this module only how they are computed fast.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable

import tensorflow as tf

# Inputs from this many values on take `max_pool_2x2`: its gradient saves about 7 ns per value
# and evaluation on the 2-core CPU, and each new shape costs about 0.3 s of XLA compilation,
# repaid within 45 evaluations from here on (VGG-19's pool1 to pool3 at 256 px, all four pools
# at 512 px).
_COMPILED_POOL_MIN_SIZE = 1 << 20


# How a convolution (or, with -seamless, a pooling layer) may pad: Caffe's zeros, the edge
# pixels, a mirror without the edge, or the opposite side (a tileable image).
PAD_MODES = ("zero", "replicate", "reflect", "circular")


def pad(x: tf.Tensor, ph, pw, mode: str, value: float = 0.0) -> tf.Tensor:
    """`x` [N, H, W, C] padded in `mode` by `ph` rows and `pw` columns on both sides, or by
    (before, after) pairs (`value` is what `zero` pads with)."""
    (top, bottom), (left, right) = (p if isinstance(p, tuple) else (p, p) for p in (ph, pw))
    if mode in ("zero", "reflect"):
        return tf.pad(
            x,
            [[0, 0], [top, bottom], [left, right], [0, 0]],
            mode="CONSTANT" if mode == "zero" else "REFLECT",
            constant_values=value,
        )
    for axis, (before, after) in ((1, (top, bottom)), (2, (left, right))):
        if not (before or after):
            continue
        n = x.shape[axis] or tf.shape(x)[axis]
        if mode == "replicate":
            parts = [tf.repeat(_rows(x, axis, 0, 1), before, axis=axis), x,
                     tf.repeat(_rows(x, axis, n - 1, 1), after, axis=axis)]  # fmt: skip
        else:  # circular: each side continues with the opposite one
            parts = [_rows(x, axis, n - before, before), x, _rows(x, axis, 0, after)]
        x = tf.concat(parts, axis=axis)
    return x


def _rows(x: tf.Tensor, axis: int, start, count) -> tf.Tensor:
    """`count` rows (axis 1) or columns (axis 2) of `x` from `start`: a slice, whose gradient is
    a dense pad; a gather's is a scatter, whose sums were not in the same order run to run."""
    begin, size = [0, 0, 0, 0], [-1, -1, -1, -1]
    begin[axis], size[axis] = start, count
    return tf.slice(x, begin, size)


def takes_compiled_pool(x: tf.Tensor) -> bool:
    """Whether a 2x2 stride-2 max pool of `x` takes `max_pool_2x2` (large, even, static), which
    only TensorFlow's own CPU kernel needs: oneDNN's gradient is as fast without a compilation."""
    even = all(d is not None and d % 2 == 0 for d in x.shape[1:3])
    large = (x.shape.num_elements() or 0) >= _COMPILED_POOL_MIN_SIZE
    return even and large and not _onednn_without_gpu()


def max_pool_2x2(x):
    """2x2 stride-2 max pooling (VGG's) whose gradient is a compiled XLA function.

    TensorFlow's own CPU MaxPoolGrad (where oneDNN's does not replace it) runs at about
    0.5 GB/s: 250 ms for pool1 of a 512-px image
    on the 2-core CPU, where the four pools' gradients take a tenth of a VGG-19 evaluation; the
    same gradient as one fused XLA function takes 80 ms (the forward stays TensorFlow's).
    """

    @tf.custom_gradient
    def pool(x):
        y = tf.nn.max_pool2d(x, 2, 2, "VALID")
        return y, lambda dy: _max_pool_2x2_gradient(x, y, dy)

    return pool(x)


@tf.function(jit_compile=True, autograph=False)
def _max_pool_2x2_gradient(x, y, dy):
    """Each window's gradient goes to its first maximum in row-major order, as in Caffe, Torch
    and TensorFlow's MaxPoolGrad (ties are common: ReLU zeros)."""
    n, h, w, c = x.shape
    windows = tf.reshape(x, [n, h // 2, 2, w // 2, 2, c])
    maxima = tf.equal(windows, y[:, :, None, :, None, :])
    taken = tf.zeros_like(maxima[:, :, :1, :, :1])
    firsts = []
    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):
        first = maxima[:, :, i : i + 1, :, j : j + 1] & ~taken
        taken |= first
        firsts.append(first)
    mask = tf.concat([tf.concat(firsts[:2], axis=4), tf.concat(firsts[2:], axis=4)], axis=2)
    upstream = dy[:, :, None, :, None, :]
    return tf.reshape(tf.where(mask, upstream, tf.zeros_like(upstream)), [n, h, w, c])


def turned_kernel(kernel: tf.Tensor, stride: int = 1) -> tf.Tensor:
    """The kernel turned by 180 degrees with its channel axes swapped (see `same_convolution`);
    with a stride, that of its space-to-depth form (see `strided_convolution`)."""
    if stride > 1:
        kernel = space_to_depth_kernel(kernel, stride)
    return tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])


def space_to_depth_kernel(kernel: tf.Tensor, stride: int) -> tf.Tensor:
    """[kh, kw, C, O] as the [ceil(kh/s), ceil(kw/s), s*s*C, O] kernel that convolves
    `tf.nn.space_to_depth(x, s)` with stride 1 as `kernel` convolves x with stride s.

    Tap (a, b) = (s*p + u, s*q + v) goes to (p, q) and channel (u*s + v)*C + c, the order of
    `tf.nn.space_to_depth`; the kernel is padded with zero taps to a multiple of s.
    """
    kh, kw, c, o = kernel.shape
    ph, pw = -kh % stride, -kw % stride
    kernel = tf.pad(kernel, [[0, ph], [0, pw], [0, 0], [0, 0]])
    kernel = tf.reshape(kernel, [(kh + ph) // stride, stride, (kw + pw) // stride, stride, c, o])
    kernel = tf.transpose(kernel, [0, 2, 1, 3, 4, 5])
    return tf.reshape(kernel, [(kh + ph) // stride, (kw + pw) // stride, stride * stride * c, o])


class _Snapshot:
    """A layer's turned kernel, held outside Keras' and tf.Module's tracking: it is derived
    from the weights, so it belongs in no checkpoint, SavedModel or weight count."""

    def __init__(self, variable: tf.Variable):
        self.variable = variable


def turned_snapshot(layer) -> tf.Variable | None:
    """The snapshot `snapshot_turned_kernels` made for `layer`, or None."""
    snapshot = getattr(layer, "_turned_snapshot", None)
    return None if snapshot is None else snapshot.variable


def snapshot_turned_kernels(placed: Iterable[tuple[object, str | None]]) -> None:
    """Stores `turned_kernel` of each convolution's kernel on the layer, in its compute dtype.

    `placed` holds (layer, device or None) for convolutions with `forward_gradient`. The owner
    (the objective, at each content capture) calls this again when the weights may have
    changed: a snapshot is the weights of the time it was made. Without one, every backward
    pass turns the kernel again: 58 ms of a 1.2 s VGG-19 evaluation at 256 px on the 2-core
    CPU, a pass over each kernel for the reverse and another for the transpose.
    """
    for layer, device in placed:
        value = tf.cast(turned_kernel(layer.kernel, layer.strides[0]), layer.compute_dtype)
        variable = turned_snapshot(layer)
        if variable is not None and variable.shape == value.shape:
            variable.assign(value)
            continue
        with tf.device(device) if device else contextlib.nullcontext():
            layer._turned_snapshot = _Snapshot(tf.Variable(value, trainable=False))


# Where oneDNN runs TensorFlow's CPU convolutions (x86 CPUs with AVX512_VNNI, AVX512_BF16 or
# AMX, unless TF_ENABLE_ONEDNN_OPTS=0), its float32 kernels are slow for wide layers: 22 against
# 13 ms for a 3x3 convolution of 512 to 512 channels on a 32x32 map, 16.5 against 13 ms for 256
# to 256 on 64x64, on a 2-core Xeon with AMX; XLA's own CPU convolution is the fast one there.
# From this many input x output channels on, a float32 convolution with a kernel wider than 1x1
# runs as a compiled XLA function (about 35 ms of compilation per shape, kept by the persistent
# cache of the command); narrower ones, and every bfloat16 one (oneDNN's AMX kernels), stay
# TensorFlow's.
_XLA_CONV_MIN_CHANNELS = 256 * 256


@functools.cache
def _onednn_without_gpu() -> bool:
    """Whether oneDNN runs the CPU kernels, on a machine where TensorFlow sees no GPU (asked
    once, when the first convolution or pool is built, after the command has chosen its
    devices)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        onednn = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # a TensorFlow without the query: keep its kernels
        return False
    return onednn and not tf.config.list_physical_devices("GPU")


@tf.function(jit_compile=True, autograph=False)
def _xla_conv2d(x, kernel, padding):
    return tf.nn.conv2d(x, kernel, 1, padding)


def conv2d(x, kernel, padding):
    """`tf.nn.conv2d` with stride 1, through XLA for the wide float32 layers above."""
    kh, kw, c, o = kernel.shape
    wide = kh * kw > 1 and c * o >= _XLA_CONV_MIN_CHANNELS
    if wide and x.dtype == tf.float32 and _onednn_without_gpu():
        return _xla_conv2d(x, kernel, padding)
    return tf.nn.conv2d(x, kernel, 1, padding)


def valid_convolution(x, kernel, turned=None):
    """A stride-1 VALID convolution whose input gradient runs as a forward convolution: the
    full correlation of the output gradient with the turned kernel (zero padding by the
    kernel's size less one), as in `same_convolution`."""
    kernel = tf.convert_to_tensor(kernel)
    if turned is not None:
        turned = tf.convert_to_tensor(turned)
    kh, kw = kernel.shape[0] - 1, kernel.shape[1] - 1
    full = [[0, 0], [kh, kh], [kw, kw], [0, 0]]

    @tf.custom_gradient
    def convolve(x):
        def grad(dy):
            return conv2d(dy, turned_kernel(kernel) if turned is None else turned, full)

        return conv2d(x, kernel, "VALID"), grad

    return convolve(x)


def same_convolution(x, kernel, turned=None):
    """A stride-1 SAME convolution whose input gradient runs as a forward convolution.

    TensorFlow's CPU kernel for a convolution's input gradient works through an im2col-style
    buffer of kh x kw x channels floats per pixel (2.25 GiB for conv1_2 at 1024 px, the peak of
    a whole evaluation) and runs slower than its forward convolution. With stride 1 and
    symmetric SAME padding that gradient is exactly the SAME convolution of the output gradient
    with the kernel turned by 180 degrees and its channel axes swapped, which runs through the
    forward kernels (oneDNN, cuDNN). Measured on the 2-core CPU for VGG-19: 18-27 % less time per
    evaluation at 512 and 256 px, and 15-27 % less peak memory from 512 to 2048 px
    (docs/high-resolution.md). `turned` is that kernel when a snapshot of it exists.

    Only the input has a gradient: nothing trains the weights, and building their gradient
    cost tracing time for ops that were pruned unused (here and in the other convolutions).
    """
    kernel = tf.convert_to_tensor(kernel)  # a constant of the gradient
    if turned is not None:
        turned = tf.convert_to_tensor(turned)
    scope = tf.get_current_name_scope()  # the layer's: its gradient ops are named after it

    @tf.custom_gradient
    def convolve(x):
        def grad(dy):
            with tf.name_scope((scope or "convolution") + "_grad/"):
                return conv2d(dy, turned_kernel(kernel) if turned is None else turned, "SAME")

        return conv2d(x, kernel, "SAME"), grad

    return convolve(x)


def strided_convolution(x, kernel, stride: int, turned=None):
    """A VALID convolution with stride `stride` on both axes whose input gradient runs as a
    stride-1 forward convolution.

    On the space-to-depth grid of the input (`tf.nn.space_to_depth`, s*s*C channels) the
    convolution has stride 1 and the kernel `space_to_depth_kernel`; its input gradient there is
    the full correlation of the output gradient with that kernel turned (`turned`, when a
    snapshot exists), and `tf.nn.depth_to_space` brings it back (rows and columns that no window
    reaches get zeros). For a net's first layer, with 3 input channels, TensorFlow's own input
    gradient runs at a few GFLOP/s on the CPU: 25 of open_nsfw's 160 ms per evaluation at 384 px
    for its 7x7 stride-2 conv_1 (docs/performance.md#resnets). The forward stays TensorFlow's.
    """
    kernel = tf.convert_to_tensor(kernel)
    if turned is None:
        turned = turned_kernel(kernel, stride)
    turned = tf.convert_to_tensor(turned)
    kh, kw = turned.shape[0] - 1, turned.shape[1] - 1
    full = [[0, 0], [kh, kh], [kw, kw], [0, 0]]

    @tf.custom_gradient
    def convolve(x):
        def grad(dy):
            dx = tf.nn.depth_to_space(tf.nn.conv2d(dy, turned, 1, full), stride)
            shape, got = tf.shape(x), tf.shape(dx)
            dx = dx[:, : shape[1], : shape[2]]
            rest = tf.maximum(shape[1:3] - got[1:3], 0)
            dx = tf.pad(dx, [[0, 0], [0, rest[0]], [0, rest[1]], [0, 0]])
            return tf.ensure_shape(dx, x.shape)

        return tf.nn.conv2d(x, kernel, stride, "VALID"), grad

    return convolve(x)
