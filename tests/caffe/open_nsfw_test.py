"""The real open_nsfw ResNet-50-1by2 (BatchNorm, Scale, Eltwise) against OpenCV's importer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from tf_style import models
from tf_style.caffe import load_model
from tf_style.testing import oracles

_IMAGE = Path(__file__).resolve().parents[2] / "examples" / "inputs" / "tubingen.jpg"


@pytest.fixture(scope="module")
def nsfw():
    proto, caffemodel = models.open_nsfw_files()
    return proto, caffemodel, load_model(proto, caffemodel)


def _image(h, w):
    rgb = np.asarray(PIL.Image.open(_IMAGE).convert("RGB").resize((w, h)), np.float32)
    return np.ascontiguousarray(rgb[None, :, :, ::-1] - np.float32([104, 117, 123]))


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("hw", [(224, 224), (227, 301)])
def test_open_nsfw_matches_opencv(nsfw, hw):
    proto, caffemodel, model = nsfw
    names = [layer.name for layer in model.layers if layer.name.startswith("relu")]
    # The net ends in a 7x7 stride-1 average pool and an InnerProduct, so `prob` exists only
    # at 224x224; at other sizes we compare every ReLU and the pool.
    names += ["prob"] if hw == (224, 224) else ["pool"]
    assert len(names) == 50
    x = _image(*hw)
    oracles.assert_layers_close(oracles.our_outputs(model, x, names),
                                oracles.opencv_outputs(proto, caffemodel, x, names))  # fmt: skip


@pytest.mark.slow
@pytest.mark.network
def test_open_nsfw_without_prototxt(nsfw):
    # The caffemodel holds the TRAIN net (MemoryData ... SoftmaxWithLoss): same weights and
    # blocks, so the last ReLU must be the same.
    proto, caffemodel, model = nsfw
    alone = load_model(None, caffemodel)
    assert any("MemoryData" in note for note in alone.caffe_notes)
    x = _image(96, 80)
    name = "relu_stage3_block2"
    np.testing.assert_array_equal(oracles.our_outputs(alone, x, [name])[name],
                                  oracles.our_outputs(model, x, [name])[name])  # fmt: skip
