"""Tests for tf_style.prepare: a run made ready to optimise, with the original's set-up lines."""

import io

import numpy as np
import pytest

from tf_style import checkpoint, prepare, preprocess
from tf_style.report import Reporter


def prepared(config):
    log = io.StringIO()
    return prepare.prepare(config, Reporter(log)), log.getvalue().splitlines()


def test_the_original_set_up_lines_and_an_optimizer_at_its_start(tiny_run):
    ready, lines = prepared(tiny_run)
    assert lines[0] == f"Successfully loaded {tiny_run.model_file}"
    assert lines[1] == "conv1_1: 4 3 3 3"  # the tiny net's first convolution
    setup = [line for line in lines if line.startswith("Setting up")]
    assert setup[0] == "Setting up style layer  \t2\t:\trelu1_1"
    assert "Setting up content layer\t23\t:\trelu4_2" in setup
    assert lines[-2:] == ["Capturing content targets", "Capturing style target 1"]
    assert not any(line.startswith("Running optimization") for line in lines)  # the loop's
    # Nothing evaluated yet; the start is the original's noise for the seed, at the size the
    # 40x56 content takes at 32 pixels.
    assert (ready.optimizer.evaluations, ready.optimizer.iterations) == (0, 0)
    assert ready.content.shape == (22, 32, 3) and ready.warmup is None
    np.testing.assert_array_equal(ready.optimizer.image, preprocess.random_init(22, 32, 1))
    assert ready.objective.num_content == 1


@pytest.mark.parametrize("optimizer, warms_up", [("lbfgs", True), ("adam", False)])
def test_bfloat16_lbfgs_gets_a_float32_warm_up(tiny_run, optimizer, warms_up):
    ready, lines = prepared(tiny_run.replace(precision="bfloat16", optimizer=optimizer))
    assert (ready.warmup is not None) == warms_up
    note = [line for line in lines if "first 5 evaluations run in float32" in line]
    assert len(note) == warms_up


def test_a_tiled_bfloat16_run_warms_up_where_its_float32_tiles_fit(tiny_run, monkeypatch):
    from tf_style import caffe, memory
    from tf_style.features import build_extractor

    config = tiny_run.replace(
        precision="bfloat16", image_size=256, tile_size=96, lbfgs_num_correction=5
    )
    ex = build_extractor(caffe.load_model(config.proto_file, config.model_file),
                         config.content_layers, config.style_layers)  # fmt: skip
    # Room for the float32 warm-up's tiles, not for its whole image (the 40x56 content at
    # 256 px is 182 x 256).
    whole = memory.estimate_peak_bytes(ex, 182, 256, num_correction=5)
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": whole - 1)
    ready, lines = prepared(config)
    assert any(line.startswith("Tiles:") for line in lines)
    assert ready.warmup is not None


def test_a_checkpoint_is_restored_and_said(tiny_run):
    config = tiny_run.replace(checkpoint_iter=3)
    ready, _ = prepared(config)
    ready.optimizer.run(3)
    prefix = checkpoint.save(config, ready.optimizer)
    log = io.StringIO()
    again = prepare.prepare(config, Reporter(log), resume_from=prefix)
    assert again.optimizer.iterations == 3
    np.testing.assert_array_equal(again.optimizer.image, ready.optimizer.image)
    assert log.getvalue().splitlines()[-1] == f"Resuming from iteration 3 ({prefix})."
