"""Keras layers with Caffe's semantics (NHWC tensors, any spatial size).

Caffe's pooling rounds up and clips (docs/caffe.md#layer-semantics), its convolution pads
symmetrically, its
InnerProduct flattens in C,H,W order and its LRN divides alpha by the window size; Keras' built-in
layers do none of this, so these layers do. All are serializable and hold their weights as
non-trainable variables, so one instance can be called on many tensors.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_style.caffe import kernels

_PACKAGE = "tf_style.caffe"


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def pool_geometry(size, kernel: int, stride: int, pad: int, ceil: bool):
    """Caffe's pooled size along one axis and the bottom/right padding that gives it.

    Works on Python ints and on scalar tensors alike.

    Returns:
      (output size, extra padding after the input).
    """
    if ceil:
        out = (size + 2 * pad - kernel + stride - 1) // stride + 1
    else:
        out = (size + 2 * pad - kernel) // stride + 1
    if pad > 0:
        # Caffe: the last window must start inside the image or the left padding.
        clip = (out - 1) * stride >= size + pad
        out = tf.where(clip, out - 1, out) if tf.is_tensor(out) else out - int(clip)
    extra = (out - 1) * stride + kernel - size - pad
    extra = tf.maximum(extra, 0) if tf.is_tensor(extra) else max(extra, 0)
    return out, extra


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CaffePooling(keras.layers.Layer):
    """Caffe's Pooling layer: MAX or AVE, ceil or floor rounding, Caffe's pad clip and divisor.

    Args:
      pool: "max" or "ave".
      kernel_size, strides, padding: (h, w) pairs (padding is symmetric, as in Caffe).
      round_mode: "ceil" (Caffe's default) or "floor".
      global_pooling: pool the whole map to 1x1 (kernel, strides and padding are ignored).
    """

    def __init__(
        self,
        pool: str = "max",
        kernel_size=(2, 2),
        strides=(2, 2),
        padding=(0, 0),
        round_mode: str = "ceil",
        global_pooling: bool = False,
        padding_mode: str = "caffe",
        **kwargs,
    ):
        super().__init__(**kwargs)
        # "caffe": Caffe's padding (never wins a max; counted in an average's divisor up to the
        # explicit pad); "circular" (-seamless): the map wraps around its edges.
        if padding_mode not in ("caffe", "circular"):
            raise ValueError(f"padding_mode must be 'caffe' or 'circular', not {padding_mode!r}")
        self.padding_mode = padding_mode
        if pool not in ("max", "ave"):
            raise ValueError(f"pool must be 'max' or 'ave', not {pool!r}")
        if round_mode not in ("ceil", "floor"):
            raise ValueError(f"round_mode must be 'ceil' or 'floor', not {round_mode!r}")
        self.pool = pool
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = _pair(padding)
        self.round_mode = round_mode
        self.global_pooling = bool(global_pooling)

    def call(self, x):
        if self.global_pooling:
            reduce = tf.reduce_max if self.pool == "max" else tf.reduce_mean
            return reduce(x, axis=(1, 2), keepdims=True)
        # Static sizes where they are known: the padding is then plain ints, and there is none
        # (no padded copy of the activation, 65 fewer traced ops) when the windows fit, as
        # VGG's 2x2 pools do on even sizes.
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:
            shape = tf.shape(x)
            h, w = shape[1] if h is None else h, shape[2] if w is None else w
        ceil = self.round_mode == "ceil"
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.strides, self.padding
        _, eh = pool_geometry(h, kh, sh, ph, ceil)
        _, ew = pool_geometry(w, kw, sw, pw, ceil)
        unpadded = all(isinstance(p, int) and p == 0 for p in (ph, eh, pw, ew))
        pads = [[0, 0], [ph, eh], [pw, ew], [0, 0]]
        window, strides = [1, kh, kw, 1], [1, sh, sw, 1]
        if self.padding_mode == "circular" and not unpadded:
            x = kernels.pad(x, (ph, eh), (pw, ew), "circular")
            pool = tf.nn.max_pool2d if self.pool == "max" else tf.nn.avg_pool2d
            return pool(x, window, strides, "VALID")
        if self.pool == "max":
            if not unpadded:
                # Padding never wins a max: Caffe starts from -FLT_MAX and skips padded cells.
                lowest = tf.constant(x.dtype.min, x.dtype)
                x = tf.pad(x, pads, constant_values=lowest)
            if window == strides == [1, 2, 2, 1] and kernels.takes_compiled_pool(x):
                return kernels.max_pool_2x2(x)
            return tf.nn.max_pool2d(x, window, strides, "VALID")
        if unpadded:
            return tf.nn.avg_pool2d(x, window, strides, "VALID")
        sums = tf.nn.avg_pool2d(tf.pad(x, pads), window, strides, "VALID")
        # Caffe's divisor counts the explicit padding but not the ceil overhang beyond it.
        ones = tf.ones([1, h, w, 1], x.dtype)
        mask = tf.pad(
            ones,
            [[0, 0], [ph, tf.minimum(ph, eh)], [pw, tf.minimum(pw, ew)], [0, 0]],
            constant_values=tf.constant(1, x.dtype),
        )
        mask = tf.pad(
            mask, [[0, 0], [0, eh - tf.minimum(ph, eh)], [0, ew - tf.minimum(pw, ew)], [0, 0]]
        )
        counts = tf.nn.avg_pool2d(mask, window, strides, "VALID")
        return sums / counts

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        if self.global_pooling:
            return (n, 1, 1, c)
        ceil = self.round_mode == "ceil"
        dims = []
        for size, k, s, p in zip((h, w), self.kernel_size, self.strides, self.padding, strict=True):
            dims.append(None if size is None else pool_geometry(size, k, s, p, ceil)[0])
        return (n, dims[0], dims[1], c)

    def get_config(self):
        return {
            **super().get_config(),
            "pool": self.pool,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "round_mode": self.round_mode,
            "global_pooling": self.global_pooling,
            "padding_mode": self.padding_mode,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CaffeConvolution(keras.layers.Conv2D):
    """Conv2D with Caffe's symmetric padding `pad=(ph, pw)` and floor rounding.

    `padding_mode` is Caffe's zeros, or (an addition: tf_style's -padding and -seamless)
    `replicate`, `reflect` or `circular` (`kernels.pad`).
    """

    def __init__(self, *args, pad=(0, 0), padding_mode="zero", **kwargs):
        kwargs["padding"] = "valid"
        # Zeros, like the other Caffe layers: the weights always replace them, and Keras'
        # default Glorot initializer costs 17 ms per layer to construct (its seed generator),
        # a third of loading VGG-19.
        kwargs.setdefault("kernel_initializer", "zeros")
        super().__init__(*args, **kwargs)
        if padding_mode not in kernels.PAD_MODES:
            raise ValueError(
                f"padding_mode must be one of {kernels.PAD_MODES}, not {padding_mode!r}"
            )
        self.pad = _pair(pad)
        self.padding_mode = padding_mode
        # Stride 1 with pad = dilation*(kernel-1)/2 on both axes (VGG's and NIN's 3x3/5x5
        # convolutions) is exactly TensorFlow's SAME padding (docs/caffe.md#convolution-padding)
        # when the padding is zeros, which saves a padded copy of every activation in the
        # forward and the backward pass.
        span = [d * (k - 1) for d, k in zip(self.dilation_rate, self.kernel_size)]
        stride1 = tuple(self.strides) == (1, 1)
        self._same = stride1 and [2 * p for p in self.pad] == span and padding_mode == "zero"
        if self._same:
            self.padding = "same"
        # Whether the input gradient runs as a forward convolution (`kernels`): SAME with zeros,
        # or VALID after another padding.
        plain = self.groups == 1 and tuple(self.dilation_rate) == (1, 1)
        self.forward_gradient = plain and (self._same or (stride1 and padding_mode != "zero"))

    def convolution_op(self, inputs, kernel):
        if self.forward_gradient:
            turned = kernels.turned_snapshot(self)
            if self._same:
                return kernels.same_convolution(inputs, kernel, turned)
            return kernels.valid_convolution(inputs, kernel, turned)
        return super().convolution_op(inputs, kernel)

    def call(self, x):
        ph, pw = self.pad
        if (ph or pw) and not self._same:
            x = kernels.pad(x, ph, pw, self.padding_mode)
        return super().call(x)

    def compute_output_shape(self, input_shape):
        if self._same:
            return super().compute_output_shape(input_shape)
        n, h, w, c = input_shape
        ph, pw = self.pad
        h = None if h is None else h + 2 * ph
        w = None if w is None else w + 2 * pw
        return super().compute_output_shape((n, h, w, c))

    def get_config(self):
        # The padding Keras sees is derived from `pad`; store the Caffe form only.
        return {
            **super().get_config(),
            "padding": "valid",
            "pad": self.pad,
            "padding_mode": self.padding_mode,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CaffeInnerProduct(keras.layers.Layer):
    """Caffe's InnerProduct: flattens everything after the batch axis (C,H,W order), then x W^T.

    The kernel keeps Caffe's (units, inputs) layout: instead of reordering the weights for an NHWC
    flatten (a slow strided copy of VGG's 400 MB fc6), the small activation is transposed to
    NCHW. The input's spatial size must be the one the net was trained for.
    """

    def __init__(self, units: int, inputs: int, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.inputs, self.use_bias = int(units), int(inputs), bool(use_bias)
        self.kernel_initializer = self.bias_initializer = keras.initializers.Zeros()

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.units, self.inputs),
            initializer=self.kernel_initializer,
            trainable=False,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer, trainable=False
            )

    def call(self, x):
        if len(x.shape) == 4:
            x = tf.transpose(x, [0, 3, 1, 2])
        y = tf.matmul(tf.reshape(x, [tf.shape(x)[0], self.inputs]), self.kernel, transpose_b=True)
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "inputs": self.inputs,
            "use_bias": self.use_bias,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CaffeLeakyReLU(keras.layers.Layer):
    """Caffe's ReLU with a negative `negative_slope` (Keras' ReLU accepts only slopes >= 0)."""

    def __init__(self, negative_slope: float, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def call(self, x):
        return tf.maximum(x, 0.0) + self.negative_slope * tf.minimum(x, 0.0)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CaffeFlatten(keras.layers.Layer):
    """Caffe's Flatten (axis 1 to the end) in Caffe's C,H,W order."""

    def call(self, x):
        if len(x.shape) == 4:
            x = tf.transpose(x, [0, 3, 1, 2])
        return tf.reshape(x, [tf.shape(x)[0], -1])

    def compute_output_shape(self, input_shape):
        n = 1
        for d in input_shape[1:]:
            n = None if d is None or n is None else n * d
        return (input_shape[0], n)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChannelAffine(keras.layers.Layer):
    """y = x * scale + bias per channel: Caffe's Scale, and BatchNorm with its statistics folded."""

    def __init__(self, channels: int, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.use_bias = int(channels), bool(use_bias)
        # The scale is the "kernel" for the converter, which presets initializers by these names.
        self.kernel_initializer = keras.initializers.Ones()
        self.bias_initializer = keras.initializers.Zeros()

    def build(self, input_shape):
        self.scale = self.add_weight(
            name="scale",
            shape=(self.channels,),
            initializer=self.kernel_initializer,
            trainable=False,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.channels,),
                initializer=self.bias_initializer,
                trainable=False,
            )

    def call(self, x):
        y = x * self.scale
        return y + self.bias if self.use_bias else y

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CaffeLRN(keras.layers.Layer):
    """Caffe's LRN. ACROSS_CHANNELS: x / (k + alpha/n * sum of x^2 over n channels)^beta.

    WITHIN_CHANNEL: x / (1 + alpha/n^2 * sum of x^2 over an n x n window)^beta (zero padded).
    """

    def __init__(self, local_size=5, alpha=1.0, beta=0.75, k=1.0, region="across", **kwargs):
        super().__init__(**kwargs)
        self.local_size, self.alpha, self.beta = int(local_size), float(alpha), float(beta)
        self.k, self.region = float(k), region

    def call(self, x):
        n = self.local_size
        if self.region == "across":
            # TF's bias/alpha are Caffe's k and alpha / n (docs/caffe.md#lrn).
            return tf.nn.local_response_normalization(
                x, depth_radius=(n - 1) // 2, bias=self.k, alpha=self.alpha / n, beta=self.beta
            )
        p = (n - 1) // 2
        sq = tf.pad(tf.square(x), [[0, 0], [p, p], [p, p], [0, 0]])
        mean = tf.nn.avg_pool2d(sq, [1, n, n, 1], [1, 1, 1, 1], "VALID")
        return x * tf.pow(1.0 + self.alpha * mean, -self.beta)

    def get_config(self):
        return {
            **super().get_config(),
            "local_size": self.local_size,
            "alpha": self.alpha,
            "beta": self.beta,
            "k": self.k,
            "region": self.region,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CaffeEltwise(keras.layers.Layer):
    """Caffe's Eltwise over a list of tensors: "sum" (with coefficients), "prod" or "max"."""

    def __init__(self, operation: str = "sum", coeffs=None, **kwargs):
        super().__init__(**kwargs)
        self.operation = operation
        self.coeffs = None if coeffs is None else [float(c) for c in coeffs]

    def call(self, inputs):
        if self.operation == "prod":
            out = inputs[0]
            for t in inputs[1:]:
                out = out * t
            return out
        if self.operation == "max":
            out = inputs[0]
            for t in inputs[1:]:
                out = tf.maximum(out, t)
            return out
        coeffs = self.coeffs or [1.0] * len(inputs)
        out = inputs[0] * coeffs[0] if coeffs[0] != 1.0 else inputs[0]
        for c, t in zip(coeffs[1:], inputs[1:], strict=True):
            out = out + (t * c if c != 1.0 else t)
        return out

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "operation": self.operation, "coeffs": self.coeffs}
