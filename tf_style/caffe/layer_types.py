"""How each Caffe layer type becomes Keras layers: one function per type, `METHODS` by name.

Each function reads its layer's parameters, checks what tf_style supports, and adds the layer
through the builder (`builder._Builder.add`, which sets the weights and records the blobs).
"""

from __future__ import annotations

import math

import keras
import numpy as np

from tf_style.caffe import layers as L
from tf_style.caffe.netspec import CaffeError, first


def _hw(param: dict, name: str, default: int | None, where: str) -> tuple[int, int]:
    """A (h, w) pair from Caffe's `name` (one or two values) and `name_h`/`name_w` fields."""
    values = param.get(name, [])
    if len(values) > 2:
        raise CaffeError(f"{where}: {name} has {len(values)} values; only 2-D layers are supported")
    if values:
        base = (values[0], values[-1])
    elif default is not None:
        base = (default, default)
    else:
        base = (None, None)
    prefix = name.replace("_size", "")  # kernel_size -> kernel_h / kernel_w
    h, w = first(param, prefix + "_h", base[0]), first(param, prefix + "_w", base[1])
    if h is None or w is None:
        raise CaffeError(f"{where}: {name} is not set")
    return _small(h, name, where), _small(w, name, where)


def _small(value, name: str, where: str) -> int:
    """A size, stride or pad: caffe.proto's uint32, and below 2^31 for TensorFlow's int32."""
    if not 0 <= value < 1 << 31:
        raise CaffeError(f"{where}: {name} {value} is out of range")
    return int(value)


def _outputs(params: dict, where: str) -> int:
    """num_output of a Convolution or InnerProduct whose axis is 1 (channels)."""
    if first(params, "axis", 1) != 1:
        raise CaffeError(f"{where}: only axis 1 (channels) is supported")
    out = first(params, "num_output")
    if not out:
        raise CaffeError(f"{where}: num_output is not set")
    return out


def convolution(b, spec, p):
    cp = first(p, "convolution_param", {})
    where = b.where(spec)
    out = _outputs(cp, where)
    kh, kw = _hw(cp, "kernel_size", None, where)
    sh, sw = _hw(cp, "stride", 1, where)
    ph, pw = _hw(cp, "pad", 0, where)
    dil = cp.get("dilation", []) or [1]
    dh, dw = _small(dil[0], "dilation", where), _small(dil[-1], "dilation", where)
    group = first(cp, "group", 1)
    bias = first(cp, "bias_term", True)
    if min(kh, kw, sh, sw, dh, dw, group) < 1:
        raise CaffeError(f"{where}: kernel, stride, dilation and group must be positive")
    if (dh > 1 or dw > 1) and (sh > 1 or sw > 1):
        raise CaffeError(f"{where}: dilation together with stride > 1 is not supported")
    b.blobs(spec, 2 if bias else 1, "weights, bias" if bias else "weights")
    x = b.bottom(spec, 0, channels_hint=b.weight_size(spec) // (out * kh * kw) * group)
    cin = x.shape[-1]
    if cin % group or out % group:
        raise CaffeError(f"{where}: {cin} inputs or {out} outputs do not split into {group}")

    def make_arrays():
        w = b.check_count(spec, 0, (out, cin // group, kh, kw))
        arrays = [np.ascontiguousarray(w.transpose(2, 3, 1, 0))]
        return arrays + ([b.check_count(spec, 1, (out,))] if bias else [])

    arrays = None if b.weights is not None else make_arrays()  # check before building
    layer = L.CaffeConvolution(
        out,
        (kh, kw),
        strides=(sh, sw),
        pad=(ph, pw),
        dilation_rate=(dh, dw),
        groups=group,
        use_bias=bias,
        name=b.keras_name(spec),
        dtype="float32",
    )
    b.add(spec, layer, x, lambda: arrays)


def innerproduct(b, spec, p):
    ip = first(p, "inner_product_param", {})
    where = b.where(spec)
    out = _outputs(ip, where)
    bias = first(ip, "bias_term", True)
    b.blobs(spec, 2 if bias else 1, "weights, bias" if bias else "weights")
    x = b.bottom(spec, 0)
    channels = x.shape[-1]
    size = b.weight_size(spec)
    n_in = size // out
    static = math.prod(int(d) for d in x.shape[1:]) if None not in x.shape[1:] else None
    if (
        size != out * n_in
        or n_in == 0
        or (channels and n_in % channels)
        or (static is not None and static != n_in)
    ):
        shape = tuple(spec.blobs[0].shape) if spec.blobs else (size,)
        raise CaffeError(
            f"{where}: weight blob 0 has shape {shape} but the net needs "
            f"({out}, {static or f'a multiple of {channels}'}); the prototxt and the "
            "caffemodel do not match"
        )

    def make_arrays():
        if first(ip, "transpose", False):
            kernel = np.ascontiguousarray(b.check_count(spec, 0, (n_in, out)).T)
        else:
            kernel = b.check_count(spec, 0, (out, n_in))  # a view into the file
        return [kernel] + ([b.check_count(spec, 1, (out,))] if bias else [])

    layer = L.CaffeInnerProduct(out, n_in, use_bias=bias, name=b.keras_name(spec))
    b.add(spec, layer, x, make_arrays)


def relu(b, spec, p):
    slope = first(first(p, "relu_param", {}), "negative_slope", 0.0)
    if not np.isfinite(slope):
        raise CaffeError(f"{b.where(spec)}: negative_slope is {slope}")
    name = b.keras_name(spec)
    if slope >= 0:
        layer = keras.layers.ReLU(negative_slope=slope, name=name)
    else:  # Keras' ReLU refuses negative slopes, which Caffe allows
        layer = L.CaffeLeakyReLU(slope, name=name)
    b.add(spec, layer, b.bottom(spec, 0))


def dropout(b, spec, p):
    # Identity at inference (Caffe scales at training time, like Keras).
    ratio = first(first(p, "dropout_param", {}), "dropout_ratio", 0.5)
    if not 0 <= ratio < 1:
        raise CaffeError(f"{b.where(spec)}: dropout_ratio {ratio} is not in [0, 1)")
    b.add(spec, keras.layers.Dropout(ratio, name=b.keras_name(spec)), b.bottom(spec, 0))


def softmax(b, spec, p):
    if first(first(p, "softmax_param", {}), "axis", 1) != 1:
        raise CaffeError(f"{b.where(spec)}: only axis 1 (channels) is supported")
    b.add(spec, keras.layers.Softmax(axis=-1, name=b.keras_name(spec)), b.bottom(spec, 0))


def pooling(b, spec, p):
    pp = first(p, "pooling_param", {})
    where = b.where(spec)
    method = first(pp, "pool", "MAX")
    if method not in ("MAX", "AVE"):
        raise CaffeError(f"{where}: {method} pooling is not supported (only MAX and AVE)")
    glob = first(pp, "global_pooling", False)
    kernel = (1, 1) if glob else _hw(pp, "kernel_size", None, where)
    stride = _hw(pp, "stride", 1, where)
    pad = _hw(pp, "pad", 0, where)
    if min(*kernel, *stride) < 1:
        raise CaffeError(f"{where}: kernel and stride must be positive")
    round_mode = first(pp, "round_mode", "CEIL")
    if round_mode not in ("CEIL", "FLOOR"):  # an enum number this schema does not know
        raise CaffeError(f"{where}: round_mode {round_mode} is not supported (CEIL or FLOOR)")
    layer = L.CaffePooling(
        pool=method.lower(),
        kernel_size=kernel,
        strides=stride,
        padding=pad,
        round_mode=round_mode.lower(),
        global_pooling=glob,
        name=b.keras_name(spec),
    )
    b.add(spec, layer, b.bottom(spec, 0))


def lrn(b, spec, p):
    lp = first(p, "lrn_param", {})
    size = first(lp, "local_size", 5)
    if size % 2 == 0 or size < 1:
        raise CaffeError(f"{b.where(spec)}: local_size must be odd, not {size}")
    region = (
        "across" if first(lp, "norm_region", "ACROSS_CHANNELS") == "ACROSS_CHANNELS" else ("within")
    )
    layer = L.CaffeLRN(
        size,
        first(lp, "alpha", 1.0),
        first(lp, "beta", 0.75),
        first(lp, "k", 1.0),
        region,
        name=b.keras_name(spec),
    )
    b.add(spec, layer, b.bottom(spec, 0))


def batchnorm(b, spec, p):
    eps = first(first(p, "batch_norm_param", {}), "eps", 1e-5)
    b.blobs(spec, 3, "mean, variance, scale factor")
    x = b.bottom(spec, 0)
    c = x.shape[-1]

    def make_arrays():
        mean = b.check_count(spec, 0, (c,)).astype(np.float64)
        var = b.check_count(spec, 1, (c,)).astype(np.float64)
        factor = float(b.check_count(spec, 2, (1,))[0])
        # Caffe stores running sums; the third blob is the factor that makes them means.
        factor = 0.0 if factor == 0 else 1.0 / factor
        scale = 1.0 / np.sqrt(var * factor + eps)
        return [scale.astype(np.float32), (-mean * factor * scale).astype(np.float32)]

    b.add(spec, L.ChannelAffine(c, name=b.keras_name(spec)), x, make_arrays)


def scale(b, spec, p):
    sp = first(p, "scale_param", {})
    where = b.where(spec)
    if len(spec.bottom) != 1 or first(sp, "axis", 1) != 1 or first(sp, "num_axes", 1) != 1:
        raise CaffeError(f"{where}: only a learned per-channel scale (one bottom) is supported")
    bias = first(sp, "bias_term", False)
    b.blobs(spec, 2 if bias else 1, "scale, bias" if bias else "scale")
    x = b.bottom(spec, 0)
    c = x.shape[-1]
    layer = L.ChannelAffine(c, use_bias=bias, name=b.keras_name(spec))
    n = 2 if bias else 1
    b.add(spec, layer, x, lambda: [b.check_count(spec, i, (c,)) for i in range(n)])


def eltwise(b, spec, p):
    ep = first(p, "eltwise_param", {})
    op = first(ep, "operation", "SUM")
    if op not in ("SUM", "PROD", "MAX"):
        raise CaffeError(f"{b.where(spec)}: Eltwise operation {op} is not supported")
    coeffs = ep.get("coeff") or None
    if coeffs and len(coeffs) != len(spec.bottom):
        raise CaffeError(
            f"{b.where(spec)}: {len(coeffs)} coefficients for {len(spec.bottom)} bottoms"
        )
    if coeffs and op != "SUM":
        raise CaffeError(f"{b.where(spec)}: coefficients need operation SUM")
    xs = [b.bottom(spec, i) for i in range(len(spec.bottom))]
    layer = L.CaffeEltwise(op.lower(), coeffs, name=b.keras_name(spec))
    b.add(spec, layer, xs)


def concat(b, spec, p):
    cp = first(p, "concat_param", {})
    axis = first(cp, "axis", first(cp, "concat_dim", 1))
    if axis != 1:
        raise CaffeError(f"{b.where(spec)}: only axis 1 (channels) is supported")
    xs = [b.bottom(spec, i) for i in range(len(spec.bottom))]
    b.add(spec, keras.layers.Concatenate(axis=-1, name=b.keras_name(spec)), xs)


def flatten(b, spec, p):
    fp = first(p, "flatten_param", {})
    if first(fp, "axis", 1) != 1 or first(fp, "end_axis", -1) != -1:
        raise CaffeError(f"{b.where(spec)}: only axis 1 to the end is supported")
    b.add(spec, L.CaffeFlatten(name=b.keras_name(spec)), b.bottom(spec, 0))


METHODS = {
    "Convolution": convolution,
    "InnerProduct": innerproduct,
    "ReLU": relu,
    "Dropout": dropout,
    "Softmax": softmax,
    "Pooling": pooling,
    "LRN": lrn,
    "BatchNorm": batchnorm,
    "Scale": scale,
    "Eltwise": eltwise,
    "Concat": concat,
    "Flatten": flatten,
}
