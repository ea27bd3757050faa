"""Tests for tf_style.caffe.converted and tools/convert_caffe.py: the same outputs, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tf_style.caffe import CaffeError, convert, load_model
from tf_style.testing import caffe_nets as nets
from tf_style.testing import oracles, processes

TOOL = Path(__file__).resolve().parents[2] / "tools" / "convert_caffe.py"


@pytest.mark.parametrize("net", ["misc", "branchy", "resnet"])
def test_converted_file_gives_identical_outputs(tmp_path, net):
    make, hw = nets.NETS[net]
    layers = make()
    proto, model_file = nets.write(tmp_path, layers, 2, hw)
    out = tmp_path / "converted.caffemodel"  # the content decides, not the extension
    convert(proto, model_file, out)
    names = nets.layer_names(layers)
    x = nets.random_input(hw)
    want = oracles.our_outputs(load_model(proto, model_file), x, names)
    got = oracles.our_outputs(load_model(None, out), x, names)
    for name in names:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    with pytest.raises(CaffeError, match="damaged"):
        (tmp_path / "cut").write_bytes(out.read_bytes()[:-100])
        load_model(None, tmp_path / "cut")


def test_converted_file_with_wrong_shapes(tmp_path):
    proto, model_file = nets.write(tmp_path, nets.misc_net(), 2, nets.MISC_INPUT)
    out = tmp_path / "misc.tfstyle"
    convert(proto, model_file, out)
    data = out.read_bytes()
    # conv1's kernel is (kh, kw, in, out) = (3, 5, 3, 6); same size, other shape.
    bad = data.replace(b'"shape": [3, 5, 3, 6]', b'"shape": [5, 3, 3, 6]')
    assert bad != data
    out.write_bytes(bad)
    with pytest.raises(CaffeError, match=r"'conv1'.*\(5, 3, 3, 6\).*\(3, 5, 3, 6\)"):
        load_model(None, out)


@pytest.mark.slow
def test_convert_tool(tmp_path):
    proto, model_file = nets.write(tmp_path, nets.misc_net(), 1, nets.MISC_INPUT)
    out = tmp_path / "misc.tfstyle"
    run = processes.run(
        processes.script(TOOL, "-proto_file", proto, "-model_file", model_file, "-output", out)
    )
    assert run.returncode == 0, run.stderr
    x = nets.random_input(nets.MISC_INPUT)
    np.testing.assert_array_equal(
        np.asarray(load_model(None, out)(x)), np.asarray(load_model(proto, model_file)(x))
    )
    (tmp_path / "bad.caffemodel").write_bytes(b"\x0a\x05ab")
    bad = tmp_path / "bad.caffemodel"
    run = processes.run(processes.script(TOOL, "-model_file", bad, "-output", tmp_path / "bad.out"))
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.startswith("convert_caffe:")]
    assert len(lines) == 1 and "bad.caffemodel" in lines[0] and "Traceback" not in run.stderr
    assert not (tmp_path / "bad.out").exists()
