"""Writes .caffemodel binaries and .prototxt texts from a simple layer description.

Used by the tests (tiny nets in V1 and V2 form, read back by OpenCV as an independent check) and by
the benchmark (a VGG-19-sized file). A layer is a dict::

    {"name": "conv1", "type": "Convolution", "bottom": ["data"], "top": ["conv1"],
     "params": {"convolution_param": {"num_output": 8, "kernel_size": 3, "pad": 1}},
     "blobs": [weight_array, bias_array], "include": "TEST"}

``type`` is the V2 string; V1 output maps it to the enum. ``params`` values may be scalars or
lists; enums are their names. Blobs are numpy arrays in Caffe's layout.
"""

from __future__ import annotations

import struct

import numpy as np

from tf_style import fileio
from tf_style.caffe.netspec import BY_NAME, ENUMS, SCHEMA, V1_TYPES

_V1_ENUM = {v2: v1 for v1, v2 in V1_TYPES.items()}


def _varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _field(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _scalar(number: int, kind: str, v) -> bytes:
    if kind == "string":
        return _field(number, v.encode())
    if kind == "float":
        return _key(number, 5) + struct.pack("<f", v)
    if kind == "double":
        return _key(number, 1) + struct.pack("<d", v)
    if kind.startswith("enum:"):
        v = ENUMS[kind[5:]].index(v)
    return _key(number, 0) + _varint(int(v))


def encode_message(msg_type: str, msg: dict) -> bytes:
    """Serializes a dict (field name -> value or list of values) as message `msg_type`."""
    fields = BY_NAME[msg_type]
    out = bytearray()
    for name, values in msg.items():
        number, kind = fields[name]
        for v in values if isinstance(values, (list, tuple)) else [values]:
            if kind in SCHEMA:
                out += _field(number, encode_message(kind, v))
            else:
                out += _scalar(number, kind, v)
    return bytes(out)


def encode_blob(
    array: np.ndarray, *, legacy_dims: bool = False, double: bool = False, packed: bool = True
) -> bytes:
    """Serializes one BlobProto.

    Args:
      array: the values in Caffe's layout (its shape is written).
      legacy_dims: write num/channels/height/width (right-aligned, as old Caffe did) instead of
        a BlobShape.
      double: write `double_data` instead of float `data`.
      packed: write the data packed (normal) or one key per value.
    """
    out = bytearray()
    if legacy_dims:
        dims = (1,) * (4 - array.ndim) + tuple(array.shape)
        for number, d in zip((1, 2, 3, 4), dims, strict=True):
            out += _key(number, 0) + _varint(d)
    else:
        out += _field(7, _field(1, b"".join(_varint(d) for d in array.shape)))
    flat = np.ascontiguousarray(array, "<f8" if double else "<f4").ravel()
    number = 8 if double else 5
    if packed:
        out += _field(number, flat.tobytes())
    else:
        key = _key(number, 1 if double else 5)
        out += b"".join(key + v.tobytes() for v in flat)
    return bytes(out)


def encode_net(
    layers: list[dict],
    *,
    name: str = "net",
    version: int = 2,
    legacy_dims: bool | None = None,
    double: bool = False,
    packed: bool = True,
    input_shape: tuple[int, ...] | None = None,
) -> bytes:
    """Serializes a whole NetParameter (a .caffemodel).

    Args:
      layers: layer dicts (see the module docstring).
      name: the net name.
      version: 1 for V1 `layers` with enum types, 2 for V2 `layer` with string types.
      legacy_dims: blob dims as num/channels/height/width; default: True for V1, False for V2.
      double: blob values as doubles.
      packed: blob values packed (as Caffe writes them) or one key per value.
      input_shape: if given, the legacy `input: "data"` + `input_dim` header (N, C, H, W).

    Returns:
      The file contents.
    """
    legacy = version == 1 if legacy_dims is None else legacy_dims
    out = bytearray(_field(1, name.encode()))
    if input_shape is not None:
        out += _field(3, b"data") + b"".join(_key(4, 0) + _varint(d) for d in input_shape)
    for layer in layers:
        out += _encode_layer(layer, version, legacy, double, packed)
    return bytes(out)


def _encode_layer(layer: dict, version: int, legacy: bool, double: bool, packed: bool) -> bytes:
    msg_type = "V1LayerParameter" if version == 1 else "LayerParameter"
    fields = BY_NAME[msg_type]
    layer_type = _V1_ENUM[layer["type"]] if version == 1 else layer["type"]
    body = encode_message(
        msg_type,
        {
            "name": layer["name"],
            "type": layer_type,
            "bottom": layer.get("bottom", []),
            "top": layer.get("top", []),
            **{k: v for k, v in layer.get("params", {}).items()},
        },
    )
    for key in ("include", "exclude"):
        if layer.get(key):
            body += encode_message(msg_type, {key: {"phase": layer[key]}})
    for blob in layer.get("blobs", []):
        blob_bytes = encode_blob(blob, legacy_dims=legacy, double=double, packed=packed)
        body += _field(fields["blobs"][0], blob_bytes)
    return _field(2 if version == 1 else 100, body)


def _text_value(kind: str, v) -> str:
    if kind == "string":
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if kind == "bool":
        return "true" if v else "false"
    if kind.startswith("enum:"):
        return v
    return repr(float(v)) if kind in ("float", "double") else str(int(v))


def _text_message(msg_type: str, msg: dict, indent: str) -> str:
    fields = BY_NAME[msg_type]
    lines = []
    for name, values in msg.items():
        kind = fields[name][1]
        for v in values if isinstance(values, (list, tuple)) else [values]:
            if kind in SCHEMA:
                inner = _text_message(kind, v, indent + "  ")
                lines.append(f"{indent}{name} {{\n{inner}{indent}}}\n")
            else:
                lines.append(f"{indent}{name}: {_text_value(kind, v)}\n")
    return "".join(lines)


def prototxt_text(
    layers: list[dict],
    *,
    name: str = "net",
    version: int = 2,
    input_shape: tuple[int, ...] | None = None,
) -> str:
    """The .prototxt text of a net (no blobs), in V1 (`layers`, enum types) or V2 form."""
    out = [f'name: "{name}"\n']
    if input_shape is not None:
        out.append('input: "data"\n' + "".join(f"input_dim: {d}\n" for d in input_shape))
    msg_type = "V1LayerParameter" if version == 1 else "LayerParameter"
    for layer in layers:
        msg = {
            "name": layer["name"],
            "type": _V1_ENUM[layer["type"]] if version == 1 else layer["type"],
            "bottom": layer.get("bottom", []),
            "top": layer.get("top", []),
            **layer.get("params", {}),
        }
        for key in ("include", "exclude"):
            if layer.get(key):
                msg[key] = {"phase": layer[key]}
        body = _text_message(msg_type, msg, "  ")
        out.append(f"{'layers' if version == 1 else 'layer'} {{\n{body}}}\n")
    return "".join(out)


def write_net(
    path,
    layers: list[dict],
    *,
    prototxt_path=None,
    name: str = "net",
    version: int = 2,
    legacy_dims: bool | None = None,
    double: bool = False,
    input_shape: tuple[int, ...] | None = None,
) -> None:
    """Writes a .caffemodel (and, if `prototxt_path` is given, its .prototxt); see `encode_net`."""
    fileio.write_atomically(
        path,
        encode_net(
            layers,
            name=name,
            version=version,
            legacy_dims=legacy_dims,
            double=double,
            input_shape=input_shape,
        ),
    )
    if prototxt_path is not None:
        text = prototxt_text(layers, name=name, version=version, input_shape=input_shape)
        fileio.write_atomically(prototxt_path, text)


def conv(name, bottom, top, weight, bias=None, **param) -> dict:
    """A Convolution layer dict; `weight` is (out, in/group, kh, kw), `param` the conv params."""
    param.setdefault("num_output", weight.shape[0])
    if bias is None:
        param["bias_term"] = False
    blobs = [weight] if bias is None else [weight, bias]
    return {
        "name": name,
        "type": "Convolution",
        "bottom": [bottom],
        "top": [top],
        "params": {"convolution_param": param},
        "blobs": blobs,
    }


def simple(name, layer_type, bottom, top, params=None, blobs=()) -> dict:
    """A layer dict; `bottom`/`top` may be one name or a list."""
    return {
        "name": name,
        "type": layer_type,
        "bottom": [bottom] if isinstance(bottom, str) else list(bottom),
        "top": [top] if isinstance(top, str) else list(top),
        "params": params or {},
        "blobs": list(blobs),
    }


def _he(rng, shape, fan_in) -> np.ndarray:
    return (rng.standard_normal(shape, np.float32) * np.float32(np.sqrt(2.0 / fan_in))).astype(
        np.float32
    )


def vgg_layers(
    *,
    depth: int = 19,
    widths=(64, 128, 256, 512, 512),
    fc=(4096, 4096, 1000),
    seed: int = 0,
    in_size: int | tuple[int, int] = 224,
    conv_bias: float = 0.0,
) -> list[dict]:
    """The layer dicts of a VGG-16/19-shaped net with seeded He-normal weights.

    Names follow the Oxford release: conv1_1, relu1_1, ..., pool1..pool5, fc6, relu6, drop6,
    fc7, relu7, drop7, fc8, prob. `fc=None` leaves out the classifier. The convolutions'
    biases are zero, or with `conv_bias` > 0 drawn from N(conv_bias, conv_bias^2) by a
    generator of their own (the weights stay those of `seed`).
    """
    per_block = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}[depth]
    rng = np.random.default_rng(seed)
    bias_rng = np.random.default_rng([seed, 1])
    layers, bottom, channels = [], "data", 3
    for block, (n, width) in enumerate(zip(per_block, widths, strict=True), start=1):
        for i in range(1, n + 1):
            name = f"conv{block}_{i}"
            w = _he(rng, (width, channels, 3, 3), channels * 9)
            b = np.zeros(width, np.float32)
            if conv_bias:
                b += conv_bias * (1 + bias_rng.standard_normal(width, np.float32))
            layers.append(conv(name, bottom, name, w, b, pad=1, kernel_size=3))
            layers.append(simple(f"relu{block}_{i}", "ReLU", name, name))
            bottom, channels = name, width
        pool = {"pool": "MAX", "kernel_size": 2, "stride": 2}
        layers.append(
            simple(f"pool{block}", "Pooling", bottom, f"pool{block}", {"pooling_param": pool})
        )
        bottom = f"pool{block}"
    if fc:
        h, w = (in_size, in_size) if isinstance(in_size, int) else in_size
        fan_in = channels * -(-h // 32) * -(-w // 32)
        for i, out in enumerate(fc, start=6):
            name = f"fc{i}"
            w = _he(rng, (out, fan_in), fan_in)
            layers.append(
                simple(
                    name,
                    "InnerProduct",
                    bottom,
                    name,
                    {"inner_product_param": {"num_output": out}},
                    [w, np.zeros(out, np.float32)],
                )
            )
            bottom, fan_in = name, out
            if i < 5 + len(fc):
                layers.append(simple(f"relu{i}", "ReLU", name, name))
                layers.append(
                    simple(
                        f"drop{i}", "Dropout", name, name, {"dropout_param": {"dropout_ratio": 0.5}}
                    )
                )
        layers.append(simple("prob", "Softmax", bottom, "prob"))
    return layers


def write_vgg(
    path,
    *,
    depth: int = 19,
    widths=(64, 128, 256, 512, 512),
    fc=(4096, 4096, 1000),
    version: int = 1,
    seed: int = 0,
    prototxt_path=None,
) -> None:
    """Writes a synthetic VGG-shaped .caffemodel (V1 with legacy dims by default, like Oxford's).

    With the default widths and fc layers this is the size of VGG_ILSVRC_19_layers.caffemodel
    (about 575 MB). The legacy `input_dim` header is 1x3x224x224.
    """
    layers = vgg_layers(depth=depth, widths=widths, fc=fc, seed=seed)
    write_net(
        path,
        layers,
        prototxt_path=prototxt_path,
        name=f"VGG_ILSVRC_{depth}_layers",
        version=version,
        input_shape=(1, 3, 224, 224),
    )


def nin_layers(*, widths=(8, 12, 16, 10), seed: int = 0) -> list[dict]:
    """Layer dicts of a tiny NIN-shaped net with NIN ImageNet's layer names.

    conv1 (11x11 s4), relu0, cccp1, relu1, cccp2, relu2, pool0 (max 3x3 s2), conv2 (5x5 p2),
    relu3, cccp3, relu5, cccp4, relu6, pool2, conv3 (3x3 p1), relu7, cccp5, relu8, cccp6, relu9,
    pool3, drop, conv4-1024 (top conv4), relu10, cccp7-1024, relu11, cccp8-1024, relu12, pool4
    (ave 6x6 s1). `widths` are the four stage widths (the last is the class count).
    """
    rng = np.random.default_rng(seed)
    w1, w2, w3, w4 = widths
    spec = [  # (layer, top, relu, out, kernel, stride, pad)
        ("conv1", "conv1", "relu0", w1, 11, 4, 0), ("cccp1", "cccp1", "relu1", w1, 1, 1, 0),
        ("cccp2", "cccp2", "relu2", w1, 1, 1, 0), "pool0",
        ("conv2", "conv2", "relu3", w2, 5, 1, 2), ("cccp3", "cccp3", "relu5", w2, 1, 1, 0),
        ("cccp4", "cccp4", "relu6", w2, 1, 1, 0), "pool2",
        ("conv3", "conv3", "relu7", w3, 3, 1, 1), ("cccp5", "cccp5", "relu8", w3, 1, 1, 0),
        ("cccp6", "cccp6", "relu9", w3, 1, 1, 0), "pool3", "drop",
        ("conv4-1024", "conv4", "relu10", w4 * 2, 3, 1, 1),
        ("cccp7-1024", "cccp7", "relu11", w4 * 2, 1, 1, 0),
        ("cccp8-1024", "cccp8", "relu12", w4, 1, 1, 0),
    ]  # fmt: skip
    layers, bottom, channels = [], "data", 3
    for item in spec:
        if item == "drop":
            layers.append(simple("drop", "Dropout", bottom, bottom))
        elif isinstance(item, str):
            pool = {"pool": "MAX", "kernel_size": 3, "stride": 2}
            layers.append(simple(item, "Pooling", bottom, item, {"pooling_param": pool}))
            bottom = item
        else:
            name, top, relu, out, k, s, p = item
            w = _he(rng, (out, channels, k, k), channels * k * k)
            b = rng.uniform(-0.1, 0.1, out).astype(np.float32)
            layers.append(conv(name, bottom, top, w, b, kernel_size=k, stride=s, pad=p))
            layers.append(simple(relu, "ReLU", top, top))
            bottom, channels = top, out
    pool = {"pool": "AVE", "kernel_size": 6, "stride": 1}
    layers.append(simple("pool4", "Pooling", bottom, "pool4", {"pooling_param": pool}))
    return layers
