"""The in-memory net description shared by the binary and text readers, and the V1 -> V2 upgrade.

A protobuf message is held as a plain dict: field name -> list of values (repeated or not; for an
optional field the last value wins, as in protobuf). Sub-messages are dicts again, enums are their
names (``"MAX"``), blob data are numpy arrays. `SCHEMA` lists the subset of caffe.proto we read:
field number -> (name, kind), where kind is a scalar kind, ``"enum:<Enum>"`` or a message name.
Fields not listed are skipped by both readers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tf_style.errors import CaffeError

ENUMS: dict[str, tuple[str, ...]] = {
    "Phase": ("TRAIN", "TEST"),
    "PoolMethod": ("MAX", "AVE", "STOCHASTIC"),
    "RoundMode": ("CEIL", "FLOOR"),
    "NormRegion": ("ACROSS_CHANNELS", "WITHIN_CHANNEL"),
    "EltwiseOp": ("PROD", "SUM", "MAX"),
    "LayerType": (
        "NONE", "ACCURACY", "BNLL", "CONCAT", "CONVOLUTION", "DATA", "DROPOUT", "EUCLIDEAN_LOSS",
        "FLATTEN", "HDF5_DATA", "HDF5_OUTPUT", "IM2COL", "IMAGE_DATA", "INFOGAIN_LOSS",
        "INNER_PRODUCT", "LRN", "MULTINOMIAL_LOGISTIC_LOSS", "POOLING", "RELU", "SIGMOID",
        "SOFTMAX", "SOFTMAX_LOSS", "SPLIT", "TANH", "WINDOW_DATA", "ELTWISE", "POWER",
        "SIGMOID_CROSS_ENTROPY_LOSS", "HINGE_LOSS", "MEMORY_DATA", "ARGMAX", "THRESHOLD",
        "DUMMY_DATA", "SLICE", "MVN", "ABSVAL", "SILENCE", "CONTRASTIVE_LOSS", "EXP",
        "DECONVOLUTION",
    ),
}  # fmt: skip

# V1 enum name -> V2 type string (Caffe's UpgradeV1LayerType).
V1_TYPES: dict[str, str] = {
    "NONE": "", "ACCURACY": "Accuracy", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONVOLUTION": "Convolution", "DATA": "Data", "DROPOUT": "Dropout",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "POOLING": "Pooling", "RELU": "ReLU",
    "SIGMOID": "Sigmoid", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split", "TANH": "TanH", "WINDOW_DATA": "WindowData", "ELTWISE": "Eltwise",
    "POWER": "Power", "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "HINGE_LOSS": "HingeLoss", "MEMORY_DATA": "MemoryData", "ARGMAX": "ArgMax",
    "THRESHOLD": "Threshold", "DUMMY_DATA": "DummyData", "SLICE": "Slice", "MVN": "MVN",
    "ABSVAL": "AbsVal", "SILENCE": "Silence", "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "EXP": "Exp", "DECONVOLUTION": "Deconvolution",
}  # fmt: skip

_PARAMS_V2 = {
    104: ("concat_param", "ConcatParameter"),
    106: ("convolution_param", "ConvolutionParameter"),
    108: ("dropout_param", "DropoutParameter"),
    110: ("eltwise_param", "EltwiseParameter"),
    117: ("inner_product_param", "InnerProductParameter"),
    118: ("lrn_param", "LRNParameter"),
    119: ("memory_data_param", "MemoryDataParameter"),
    121: ("pooling_param", "PoolingParameter"),
    123: ("relu_param", "ReLUParameter"),
    125: ("softmax_param", "SoftmaxParameter"),
    135: ("flatten_param", "FlattenParameter"),
    139: ("batch_norm_param", "BatchNormParameter"),
    142: ("scale_param", "ScaleParameter"),
    143: ("input_param", "InputParameter"),
}
_PARAMS_V1 = {
    9: ("concat_param", "ConcatParameter"),
    10: ("convolution_param", "ConvolutionParameter"),
    12: ("dropout_param", "DropoutParameter"),
    17: ("inner_product_param", "InnerProductParameter"),
    18: ("lrn_param", "LRNParameter"),
    19: ("pooling_param", "PoolingParameter"),
    22: ("memory_data_param", "MemoryDataParameter"),
    24: ("eltwise_param", "EltwiseParameter"),
    30: ("relu_param", "ReLUParameter"),
    39: ("softmax_param", "SoftmaxParameter"),
}

# Kinds: string, int (signed varint), uint, bool, float, double, enum:<E>, data (packed float
# blob data), double_data, or a message name.
SCHEMA: dict[str, dict[int, tuple[str, str]]] = {
    "NetParameter": {
        1: ("name", "string"), 2: ("layers", "V1LayerParameter"), 3: ("input", "string"),
        4: ("input_dim", "int"), 8: ("input_shape", "BlobShape"),
        100: ("layer", "LayerParameter"),
    },
    "LayerParameter": {
        1: ("name", "string"), 2: ("type", "string"), 3: ("bottom", "string"),
        4: ("top", "string"), 7: ("blobs", "BlobProto"), 8: ("include", "NetStateRule"),
        9: ("exclude", "NetStateRule"), **_PARAMS_V2,
    },
    "V1LayerParameter": {
        1: ("layer", "V0LayerParameter"), 2: ("bottom", "string"), 3: ("top", "string"),
        4: ("name", "string"), 5: ("type", "enum:LayerType"), 6: ("blobs", "BlobProto"),
        32: ("include", "NetStateRule"), 33: ("exclude", "NetStateRule"), **_PARAMS_V1,
    },
    "V0LayerParameter": {},
    "BlobProto": {
        1: ("num", "int"), 2: ("channels", "int"), 3: ("height", "int"), 4: ("width", "int"),
        5: ("data", "data"), 7: ("shape", "BlobShape"), 8: ("double_data", "double_data"),
    },
    "BlobShape": {1: ("dim", "int")},
    "NetStateRule": {1: ("phase", "enum:Phase")},
    "ConvolutionParameter": {
        1: ("num_output", "uint"), 2: ("bias_term", "bool"), 3: ("pad", "uint"),
        4: ("kernel_size", "uint"), 5: ("group", "uint"), 6: ("stride", "uint"),
        9: ("pad_h", "uint"), 10: ("pad_w", "uint"), 11: ("kernel_h", "uint"),
        12: ("kernel_w", "uint"), 13: ("stride_h", "uint"), 14: ("stride_w", "uint"),
        16: ("axis", "int"), 18: ("dilation", "uint"),
    },
    "PoolingParameter": {
        1: ("pool", "enum:PoolMethod"), 2: ("kernel_size", "uint"), 3: ("stride", "uint"),
        4: ("pad", "uint"), 5: ("kernel_h", "uint"), 6: ("kernel_w", "uint"),
        7: ("stride_h", "uint"), 8: ("stride_w", "uint"), 9: ("pad_h", "uint"),
        10: ("pad_w", "uint"), 12: ("global_pooling", "bool"), 13: ("round_mode", "enum:RoundMode"),
    },
    "InnerProductParameter": {
        1: ("num_output", "uint"), 2: ("bias_term", "bool"), 5: ("axis", "int"),
        6: ("transpose", "bool"),
    },
    "DropoutParameter": {1: ("dropout_ratio", "float")},
    "ReLUParameter": {1: ("negative_slope", "float")},
    "LRNParameter": {
        1: ("local_size", "uint"), 2: ("alpha", "float"), 3: ("beta", "float"),
        4: ("norm_region", "enum:NormRegion"), 5: ("k", "float"),
    },
    "SoftmaxParameter": {2: ("axis", "int")},
    "InputParameter": {1: ("shape", "BlobShape")},
    "MemoryDataParameter": {
        1: ("batch_size", "uint"), 2: ("channels", "uint"), 3: ("height", "uint"),
        4: ("width", "uint"),
    },
    "ConcatParameter": {1: ("concat_dim", "uint"), 2: ("axis", "int")},
    "EltwiseParameter": {1: ("operation", "enum:EltwiseOp"), 2: ("coeff", "float")},
    "FlattenParameter": {1: ("axis", "int"), 2: ("end_axis", "int")},
    "BatchNormParameter": {
        1: ("use_global_stats", "bool"), 2: ("moving_average_fraction", "float"),
        3: ("eps", "float"),
    },
    "ScaleParameter": {1: ("axis", "int"), 2: ("num_axes", "int"), 4: ("bias_term", "bool")},
}  # fmt: skip

# name -> (number, kind) per message, for the text reader and the encoder.
BY_NAME: dict[str, dict[str, tuple[int, str]]] = {
    msg: {name: (num, kind) for num, (name, kind) in fields.items()}
    for msg, fields in SCHEMA.items()
}

# Layer types that are the net's input, and types skipped with a note (training-only).
DATA_TYPES = frozenset(
    {"Data", "ImageData", "MemoryData", "HDF5Data", "WindowData", "DummyData", "AnnotatedData"}
)
SKIPPED_TYPES = frozenset({"Accuracy", "Silence", "HDF5Output"})


def first(msg: dict, name: str, default: Any = None) -> Any:
    """The value of an optional field: the last one given, as protobuf does, else `default`."""
    values = msg.get(name)
    return values[-1] if values else default


@dataclasses.dataclass
class Blob:
    """A weight blob: its dims as written in the file and its values (a flat numpy view)."""

    shape: tuple[int, ...]
    data: np.ndarray


@dataclasses.dataclass
class LayerSpec:
    """One Caffe layer in V2 form: `params` is the layer message dict (``*_param`` entries)."""

    name: str
    type: str
    bottom: list[str]
    top: list[str]
    params: dict
    blobs: list[Blob]


@dataclasses.dataclass
class NetSpec:
    """A whole net: its name and layers in file order (phase rules already applied)."""

    name: str
    layers: list[LayerSpec]
    notes: list[str]


def blob_from_message(msg: dict, where: str) -> Blob:
    """Turns a BlobProto dict into a `Blob`, checking that the dims match the value count."""
    legacy = [first(msg, k) for k in ("num", "channels", "height", "width")]
    if any(v is not None for v in legacy):
        # Caffe's Blob::FromProto: any legacy dim present means the 4-D legacy shape.
        shape = tuple(1 if v is None else v for v in legacy)
    else:
        shape_msg = first(msg, "shape", {})
        shape = tuple(shape_msg.get("dim", []))
    chunks = msg.get("data") or msg.get("double_data") or []
    if len(chunks) == 1:
        data = chunks[0]
    elif chunks:
        data = np.concatenate(chunks)
    else:
        data = np.zeros(0, np.float32)
    shown = str(shape) if len(shape) <= 8 else f"({shape[0]}, {shape[1]}, ... {len(shape)} dims)"
    if any(d < 0 for d in shape):
        raise CaffeError(f"{where}: negative blob dimension {shown}; the file is corrupt")
    count = 0 if 0 in shape else 1
    for d in shape if count else ():
        count *= d
        if count >= 1 << 128:  # thousands of dims would make a number too long to print
            break
    if count != data.size:
        needs = count if count < 1 << 128 else "more than 2^128"
        raise CaffeError(
            f"{where}: blob shape {shown} needs {needs} values but the file holds {data.size}; "
            "the file is corrupt"
        )
    return Blob(shape, data)


def _phase_ok(layer: dict) -> bool:
    """Caffe's StateMeetsRule for the TEST phase (only the phase part of the rules)."""
    include = layer.get("include", [])
    if include:
        return any(first(rule, "phase", "TEST") == "TEST" for rule in include)
    return not any(first(rule, "phase") == "TEST" for rule in layer.get("exclude", []))


def net_from_message(msg: dict, source: str) -> NetSpec:
    """Builds a `NetSpec` from a NetParameter dict: V1 upgrade, legacy inputs, TEST phase.

    Args:
      msg: the NetParameter as read by `wire` or `prototxt`.
      source: the file name, for error messages.

    Returns:
      The net description with V2 type strings.

    Raises:
      CaffeError: V1 and V2 layers mixed, a V0 layer, or malformed blobs.
    """
    notes: list[str] = []
    v1, v2 = msg.get("layers", []), msg.get("layer", [])
    if v1 and v2:
        raise CaffeError(
            f"{source}: holds both V1 'layers' and V2 'layer' lists (Caffe refuses this too); "
            "re-save it with one of them"
        )
    layers: list[LayerSpec] = []
    inputs = msg.get("input", [])
    if inputs:
        # Caffe's UpgradeNetInput: legacy input fields become an Input layer placed first.
        dims = msg.get("input_dim", [])
        shapes = [{"dim": list(dims[4 * i : 4 * i + 4])} for i in range(len(dims) // 4)]
        shapes = shapes or msg.get("input_shape", [])
        if shapes:
            layers.append(
                LayerSpec(
                    inputs[0], "Input", [], list(inputs), {"input_param": [{"shape": shapes}]}, []
                )
            )
    for raw in v1 or v2:
        name = first(raw, "name", "")
        if v1:
            if "layer" in raw:
                raise CaffeError(
                    f"{source}: layer {name!r} carries a V0 'layer' field (pre-2014 format); "
                    "upgrade the file with Caffe's upgrade_net_proto_binary"
                )
            layer_type = V1_TYPES.get(first(raw, "type", "NONE"), str(first(raw, "type")))
        else:
            layer_type = first(raw, "type", "")
        if not _phase_ok(raw):
            notes.append(f"skipped layer {name!r} ({layer_type}): not in the TEST phase")
            continue
        blobs = [
            blob_from_message(b, f"{source}: layer {name!r} blob {i}")
            for i, b in enumerate(raw.get("blobs", []))
        ]
        layers.append(
            LayerSpec(
                name, layer_type, list(raw.get("bottom", [])), list(raw.get("top", [])), raw, blobs
            )
        )
    return NetSpec(first(msg, "name", ""), layers, notes)


def blobs_by_name(msg: dict, source: str) -> dict[str, list[Blob]]:
    """The weight blobs of every layer of a NetParameter dict (all phases), by layer name."""
    out = {}
    for raw in msg.get("layers", []) + msg.get("layer", []):
        name = first(raw, "name", "")
        if raw.get("blobs"):
            out[name] = [
                blob_from_message(b, f"{source}: layer {name!r} blob {i}")
                for i, b in enumerate(raw["blobs"])
            ]
    return out
