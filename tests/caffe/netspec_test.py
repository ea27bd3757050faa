"""Tests for tf_style.caffe.netspec: the V1 upgrade and the TEST phase, against OpenCV."""

from __future__ import annotations

import numpy as np

from tf_style.caffe import load_model
from tf_style.caffe.netspec import net_from_message
from tf_style.caffe.prototxt import parse_text
from tf_style.testing import caffe_nets as nets
from tf_style.testing import caffe_writer, oracles

NIN_STYLE_PROTOTXT = """
# A NIN-style train_val.prototxt (V1) with both phases and training-only layers.
name: 'nin_tiny'
layers {
  name: "data"  type: DATA  top: "data" top: "label"
  data_param { source: "train_lmdb" batch_size: 64 }
  transform_param { crop_size: 224 mirror: true mean_file: "mean.binaryproto" }
  include: { phase: TRAIN }
}
layers { name: "data" type: DATA top: "data" top: "label" include { phase: TEST } }
layers {
  bottom: "data" top: "conv1" name: "conv1" type: CONVOLUTION
  blobs_lr: 1 blobs_lr: 2 weight_decay: 1. weight_decay: 0
  convolution_param {
    num_output: 4 kernel_size: [3] stride: 2
    weight_filler { type: "gaussian" std: 1e-2 }  # ignored
  }
}
layers { name: "relu0"; type: RELU; bottom: "conv1"; top: "conv1" }
layers { name: 'pool0' type: POOLING bottom: "conv1" top: "pool0"
         pooling_param < pool: AVE kernel_size: 3 stride: 2 > }
layers { name: "accuracy" type: ACCURACY bottom: "pool0" bottom: "label" top: "accuracy"
         include: { phase: TEST } }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "pool0" bottom: "label" top: "loss" }
"""


def test_text_format_phases_and_skipped_layers(tmp_path):
    net = net_from_message(parse_text(NIN_STYLE_PROTOTXT), "train_val.prototxt")
    assert [(s.name, s.type) for s in net.layers] == [
        ("data", "Data"), ("conv1", "Convolution"), ("relu0", "ReLU"), ("pool0", "Pooling"),
        ("accuracy", "Accuracy"), ("loss", "SoftmaxWithLoss")]  # fmt: skip
    assert net.layers[1].params["convolution_param"][0]["kernel_size"] == [3]
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((4, 3, 3, 3), np.float32), rng.standard_normal(4, np.float32)
    deploy = [
        caffe_writer.conv("conv1", "data", "conv1", w, b, kernel_size=3, stride=2),
        caffe_writer.simple("relu0", "ReLU", "conv1", "conv1"),
        caffe_writer.simple(
            "pool0",
            "Pooling",
            "conv1",
            "pool0",
            {"pooling_param": {"pool": "AVE", "kernel_size": 3, "stride": 2}},
        ),
    ]
    deploy_proto, model_file = nets.write(tmp_path, deploy, 1, (16, 17))  # fmt: skip
    proto = tmp_path / "train_val.prototxt"
    proto.write_text(NIN_STYLE_PROTOTXT)
    model = load_model(proto, model_file)
    assert [layer.name for layer in model.layers] == ["data", "conv1", "relu0", "pool0"]
    notes = " ".join(model.caffe_notes)
    assert "'accuracy'" in notes and "'loss'" in notes and "TEST phase" in notes
    x = nets.random_input((16, 17))
    oracles.assert_layers_close(
        oracles.our_outputs(model, x, ["pool0"]),
        oracles.opencv_outputs(deploy_proto, model_file, x, ["pool0"]),
    )
