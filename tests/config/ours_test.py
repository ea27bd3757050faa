"""Tests for tf_style.config.ours: tf_style's own options, listed apart from the original's."""

import dataclasses

from tf_style.config import StyleConfig
from tf_style.config.original import OriginalOptions
from tf_style.config.ours import TfStyleOptions


def test_our_options_are_in_their_own_group_after_the_originals():
    declared = dataclasses.fields(TfStyleOptions)
    ours = [f.name for f in declared]
    assert {"color_transfer", "scales", "checkpoint_iter", "resume", "jobs"} <= set(ours)
    assert {f.metadata["group"] for f in declared} == {"tf_style options"}
    original = [f.name for f in dataclasses.fields(OriginalOptions)]
    assert not set(ours) & set(original)
    after = [f.name for f in dataclasses.fields(StyleConfig)][len(original) :]
    assert after[: len(ours)] == ours


def test_our_defaults_change_nothing_the_original_did():
    # Off by default: no colour control, one scale, no checkpoints, float32, no batch.
    config = StyleConfig()
    assert (config.color_transfer, config.scales, config.checkpoint_iter) == ("none", (), 0)
    assert (config.resume, config.jit, config.jobs, config.tpu) == (False, False, "", "")
    assert (config.precision, config.log_dir, config.recompute) == ("float32", "", False)
