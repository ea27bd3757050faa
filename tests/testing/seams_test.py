"""Tests for tf_style.testing.seams: the seam score on images whose jumps are known."""

import numpy as np

from tf_style import tiling
from tf_style.testing import seams


def test_a_step_at_a_line_scores_its_jump_against_the_mean_difference():
    # Columns rise by 1 each; at column 8 by 10. Every row difference is 0.
    ramp = np.cumsum(np.where(np.arange(16) == 8, 10.0, 1.0))[None, :, None] * np.ones((4, 1, 3))
    right = np.abs(np.diff(ramp, axis=1)).mean()  # (14 * 1 + 10) / 15
    want = 10.0 / np.mean([0.0, right])
    assert np.isclose(seams.seam_score(ramp, cols=[8]), want)
    assert np.isclose(seams.seam_score(ramp, cols=[4]), 1.0 / np.mean([0.0, right]))
    assert seams.seam_score(ramp) == 1.0  # no lines: nothing special


def test_grid_lines_are_the_cores_inner_edges():
    grid = tiling.make_grid(96, 128, 48, 16, 8)
    rows, cols = seams.grid_lines(grid)
    assert rows == sorted({y0 for (y0, _), _ in grid.cores} - {0})
    assert cols == sorted({x0 for _, (x0, _) in grid.cores} - {0})
    assert len(rows) == 1 and len(cols) == 2
