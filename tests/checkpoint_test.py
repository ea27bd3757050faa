"""Tests for tf_style.checkpoint: the state a kill loses nothing of, and what -resume refuses.

The direct tests save a small optimizer of a quadratic (no model); the runs at the end go
through `stylizer.run` on the tiny model, byte for byte against an uninterrupted run.
"""

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tf_style import checkpoint, errors, fileio, optimizers, stylizer
from tf_style.config import StyleConfig
from tf_style.report import Reporter

SHAPE = (1, 4, 5, 3)


def quadratic(x):
    scale = tf.constant(np.linspace(1.0, 2.0, np.prod(SHAPE)).reshape(SHAPE), tf.float32)
    loss = tf.reduce_sum(scale * (x - 0.5) ** 2)
    return loss, 2 * scale * (x - 0.5), tf.stack([loss])


def small_optimizer(name="lbfgs", x0=None):
    start = np.random.default_rng(0).normal(size=SHAPE) if x0 is None else x0
    return optimizers.make_optimizer(name, quadratic, start, num_correction=4, learning_rate=0.1)


@pytest.fixture
def config(tmp_path):
    return StyleConfig(output_image=str(tmp_path / "out.png"), image_size=32, gpu=-1)


def variables(opt):
    """Every variable of the optimizer's state, in order, as (name, numpy value)."""
    return [(v.name, v.numpy()) for v in opt.variables]


def assert_same_state(got, want):
    assert [name for name, _ in got] == [name for name, _ in want] and len(want) > 3
    for (name, value), (_, expected) in zip(got, want):
        np.testing.assert_array_equal(value, expected, err_msg=name)


def files(config):
    return sorted(os.listdir(checkpoint.checkpoint_dir(config.output_image)))


def test_the_folder_sits_beside_the_output_image():
    assert checkpoint.checkpoint_dir("/runs/a/out.png") == "/runs/a/out.ckpt"
    assert checkpoint.checkpoint_dir("night.v2.jpg") == "night.v2.ckpt"


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_save_then_restore_gives_the_same_state(config, name):
    saved = small_optimizer(name)
    saved.run(6)  # L-BFGS keeps 4 pairs in a ring of 4: its head has wrapped
    prefix = checkpoint.save(config, saved)
    assert checkpoint.find(config) == prefix
    restored = small_optimizer(name, x0=np.zeros(SHAPE))
    checkpoint.restore(prefix, restored)
    assert_same_state(variables(restored), variables(saved))
    assert (restored.evaluations, restored.iterations) == (saved.evaluations, saved.iterations)
    # And the runs go on alike.
    saved.run(4)
    restored.run(4)
    np.testing.assert_array_equal(restored.image.numpy(), saved.image.numpy())


def test_a_new_save_replaces_the_old_one(config):
    opt = small_optimizer()
    opt.run(2)
    first = os.path.basename(checkpoint.save(config, opt))
    opt.run(3)
    second = os.path.basename(checkpoint.save(config, opt))
    assert first.startswith("ckpt-2-") and second.startswith("ckpt-5-")
    kept = files(config)
    assert "latest.json" in kept
    assert all(f == "latest.json" or f.startswith(second + ".") for f in kept), kept
    with open(os.path.join(checkpoint.checkpoint_dir(config.output_image), "latest.json")) as f:
        pointer = json.load(f)
    assert (pointer["prefix"], pointer["iteration"]) == (second, 5)


def test_a_checkpoint_cut_short_is_never_named(config, monkeypatch):
    opt = small_optimizer()
    opt.run(3)
    whole = checkpoint.save(config, opt)
    state = variables(opt)
    opt.run(4)

    def killed(path, data):  # the process dies before latest.json is replaced
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio, "write_atomically", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(config, opt)
    monkeypatch.undo()
    # The new checkpoint's files are there, but latest.json names the whole one, whose files
    # were not removed, and -resume takes that.
    assert any(f.startswith("ckpt-7-") for f in files(config))
    assert checkpoint.find(config) == whole
    resumed = small_optimizer(x0=np.zeros(SHAPE))
    checkpoint.restore(checkpoint.find(config), resumed)
    assert resumed.iterations == 3
    assert_same_state(variables(resumed), state)


def test_find_without_a_checkpoint_says_how_to_make_one(config):
    with pytest.raises(checkpoint.CheckpointError) as info:
        checkpoint.find(config)
    message = str(info.value)
    assert message.startswith("-resume: no checkpoint in ") and "out.ckpt" in message
    assert "-checkpoint_iter" in message and "\n" not in message


@pytest.mark.parametrize(
    "text", ["", "{not json", '{"prefix": "ckpt-1"}', '["prefix", "settings"]', "\xff"]
)
def test_an_unreadable_latest_json_is_named_with_the_fix(config, text):
    folder = checkpoint.checkpoint_dir(config.output_image)
    os.makedirs(folder)
    with open(os.path.join(folder, "latest.json"), "w", encoding="latin-1") as file:
        file.write(text)
    with pytest.raises(checkpoint.CheckpointError) as info:
        checkpoint.find(config)
    message = str(info.value)
    assert os.path.join(folder, "latest.json") + " is unreadable" in message
    assert f"delete {folder} and start afresh" in message and "\n" not in message


def test_changed_settings_are_each_named(config):
    checkpoint.save(config, small_optimizer())
    changed = config.replace(image_size=24, optimizer="adam", style_weight=50.0)
    with pytest.raises(checkpoint.CheckpointError) as info:
        checkpoint.find(changed)
    message = str(info.value)
    for part in (
        "-image_size was 32 and is now 24",
        "-optimizer was lbfgs and is now adam",
        "-style_weight was 100.0 and is now 50.0",
    ):
        assert part in message, message
    assert "-num_iterations" not in message and "\n" not in message
    # What a checkpoint does not depend on may change.
    loose = config.replace(num_iterations=5000, print_iter=7, save_iter=0, gpu=0, seed=9)
    assert checkpoint.find(loose) == checkpoint.find(config)


def test_a_checkpoint_that_does_not_fit_is_refused(config):
    opt = small_optimizer()
    opt.run(2)
    prefix = checkpoint.save(config, opt)
    smaller = optimizers.make_optimizer(
        "lbfgs", quadratic, np.zeros((1, 3, 3, 3)), num_correction=4
    )
    for other in (small_optimizer("adam"), smaller):
        with pytest.raises(checkpoint.CheckpointError, match="does not fit this run"):
            checkpoint.restore(prefix, other)


def test_a_failed_write_is_a_write_error_and_keeps_the_previous_checkpoint(config, monkeypatch):
    opt = small_optimizer()
    opt.run(2)
    whole = checkpoint.save(config, opt)
    opt.run(2)

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio, "write_atomically", full)
    with pytest.raises(errors.WriteError) as info:
        checkpoint.save(config, opt)
    monkeypatch.undo()
    folder = checkpoint.checkpoint_dir(config.output_image)
    assert str(info.value) == (
        f"could not write a checkpoint into {folder} (No space left on device); free some "
        "space, or run without -checkpoint_iter"
    )
    # Nothing of the failed checkpoint is left; the previous one is whole and still named.
    prefix = os.path.basename(whole)
    assert all(f == "latest.json" or f.startswith(prefix + ".") for f in files(config))
    assert checkpoint.find(config) == whole
    checkpoint.restore(whole, small_optimizer(x0=np.zeros(SHAPE)))


def test_a_damaged_checkpoint_is_refused_naming_its_folder(config):
    opt = small_optimizer()
    opt.run(3)
    prefix = checkpoint.save(config, opt)
    (data,) = [f for f in files(config) if ".data-" in f]
    path = os.path.join(checkpoint.checkpoint_dir(config.output_image), data)
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) // 2)
    with pytest.raises(checkpoint.CheckpointError) as info:
        checkpoint.restore(prefix, small_optimizer(x0=np.zeros(SHAPE)))
    message = str(info.value)
    folder = checkpoint.checkpoint_dir(config.output_image)
    assert message.startswith(f"-resume: the checkpoint in {folder} is damaged or does not fit")
    assert message.endswith(f"delete {folder} to start afresh") and "\n" not in message


def test_a_checkpoint_past_the_end_of_the_run_is_refused(config):
    opt = small_optimizer()
    opt.run(5)
    checkpoint.save(config, opt)
    assert checkpoint.find(config.replace(num_iterations=5))
    past = "has done 5 iterations, more than -num_iterations 3; give -num_iterations 5 or more"
    with pytest.raises(checkpoint.CheckpointError, match=past):
        checkpoint.find(config.replace(num_iterations=3))


def test_a_file_where_the_checkpoint_folder_goes_is_refused_before_a_run(config, tmp_path):
    checkpoint.check_writable(config.replace(checkpoint_iter=5))  # nothing there yet
    (tmp_path / "out.ckpt").write_text("not a folder")
    checkpoint.check_writable(config)  # no checkpoints asked for: no matter
    for asked in ({"checkpoint_iter": 5}, {"resume": True}):
        with pytest.raises(checkpoint.CheckpointError, match="out.ckpt, which exists and is not"):
            checkpoint.check_writable(config.replace(**asked))


# Through a whole run.


@pytest.mark.parametrize("optimizer", [pytest.param("lbfgs", marks=pytest.mark.slow), "adam"])
def test_resume_is_byte_identical(quiet_run, optimizer):
    config = quiet_run.replace(optimizer=optimizer, learning_rate=1.0)
    stylizer.run(config)
    whole = Path(quiet_run.output_image).read_bytes()
    os.unlink(quiet_run.output_image)
    log = io.StringIO()
    # Checkpoints at 4 and, on the stop, at 6; the run ends at 6 of 12.
    stylizer.run(
        config.replace(checkpoint_iter=4, print_iter=3),
        Reporter(log),
        callback=lambda p: p.iteration >= 6,
    )
    assert "Stopped at iteration 6" in log.getvalue()
    ckpt = checkpoint.checkpoint_dir(quiet_run.output_image)
    # A checkpoint cut short by a kill: files that latest.json does not name are ignored.
    Path(ckpt, "ckpt-9-00000000.index").write_bytes(b"half")
    log = io.StringIO()
    stylizer.run(config.replace(resume=True), Reporter(log))
    assert "Resuming from iteration 6" in log.getvalue()
    assert Path(quiet_run.output_image).read_bytes() == whole


def test_resume_refuses_a_missing_or_foreign_checkpoint(quiet_run):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint in .*out.ckpt"):
        stylizer.run(quiet_run.replace(resume=True))
    stylizer.run(quiet_run.replace(num_iterations=2, checkpoint_iter=2))
    for change, needle in (
        ({"image_size": 24}, "-image_size was 32 and is now 24"),
        ({"optimizer": "adam"}, "-optimizer was lbfgs"),
        ({"style_layers": ("relu1_1",)}, "-style_layers"),
    ):
        with pytest.raises(checkpoint.CheckpointError, match=needle):
            stylizer.run(quiet_run.replace(resume=True, **change))
    # -num_iterations may grow: the run goes on from iteration 2.
    log = io.StringIO()
    stylizer.run(quiet_run.replace(resume=True, num_iterations=3, print_iter=1), Reporter(log))
    assert "Resuming from iteration 2" in log.getvalue()
    assert "Iteration 3 / 3" in log.getvalue()
