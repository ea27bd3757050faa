"""Tests for tf_style.optimizers.adam against a numpy transcription of torch's Adam."""

import numpy as np

from tests.optimizers.problems import evaluated_images, make_problem, np_adam
from tf_style import optimizers


def test_adam_matches_numpy_transcription():
    problem = make_problem("rosenbrock_image")
    want = np_adam(problem.np_fg, problem.x0, 11, lr=0.01)
    opt = optimizers.make_optimizer("adam", problem.objective, problem.x0, learning_rate=0.01)
    np.testing.assert_allclose(evaluated_images(opt, 11), want, rtol=1e-5, atol=1e-6)
    assert opt.title == "ADAM"


def test_adam_reaches_quadratic_minimum():
    problem = make_problem("quadratic")
    opt = optimizers.make_optimizer("adam", problem.objective, problem.x0, learning_rate=0.05)
    opt.run(600)
    np.testing.assert_allclose(opt.image.numpy(), problem.minimum, atol=1e-2)
