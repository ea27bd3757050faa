"""Tests for tf_style.config.original: the original's flags, with the original's defaults."""

import dataclasses

import pytest

from tf_style.config import StyleConfig
from tf_style.config.original import OriginalOptions

# The original's defaults (docs/semantics.md#flags), written out independently of config.py.
ORIGINAL_DEFAULTS = {
    "style_image": ("examples/inputs/seated-nude.jpg",),
    "style_blend_weights": None,
    "content_image": "examples/inputs/tubingen.jpg",
    "image_size": 512,
    "content_weight": 5.0,
    "style_weight": 100.0,
    "tv_weight": 1e-3,
    "num_iterations": 1000,
    "normalize_gradients": False,
    "init": "random",
    "init_image": "",
    "optimizer": "lbfgs",
    "learning_rate": 10.0,
    "lbfgs_num_correction": 0,
    "print_iter": 50,
    "save_iter": 100,
    "output_image": "out.png",
    "style_scale": 1.0,
    "original_colors": 0,
    "pooling": "max",
    "backend": "nn",
    "cudnn_autotune": False,
    "seed": -1,
    "content_layers": ("relu4_2",),
    "style_layers": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    "multigpu_strategy": (),
}


@pytest.mark.parametrize("name,value", sorted(ORIGINAL_DEFAULTS.items()))
def test_defaults_are_the_originals(name, value):
    assert getattr(StyleConfig(), name) == value


def test_the_originals_options_are_declared_here_and_come_first():
    original = [f.name for f in dataclasses.fields(OriginalOptions)]
    assert set(ORIGINAL_DEFAULTS) | {"gpu", "model_file", "proto_file"} <= set(original)
    assert [f.name for f in dataclasses.fields(StyleConfig)][: len(original)] == original
    assert all(
        f.metadata["group"] != "tf_style options" for f in dataclasses.fields(OriginalOptions)
    )
