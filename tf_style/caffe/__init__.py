"""Caffe models without Caffe: .prototxt + .caffemodel (V1 or V2) -> a Keras model.

`load_model` reads Caffe files or a converted file (`convert`), whichever it is given. Notes about
layers that were skipped (Data, Accuracy, loss layers, other phases) are kept on the model as
`model.caffe_notes` (library code never prints).
"""

from __future__ import annotations

import os

import keras

from tf_style.caffe import converted, prototxt, wire
from tf_style.caffe.builder import build_model
from tf_style.caffe.layers import (
    CaffeConvolution,
    CaffeEltwise,
    CaffeFlatten,
    CaffeInnerProduct,
    CaffeLeakyReLU,
    CaffeLRN,
    CaffePooling,
    ChannelAffine,
)
from tf_style.caffe.netspec import CaffeError, NetSpec, blobs_by_name, net_from_message

__all__ = [
    "CaffeConvolution",
    "CaffeEltwise",
    "CaffeError",
    "CaffeFlatten",
    "CaffeInnerProduct",
    "CaffeLeakyReLU",
    "CaffeLRN",
    "CaffePooling",
    "ChannelAffine",
    "convert",
    "load_model",
    "read_net",
]


def read_net(proto_file: str | os.PathLike | None, model_file: str | os.PathLike) -> NetSpec:
    """Reads Caffe files into a net description whose layers carry their weight blobs.

    Args:
      proto_file: the .prototxt, or None to take the architecture from the .caffemodel (as
        loadcaffe does).
      model_file: the .caffemodel.

    Returns:
      The net (TEST phase). With a prototxt, weights are matched to its layers by name.

    Raises:
      CaffeError: a file that cannot be read.
    """
    weights_msg = wire.read_file(model_file)
    if proto_file is None:
        return net_from_message(weights_msg, str(model_file))
    net = net_from_message(prototxt.read_file(proto_file), str(proto_file))
    # Caffe's CopyTrainedLayersFrom: weights are matched by layer name.
    blobs = blobs_by_name(weights_msg, str(model_file))
    for spec in net.layers:
        spec.blobs = blobs.get(spec.name, [])
    return net


def load_model(proto_file: str | os.PathLike | None, model_file: str | os.PathLike) -> keras.Model:
    """Loads a Caffe model as a Keras functional model.

    Args:
      proto_file: the .prototxt, or None (architecture from the .caffemodel). Ignored for a
        converted file, which holds its architecture.
      model_file: a .caffemodel or a file written by `convert` (recognised by its content).

    Returns:
      A non-trainable Keras model. Input: NHWC float32 in Caffe space (BGR, 0-255, mean
      subtracted), any height and width. Every Caffe layer is a Keras layer of the same name
      (in-place layers too: `conv4_2` is pre-ReLU, `relu4_2` post-ReLU). `model.caffe_notes`
      lists skipped layers.

    Example:
      >>> from tf_style import load_model
      >>> model = load_model(
      ...     "VGG_ILSVRC_19_layers_deploy.prototxt", "VGG_ILSVRC_19_layers.caffemodel"
      ... )
      >>> model.get_layer("relu4_2").output.shape
      (None, None, None, 512)

    Raises:
      CaffeError: files that cannot be read, unsupported layers, or weights that do not fit.
    """
    if converted.is_converted(model_file):
        net, weights = converted.read(model_file)
        model, _ = build_model(net, str(model_file), weights)
        if proto_file is not None:
            model.caffe_notes += (f"{proto_file} ignored: the converted file holds the net",)
        return model
    net = read_net(proto_file, model_file)
    source = str(model_file) if proto_file is None else f"{proto_file} + {model_file}"
    model, _ = build_model(net, source)
    return model


def convert(
    proto_file: str | os.PathLike | None, model_file: str | os.PathLike, output: str | os.PathLike
) -> keras.Model:
    """Converts Caffe files into one file that `load_model` maps without parsing.

    Args:
      proto_file: the .prototxt or None (see `load_model`).
      model_file: the .caffemodel.
      output: the converted file to write (atomically).

    Returns:
      The loaded model (already checked end to end).

    Raises:
      CaffeError: as `load_model`.
    """
    net = read_net(proto_file, model_file)
    source = str(model_file) if proto_file is None else f"{proto_file} + {model_file}"
    model, arrays = build_model(net, source, keep_weights=True)
    converted.write(output, net, arrays)
    return model
