"""Tests for tf_style.testing.oracles: OpenCV's files in RGB order, its area resize, and the
comparisons failing where they should. PIL and numpy are the checks here."""

import numpy as np
import pytest
from PIL import Image

from tf_style.testing import oracles


def test_opencv_files_are_rgb_both_ways(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red only
    oracles.opencv_write(tmp_path / "red.png", rgb)
    with Image.open(tmp_path / "red.png") as image:
        np.testing.assert_array_equal(np.asarray(image), rgb)
    Image.fromarray(rgb).save(tmp_path / "pil.png")
    np.testing.assert_array_equal(oracles.opencv_read(tmp_path / "pil.png"), rgb)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_opencv_16_bit_png_round_trip(tmp_path, channels):
    values = np.random.default_rng(0).integers(0, 65536, (4, 5, channels)).astype(np.uint16)
    oracles.opencv_write(tmp_path / "deep.png", values)
    read = oracles.opencv_read(tmp_path / "deep.png", unchanged=True)
    np.testing.assert_array_equal(read.reshape(values.shape), values)
    if channels == 3:  # PIL reads 16-bit RGB as 8 bits: the high bytes, in RGB order
        with Image.open(tmp_path / "deep.png") as image:
            np.testing.assert_array_equal(np.asarray(image), (values >> 8).astype(np.uint8))


def test_opencv_area_resize_averages_whole_blocks():
    image = np.random.default_rng(1).random((4, 6, 3))
    want = image.reshape(2, 2, 3, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(oracles.opencv_resize_area(image, 2, 3), want, rtol=1e-6)
    assert oracles.opencv_resize_area(image, 1, 6).shape == (1, 6, 3)


def test_assert_layers_close_fails_beyond_the_tolerance():
    ours = {"conv": np.ones((1, 2, 2, 3)), "fc": np.arange(4.0).reshape(1, 4)}
    theirs = {"conv": np.ones((1, 2, 2, 3)) * (1 + 5e-5), "fc": np.arange(4.0).reshape(4, 1)}
    oracles.assert_layers_close(ours, theirs)  # within 1e-4; a 1x4 map reshaped as OpenCV does
    with pytest.raises(AssertionError, match="conv: max error"):
        oracles.assert_layers_close(ours, {"conv": np.ones((1, 2, 2, 3)) * 1.001})
    with pytest.raises(AssertionError, match="shape"):
        oracles.assert_layers_close(ours, {"conv": np.ones((1, 3, 2, 2))})


def test_assert_close_fails_on_shape_or_values():
    a = [np.ones((2, 3)), np.full((4,), 10.0)]
    oracles.assert_close(a, [np.ones((2, 3)), np.full((4,), 10.0005)])
    with pytest.raises(AssertionError):
        oracles.assert_close(a, [np.ones((2, 3)), np.full((4,), 10.01)])
    with pytest.raises(AssertionError):
        oracles.assert_close(a, [np.ones((3, 2)), np.full((4,), 10.0)])
