"""Tests for tf_style.inputs: a run's images at the original's sizes, checked, and the start."""

import io
import math
import os

import numpy as np
import pytest

from tf_style import errors, image_io, inputs, preprocess, stylizer
from tf_style.preprocess import ColorSpace
from tf_style.report import Reporter


def test_images_at_the_originals_sizes(tiny_run, images):
    config = tiny_run.replace(style_image=f"{images['style1']},{images['style2']}")
    content, styles = inputs.load_images(config.replace(image_size=32, style_scale=0.7))
    # The 40x56 content: 32 on its long side, int(40 * 32 / 56) = 22 on the other. The styles
    # (50x50 and 36x60) get ceil(0.7 * 32) = 23 on their long side.
    assert content.shape == (22, 32, 3)
    assert math.ceil(0.7 * 32) == 23
    assert [s.shape for s in styles] == [(23, 23, 3), (int(36 * 23 / 60), 23, 3)]
    want = preprocess.resize(image_io.read_image(images["content"]), 22, 32)
    np.testing.assert_array_equal(content, want)


def test_arrays_replace_the_files(tiny_run):
    rng = np.random.default_rng(0)
    content, style = rng.random((10, 20, 3)), rng.random((30, 15, 3))
    got, styles = inputs.load_images(tiny_run.replace(image_size=16), content, [style])
    np.testing.assert_array_equal(got, preprocess.resize(content, 8, 16))
    np.testing.assert_array_equal(styles[0], preprocess.resize(style, 16, 8))


def test_the_start_is_noise_the_content_or_an_image(tiny_run, images):
    space, content = ColorSpace(), np.full((6, 8, 3), 0.25)
    noise = inputs.initial_image(tiny_run, content, space, Reporter())
    assert noise.shape == (1, 6, 8, 3) and noise.dtype == np.float32
    np.testing.assert_array_equal(noise, preprocess.random_init(6, 8, tiny_run.seed))
    other = inputs.initial_image(tiny_run.replace(seed=2), content, space, Reporter())
    assert np.abs(other - noise).max() > 0
    start = inputs.initial_image(tiny_run.replace(init="image"), content, space, Reporter())
    np.testing.assert_array_equal(start, space.to_net(content))
    # -init_image is resized to the content's size exactly (aspect not kept) and implies
    # -init image, with a note.
    log = io.StringIO()
    config = tiny_run.replace(init_image=str(images["style2"]))
    start = inputs.initial_image(config, content, space, Reporter(log))
    want = preprocess.resize(image_io.read_image(images["style2"]), 6, 8)
    np.testing.assert_array_equal(start, space.to_net(want))
    assert log.getvalue() == f"Using -init_image {images['style2']} (implies -init image).\n"
    # A float RGB start replaces -init_image, without a note.
    log = io.StringIO()
    start = inputs.initial_image(config, content, space, Reporter(log), init=content * 2)
    np.testing.assert_array_equal(start, space.to_net(content * 2))
    assert log.getvalue() == ""


def test_too_small_images_name_the_image_and_the_fix(quiet_run, images):
    avg = quiet_run.replace(pooling="avg")
    # The 40x56 content at -image_size 20 is 14x20: too low for the 16x16 minimum.
    with pytest.raises(errors.ImageError, match=r"content.png: resized to 20x14.*16x16"):
        stylizer.run(avg.replace(image_size=20))
    # The 50x50 style at ceil(0.5 * 24) = 12 pixels.
    with pytest.raises(errors.ImageError, match=r"style1.png: resized to 12x12.*-style_scale"):
        stylizer.run(avg.replace(image_size=24, style_scale=0.5))
    assert os.listdir(os.path.dirname(quiet_run.output_image)) == []
