"""Tests for tf_style.config.fields: how an option is declared; the groups, tags and choices."""

import dataclasses

import pytest

from tf_style.config import ConfigError, StyleConfig, fields


def test_opt_declares_the_default_group_help_and_tags():
    declared = fields.opt(3, "Options", "Some help.", fields.GRAPH, fields.CHECKPOINT)
    assert declared.default == 3
    assert dict(declared.metadata) == {
        "group": "Options",
        "help": "Some help.",
        "tags": ("graph", "checkpoint"),
    }


def test_every_option_is_in_a_group_and_the_groups_keep_the_originals_order():
    # The original README's groups in its order, then ours.
    assert fields.GROUPS[:6] == (
        "Options",
        "Optimization options",
        "Output options",
        "Layer options",
        "Other options",
        "tf_style options",
    )
    # Each group of ours after them once: quality, spatial control, tiling, ...
    assert {"Quality options", "Spatial control options", "Tiling options"} <= set(fields.GROUPS)
    assert len(set(fields.GROUPS)) == len(fields.GROUPS)
    options = dataclasses.fields(StyleConfig)
    assert {f.metadata["group"] for f in options} == set(fields.GROUPS)
    assert {t for f in options for t in f.metadata["tags"]} == {fields.GRAPH, fields.CHECKPOINT}


@pytest.mark.parametrize(
    "name, choices",
    [
        ("optimizer", fields.OPTIMIZERS),
        ("pooling", fields.POOLING),
        ("init", fields.INIT),
        ("color_transfer", fields.COLOR_TRANSFER),
        ("color_match_mode", fields.COLOR_MATCH_MODES),
        ("backend", fields.BACKENDS),
        ("precision", fields.PRECISIONS),
    ],
)
def test_the_lists_of_choices_are_what_the_options_accept(name, choices):
    for choice in choices:
        assert getattr(StyleConfig(**{name: choice}), name) == choice
    with pytest.raises(ConfigError, match=f"-{name}"):
        StyleConfig(**{name: "none of these"})
