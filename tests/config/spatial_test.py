"""Tests for tf_style.config.spatial: the spatial-control options, off by default, and part of
what a checkpoint depends on (docs/spatial-control.md)."""

import dataclasses

from tf_style.config import CHECKPOINT, GRAPH, StyleConfig
from tf_style.config.spatial import GROUP, SpatialOptions


def test_no_masks_by_default():
    config = StyleConfig()
    assert config.style_masks == config.style_image_masks == config.style_regions == ()
    assert config.content_mask == config.content_regions == ""
    assert config.region_tolerance == 40.0


def test_the_options_are_checkpointed_and_together_in_their_own_group():
    declared = dataclasses.fields(SpatialOptions)
    names = [f.name for f in declared]
    assert {"style_masks", "content_mask", "content_regions", "region_tolerance"} <= set(names)
    assert GROUP == "Spatial control options" and {f.metadata["group"] for f in declared} == {GROUP}
    # The masks change the targets, so a checkpoint must match them; the traced graph follows
    # the masks' shapes, which the Stylizer keys on itself, not these options.
    assert all(CHECKPOINT in f.metadata["tags"] for f in declared)
    assert not any(GRAPH in f.metadata["tags"] for f in declared)
    every = [f.name for f in dataclasses.fields(StyleConfig)]
    start = every.index(names[0])
    assert every[start : start + len(names)] == names


def test_mask_lists_are_comma_separated():
    config = StyleConfig(style_image="a.jpg,b.jpg", style_masks="sky.png, houses.png")
    assert config.style_masks == ("sky.png", "houses.png")
