"""keras.applications' VGG16/VGG19 rebuilt as the Caffe VGG: Caffe layer names and pooling.

Keras' ImageNet weights were ported from the same Caffe weights, so this is VGG without the
575 MB .caffemodel: Keras downloads and caches its own conv-only weights file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tf_style.errors import DownloadError, ModelError
from tf_style.models.download import failure, hint
from tf_style.models.zoo import ZOO, ZooModel


def keras_weights(entry: ZooModel) -> str:
    """Downloads (or finds) Keras' own cached copy of the weights of a keras: entry; its path.

    Raises:
        DownloadError: Keras could not download them (the message says where to put them).
    """
    import keras

    remote = entry.files[0]
    try:
        return keras.utils.get_file(
            remote.name, remote.urls[0], cache_subdir="models", file_hash=remote.md5
        )
    except Exception as e:  # Keras wraps URL and HTTP errors in a bare Exception.
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        dest = Path(home) / "models" / remote.name
        # Keras' message names the URL and the reason.
        raise DownloadError(failure(remote.name, hint(dest), [" ".join(str(e).split())])) from e


def load_keras_vgg(depth: int = 19, weights: str | None = "imagenet") -> Any:
    """keras.applications VGG16/VGG19 rebuilt with the Caffe layer names and pooling.

    Keras' `block{b}_conv{i}` (conv + ReLU in one layer) becomes a linear convolution
    `conv{b}_{i}` (a CaffeConvolution, for its fast gradient) followed by a ReLU `relu{b}_{i}`
    with the same weights, and `block{b}_pool` becomes `pool{b}` with Caffe's ceil-mode rounding
    (Keras' MaxPooling2D floors, one row short on odd sizes).
    Input: BGR, 0-255 minus the VGG mean pixel (scale 255, see the keras: zoo entries).

    Args:
        depth: 16 or 19.
        weights: 'imagenet' (downloaded through Keras' own cache), None (random), or a path.

    Raises:
        ModelError: depth is not 16 or 19.
        DownloadError: the ImageNet weights could not be downloaded.
    """
    import keras

    from tf_style.caffe import CaffeConvolution, CaffePooling

    if depth not in (16, 19):
        raise ModelError(f"keras VGG depth {depth} does not exist; use 16 or 19")
    builder = keras.applications.VGG19 if depth == 19 else keras.applications.VGG16
    if weights == "imagenet":
        weights = keras_weights(ZOO[f"keras:vgg{depth}"])
    base = builder(include_top=False, weights=weights)
    x = inputs = keras.Input((None, None, 3), name="data")
    copies = []
    for layer in base.layers[1:]:
        block, kind = layer.name.split("_")  # "block3_conv2" -> "block3", "conv2"
        b = block.removeprefix("block")
        if kind.startswith("conv"):
            i = kind.removeprefix("conv")
            pad = (layer.kernel_size[0] - 1) // 2  # 3x3 "same": Caffe's pad 1
            conv = CaffeConvolution(layer.filters, layer.kernel_size, pad=pad, name=f"conv{b}_{i}")
            x = conv(x)
            copies.append((conv, layer))
            x = keras.layers.ReLU(name=f"relu{b}_{i}")(x)
        else:
            x = CaffePooling(
                pool="max",
                kernel_size=(2, 2),
                strides=(2, 2),
                padding=(0, 0),
                round_mode="ceil",
                name=f"pool{b}",
            )(x)
    model = keras.Model(inputs, x, name=f"keras_vgg{depth}")
    for conv, layer in copies:
        conv.set_weights(layer.get_weights())
    return model


__all__ = ["keras_weights", "load_keras_vgg"]
