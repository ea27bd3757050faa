"""Tests for tf_style.optimizers (the registry): names, titles, bad arguments, every optimizer."""

import numpy as np
import pytest

from tests.optimizers.problems import SHAPE, make_problem, nan_beyond
from tf_style import optimizers


def test_titles_and_unknown_name():
    problem = make_problem("quadratic")
    assert optimizers.make_optimizer("lbfgs", problem.objective, problem.x0).title == "L-BFGS"
    with pytest.raises(ValueError, match="lbfgs, tfp_lbfgs, adam"):
        optimizers.make_optimizer("sgd", problem.objective, problem.x0)
    with pytest.raises(ValueError, match="num_correction"):
        optimizers.make_optimizer("lbfgs", problem.objective, problem.x0, num_correction=0)


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_nonfinite_first_evaluation(name):
    problem = make_problem("quadratic")
    x0 = np.full(SHAPE, 2.0, np.float32)
    opt = optimizers.make_optimizer(name, nan_beyond(problem, 1.0), x0)
    opt.run(3)
    assert opt.nonfinite and opt.evaluations == 0
    np.testing.assert_array_equal(opt.image.numpy(), x0)


def test_only_lbfgs_with_a_bfloat16_network_warms_up():
    warm = [(n, p) for n in optimizers.OPTIMIZERS for p in ("float32", "bfloat16")]
    assert [w for w in warm if optimizers.warms_up(*w)] == [("lbfgs", "bfloat16")]
