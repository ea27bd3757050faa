"""Tests for tools/benchmark/stats.py: time to a loss, rounds paired, the losses' parity."""

import pytest

from tools.benchmark import stats


def test_time_to_loss_and_parity():
    curve = [[1.0, 10.0], [2.0, 5.0], [3.0, 4.0]]
    assert stats.time_to_loss(curve, 5.0) == 2.0
    assert stats.time_to_loss(curve, 1.0) is None
    assert stats.time_to_loss(curve, 3.9999) == 3.0  # within 1e-4 of the target
    same = {"first_losses": [[1.0, 2.0], [0.5, 1.0]]}
    off = {"first_losses": [[1.0, 2.0], [0.5, 1.1]]}
    assert stats.parity(same, same)["ok"]
    # Rounds pair by their number (each has its own start), also when one failed.
    ours = [{"name": "ours_32_r0"}, {"name": "ours_32_r1"}]
    peer = [{"name": "peer_32_r1"}]
    assert stats.paired(ours, peer) == [(ours[1], peer[0])]
    result = stats.parity(same, off)
    assert not result["ok"] and result["max_rel_per_evaluation"][1] == pytest.approx(0.1 / 1.1)
