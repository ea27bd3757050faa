"""The converted-model file: the net description and Keras-layout weights, ready to map.

Layout: MAGIC (16 bytes), header length (uint64 little-endian), a UTF-8 JSON header (net name,
layers without blobs, notes, and for each weighted layer its arrays' dtype, shape and offset),
zero padding to a 64-byte boundary, then the raw little-endian arrays, each 64-byte aligned.
Loading maps the file and wraps each array with `np.frombuffer` (no parsing, no transposes).
"""

from __future__ import annotations

import json
import mmap
import struct
from pathlib import Path

import numpy as np

from tf_style import fileio
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

    Raises:
      CaffeError: the file is truncated or its header is not valid.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError) as e:
        raise CaffeError(f"{path}: cannot read the converted model ({e})") from None
    bad = CaffeError(f"{path}: the converted model file is damaged; convert the model again")
    if len(buf) < len(MAGIC) + 8 or buf[: len(MAGIC)] != MAGIC:
        raise bad
    (length,) = struct.unpack_from("<Q", buf, len(MAGIC))
    start = len(MAGIC) + 8
    if length > len(buf) - start:
        raise bad
    try:
        header = json.loads(bytes(buf[start : start + length]))
        data_start = start + length + (-(start + length) % _ALIGN)
        layers = [
            LayerSpec(d["name"], d["type"], list(d["bottom"]), list(d["top"]), d["params"], [])
            for d in header["layers"]
        ]
        weights = {}
        for name, entries in header["weights"].items():
            weights[name] = []
            for e in entries:
                shape = tuple(int(d) for d in e["shape"])
                count = int(np.prod(shape, dtype=np.int64))
                offset = data_start + int(e["offset"])
                if (
                    e["dtype"] != "<f4"
                    or min(shape, default=1) < 0
                    or offset < data_start
                    or (offset + 4 * count > len(buf))
                ):
                    raise bad
                weights[name].append(np.frombuffer(buf, "<f4", count, offset).reshape(shape))
        net = NetSpec(str(header["name"]), layers, list(header["notes"]))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        if isinstance(e, CaffeError):
            raise
        raise bad from None
    return net, weights
