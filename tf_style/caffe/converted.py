"""The converted-model file: the net description and Keras-layout weights, ready to map.

Layout: MAGIC (16 bytes), header length (uint64 little-endian), a UTF-8 JSON header (net name,
layers without blobs, notes, and for each weighted layer its arrays' dtype, shape and offset),
zero padding to a 64-byte boundary, then the raw little-endian arrays, each 64-byte aligned.
Loading maps the file and wraps each array with `np.frombuffer` (no parsing, no transposes).
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from pathlib import Path

import numpy as np

from tf_style import fileio
from tf_style.caffe import prototxt
from tf_style.caffe.netspec import CaffeError, LayerSpec, NetSpec

MAGIC = b"\x89TFSTYLE-CAFFE\n\x00"
_ALIGN = 64


def is_converted(path) -> bool:
    """Whether `path` starts with the converted-file magic."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _json_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "blobs"}


def write(path, net: NetSpec, weights: dict[str, list[np.ndarray]]) -> None:
    """Writes a converted file atomically (a temporary file in the same folder, then a rename).

    Args:
      path: the output file.
      net: the net description (blobs are not written).
      weights: Keras-layout float32 arrays by layer name.
    """
    entries, offset = {}, 0
    for name, arrays in weights.items():
        entries[name] = []
        for a in arrays:
            entries[name].append({"dtype": "<f4", "shape": list(a.shape), "offset": offset})
            offset += -(-a.size * 4 // _ALIGN) * _ALIGN
    header = json.dumps(
        {
            "version": 1,
            "name": net.name,
            "notes": net.notes,
            "layers": [
                {
                    "name": s.name,
                    "type": s.type,
                    "bottom": s.bottom,
                    "top": s.top,
                    "params": _json_params(s.params),
                }
                for s in net.layers
            ],
            "weights": entries,
        }
    ).encode()
    start = len(MAGIC) + 8 + len(header)
    pad = -start % _ALIGN
    with fileio.AtomicFile(path) as f:
        f.write(MAGIC + struct.pack("<Q", len(header)) + header + b"\0" * pad)
        for arrays in weights.values():
            for a in arrays:
                data = np.ascontiguousarray(a, "<f4")
                f.write(data.data)
                f.write(b"\0" * (-data.nbytes % _ALIGN))


def read(path) -> tuple[NetSpec, dict[str, list[np.ndarray]]]:
    """Maps a converted file: the net description and read-only array views by layer name.

    The header is checked before anything is built from it: every layer field and parameter
    has the type the builder reads (`prototxt.typed_message`), and every array lies inside the
    file, so a damaged file cannot make the builder fail in other ways or allocate what the
    header claims.

    Raises:
      CaffeError: the file is truncated or its header is not valid.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError) as e:
        raise CaffeError(f"{path}: cannot read the converted model ({e})") from None
    if len(buf) < len(MAGIC) + 8 or buf[: len(MAGIC)] != MAGIC:
        raise _damaged(path, "no converted-model header")
    (length,) = struct.unpack_from("<Q", buf, len(MAGIC))
    start = len(MAGIC) + 8
    if length > len(buf) - start:
        raise _damaged(path, f"the header claims {length} bytes, the file holds {len(buf)}")
    try:
        header = json.loads(bytes(buf[start : start + length]))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise _damaged(path, f"the header is not JSON ({type(e).__name__})") from None
    data_start = start + length + (-(start + length) % _ALIGN)
    header = _checked(header, dict, "the header", path)
    layers = _checked(header.get("layers"), list, "layers", path)
    notes = _checked(header.get("notes"), list, "notes", path)
    net = NetSpec(
        _checked(header.get("name"), str, "name", path),
        [_layer(d, i, path) for i, d in enumerate(layers)],
        [_checked(note, str, "a note", path) for note in notes],
    )
    weights = {}
    for name, entries in _checked(header.get("weights"), dict, "weights", path).items():
        what = f"weights of {name!r}"
        weights[name] = [
            _array(buf, data_start, e, what, path) for e in _checked(entries, list, what, path)
        ]
    return net, weights


def _damaged(path, what: str) -> CaffeError:
    return CaffeError(
        f"{path}: the converted model file is damaged ({what}); convert the model again"
    )


def _checked(value, kind: type, what: str, path):
    """`value` when it is a `kind` (bool is no int here), else the damaged-file error."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _damaged(path, f"{what} is not a {kind.__name__}")
    return value


def _layer(d, i: int, path) -> LayerSpec:
    what = f"layer {i}"
    d = _checked(d, dict, what, path)
    strings = {}
    for key in ("bottom", "top"):
        values = _checked(d.get(key), list, f"{what}'s {key}", path)
        strings[key] = [_checked(v, str, f"{what}'s {key}", path) for v in values]
    name = _checked(d.get("name"), str, f"{what}'s name", path)
    layer_type = _checked(d.get("type"), str, f"{what}'s type", path)
    try:
        params = prototxt.typed_message(d.get("params"), "LayerParameter", f"layer {name!r}")
    except CaffeError as e:
        raise _damaged(path, str(e)) from None
    return LayerSpec(name, layer_type, strings["bottom"], strings["top"], params, [])


def _array(buf, data_start: int, e, what: str, path) -> np.ndarray:
    """One weight array as a view into the mapped file, after checking that it lies inside."""
    e = _checked(e, dict, what, path)
    dims = _checked(e.get("shape"), list, f"the shape of the {what}", path)
    shape = tuple(_checked(d, int, f"a dimension of the {what}", path) for d in dims)
    offset = data_start + _checked(e.get("offset"), int, f"the offset of the {what}", path)
    count = math.prod(shape)  # Python integers: no overflow, whatever the header claims
    if (
        e.get("dtype") != "<f4"
        or len(shape) > 8
        or min(shape, default=1) < 0
        or max(shape, default=0) > len(buf)  # also where another dimension is 0
        or offset < data_start
        or offset + 4 * count > len(buf)
    ):
        raise _damaged(path, f"the {what} do not lie inside the file")
    return np.frombuffer(buf, "<f4", count, offset).reshape(shape)
