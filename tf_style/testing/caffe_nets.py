"""Tiny Caffe nets that exercise every layer type we read, for the tests and the oracles.

Nets are lists of layer dicts (see `caffe_writer`); `write` puts one on disk as a .caffemodel and
a .prototxt, which OpenCV's own Caffe importer reads back (`oracles`), so a wrong encoder or
reader shows up as a mismatch.
"""

from __future__ import annotations

import numpy as np

from tf_style.testing import caffe_writer
from tf_style.testing.caffe_writer import conv, simple


def _w(rng, *shape, scale=None):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    scale = np.sqrt(2.0 / fan_in) if scale is None else scale
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _b(rng, n):
    return rng.uniform(-0.2, 0.2, n).astype(np.float32)


def vgg_net(seed=0):
    """VGG-16-shaped with tiny widths; fc6 reads a 2x2 map (tests the C,H,W order).

    Inputs from 33 to 64 pixels give that 2x2 map (Caffe's pools round up).
    """
    return caffe_writer.vgg_layers(
        depth=16, widths=(4, 6, 8, 8, 8), fc=(12, 12, 10), seed=seed, in_size=(33, 33)
    )


def nin_net(seed=0):
    """NIN-shaped (NIN ImageNet's names): 3x3 stride-2 ceil pools, in-place dropout, AVE pool."""
    return caffe_writer.nin_layers(widths=(6, 8, 8, 5), seed=seed)


def misc_net(seed=0):
    """Pooling edge cases, _h/_w fields, two-value stride, no bias, leaky ReLU, Flatten."""
    rng = np.random.default_rng(seed)
    return [
        conv("conv1", "data", "conv1", _w(rng, 6, 3, 3, 5), _b(rng, 6), kernel_h=3, kernel_w=5,
             pad_h=1, pad_w=2, stride=[1, 2]),
        simple("leaky", "ReLU", "conv1", "conv1", {"relu_param": {"negative_slope": 0.1}}),
        simple("pool_max", "Pooling", "conv1", "pool_max",
               {"pooling_param": {"pool": "MAX", "kernel_size": 3, "stride": 2}}),
        conv("conv2", "pool_max", "conv2", _w(rng, 6, 6, 1, 1), None, kernel_size=1),
        simple("pool_ave", "Pooling", "conv2", "pool_ave",
               {"pooling_param": {"pool": "AVE", "kernel_size": 3, "stride": 2, "pad": 1}}),
        simple("pool_pad_max", "Pooling", "pool_ave", "pool_pad_max",
               {"pooling_param": {"pool": "MAX", "kernel_h": 3, "kernel_w": 2, "stride_h": 2,
                                  "stride_w": 1, "pad_h": 1, "pad_w": 1}}),
        simple("drop", "Dropout", "pool_pad_max", "pool_pad_max"),
        simple("flat", "Flatten", "pool_pad_max", "flat"),
        simple("fc", "InnerProduct", "flat", "fc",
               {"inner_product_param": {"num_output": 7}}, [_w(rng, 7, 6 * 2 * 3), _b(rng, 7)]),
        simple("relu_fc", "ReLU", "fc", "fc", {"relu_param": {"negative_slope": -0.3}}),
        simple("fc2", "InnerProduct", "fc", "fc2",
               {"inner_product_param": {"num_output": 4, "bias_term": False}}, [_w(rng, 4, 7)]),
        simple("prob", "Softmax", "fc2", "prob"),
    ]  # fmt: skip


MISC_INPUT = (11, 13)  # flat = 6 channels x 2 x 3 at this size


def branchy_net(seed=0):
    """LRN (across channels), grouped and dilated conv, Split, Concat, Eltwise, global pooling."""
    rng = np.random.default_rng(seed)
    eltwise = "eltwise_param"
    return [
        conv("conv1", "data", "conv1", _w(rng, 8, 3, 3, 3), _b(rng, 8), kernel_size=3, pad=1),
        simple("norm1", "LRN", "conv1", "norm1",
               {"lrn_param": {"local_size": 3, "alpha": 0.01, "beta": 0.75, "k": 1.0}}),
        simple("split", "Split", "norm1", ["s1", "s2"]),
        conv("grouped", "s1", "grouped", _w(rng, 8, 4, 3, 3), _b(rng, 8), kernel_size=3,
             pad=1, group=2, stride=2),
        conv("dilated", "s2", "dilated", _w(rng, 8, 8, 3, 3), _b(rng, 8), kernel_size=3,
             pad=2, dilation=2),
        simple("pool_d", "Pooling", "dilated", "pool_d",
               {"pooling_param": {"pool": "MAX", "kernel_size": 2, "stride": 2}}),
        simple("concat", "Concat", ["grouped", "pool_d"], "concat"),
        conv("reduce", "concat", "reduce", _w(rng, 8, 16, 1, 1), _b(rng, 8), kernel_size=1),
        simple("sum", "Eltwise", ["reduce", "grouped"], "sum",
               {eltwise: {"operation": "SUM", "coeff": [0.5, -2.0]}}),
        simple("prod", "Eltwise", ["sum", "pool_d"], "prod", {eltwise: {"operation": "PROD"}}),
        simple("max", "Eltwise", ["prod", "grouped", "sum"], "max",
               {eltwise: {"operation": "MAX"}}),
        simple("gpool", "Pooling", "max", "gpool",
               {"pooling_param": {"pool": "AVE", "global_pooling": True}}),
    ]  # fmt: skip


def resnet_net(seed=0):
    """A ResNet bottleneck block as open_nsfw writes it: in-place BatchNorm + Scale + ReLU."""
    rng = np.random.default_rng(seed)
    layers = [conv("conv_1", "data", "conv_1", _w(rng, 8, 3, 3, 3), _b(rng, 8), kernel_size=3,
                   pad=1, stride=2)]  # fmt: skip

    def bn_scale(name, blob, c, relu=True):
        mean, var = rng.normal(0, 0.5, c), rng.uniform(0.5, 2.0, c)
        factor = np.float32(rng.uniform(5, 20))  # running sums, as Caffe stores them
        out = [
            simple(f"bn_{name}", "BatchNorm", blob, blob, {},
                   [(mean * factor).astype(np.float32), (var * factor).astype(np.float32),
                    np.array([factor], np.float32)]),
            simple(f"scale_{name}", "Scale", blob, blob, {"scale_param": {"bias_term": True}},
                   [rng.uniform(0.5, 1.5, c).astype(np.float32), _b(rng, c)]),
        ]  # fmt: skip
        if relu:
            out.append(simple(f"relu_{name}", "ReLU", blob, blob))
        return out

    layers += bn_scale("1", "conv_1", 8)
    layers.append(
        simple(
            "pool1",
            "Pooling",
            "conv_1",
            "pool1",
            {"pooling_param": {"pool": "MAX", "kernel_size": 3, "stride": 2}},
        )
    )
    layers.append(conv("branch1", "pool1", "branch1", _w(rng, 12, 8, 1, 1), None, kernel_size=1))
    layers += bn_scale("branch1", "branch1", 12, relu=False)
    layers.append(conv("branch2a", "pool1", "branch2a", _w(rng, 4, 8, 1, 1), None, kernel_size=1))
    layers += bn_scale("branch2a", "branch2a", 4)
    layers.append(
        conv("branch2b", "branch2a", "branch2b", _w(rng, 4, 4, 3, 3), None, kernel_size=3, pad=1)
    )
    layers += bn_scale("branch2b", "branch2b", 4)
    layers.append(
        conv("branch2c", "branch2b", "branch2c", _w(rng, 12, 4, 1, 1), None, kernel_size=1)
    )
    layers += bn_scale("branch2c", "branch2c", 12, relu=False)
    layers.append(simple("eltwise", "Eltwise", ["branch1", "branch2c"], "eltwise"))
    layers.append(simple("relu_eltwise", "ReLU", "eltwise", "eltwise"))
    layers.append(
        simple(
            "pool",
            "Pooling",
            "eltwise",
            "pool",
            {"pooling_param": {"pool": "AVE", "kernel_size": 3, "stride": 1}},
        )
    )
    layers.append(
        simple(
            "fc",
            "InnerProduct",
            "pool",
            "fc",
            {"inner_product_param": {"num_output": 2}},
            [_w(rng, 2, 12 * 2 * 3), _b(rng, 2)],
        )
    )
    layers.append(simple("prob", "Softmax", "fc", "prob"))
    return layers  # fmt: skip


RESNET_INPUT = (15, 19)  # pool = 12 channels x 2 x 3 at this size


def top_aliases(layers) -> dict:
    """Caffe layer name -> its first top blob (OpenCV's name for some layers)."""
    return {layer["name"]: layer["top"][0] for layer in layers if layer["top"]}


def layer_names(layers) -> list[str]:
    """Names of the layers that make outputs (Split is a fan-out in both OpenCV and ours)."""
    return [layer["name"] for layer in layers if layer["type"] not in ("Split",)]


# name -> (layers maker, an input size that suits it).
NETS = {
    "vgg": (vgg_net, (50, 45)),  # odd sizes all the way down: 25x23 ... 2x2 into fc6
    "nin": (nin_net, (227, 241)),
    "misc": (misc_net, MISC_INPUT),
    "branchy": (branchy_net, (13, 10)),
    "resnet": (resnet_net, RESNET_INPUT),
}
V1_NETS = ("vgg", "nin", "misc", "branchy")  # V1 has no BatchNorm/Scale types


def write(folder, layers, version, hw, **kw):
    """Writes `layers` as `folder/v{version}.prototxt` and `.caffemodel` for input size `hw`.

    Returns:
        (prototxt path, caffemodel path).
    """
    model = folder / f"v{version}.caffemodel"
    proto = folder / f"v{version}.prototxt"
    caffe_writer.write_net(model, layers, prototxt_path=proto, version=version,
                           input_shape=(1, 3, *hw), **kw)  # fmt: skip
    return proto, model


def random_input(hw, seed=1) -> np.ndarray:
    """A float32 NHWC batch of one image of size `hw`, values of Caffe space's spread."""
    return (np.random.default_rng(seed).standard_normal((1, *hw, 3)) * 40).astype(np.float32)
