"""A protobuf wire-format reader for .caffemodel files, without protobuf.

Caffe files are one serialized NetParameter. Weights are packed float (or double) arrays that we
return as numpy views into the file buffer (no copy), so a 600 MB file costs little more than its
own pages. Every length is checked against the bytes that remain before anything is sliced, so a
corrupt header cannot make us allocate.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np

from tf_style.caffe.netspec import ENUMS, SCHEMA, CaffeError

_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


class _Reader:
    def __init__(self, buf, source: str):
        self.buf = buf
        self.view = memoryview(buf)
        self.source = source

    def fail(self, what: str) -> CaffeError:
        return CaffeError(f"{self.source}: {what}; the file is truncated or not a .caffemodel")

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        buf = self.buf
        result = shift = 0
        while True:
            if pos >= end:
                raise self.fail("a number runs past the end of its message")
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, pos
            shift += 7
            if shift >= 70:
                raise self.fail("a number is longer than 10 bytes")

    def message(self, pos: int, end: int, msg_type: str, depth: int = 0) -> dict:
        if depth > 8:
            raise self.fail("messages are nested too deeply")
        fields = SCHEMA[msg_type]
        out: dict = {}
        while pos < end:
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            value = chunk = None
            if number == 0:
                raise self.fail("a field has number 0")
            if wire == 0:
                value, pos = self.varint(pos, end)
            elif wire == 1:
                if pos + 8 > end:
                    raise self.fail("a 64-bit field runs past the end")
                chunk, pos = (pos, pos + 8), pos + 8
            elif wire == 5:
                if pos + 4 > end:
                    raise self.fail("a 32-bit field runs past the end")
                chunk, pos = (pos, pos + 4), pos + 4
            elif wire == 2:
                length, pos = self.varint(pos, end)
                if length > end - pos:
                    raise self.fail(f"a field claims {length} bytes but only {end - pos} remain")
                chunk, pos = (pos, pos + length), pos + length
            else:
                raise self.fail(f"field {number} has wire type {wire}, which Caffe never writes")
            spec = fields.get(number)
            if spec is None:
                continue
            name, kind = spec
            out.setdefault(name, []).extend(self.decode(kind, wire, value, chunk, name, depth))
        return out

    def decode(self, kind, wire, value, chunk, name, depth) -> list:
        if kind in ("data", "double_data"):
            dtype = "<f4" if kind == "data" else "<f8"
            size = 4 if kind == "data" else 8
            if wire == 2 or (wire == 5 and size == 4) or (wire == 1 and size == 8):
                start, stop = chunk
                if (stop - start) % size:
                    raise self.fail(f"packed '{name}' is not a whole number of values")
                return [np.frombuffer(self.buf, dtype, (stop - start) // size, start)]
            raise self.fail(f"'{name}' has wire type {wire}")
        if kind in ("string",) or kind in SCHEMA:
            if wire != 2:
                raise self.fail(f"'{name}' has wire type {wire}")
            if kind == "string":
                try:
                    return [str(self.view[chunk[0] : chunk[1]], "utf-8")]
                except UnicodeDecodeError:
                    raise self.fail(f"'{name}' is not UTF-8 text") from None
            return [self.message(chunk[0], chunk[1], kind, depth + 1)]
        if kind in ("float", "double"):
            st = _FLOAT if kind == "float" else _DOUBLE
            if wire == 2:
                start, stop = chunk
                if (stop - start) % st.size:
                    raise self.fail(f"packed '{name}' is not a whole number of values")
                return [v for (v,) in st.iter_unpack(self.view[start:stop])]
            if (wire, kind) not in ((5, "float"), (1, "double")):
                raise self.fail(f"'{name}' has wire type {wire}")
            return [st.unpack_from(self.buf, chunk[0])[0]]
        # Varint kinds: int, uint, bool, enum (packed or not).
        if wire == 2:
            values, pos = [], chunk[0]
            while pos < chunk[1]:
                v, pos = self.varint(pos, chunk[1])
                values.append(v)
        elif wire == 0:
            values = [value]
        else:
            raise self.fail(f"'{name}' has wire type {wire}")
        if kind == "int":
            # int32/int64: negative values arrive as 64-bit two's complement.
            return [v - (1 << 64) if v >= 1 << 63 else v for v in values]
        if kind == "bool":
            return [bool(v) for v in values]
        if kind.startswith("enum:"):
            names = ENUMS[kind[5:]]
            # An enum value this schema does not know is kept as its number (protobuf keeps it
            # as an unknown field); the builder then names it in its error.
            return [names[v] if v < len(names) else str(v) for v in values]
        return values


def parse_bytes(buf, source: str = "<bytes>") -> dict:
    """Parses a serialized NetParameter into the dict form of `netspec`.

    Args:
      buf: bytes, bytearray, mmap or memoryview; blob arrays are views into it.
      source: the name used in error messages.

    Returns:
      The NetParameter dict.

    Raises:
      CaffeError: when the bytes are not a well-formed NetParameter.
    """
    reader = _Reader(buf, source)
    msg = reader.message(0, len(buf), "NetParameter")
    if not msg.get("layers") and not msg.get("layer"):
        raise CaffeError(f"{source}: no layers found; this is not a .caffemodel file")
    return msg


def read_file(path) -> dict:
    """Parses a .caffemodel file through a read-only memory map (weights stay file-backed)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if path.stat().st_size == 0:
                raise CaffeError(f"{path}: the file is empty; download it again")
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except OSError as e:
        raise CaffeError(f"{path}: cannot read the model file ({e.strerror})") from None
    return parse_bytes(buf, str(path))
