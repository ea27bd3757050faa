"""The seam score: how much an image jumps across a tiled run's grid lines (tests/tiling_test.py
holds a tiled run to it; docs/high-resolution.md has the figures)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tf_style.tiling import Grid


def seam_score(rgb: np.ndarray, rows=(), cols=()) -> float:
    """How much the image jumps across the given lines, against everywhere else: the mean
    absolute difference between the pixels on both sides of each row boundary in `rows` (between
    row r - 1 and r) and column boundary in `cols`, over the mean absolute difference between
    all vertically and horizontally adjacent pixels. About 1 where the lines are not special; a
    visible seam makes it larger.

    Example:
        >>> grid = tf_style.tiling.make_grid(768, 1024, 256, 64, 16)
        >>> seam_score(image, *grid_lines(grid))  # doctest: +SKIP
    """
    rgb = np.asarray(rgb, np.float64)
    down = np.abs(np.diff(rgb, axis=0))  # [H-1, W, C]: row r+1 against row r
    right = np.abs(np.diff(rgb, axis=1))
    across = [down[r - 1] for r in rows] + [right[:, c - 1] for c in cols]
    if not across:
        return 1.0
    return float(np.mean([a.mean() for a in across]) / np.mean([down.mean(), right.mean()]))


def grid_lines(grid: Grid) -> tuple[list[int], list[int]]:
    """The row and column boundaries between a grid's cores."""
    rows = sorted({y0 for (y0, _), _ in grid.cores if y0 > 0})
    cols = sorted({x0 for _, (x0, _) in grid.cores if x0 > 0})
    return rows, cols
