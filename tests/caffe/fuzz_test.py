"""Property-based fuzzing of the Caffe readers: a damaged file ends in a CaffeError, quickly.

hypothesis mutates small valid files that tf_style.testing writes (.caffemodel in V1 and V2, the
.prototxt, a converted file): truncations, bit flips, huge length prefixes, wrong wire types,
changed field numbers, garbage in nested messages, fields repeated thousands of times or nested
hundreds deep; in the text, damaged tokens, unbalanced braces, bad numbers and huge repeat counts;
in the converted file's JSON header, values of the wrong type. `read_net`, `load_model` and
`converted.read` must then read the file or raise CaffeError (never IndexError, struct.error,
RecursionError, OverflowError, a ValueError of another kind...), each example within its
deadline. A subprocess under an address-space limit checks that a file claiming terabytes does not
make the readers allocate them.

The examples are derandomized (the same in every run) and sized for CI (about 20 s);
TF_STYLE_FUZZ_SCALE=30 runs thirty times as many (all passed, 8 minutes on 2 cores).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import struct
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tf_style.caffe import CaffeError, convert, converted, load_model, read_net
from tf_style.caffe.netspec import SCHEMA
from tf_style.testing import caffe_nets as nets
from tf_style.testing import caffe_writer, processes

_SCALE = int(os.environ.get("TF_STYLE_FUZZ_SCALE", "1"))


def _settings(examples: int, seconds: float):
    return settings(
        max_examples=examples * _SCALE,
        deadline=timedelta(seconds=seconds),
        derandomize=True,  # the same examples in every run: CI is reproducible
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


# --- the good files -----------------------------------------------------------------------------

NETS = ("misc", "resnet", "branchy")


@functools.cache
def good() -> tuple[dict, dict]:
    """name -> {version: (prototxt text, caffemodel bytes)}, and name -> a converted file's bytes.

    Not a fixture: hypothesis would print these bytes with every failing example.
    """
    files, conv = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in NETS:
            make, hw = nets.NETS[name]
            files[name] = {}
            for version in (1, 2) if name in nets.V1_NETS else (2,):
                sub = folder / f"{name}{version}"
                sub.mkdir()
                proto, model = nets.write(sub, make(), version, hw)
                files[name][version] = (proto.read_text(), model.read_bytes())
            out = folder / f"{name}.tfstyle"
            convert(proto, model, out)
            conv[name] = out.read_bytes()
    return files, conv


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder the examples write their damaged files into (one name per kind, overwritten)."""
    return tmp_path_factory.mktemp("fuzz")


def _caffe_errors_only(call) -> None:
    """Runs `call`; a CaffeError is a fine answer, any other exception fails the example."""
    try:
        call()
    except CaffeError as e:
        assert str(e), "an empty message"


# --- a protobuf wire-format tree, written here (independent of the reader under test) -----------


def _varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    return bytes(out + bytes([v]))


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    # Like wire.py's reader on purpose: the test walks the files without the code under test.
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("not a varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


@dataclasses.dataclass
class Field:
    number: int
    wire: int
    value: bytes  # the encoded varint, the fixed-size bytes, or the payload of a wire-2 field
    children: list | None = None  # the payload as fields, where it parses as a message
    length: int | None = None  # a length prefix to claim instead of the payload's own


def parse_fields(buf: bytes, depth: int = 0) -> list[Field] | None:
    """The fields of a message, or None where `buf` is no clean message."""
    fields, pos = [], 0
    try:
        while pos < len(buf):
            key, pos = _read_varint(buf, pos)
            number, wire = key >> 3, key & 7
            if wire == 0:
                start = pos
                _, pos = _read_varint(buf, pos)
                value = buf[start:pos]
            elif wire in (1, 5):
                size = 8 if wire == 1 else 4
                value, pos = buf[pos : pos + size], pos + size
            elif wire == 2:
                size, pos = _read_varint(buf, pos)
                value, pos = buf[pos : pos + size], pos + size
            else:
                return None
            if pos > len(buf) or number == 0:
                return None
            fields.append(Field(number, wire, value))
    except ValueError:
        return None
    if depth < 6:
        for f in fields:
            if f.wire == 2 and f.value:
                f.children = parse_fields(f.value, depth + 1)
    return fields


def encode_fields(fields: list[Field]) -> bytes:
    out = bytearray()
    for f in fields:
        out += _varint(f.number << 3 | f.wire)
        if f.wire == 2:
            payload = encode_fields(f.children) if f.children is not None else f.value
            out += _varint(len(payload) if f.length is None else f.length) + payload
        else:
            out += f.value
    return bytes(out)


def _nodes(fields: list[Field]) -> list[tuple[list[Field], int]]:
    """Every field of the tree as (the list that holds it, its index), depth first."""
    out = []
    for i, f in enumerate(fields):
        out.append((fields, i))
        if f.children is not None:
            out += _nodes(f.children)
    return out


# Field numbers the schema knows (so a changed number often lands on another meaningful field).
NUMBERS = sorted({n for fields in SCHEMA.values() for n in fields})
HUGE_LENGTHS = [2**31 - 1, 2**31, 2**32 + 5, 2**40, 2**62, 2**63, 2**64 - 1, 2**70 - 1]


@st.composite
def damaged_bytes(draw, good_bytes: bytes) -> bytes:
    """`good_bytes` (a serialized message) with one to three damages."""
    fields = parse_fields(good_bytes)
    assert fields is not None and encode_fields(fields) == good_bytes
    data = None
    for _ in range(draw(st.integers(1, 3))):
        if data is not None:  # a byte-level damage before: no tree any more
            fields = parse_fields(data) or [Field(1, 2, data)]
        op = draw(st.sampled_from(["truncate", "flip", "splice", "length", "wire", "number",
                                   "garbage", "repeat", "nest", "varint"]))  # fmt: skip
        nodes = _nodes(fields)
        holder, i = nodes[draw(st.integers(0, len(nodes) - 1))]
        node = holder[i]
        data = None
        if op == "length":
            wired = [(h, j) for h, j in nodes if h[j].wire == 2] or [(holder, i)]
            holder, i = wired[draw(st.integers(0, len(wired) - 1))]
            holder[i].wire = 2
            holder[i].length = draw(st.sampled_from(HUGE_LENGTHS) | st.integers(0, 2**70))
        elif op == "wire":
            node.wire = draw(st.integers(0, 7))
        elif op == "number":
            node.number = draw(st.sampled_from(NUMBERS) | st.integers(0, 2**29 - 1))
        elif op == "garbage":
            node.wire, node.children = 2, None
            node.value = draw(st.binary(max_size=200))
        elif op == "repeat":
            size = len(encode_fields([node]))
            count = draw(st.integers(2, max(2, min(5000, 400_000 // size))))
            holder[i : i + 1] = [dataclasses.replace(node) for _ in range(count)]
        elif op == "nest":
            for _ in range(draw(st.integers(1, 300))):
                node = Field(draw(st.sampled_from(NUMBERS)), 2, b"", [node])
            holder[i] = node
        elif op == "varint":
            # An overlong or huge varint value (counts, dims, enum numbers).
            node.wire, node.children = 0, None
            value = draw(st.sampled_from([2**63, 2**64 - 1, 2**70 - 1, 2**32]) | st.integers(0))
            node.value = _varint(value)
        else:
            data = encode_fields(fields)
            if op == "truncate":
                data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
            elif op == "flip":
                flipped = bytearray(data)
                for _ in range(draw(st.integers(1, 8))):
                    flipped[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
                data = bytes(flipped)
            else:
                start = draw(st.integers(0, len(data)))
                stop = draw(st.integers(start, min(len(data), start + 64)))
                data = data[:start] + draw(st.binary(max_size=64)) + data[stop:]
    return data if data is not None else encode_fields(fields)


# --- prototxt damage ----------------------------------------------------------------------------

_TEXT_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\s+|[{}\[\]:;,<>]|[^\s{}\[\]:;,<>"]+|.', re.S)
BAD_NUMBERS = [
    "0", "2147483647", "4294967295", "9223372036854775807", "18446744073709551615",
    "1e999", "-1e999", "nan", "-nan", "inf", "1" * 5000, "9" * 2000 + "x", "9" * 40,
    "-9223372036854775809", "18446744073709551616", "0x10", "1.5.5", "1e", "-", "+5", "1_000",
    "\u0661\u0662", "\u00b2", "-0", "0.0e-400", "4294967296", "-1",
]  # fmt: skip
PALETTE = ["{", "}", ":", "[", "]", ",", ";", "<", ">", '"', "'", "#", "\\", "\x00", "\ufffd",
           "\u00e9", "true", "TEST", "MAX", "layer", "name", "input_dim", "dim", "{ }",
           "[ ]", '"x\\', "'", "\n"]  # fmt: skip


@st.composite
def damaged_text(draw, good_text: str) -> str | bytes:
    """The prototxt with one to three damages (bytes where the damage broke the UTF-8)."""
    tokens = _TEXT_TOKEN.findall(good_text)
    assert "".join(tokens) == good_text
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "replace", "insert", "repeat", "braces", "number",
                                   "truncate", "bytes"]))  # fmt: skip
        i = draw(st.integers(0, len(tokens) - 1))
        if op == "delete":
            del tokens[i]
        elif op == "replace":
            tokens[i] = draw(st.sampled_from(PALETTE + BAD_NUMBERS) | st.text(max_size=12))
        elif op == "insert":
            tokens.insert(i, draw(st.sampled_from(PALETTE + BAD_NUMBERS)))
        elif op == "repeat":
            count = draw(st.integers(2, max(2, min(20_000, 200_000 // (len(tokens[i]) + 1)))))
            tokens[i : i + 1] = [tokens[i]] * count
        elif op == "braces":
            brace = draw(st.sampled_from(["{", "}", "a {", "a: {", "[", "<"]))
            tokens.insert(i, brace * draw(st.integers(1, 20_000)))
        elif op == "number":
            numbers = [j for j, t in enumerate(tokens) if re.fullmatch(r"[-+.\d]+\w*", t)]
            j = numbers[draw(st.integers(0, len(numbers) - 1))] if numbers else i
            tokens[j] = draw(st.sampled_from(BAD_NUMBERS))
        elif op == "truncate":
            tokens = tokens[:i]
        else:
            data = bytearray("".join(tokens).encode() or b" ")
            for _ in range(draw(st.integers(1, 4))):
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0x80, 0xFF))
            return bytes(data)
        if not tokens:
            tokens = [""]
    return "".join(tokens)


def _write(path, content: str | bytes):
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# --- the converted file -------------------------------------------------------------------------

_MAGIC_LEN = len(converted.MAGIC)


def _split_converted(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack_from("<Q", data, _MAGIC_LEN)
    start = _MAGIC_LEN + 8
    header = json.loads(data[start : start + length])
    data_start = start + length + (-(start + length) % 64)
    return header, data[data_start:]


def _join_converted(header_bytes: bytes, arrays: bytes, claimed: int | None = None) -> bytes:
    start = _MAGIC_LEN + 8 + len(header_bytes)
    length = len(header_bytes) if claimed is None else claimed
    return (converted.MAGIC + struct.pack("<Q", length) + header_bytes + b"\0" * (-start % 64)
            + arrays)  # fmt: skip


def _json_nodes(value, path=()):
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _json_nodes(v, (*path, k))
    elif isinstance(value, list):
        for k, v in enumerate(value):
            out += _json_nodes(v, (*path, k))
    return out


def _json_containers(inner):
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.sampled_from([2**63, -1, 0, 1e308, "<f4", "<f8", "MAX", "Convolution", "data"]),
    _json_containers,
    max_leaves=8,
)  # fmt: skip


@st.composite
def damaged_converted(draw, good_bytes: bytes) -> bytes:
    """The converted file with a damaged JSON header (rewritten to fit) or damaged bytes."""
    header, arrays = _split_converted(good_bytes)
    op = draw(st.sampled_from(["value", "value", "drop", "length", "nest", "bytes"]))
    if op == "bytes":
        return _flip(draw, good_bytes)
    if op == "nest":
        depth = draw(st.integers(1, 200_000))
        return _join_converted(("[" * depth + "]" * depth).encode(), arrays)
    if op == "length":
        claimed = draw(st.sampled_from(HUGE_LENGTHS[:-1]) | st.integers(0, 2**64 - 1))
        return _join_converted(json.dumps(header).encode(), arrays, claimed)
    paths = _json_nodes(header)
    path = paths[draw(st.integers(1, len(paths) - 1))]
    parent = header
    for key in path[:-1]:
        parent = parent[key]
    if op == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON_VALUES)
    return _join_converted(json.dumps(header).encode(), arrays)


def _flip(draw, data: bytes) -> bytes:
    flipped = bytearray(data[: draw(st.integers(_MAGIC_LEN, len(data)))])
    for _ in range(draw(st.integers(0, 8))):
        if flipped:
            flipped[draw(st.integers(0, len(flipped) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(flipped)


# --- the properties -----------------------------------------------------------------------------


def _draw_net(data) -> tuple[str, str, bytes]:
    """A net and one of its versions: (name, prototxt text, caffemodel bytes)."""
    files = good()[0]
    name = data.draw(st.sampled_from(NETS))
    version = data.draw(st.sampled_from(sorted(files[name])))
    return (name, *files[name][version])


@pytest.mark.slow
@_settings(examples=1000, seconds=5)
@given(st.data())
def test_damaged_caffemodel_gives_only_caffe_errors(work, data):
    _, text, model = _draw_net(data)
    path = _write(work / "damaged.caffemodel", data.draw(damaged_bytes(model)))
    proto = _write(work / "good.prototxt", text)
    _caffe_errors_only(lambda: read_net(None, path))
    _caffe_errors_only(lambda: read_net(proto, path))


@pytest.mark.slow
@_settings(examples=1000, seconds=5)
@given(st.data())
def test_damaged_prototxt_gives_only_caffe_errors(work, data):
    _, text, model = _draw_net(data)
    proto = _write(work / "damaged.prototxt", data.draw(damaged_text(text)))
    path = _write(work / "good.caffemodel", model)
    _caffe_errors_only(lambda: read_net(proto, path))


@_settings(examples=800, seconds=5)
@given(st.data())
def test_damaged_converted_file_gives_only_caffe_errors(work, data):
    _, conv = good()
    name = data.draw(st.sampled_from(NETS))
    path = _write(work / "damaged.tfstyle", data.draw(damaged_converted(conv[name])))
    _caffe_errors_only(lambda: converted.read(path))


@pytest.mark.slow
@_settings(examples=300, seconds=30)
@given(st.data())
def test_damaged_files_build_a_model_or_give_a_caffe_error(work, data):
    """The whole load (the Keras model too), on a damage of each kind of file."""
    name, text, model = _draw_net(data)
    kind = data.draw(st.sampled_from(["caffemodel", "prototxt", "converted"]))
    proto = work / "load.prototxt"
    path = work / "load.caffemodel"
    if kind == "caffemodel":
        _write(proto, text)
        _write(path, data.draw(damaged_bytes(model)))
    elif kind == "prototxt":
        _write(proto, data.draw(damaged_text(text)))
        _write(path, model)
    else:
        proto = None
        _write(path, data.draw(damaged_converted(good()[1][name])))
    _caffe_errors_only(lambda: load_model(proto, path))


# Reads files that claim terabytes in a process whose address space is capped 1 GiB above what it
# uses after importing: allocating a claimed size fails there (MemoryError), and touching much of
# it shows in the peak RSS (VmHWM).
HUGE_CLAIMS = """
    import json, resource, sys
    from pathlib import Path
    from tf_style.caffe import CaffeError, converted, load_model, read_net

    def status_kib(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])

    cap = (status_kib("VmSize") + (1 << 20)) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.RLIM_INFINITY))
    before = status_kib("VmHWM")
    results = {}
    for case, proto, model in json.loads(Path(sys.argv[1]).read_text()):
        read = converted.read if proto is None and model.endswith(".tfstyle") else (
            lambda path: read_net(proto, path))
        for step, call in (("read", read), ("load", lambda path: load_model(proto, path))):
            try:
                call(model)
                results[f"{case} {step}"] = "read"
            except CaffeError:
                results[f"{case} {step}"] = "CaffeError"
            except BaseException as e:
                results[f"{case} {step}"] = f"{type(e).__name__}: {e}"
    print(json.dumps({"results": results, "growth_kib": status_kib("VmHWM") - before}))
"""


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _claims(folder, files, conv) -> list[tuple[str, str | None, str]]:
    """Small files whose headers claim huge sizes: [(case, prototxt or None, model file)]."""
    text, model = files["misc"][2]
    good_proto, good_model = _write(folder / "good.prototxt", text), folder / "good.caffemodel"
    _write(good_model, model)
    cases = {}

    def add(case, content, proto=None):
        path = _write(folder / case, content)
        cases[case] = (str(proto) if proto else None, str(path))

    add("length.caffemodel", _varint(100 << 3 | 2) + _varint(1 << 40) + b"xyz")
    dims = _ld(7, b"".join(_varint(1 << 3) + _varint(10**6) for _ in range(3)))
    blob = _ld(7, dims + _ld(5, bytes(8)))  # a BlobShape of 10^18 values over 2 floats
    add("dims.caffemodel", _ld(100, _ld(1, b"conv1") + _ld(2, b"Convolution") + blob), good_proto)
    packed = _ld(7, _ld(7, _varint(1 << 3 | 2) + _varint(1 << 50)) + _ld(5, bytes(8)))
    add("packed.caffemodel", _ld(100, _ld(1, b"x") + _ld(2, b"Scale") + packed))
    dims_text = re.sub(
        r"input_dim: 3\ninput_dim: \d+\ninput_dim: \d+",
        "input_dim: 1048575\ninput_dim: 4000000000\ninput_dim: 4000000000",
        text,
    )
    assert dims_text != text
    cases["dims.prototxt"] = (str(_write(folder / "dims.prototxt", dims_text)), str(good_model))
    outputs = text.replace("num_output: 6", "num_output: 18446744073709551615")
    outputs = outputs.replace("kernel_size: 1", "kernel_size: 65536")
    assert outputs.count("18446744073709551615") and outputs.count("65536")
    cases["outputs.prototxt"] = (str(_write(folder / "outputs.prototxt", outputs)), str(good_model))
    header, arrays = _split_converted(conv["misc"])
    add("length.tfstyle", _join_converted(b"{}", arrays, 2**63))
    first = next(iter(header["weights"]))
    for case, shape in (("shape.tfstyle", [2**40, 2**40]), ("overflow.tfstyle", [10**30])):
        header["weights"][first][0]["shape"] = shape
        add(case, _join_converted(json.dumps(header).encode(), arrays))
    return [(case, proto, path) for case, (proto, path) in cases.items()]


def test_huge_claims_are_not_allocated(tmp_path):
    files, conv = good()
    cases = _claims(tmp_path, files, conv)
    manifest = tmp_path / "cases.json"
    manifest.write_text(json.dumps(cases))
    result = processes.run(processes.snippet(HUGE_CLAIMS, manifest), timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["results"]) == 2 * len(cases) == 16
    for case, outcome in report["results"].items():
        # A prototxt's huge numbers are fine to read; the weights do not fit them.
        fine = ("CaffeError", "read") if case.endswith(".prototxt read") else ("CaffeError",)
        assert outcome in fine, (case, outcome)
    assert report["growth_kib"] < 64 * 1024, report  # no claimed size was touched


# --- what the fuzzer found, one example each ------------------------------------------------------


def _converted_with(change) -> bytes:
    """misc's converted file with `change(header)` applied to its JSON header."""
    header, arrays = _split_converted(good()[1]["misc"])
    change(header, {layer["name"]: layer for layer in header["layers"]})
    return _join_converted(json.dumps(header).encode(), arrays)


def _set(path_of_keys, value):
    def change(header, layers):
        target = layers
        for key in path_of_keys[:-1]:
            target = target[key]
        target[path_of_keys[-1]] = value

    return change


def _pool_round_mode_7() -> bytes:
    layers = nets.misc_net()
    layers[2]["params"]["pooling_param"]["round_mode"] = "FLOOR"  # pool_max
    data = caffe_writer.encode_net(layers, version=2, input_shape=(1, 3, *nets.MISC_INPUT))
    assert data.count(b"\x68\x01") == 1  # round_mode (field 13) = 1
    return data.replace(b"\x68\x01", b"\x68\x07")  # an enum number caffe.proto does not have


def _blob_of_600_dims() -> bytes:
    dims = _ld(7, b"".join(_varint(1 << 3) + _varint(10**10) for _ in range(600)))
    return _ld(100, _ld(1, b"s") + _ld(2, b"Scale") + _ld(7, dims + _ld(5, bytes(8))))


def _misc_text(old: str, new: str) -> str:
    text = good()[0]["misc"][2][0]
    assert old in text
    return text.replace(old, new, 1)


# (what happened before the fix, the file's kind, its content, what the CaffeError says)
FOUND = {
    "ValueError: a 5000-digit integer (Python's int() limit)": (
        "prototxt", lambda: _misc_text("num_output: 6", "num_output: " + "1" * 5000),
        "out of range"),
    "RecursionError: 5000 nested blocks": ("prototxt", lambda: "a {" * 5000 + "}" * 5000,
                                           "nested more than 100 deep"),
    "minutes: 30000 digits before a letter (the number pattern backtracked)": (
        "prototxt", lambda: "a: " + "1" * 30_000 + "x", "unexpected character"),
    "a model TensorFlow cannot run: pad 2^63-1": (
        "prototxt", lambda: _misc_text("pad: 1\n", f"pad: {2**63 - 1}\n"), "pad .* out of range"),
    "ValueError: round_mode 7, an enum number the schema does not know": (
        "caffemodel", _pool_round_mode_7, "round_mode 7 is not supported"),
    "ValueError: a blob of 600 dims, whose value count has 6000 digits to print": (
        "caffemodel", _blob_of_600_dims, r"blob shape \(10000000000, 10000000000, \.\.\. 600 dims\)"
        " needs more than 2\\^128 values but the file holds 2"),
    "RecursionError: a JSON header nested 100000 deep": (
        "converted", lambda: _join_converted(b"[" * 100_000 + b"]" * 100_000, b""), "not JSON"),
    "AttributeError in the builder: a layer's params a string": (
        "converted", lambda: _converted_with(_set(["conv1", "params"], "x")),
        "must be a { ... } block"),
    "TypeError in the builder: kernel_h a string": (
        "converted",
        lambda: _converted_with(_set(["conv1", "params", "convolution_param", 0, "kernel_h"],
                                     ["3"])),
        "kernel_h must be an integer"),
    "TypeError in the builder: a top that is a list": (
        "converted", lambda: _converted_with(_set(["conv1", "top"], [["conv1"]])),
        "top is not a str"),
    "AttributeError in the builder: a name that is null": (
        "converted", lambda: _converted_with(_set(["conv1", "name"], None)), "name is not a str"),
    "OverflowError: a weight dimension of 10^30 (numpy's int64 product)": (
        "converted",
        lambda: _converted_with(lambda h, _: h["weights"]["conv1"][0].update(shape=[10**30])),
        "do not lie inside the file"),
}  # fmt: skip


@pytest.mark.parametrize("case", FOUND)
def test_what_the_fuzzer_found_is_a_clear_caffe_error(case, tmp_path):
    kind, content, message = FOUND[case]
    text, model = good()[0]["misc"][2]
    if kind == "prototxt":
        proto, path = _write(tmp_path / "bad.prototxt", content()), tmp_path / "good.caffemodel"
        _write(path, model)
        named = proto
    else:
        proto, path = None, _write(tmp_path / f"bad.{kind}", content())
        named = path
    started = time.perf_counter()
    with pytest.raises(CaffeError, match=message) as info:
        load_model(proto, path)
    assert time.perf_counter() - started < 5
    assert str(named) in str(info.value)  # the message names the damaged file
