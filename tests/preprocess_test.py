"""Tests for tf_style.preprocess: oracles are hand computations, OpenCV and TensorFlow."""

import numpy as np
import pytest

from tf_style import preprocess
from tf_style.testing import oracles


@pytest.mark.parametrize(
    "height, width, max_size, expected",
    [
        (1000, 750, 512, (512, 384)),
        (300, 451, 512, (340, 512)),  # 300 * 512 / 451 = 340.58 -> 340
        (451, 300, 512, (512, 340)),
        (10, 20, 512, (256, 512)),  # smaller images are upscaled
        (333, 333, 100, (100, 100)),
        (1, 1000, 512, (1, 512)),  # 0.512 truncates to 0, at least 1
        (480, 640, 300, (225, 300)),
        (477, 640, 300, (223, 300)),  # 223.59 -> 223, not rounded to 224
    ],
)
def test_scaled_size(height, width, max_size, expected):
    assert preprocess.scaled_size(height, width, max_size) == expected


def test_scaled_size_rejects_non_positive():
    with pytest.raises(ValueError):
        preprocess.scaled_size(0, 10, 512)


@pytest.mark.parametrize(
    "image_size, style_scale, expected",
    [(512, 1.0, 512), (512, 0.5, 256), (512, 0.3, 154), (512, 1.1, 564), (100, 0.999, 100)],
)
def test_style_size(image_size, style_scale, expected):
    assert preprocess.style_size(image_size, style_scale) == expected


def _row(values):
    """A [1, N, 1] image from a list."""
    return np.array(values, dtype=np.float64)[None, :, None]


def test_resize_area_integer_factor_by_hand():
    result = preprocess.resize(_row([1.0, 2.0, 4.0, 8.0]), 1, 2)
    np.testing.assert_allclose(result[0, :, 0], [1.5, 6.0], rtol=0, atol=1e-15)
    column = np.array([1.0, 2.0, 4.0, 8.0])[:, None, None]
    np.testing.assert_allclose(preprocess.resize(column, 2, 1)[:, 0, 0], [1.5, 6.0], atol=1e-15)


def test_resize_area_fractional_weights_by_hand():
    a, b, c = 1.0, 2.0, 4.0
    # 3 -> 2: s = 1.5; output 0 covers [0, 1.5): a fully, half of b; output 1 covers [1.5, 3).
    expected = [(a + 0.5 * b) / 1.5, (0.5 * b + c) / 1.5]
    result = preprocess.resize(_row([a, b, c]), 1, 2)
    np.testing.assert_allclose(result[0, :, 0], expected, rtol=0, atol=1e-15)
    # 5 -> 3: s = 5/3; output 1 covers [5/3, 10/3): 1/3 of x1, x2, x3 fully... by overlap.
    x = [3.0, 5.0, 7.0, 11.0, 13.0]
    third = 1.0 / 3.0
    expected = [
        (x[0] + 2 * third * x[1]) / (5 / 3),
        (third * x[1] + x[2] + third * x[3]) / (5 / 3),
        (2 * third * x[3] + x[4]) / (5 / 3),
    ]
    result = preprocess.resize(_row(x), 1, 3)
    np.testing.assert_allclose(result[0, :, 0], expected, rtol=0, atol=1e-13)


def test_resize_upscale_align_corners_by_hand():
    a, b = 2.0, 7.0
    result = preprocess.resize(_row([a, b]), 1, 3)
    np.testing.assert_allclose(result[0, :, 0], [a, (a + b) / 2, b], rtol=0, atol=1e-15)
    # 3 -> 5: source positions 0, 0.5, 1, 1.5, 2.
    a, b, c = 1.0, 3.0, 11.0
    result = preprocess.resize(_row([a, b, c]), 1, 5)
    np.testing.assert_allclose(result[0, :, 0], [a, (a + b) / 2, b, (b + c) / 2, c], atol=1e-15)


def test_resize_equal_size_copies_and_single_pixel_cases():
    image = np.random.default_rng(0).random((4, 5, 3))
    np.testing.assert_array_equal(preprocess.resize(image, 4, 5), image)
    # One source pixel upscaled: every output equals it; one output pixel: the mean.
    np.testing.assert_allclose(
        preprocess.resize(image[:1, :1], 3, 2), np.tile(image[:1, :1], (3, 2, 1))
    )
    np.testing.assert_allclose(preprocess.resize(image, 1, 1)[0, 0], image.mean(axis=(0, 1)))


def test_resize_area_matches_opencv_for_integer_factors():
    image = np.random.default_rng(1).random((24, 36, 3))
    for height, width in [(12, 18), (8, 9), (6, 12), (1, 4)]:
        expected = oracles.opencv_resize_area(image, height, width)
        result = preprocess.resize(image, height, width)
        # OpenCV's area weights are float32 even for float64 images: ~3e-8 relative.
        np.testing.assert_allclose(result, expected, rtol=1e-7, atol=0)


def test_resize_matches_tensorflow_area_and_align_corners_bilinear():
    tf = pytest.importorskip("tensorflow")
    image = np.random.default_rng(2).random((13, 17, 3))
    batch = tf.constant(image[None])
    # Upscale both axes: align-corners bilinear.
    expected = tf.compat.v1.image.resize_bilinear(batch, (29, 31), align_corners=True)
    np.testing.assert_allclose(preprocess.resize(image, 29, 31), expected[0], atol=1e-5)
    # Non-integer downscale both axes: exact area averaging.
    expected = tf.image.resize(batch, (5, 7), method="area")
    np.testing.assert_allclose(preprocess.resize(image, 5, 7), expected[0], atol=1e-5)
    # Mixed: width shrinks (area), height grows (align corners), width first.
    narrow = tf.image.resize(batch, (13, 6), method="area")
    expected = tf.compat.v1.image.resize_bilinear(narrow, (20, 6), align_corners=True)
    np.testing.assert_allclose(preprocess.resize(image, 20, 6), expected[0], atol=1e-5)


def test_resize_keeps_constant_images_constant():
    image = np.full((7, 9, 3), 0.25)
    for size in [(3, 4), (15, 20), (7, 2), (1, 1)]:
        np.testing.assert_allclose(preprocess.resize(image, *size), 0.25, rtol=0, atol=1e-15)


def test_to_caffe_known_pixels():
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.25]]])
    x = preprocess.to_caffe(rgb)
    assert x.dtype == np.float32 and x.shape == (1, 1, 2, 3)
    # BGR, x256 (not 255), minus (103.939, 116.779, 123.68).
    expected = [[[-103.939, -116.779, 256 - 123.68], [64 - 103.939, 128 - 116.779, -123.68]]]
    np.testing.assert_allclose(x[0], np.array(expected, dtype=np.float32), rtol=0, atol=0)
    np.testing.assert_allclose(preprocess.VGG_MEAN_BGR, (103.939, 116.779, 123.68))


def test_to_caffe_from_caffe_round_trip_and_no_clamping():
    rgb = np.random.default_rng(3).random((5, 6, 3)) * 1.4 - 0.2  # outside [0, 1] too
    back = preprocess.from_caffe(preprocess.to_caffe(rgb))
    assert back.dtype == np.float64 and back.shape == rgb.shape
    np.testing.assert_allclose(back, rgb, rtol=0, atol=1e-6)  # float32 in between
    # from_caffe accepts [H, W, 3] too, and does not clamp.
    bgr = np.array([[[300.0, -200.0, 0.0]]])
    expected = [[[123.68 / 256, (-200 + 116.779) / 256, (300 + 103.939) / 256]]]
    np.testing.assert_allclose(preprocess.from_caffe(bgr), expected, rtol=0, atol=1e-15)


def test_caffe_custom_mean_and_scale():
    rgb = np.array([[[0.1, 0.2, 0.3]]])
    x = preprocess.to_caffe(rgb, mean=(1.0, 2.0, 3.0), scale=255.0)
    np.testing.assert_allclose(x[0, 0, 0], [0.3 * 255 - 1, 0.2 * 255 - 2, 0.1 * 255 - 3], atol=1e-5)
    back = preprocess.from_caffe(x, mean=(1.0, 2.0, 3.0), scale=255.0)
    np.testing.assert_allclose(back, rgb, atol=1e-6)


def test_original_colors_matches_torch_formulas():
    rng = np.random.default_rng(4)
    generated = rng.random((3, 4, 3)) * 1.2 - 0.1
    content = rng.random((3, 4, 3))
    result = preprocess.original_colors(generated, content)
    for i in range(3):
        for j in range(4):
            r, g, b = generated[i, j]
            y = 0.299 * r + 0.587 * g + 0.114 * b
            r, g, b = content[i, j]
            u = -0.14713 * r - 0.28886 * g + 0.436 * b
            v = 0.615 * r - 0.51499 * g - 0.10001 * b
            expected = [y + 1.13983 * v, y - 0.39465 * u - 0.58060 * v, y + 2.03211 * u]
            np.testing.assert_allclose(result[i, j], expected, rtol=0, atol=1e-12)


def test_original_colors_rejects_different_sizes():
    with pytest.raises(ValueError, match="same shape"):
        preprocess.original_colors(np.zeros((2, 2, 3)), np.zeros((2, 3, 3)))


def test_random_init():
    x = preprocess.random_init(64, 48, seed=7)
    assert x.dtype == np.float32 and x.shape == (1, 64, 48, 3)
    assert abs(float(x.std()) - 0.001) < 0.00005 and abs(float(x.mean())) < 0.00005
    np.testing.assert_array_equal(x, preprocess.random_init(64, 48, seed=7))
    assert not np.array_equal(x, preprocess.random_init(64, 48, seed=8))
    assert not np.array_equal(
        preprocess.random_init(4, 4, seed=None), preprocess.random_init(4, 4, seed=None)
    )
    # Drawn in the original's (channel, row, column) order, float64 -> float32, then x0.001.
    noise = np.random.default_rng(7).standard_normal((3, 64, 48))
    expected = noise.astype(np.float32) * np.float32(0.001)
    np.testing.assert_array_equal(x[0], expected.transpose(1, 2, 0))
