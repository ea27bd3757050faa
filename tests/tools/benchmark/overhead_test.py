"""Tests for tools/benchmark/overhead.py: the table of each feature's cost against plain."""

from tools.benchmark import overhead


def test_ratios_are_taken_within_each_round():
    # Round 2 ran 2x slower for everything: within-round ratios stay 1.1, medians of times do not.
    results = {"plain": [0.100, 0.200, 0.100], "w2": [0.110, 0.220, 0.110]}
    rows = overhead.report(results, [1.0, 2.0])
    assert rows[0] == "load average (1 min) before 1.00, after 2.00"
    assert rows[3] == "| plain | 100.0 (100.0-200.0) | 1.000x (1.000-1.000) |"
    assert rows[4] == "| w2 | 110.0 (110.0-220.0) | 1.100x (1.100-1.100) |"


def test_every_feature_is_measured_against_plain():
    assert list(overhead.FEATURES)[0] == "plain" and overhead.FEATURES["plain"] == {}
    assert set(overhead.FEATURES) == {"plain", "masks", "w2", "tiles", "temporal"}
    assert overhead.MASK.is_file()
