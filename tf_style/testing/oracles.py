"""Independent answers to compare ours with: OpenCV's Caffe importer, its image files and
resize, and the comparison itself.

OpenCV's `readNetFromCaffe` was written by other people from Caffe's sources, so a layer that
gives OpenCV's output to within float32 rounding has Caffe's semantics, not just our reading of
them; its image codecs and its area resize are another's reading of the file formats and of the
area rule. OpenCV is imported where it is used: it is a test dependency, not one of tf_style's.
OpenCV keeps colours as B, G, R(, A); the functions here take and give R, G, B(, A).
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


# OpenCV's channel order <-> RGB(A), by number of channels (the same permutation both ways).
_BGR = {3: [2, 1, 0], 4: [2, 1, 0, 3]}


def opencv_read(path, unchanged: bool = False) -> np.ndarray:
    """The image file as OpenCV decodes it, in RGB(A) order: 8-bit RGB (OpenCV converts grey,
    CMYK and alpha), or with `unchanged` the file's own depth and channels."""
    import cv2  # a test dependency, not one of tf_style's

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED if unchanged else cv2.IMREAD_COLOR)
    assert image is not None, f"OpenCV cannot read {path}"
    return image[..., _BGR[image.shape[2]]] if image.ndim == 3 else image


def opencv_write(path, image: np.ndarray) -> None:
    """Writes an integer [H, W], [H, W, 1], RGB or RGBA image with OpenCV (PNG keeps 16 bits)."""
    import cv2

    if image.ndim == 3:
        image = image[..., 0] if image.shape[2] == 1 else image[..., _BGR[image.shape[2]]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(image)), f"OpenCV cannot write {path}"


def opencv_resize_area(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV's INTER_AREA resize of an [H, W, C] image to height x width (the shape kept)."""
    import cv2

    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return resized.reshape(height, width, *image.shape[2:])


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
