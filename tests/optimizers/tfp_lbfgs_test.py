"""Tests for tf_style.optimizers.tfp_lbfgs: TFP's L-BFGS reaches analytic minima, chunk by chunk."""

import numpy as np
import pytest
import tensorflow as tf

from tests.optimizers.problems import SHAPE, make_problem, nan_beyond, quadratic_fg, resumed
from tf_style import optimizers


@pytest.mark.parametrize("name", ["quadratic", "rosenbrock2d"])
def test_tfp_lbfgs_reaches_minimum(name):
    problem = make_problem(name)
    opt = optimizers.make_optimizer("tfp_lbfgs", problem.objective, problem.x0, num_correction=10)
    opt.run(60)
    np.testing.assert_allclose(opt.image.numpy(), problem.minimum, atol=1e-3)
    assert opt.evaluations > opt.iterations > 0
    loss = problem.np_fg(opt.image.numpy().astype(np.float64).ravel())[0]
    np.testing.assert_allclose(opt.aux.numpy(), [loss, opt.image.numpy().sum()], atol=1e-5)


@pytest.mark.slow
def test_tfp_lbfgs_chunks_checkpoint_and_retracing(tmp_path):
    problem = make_problem("rosenbrock_image")
    whole = optimizers.make_optimizer("tfp_lbfgs", problem.objective, problem.x0)
    whole.run(12)
    chunked = optimizers.make_optimizer("tfp_lbfgs", problem.objective, problem.x0)
    chunked.run(3)
    chunked.run(4)  # the first chunk and the later ones are one trace each
    path = tf.train.Checkpoint(optimizer=chunked).write(str(tmp_path / "ckpt"))
    traces = problem.traces
    chunked.run(5)
    assert problem.traces == traces
    assert chunked.iterations == whole.iterations == 12
    assert chunked.evaluations == whole.evaluations
    np.testing.assert_array_equal(chunked.image.numpy(), whole.image.numpy())
    again = resumed(path, "tfp_lbfgs", problem)
    again.run(5)
    np.testing.assert_array_equal(again.image.numpy(), whole.image.numpy())
    assert again.evaluations == whole.evaluations


def test_tfp_lbfgs_line_search_backs_off_from_nan():
    problem = make_problem("quadratic")
    opt = optimizers.make_optimizer("tfp_lbfgs", nan_beyond(problem, 1.0), np.zeros(SHAPE))
    opt.run(20)
    # TFP's first trial step lands past the limit, its line search meets the NaN and fails:
    # a stop, on the finite start.
    assert opt.stopped and not opt.nonfinite
    np.testing.assert_array_equal(opt.image.numpy(), 0.0)
    np.testing.assert_allclose(opt.loss.numpy(), quadratic_fg(np.zeros(48))[0], rtol=1e-6)
