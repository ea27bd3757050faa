"""What both sides solve: the layers, the weights, VGG-19's shape and its cost per evaluation."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_WEIGHT, STYLE_WEIGHT = 5.0, 100.0
# VGG-19 up to relu5_1: (block, convs) with their widths
# (docs/performance.md#forward-pass-of-vgg-19).
VGG19 = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 1, 512))


def evaluation_flops(height: int, width: int) -> float:
    """FLOPs of one value+gradient evaluation to relu5_1 (docs/performance.md#one-evaluation).

    Convolutions forward, the same again for the input-only backward, and each style layer's
    Gram matrix forward and backward (2 * C^2 * h * w each).
    """
    conv = gram = 0.0
    h, w, c_in = height, width, 3
    for block, convs, width_out in VGG19:
        for _ in range(convs):
            conv += 2 * h * w * c_in * width_out * 9
            c_in = width_out
        gram += 2 * 2 * width_out**2 * h * w  # relu{block}_1's Gram, forward and backward
        if block < 5:
            h, w = h // 2, w // 2
    return 2 * conv + gram


def relu_floor_bytes(size: int) -> int:
    """The float32 ReLU outputs to relu5_1 at size^2 (the memory floor of
    docs/performance.md#activation-floor).

    An input-only backward pass must keep them.
    """
    return sum(
        convs * width * 4 * ((size + 2**block // 2 - 1) // (2**block // 2)) ** 2
        for block, convs, width in VGG19
    )
