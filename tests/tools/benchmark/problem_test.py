"""Tests for tools/benchmark/problem.py: the benchmark's problem and its arithmetic."""

import pytest

from tools.benchmark import problem


def test_evaluation_flops_match_performance_md():
    # docs/performance.md#one-evaluation: 397 GFLOP at 512^2 and 99 at 256^2, written out there by
    # hand.
    assert problem.evaluation_flops(512, 512) / 1e9 == pytest.approx(397, abs=1)
    assert problem.evaluation_flops(256, 256) / 1e9 == pytest.approx(99.3, abs=0.5)
