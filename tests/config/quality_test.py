"""Tests for tf_style.config.quality: the quality options, each off by default (the original's
maths), and part of what a traced run and a checkpoint depend on."""

import dataclasses

from tf_style.config import CHECKPOINT, GRAPH, StyleConfig
from tf_style.config.quality import GROUP, QualityOptions


def test_the_defaults_are_the_originals_maths():
    config = StyleConfig()
    assert (config.style_loss, config.padding, config.average_decay) == ("gram", "zero", 0.0)
    assert config.style_layer_weights == config.content_layer_weights == ()


def test_each_option_shapes_the_graph_and_the_checkpoint_after_ours():
    declared = dataclasses.fields(QualityOptions)
    names = [f.name for f in declared]
    assert names == [
        "style_loss",
        "style_layer_weights",
        "content_layer_weights",
        "average_decay",
        "padding",
    ]
    assert GROUP == "Quality options" and {f.metadata["group"] for f in declared} == {GROUP}
    assert all({GRAPH, CHECKPOINT} <= set(f.metadata["tags"]) for f in declared)
    every = [f.name for f in dataclasses.fields(StyleConfig)]
    start = every.index(names[0])
    assert every[start - 1] == "tpu" and every[start : start + len(names)] == names


def test_layer_weights_are_lists_of_numbers():
    config = StyleConfig(style_layer_weights="1,0.5,2,0,3", content_layer_weights=[4])
    assert config.style_layer_weights == (1.0, 0.5, 2.0, 0.0, 3.0)
    assert config.content_layer_weights == (4.0,)
