"""Tests for tf_style.config.tiles: the tiling options, off by default (one whole image, as the
original), part of the traced graph and of a checkpoint (docs/high-resolution.md)."""

import dataclasses

from tf_style.config import CHECKPOINT, GRAPH, StyleConfig
from tf_style.config.tiles import GROUP, TileOptions


def test_no_tiles_and_no_wrapping_by_default():
    config = StyleConfig()
    assert (config.tile_size, config.tile_overlap, config.seamless) == (0, 0, 0)


def test_the_options_shape_the_graph_and_the_checkpoint_in_their_own_group():
    declared = dataclasses.fields(TileOptions)
    names = [f.name for f in declared]
    assert names == ["tile_size", "tile_overlap", "seamless"]
    assert GROUP == "Tiling options" and {f.metadata["group"] for f in declared} == {GROUP}
    assert all({GRAPH, CHECKPOINT} <= set(f.metadata["tags"]) for f in declared)
    every = [f.name for f in dataclasses.fields(StyleConfig)]
    start = every.index(names[0])
    assert every[start : start + len(names)] == names


def test_auto_tiles_and_sizes_as_text():
    assert StyleConfig(tile_size="auto").tile_size == -1
    assert StyleConfig(tile_size="512", tile_overlap=32).tile_size == 512
