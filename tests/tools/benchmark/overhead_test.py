"""Tests for tools/benchmark/overhead.py: the table of each feature's cost against plain."""

from tools.benchmark import overhead


def test_ratios_are_taken_within_each_round():
    # Round 2 ran 2x slower for everything: within-round ratios stay 1.1, medians of times do not.
    # The tiles evaluate 2.5x plain's pixels in 2.75x its time: 1.1x per pixel evaluated.
    results = {
        "plain": [0.100, 0.200, 0.100],
        "w2": [0.110, 0.220, 0.110],
        "tiles": [0.275, 0.550, 0.275],
    }
    pixels = {"plain": 1000, "w2": 1000, "tiles": 2500}
    rows = overhead.report(results, pixels, [1.0, 2.0])
    assert rows[0] == "load average (1 min) before 1.00, after 2.00"
    one, tenth = "1.000x (1.000-1.000)", "1.100x (1.100-1.100)"
    assert rows[3] == f"| plain | 100.0 (100.0-200.0) | {one} | {one} |"
    assert rows[4] == f"| w2 | 110.0 (110.0-220.0) | {tenth} | {tenth} |"
    assert rows[5] == f"| tiles | 275.0 (275.0-550.0) | 2.750x (2.750-2.750) | {tenth} |"


def test_every_feature_is_measured_against_plain():
    assert list(overhead.FEATURES)[0] == "plain" and overhead.FEATURES["plain"] == {}
    assert set(overhead.FEATURES) == {"plain", "masks", "w2", "tiles", "tiles3", "temporal"}
    assert overhead.MASK.is_file()
