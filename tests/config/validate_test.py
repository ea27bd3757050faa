"""Tests for tf_style.config.validate: one clear line per bad value, naming the option."""

import dataclasses

import pytest

from tf_style.config import ConfigError, StyleConfig

# One bad value per option; the message must name the option.
BAD_VALUES = [
    ("style_image", "", "-style_image"),
    ("style_image", "a.jpg,,b.jpg", "-style_image"),
    ("content_image", "", "-content_image"),
    ("style_blend_weights", "1,2", "-style_blend_weights"),
    ("style_blend_weights", "-1", "-style_blend_weights"),
    ("style_blend_weights", "0", "-style_blend_weights"),
    ("style_blend_weights", "x", "-style_blend_weights"),
    ("image_size", 0, "-image_size"),
    ("gpu", "-2", "-gpu"),
    ("gpu", "0,0", "-gpu"),
    ("gpu", "a", "-gpu"),
    ("content_weight", -1.0, "-content_weight"),
    ("style_weight", float("nan"), "-style_weight"),
    ("tv_weight", float("inf"), "-tv_weight"),
    ("num_iterations", 0, "-num_iterations"),
    ("init", "noise", "-init"),
    ("optimizer", "sgd", "-optimizer"),
    ("learning_rate", 0.0, "-learning_rate"),
    ("lbfgs_num_correction", -1, "-lbfgs_num_correction"),
    ("output_image", "", "-output_image"),
    ("output_image", "out", "-output_image"),
    ("content_layers", "relu1_1,relu1_1", "-content_layers"),
    ("style_layers", "relu1_1,", "-style_layers"),
    ("style_scale", 0.0, "-style_scale"),
    ("original_colors", 2, "-original_colors"),
    ("pooling", "min", "-pooling"),
    ("model_file", "", "-model_file"),
    ("backend", "metal", "-backend"),
    ("color_transfer", "hsv", "-color_transfer"),
    ("color_match_mode", "lab", "-color_match_mode"),
    ("max_pixels", 0, "-max_pixels"),
    ("checkpoint_iter", -1, "-checkpoint_iter"),
    ("precision", "float8", "-precision"),
    ("tpu", "local", "-tpu"),
    ("output_bit_depth", 12, "-output_bit_depth"),
    ("jpeg_quality", 0, "-jpeg_quality"),
    ("scales", "256,0", "-scales"),
    ("scale_iterations", "0", "-scale_iterations"),
    ("scale_content_weight", "1,2", "-scale_content_weight"),
    ("scale_style_weight", "1,2", "-scale_style_weight"),
    ("scale_tv_weight", "-1", "-scale_tv_weight"),
    ("scale_lbfgs_num_correction", "5,5", "-scale_lbfgs_num_correction"),
    ("style_loss", "gramm", "-style_loss must be one of gram, mean_cov, w2"),
    ("padding", "wrap", "-padding must be one of zero, replicate, reflect"),
    ("average_decay", 1.0, "-average_decay must be in [0, 1)"),
    ("average_decay", -0.1, "-average_decay must be in [0, 1)"),
    ("style_layer_weights", "1,-2", "-style_layer_weights must be finite numbers >= 0"),
    ("content_layer_weights", "nan", "-content_layer_weights must be finite numbers >= 0"),
    ("content_layer_weights", "a", "-content_layer_weights must be a comma-separated list"),
    ("style_masks", "a.png,b.png", "-style_masks has 2 images for 1 -style_image"),
    ("style_image_masks", "a.png,b.png", "-style_image_masks has 2 images for 1 -style_image"),
    ("style_regions", "a.png,b.png", "-style_regions has 2 images for 1 -style_image"),
    ("content_regions", "map.png", "-content_regions and -style_regions go together"),
    ("region_tolerance", -1.0, "-region_tolerance must be a distance >= 0"),
    ("tile_size", "big", "-tile_size must be a size in pixels, auto or 0"),
    ("tile_size", -5, "-tile_size must be a size in pixels, auto or 0"),
    ("tile_overlap", -1, "-tile_overlap must be >= 0 pixels"),
    ("seamless", 2, "-seamless must be 0 or 1"),
    ("temporal_weight", -1.0, "-temporal_weight must be a finite number >= 0"),
    ("video_iterations", "10", "-video_iterations takes two counts"),
    ("video_iterations", "10,0", "-video_iterations takes two counts"),
    ("optical_flow", "lucas", "-optical_flow must be one of dis, farneback"),
    ("video_fps", -2.0, "-video_fps must be a frame rate > 0"),
]


@pytest.mark.parametrize("name,value,needle", BAD_VALUES)
def test_bad_values_give_one_clear_line(name, value, needle):
    with pytest.raises(ConfigError) as info:
        StyleConfig(**{name: value})
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_both_layer_lists_empty():
    with pytest.raises(ConfigError, match="name at least one layer"):
        StyleConfig(content_layers="", style_layers="")


def test_every_option_is_covered_by_a_bad_value_or_is_free_form():
    free_form = {
        "print_iter",  # <= 0 disables printing
        "save_iter",  # <= 0 disables intermediate saves
        "seed",  # < 0 draws a fresh seed
        "init_image",
        "proto_file",
        "normalize_gradients",
        "cudnn_autotune",
        "debug",
        "multigpu_strategy",
        "resume",
        "jit",
        "content_mask",  # a file, checked when the run reads it (masks_test)
        "jobs",
        "log_dir",
        "recompute",
        "content_video",  # a clip, checked when the run opens it (clips_test)
        "output_video",  # checked with -content_video (config/video_test)
    }
    covered = {name for name, _, _ in BAD_VALUES} | {"content_layers", "style_layers"}
    names = {f.name for f in dataclasses.fields(StyleConfig)}
    assert names - covered - free_form == set()


def test_layer_weights_need_one_value_per_layer_once_the_layers_are_known():
    from tf_style.config import check_layer_weights

    config = StyleConfig(style_layer_weights="1,2,3")  # five default style layers
    with pytest.raises(ConfigError, match="-style_layer_weights has 3 values for the 5 layers"):
        check_layer_weights(config)
    check_layer_weights(config.replace(style_layers="relu1_1,relu2_1,relu3_1"))
    with pytest.raises(ConfigError, match="-content_layer_weights has 2 values for the 1 layers"):
        check_layer_weights(StyleConfig(content_layer_weights="1,2"))


def test_seamless_excludes_padding_and_tiles():
    with pytest.raises(ConfigError, match="leave out -padding"):
        StyleConfig(seamless=1, padding="reflect")
    with pytest.raises(ConfigError, match="leave out -tile_size"):
        StyleConfig(seamless=1, tile_size=256)
    assert StyleConfig(tile_size="auto").tile_size == -1
    assert StyleConfig(tile_size="512").tile_size == 512


def test_precision_is_validated():
    assert StyleConfig().precision == "float32"
    with pytest.raises(ConfigError, match="-precision"):
        StyleConfig(precision="float16")
