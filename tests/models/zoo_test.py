"""Tests for tf_style.models.zoo: the entries carry the published facts and valid defaults."""

from __future__ import annotations

import dataclasses

import pytest

from tf_style import models
from tf_style.config import StyleConfig


def test_zoo_entries_carry_the_published_facts():
    vgg19 = models.ZOO["vgg19"]
    assert vgg19.weights == "VGG_ILSVRC_19_layers.caffemodel"
    caffemodel = vgg19.files[1]
    assert (caffemodel.size, caffemodel.md5) == (574_671_192, "b5c644beabd7cf06bdd9065cfd674c97")
    assert caffemodel.urls[0].startswith("http://www.robots.ox.ac.uk/~vgg/")
    assert models.ZOO["vgg16"].files[1].size == 553_432_081
    assert models.ZOO["nin"].style_layers == ("relu0", "relu3", "relu7", "relu12")
    for entry in models.ZOO.values():
        assert entry.proto is None or entry.proto in [f.name for f in entry.files]
        assert entry.content_layers and entry.style_layers


def test_preprocessing_is_each_models_own():
    # VGG's mean pixel (B, G, R) and the original's x256; Keras and Yahoo's classifier use 255.
    for name in ("vgg19", "vgg16", "vgg19_normalized", "nin"):
        assert models.ZOO[name].mean_bgr == (103.939, 116.779, 123.68)
        assert models.ZOO[name].scale == 256.0
    for name in ("keras:vgg19", "keras:vgg16"):
        assert (models.ZOO[name].mean_bgr, models.ZOO[name].scale) == (
            (103.939, 116.779, 123.68),
            255.0,
        )
    assert (models.ZOO["open_nsfw"].mean_bgr, models.ZOO["open_nsfw"].scale) == (
        (104.0, 117.0, 123.0),
        255.0,
    )


def test_defaults_are_valid_options_and_only_where_vgg_names_do_not_fit():
    with_defaults = {name for name, entry in models.ZOO.items() if entry.defaults}
    assert with_defaults == {"nin", "open_nsfw"}
    fields = {f.name for f in dataclasses.fields(StyleConfig)}
    for entry in models.ZOO.values():
        assert set(entry.defaults) <= fields
        # StyleConfig accepts them and keeps them as they are (tuples, not strings).
        config = StyleConfig(model_file=entry.name, **entry.defaults)
        assert {k: getattr(config, k) for k in entry.defaults} == dict(entry.defaults)
    nsfw = models.ZOO["open_nsfw"]
    assert nsfw.content_layers == ("relu_stage1_block1",)
    assert nsfw.style_layers[0] == "relu_1" and len(nsfw.style_layers) == 4
    assert models.ZOO["vgg19"].content_layers == StyleConfig().content_layers


def test_a_default_for_no_option_is_refused():
    with pytest.raises(ValueError, match="content_layer"):
        models.ZooModel(name="typo", files=(), proto=None, defaults={"content_layer": ("a",)})
