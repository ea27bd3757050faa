"""Tests for tf_style.caffe.wire: the protobuf reader, on bytes written by hand and by ours."""

from __future__ import annotations

import numpy as np
import pytest

from tf_style.caffe import CaffeError, load_model, wire
from tf_style.caffe.netspec import net_from_message
from tf_style.testing import caffe_nets as nets
from tf_style.testing import caffe_writer


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
    layer = caffe_writer.conv("conv", "data", "conv", w, b, kernel_h=2, kernel_w=5)
    data = caffe_writer.encode_net([layer], version=version, **options)
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


def test_fuzz_only_caffe_errors(tmp_path):
    rng = np.random.default_rng(1234)
    good = caffe_writer.encode_net(nets.misc_net(), version=1, input_shape=(1, 3, *nets.MISC_INPUT))
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
