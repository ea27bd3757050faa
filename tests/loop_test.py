"""Tests for tf_style.loop: where the chunks end, what the callback sees, and a NaN's stop."""

import numpy as np
import pytest

from tf_style import image_io, loop, stylizer
from tf_style.testing import processes

# (num_iterations, print_iter, save_iter, checkpoint_iter) -> the marks, written out by hand:
# every print, save and checkpoint, every MAX_CHUNK = 20 iterations, and the last iteration.
MARKS = [
    ((6, 2, 3, 0), [2, 3, 4, 6]),
    ((1, 50, 100, 0), [1]),
    ((40, 0, 0, 0), [20, 40]),
    ((50, 0, 0, 0), [20, 40, 50]),
    ((45, 10, 0, 15), [10, 15, 20, 30, 40, 45]),
    ((60, 25, -1, 0), [20, 25, 40, 50, 60]),
    ((7, 7, 7, 7), [7]),
    ((100, 50, 100, 0), [20, 40, 50, 60, 80, 100]),  # the original's defaults, 100 iterations
]


@pytest.mark.parametrize("settings, marks", MARKS, ids=lambda v: str(v))
def test_chunk_marks(settings, marks):
    assert loop.MAX_CHUNK == 20  # the marks above are written for it
    assert loop.chunk_marks(*settings) == marks


def test_chunk_marks_default_to_no_checkpoints():
    assert loop.chunk_marks(30, 0, 0) == [20, 30]


def test_the_callback_sees_every_mark_and_the_image(quiet_run):
    seen = []

    def record(progress):
        seen.append(progress)

    config = quiet_run.replace(num_iterations=45, print_iter=10, save_iter=0)
    final = stylizer.run(config, callback=record)
    assert [p.iteration for p in seen] == loop.chunk_marks(45, 10, 0) == [10, 20, 30, 40, 45]
    assert all(p.num_iterations == 45 and p.evaluations == p.iteration for p in seen)
    # One content and five style losses, as the log prints them.
    assert all(len(p.content_losses) == 1 and len(p.style_losses) == 5 for p in seen)
    np.testing.assert_allclose(seen[-1].image(), final)  # computed when asked for


@pytest.mark.slow
def test_nan_loss_stops_with_the_last_finite_image(quiet_run):
    command = processes.cli_for(quiet_run, optimizer="adam", learning_rate=1e30)
    code, _, err = processes.run_all([command])[0]
    processes.assert_one_line(
        code, err, 1, "NaN or infinite after iteration 1", quiet_run.output_image
    )
    assert image_io.read_image(quiet_run.output_image).shape == (22, 32, 3)
    # The kept image is the first (finite) one: the random initial image, whose mean is the
    # model's mean colour (VGG's, in RGB, over 256).
    mean = image_io.read_image(quiet_run.output_image).mean(axis=(0, 1))
    np.testing.assert_allclose(mean, np.array([123.68, 116.779, 103.939]) / 256, atol=0.01)
