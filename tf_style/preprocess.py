"""The original's image preparation: resize rule, Caffe space, original colours, random init.

Everything here is numpy float64: resizing happens once per image, so exactness beats speed.
Caffe space is the VGG convention the original uses: BGR, values x256 (not 255: the original's
quirk, kept) minus the ImageNet mean pixel.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

# The VGG mean pixel, in Caffe's B, G, R order, and the original's scale factor.
VGG_MEAN_BGR = (103.939, 116.779, 123.68)
CAFFE_SCALE = 256.0

# Torch's image.rgb2yuv and image.yuv2rgb (rows: output channel). They are not exact inverses
# of each other; the original uses them as they are, and so do we.
RGB_TO_YUV = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.14713, -0.28886, 0.436],
        [0.615, -0.51499, -0.10001],
    ]
)
YUV_TO_RGB = np.array(
    [
        [1.0, 0.0, 1.13983],
        [1.0, -0.39465, -0.58060],
        [1.0, 2.03211, 0.0],
    ]
)


def scaled_size(height: int, width: int, max_size: int) -> tuple[int, int]:
    """The original's `image.scale(img, max_size)` size rule.

    The longer side becomes `max_size` exactly; the other is computed in floating point and
    truncated toward zero, at least 1. Smaller images are upscaled.

    Returns:
        (height, width) after resizing.
    """
    if height < 1 or width < 1 or max_size < 1:
        raise ValueError(f"sizes must be positive, got {height}x{width} and max {max_size}")
    longest = max(height, width)
    return max(1, int(height * max_size / longest)), max(1, int(width * max_size / longest))


def style_size(image_size: int, style_scale: float) -> int:
    """The longer side of the style images: `ceil(style_scale * image_size)`, as the original."""
    return math.ceil(style_scale * image_size)


def _axis_weights(size_in: int, size_out: int) -> np.ndarray:
    """The [size_out, size_in] matrix of torch image.scale 'bilinear' along one axis."""
    if size_out == size_in:
        return np.eye(size_in)
    source = np.arange(size_in)
    if size_out < size_in:
        # Area averaging: output d covers the source interval [d*s, (d+1)*s), s = in/out; each
        # source pixel [j, j+1) counts by its overlap. The original computes these weights in
        # float32; float64 here (differences ~1e-7).
        scale = size_in / size_out
        edges = np.arange(size_out + 1) * size_in / size_out
        low, high = edges[:-1, None], edges[1:, None]
        overlap = np.minimum(source + 1, high) - np.maximum(source, low)
        return np.clip(overlap, 0.0, None) / scale
    # Linear interpolation with align-corners geometry: output d samples source d*(in-1)/(out-1).
    position = np.arange(size_out) * (size_in - 1) / (size_out - 1)
    left = np.minimum(np.floor(position).astype(int), size_in - 1)
    right = np.minimum(left + 1, size_in - 1)
    fraction = position - left
    weights = np.zeros((size_out, size_in))
    rows = np.arange(size_out)
    np.add.at(weights, (rows, left), 1.0 - fraction)
    np.add.at(weights, (rows, right), fraction)
    return weights


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes [H, W, C] to [height, width, C] like torch `image.scale(..., 'bilinear')`.

    Separable, width pass first, then height pass. Along each axis: shrinking averages areas
    exactly, enlarging interpolates linearly with aligned corners, equal sizes copy.

    Returns:
        float64 [height, width, C].
    """
    if height < 1 or width < 1:
        raise ValueError(f"the target size must be positive, got {height}x{width}")
    image = np.asarray(image, dtype=np.float64)
    in_height, in_width, channels = image.shape
    width_weights = _axis_weights(in_width, width)
    height_weights = _axis_weights(in_height, height)
    # [H, C, W] @ [W, w] -> [H, C, w]; then [h, H] @ [H, C*w] -> [h, C*w].
    narrow = image.transpose(0, 2, 1) @ width_weights.T
    result = height_weights @ narrow.reshape(in_height, channels * width)
    return result.reshape(height, channels, width).transpose(0, 2, 1)


def to_caffe(
    rgb: np.ndarray, mean: Sequence[float] = VGG_MEAN_BGR, scale: float = CAFFE_SCALE
) -> np.ndarray:
    """RGB [H, W, 3] in [0, 1] -> Caffe space: float32 [1, H, W, 3] BGR, `scale * I - mean`.

    Computed in float64 and then cast to float32, as the original.

    Args:
        rgb: the image, float [H, W, 3] in [0, 1].
        mean: the mean pixel in B, G, R order.
        scale: the factor applied before subtracting the mean (the original's 256).
    """
    bgr = np.asarray(rgb, dtype=np.float64)[..., ::-1]
    return (scale * bgr - np.asarray(mean, dtype=np.float64))[None].astype(np.float32)


def from_caffe(
    x: np.ndarray, mean: Sequence[float] = VGG_MEAN_BGR, scale: float = CAFFE_SCALE
) -> np.ndarray:
    """Caffe space [1, H, W, 3] or [H, W, 3] BGR -> float64 RGB [H, W, 3].

    Not clamped: the original's `image.minmax{min=0, max=1}` afterwards is an identity.
    """
    bgr = np.asarray(x, dtype=np.float64)
    if bgr.ndim == 4:
        if bgr.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of shape {bgr.shape}")
        bgr = bgr[0]
    return ((bgr + np.asarray(mean, dtype=np.float64)) / scale)[..., ::-1]


def original_colors(generated_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The original's `-original_colors 1`: luminance of `generated`, chroma of `content`.

    Y comes from the generated image, U and V from the content image (resized to the same size),
    through Torch's YUV matrices; applied to float images before clamping.

    Returns:
        float64 RGB [H, W, 3], not clamped.
    """
    generated = np.asarray(generated_rgb, dtype=np.float64)
    content = np.asarray(content_rgb, dtype=np.float64)
    if generated.shape != content.shape:
        raise ValueError(
            f"the generated image {generated.shape} and the content image {content.shape} "
            "must have the same shape"
        )
    yuv = content @ RGB_TO_YUV.T
    yuv[..., 0] = generated @ RGB_TO_YUV[0]
    return yuv @ YUV_TO_RGB.T


def random_init(height: int, width: int, seed: int | None) -> np.ndarray:
    """The original's `-init random`: 0.001 * N(0, 1) in Caffe space, float32 [1, H, W, 3].

    Drawn in float64 in the original's (channel, row, column) order, cast to float32, then
    multiplied by 0.001 in float32, as `torch.randn(...):float():mul(0.001)`. Deviation: the
    numbers come from numpy's `default_rng(seed)` (PCG64); Torch's MT19937 stream is not
    reproduced, so a given seed gives a different (equally random) image than the original.

    Args:
        height, width: the content image's size.
        seed: any non-negative int, or None for fresh OS entropy.
    """
    noise = np.random.default_rng(seed).standard_normal((3, height, width))
    noise = noise.astype(np.float32) * np.float32(0.001)
    return np.ascontiguousarray(noise.transpose(1, 2, 0)[None])


@dataclasses.dataclass(frozen=True)
class ColorSpace:
    """A model's input convention: BGR, `scale` x [0, 1] RGB, minus `mean` (B, G, R).

    The default is the original's VGG convention; a zoo model may bring its own.
    """

    mean: tuple[float, float, float] = VGG_MEAN_BGR
    scale: float = CAFFE_SCALE

    def to_net(self, rgb: np.ndarray) -> np.ndarray:
        return to_caffe(rgb, mean=self.mean, scale=self.scale)

    def from_net(self, x: np.ndarray) -> np.ndarray:
        return from_caffe(x, mean=self.mean, scale=self.scale)
