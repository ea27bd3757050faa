"""Tests for tools/benchmark/caffe_import.py: each import step in a fresh process."""

import pytest

from tf_style import caffe
from tools.benchmark import caffe_import, caffe_steps


@pytest.mark.slow
def test_caffe_import_steps_run_in_fresh_processes(tiny_vgg, tmp_path, monkeypatch):
    proto, model = tiny_vgg
    converted = tmp_path / "tiny.tfstyle"
    caffe.convert(proto, model, converted)
    paths = {"MODEL": model, "PROTO": proto, "CONVERTED": converted}
    monkeypatch.chdir(tmp_path)  # the steps find this package from anywhere
    seconds, peak = caffe_import.run_step("parse", paths)  # one process: TF's import is seconds
    assert seconds > 0 and peak > model.stat().st_size
    assert list(caffe_steps.STEPS) == [
        "parse", "parse_structure_only", "read_converted",
        "load_model_caffemodel", "load_model_converted",
    ]  # fmt: skip
