"""Tests for tf_style.config (StyleConfig): list parsing, derived values, replace, settings."""

import dataclasses

import pytest

from tf_style.config import CHECKPOINT, GRAPH, ConfigError, StyleConfig, settings


def test_every_option_has_a_group_and_help():
    for f in dataclasses.fields(StyleConfig):
        assert f.metadata["group"] and f.metadata["help"], f.name


def test_lists_from_strings_and_sequences():
    c = StyleConfig(style_image="a.jpg, b.jpg", style_blend_weights="3,7", gpu="-1")
    assert c.style_image == ("a.jpg", "b.jpg")
    assert c.style_blend_weights == (3.0, 7.0)
    assert c.blend_weights == pytest.approx((0.3, 0.7))
    assert c.gpu == (-1,)
    assert StyleConfig(content_layers=["relu1_1", "relu2_1"]).content_layers == (
        "relu1_1",
        "relu2_1",
    )
    assert StyleConfig(style_blend_weights="nil").style_blend_weights is None
    assert StyleConfig(style_image="a,b,c").blend_weights == pytest.approx((1 / 3,) * 3)


def test_num_correction_zero_means_100():
    assert StyleConfig().num_correction == 100
    assert StyleConfig(lbfgs_num_correction=5).num_correction == 5


def test_replace_validates():
    with pytest.raises(ConfigError, match="-image_size"):
        StyleConfig().replace(image_size=-3)


def test_settings_are_the_options_with_a_tag():
    config = StyleConfig(image_size=64, num_iterations=7, style_image="a.jpg,b.jpg")
    graph, state = settings(config, GRAPH), settings(config, CHECKPOINT)
    # What shapes the network, the targets and the traced optimisation (config/fields.py's tags).
    assert {"content_weight", "style_layers", "optimizer", "pooling", "model_file"} <= set(graph)
    assert {"precision", "jit", "recompute", "multigpu_strategy"} <= set(graph)
    assert not {"num_iterations", "print_iter", "seed", "output_image", "image_size"} & set(graph)
    # What a checkpoint's state depends on; printing, saving, the device and the start do not.
    assert {"image_size", "style_image", "content_image", "optimizer"} <= set(state)
    assert {"color_transfer", "style_scale", "precision"} <= set(state)
    assert not {"num_iterations", "print_iter", "save_iter", "gpu", "seed", "init"} & set(state)
    assert not {"output_image", "resume", "checkpoint_iter", "jit"} & set(state)
    assert state["image_size"] == 64 and state["style_image"] == ("a.jpg", "b.jpg")
    assert list(state) == [f.name for f in dataclasses.fields(config) if f.name in state]


def test_scales_auto_are_a_factor_sqrt2_apart_up_to_the_image_size():
    assert StyleConfig(scales="auto", image_size=512).scales == (128, 181, 256, 362, 512)
    assert StyleConfig(scales="auto", image_size=384).scales == (136, 192, 272, 384)
    for size in (100, 128, 700, 2048):
        sizes = StyleConfig(scales="auto", image_size=size).scales
        assert sizes[-1] == size and sizes[0] <= 128 + 128 // 2
        ratios = [b / a for a, b in zip(sizes, sizes[1:])]
        assert all(abs(r - 2**0.5) < 0.01 for r in ratios), ratios
    with pytest.raises(ConfigError, match="-scale_iterations has 2 values for 4 -scales"):
        StyleConfig(scales="auto", image_size=384, scale_iterations="5,5")
