"""Independent answers to compare ours with: OpenCV's Caffe importer, and the comparison itself.

OpenCV's `readNetFromCaffe` was written by other people from Caffe's sources, so a layer that
gives OpenCV's output to within float32 rounding has Caffe's semantics, not just our reading of
them. OpenCV is imported where it is used: it is a test dependency, not one of tf_style's.
`assert_layers_close` allows for OpenCV's quirks; `assert_close` compares two of our models.
"""

from __future__ import annotations

import numpy as np


def opencv_outputs(
    prototxt, caffemodel, x_nhwc: np.ndarray, names: list[str], aliases: dict | None = None
) -> dict:
    """Every named layer's output from OpenCV's Caffe importer (no fusion), as NHWC/NC.

    OpenCV names some layers after their top blob (NIN's conv4-1024 -> conv4): `aliases` maps
    our names to those.
    """
    import cv2  # a test dependency (opencv-python-headless), not one of tf_style's

    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    known = set(net.getLayerNames())
    aliases = aliases or {}
    cv_names = [n if n in known else aliases.get(n, n) for n in names]
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.enableFusion(False)
    net.setInput(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
    outs = net.forward(cv_names)
    return {n: (o.transpose(0, 2, 3, 1) if o.ndim == 4 else o) for n, o in zip(names, outs)}


def outputs(model, names: list[str], x_nhwc: np.ndarray) -> list[np.ndarray]:
    """The named layers' outputs of our `model` for the batch `x_nhwc`, in the order of `names`."""
    import keras  # here, so that importing this module does not start TensorFlow

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outs = probe([x_nhwc])
    return [np.asarray(o) for o in (outs if isinstance(outs, (list, tuple)) else [outs])]


def our_outputs(model, x_nhwc: np.ndarray, names: list[str]) -> dict:
    """Every named layer's output from our model, by name."""
    return dict(zip(names, outputs(model, names, x_nhwc)))


def assert_close(actual: list[np.ndarray], expected: list[np.ndarray], rtol: float = 1e-4) -> None:
    """Same shapes, and each array within `rtol` of its expected array's max |value|."""
    for a, e in zip(actual, expected, strict=True):
        assert a.shape == e.shape
        assert np.max(np.abs(a - e)) <= rtol * np.max(np.abs(e))


def assert_layers_close(ours: dict, theirs: dict, rtol: float = 1e-4) -> None:
    """Each layer within `rtol` of the layer's max |value| (OpenCV reshapes 1x1 maps freely)."""
    for name, want in theirs.items():
        got = ours[name]
        if got.shape != want.shape and got.size == want.size and want.ndim != 4:
            want = want.reshape(got.shape)
        assert got.shape == want.shape, f"{name}: shape {got.shape} vs OpenCV {want.shape}"
        scale = max(float(np.abs(want).max()), 1e-6)
        err = float(np.abs(got - want).max()) / scale
        assert err <= rtol, f"{name}: max error {err:.2e} of the layer's max {scale:.3g}"
