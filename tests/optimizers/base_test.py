"""Tests for tf_style.optimizers.base: the runner's chunks, state, stops and XLA (lbfgs, adam)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.optimizers.problems import (
    SHAPE,
    make_problem,
    nan_beyond,
    np_adam,
    np_lbfgs,
    resumed,
    tf_objective,
)
from tf_style import optimizers
from tf_style.optimizers import base


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_chunks_equal_one_run_without_retracing(name):
    problem = make_problem("rosenbrock_image")
    whole = optimizers.make_optimizer(name, problem.objective, problem.x0, num_correction=3)
    loss, aux = whole.run(20)
    chunked = optimizers.make_optimizer(name, problem.objective, problem.x0, num_correction=3)
    traces = problem.traces
    chunked.run(1)
    traces_after_first = problem.traces
    assert traces_after_first > traces
    for n in (7, 12):
        chunk_loss, chunk_aux = chunked.run(n)
    assert problem.traces == traces_after_first
    np.testing.assert_array_equal(chunked.image.numpy(), whole.image.numpy())
    np.testing.assert_array_equal(chunk_loss.numpy(), loss.numpy())
    np.testing.assert_array_equal(chunk_aux.numpy(), aux.numpy())
    assert chunked.evaluations == whole.evaluations == 20
    assert chunked.iterations == 20


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_checkpoint_restores_the_whole_state(name, tmp_path):
    problem = make_problem("rosenbrock_image")
    opt = optimizers.make_optimizer(
        name, problem.objective, problem.x0, num_correction=3, learning_rate=0.01
    )
    opt.run(5)
    path = tf.train.Checkpoint(optimizer=opt).write(str(tmp_path / "ckpt"))
    opt.run(6)
    again = resumed(path, name, problem, num_correction=3, learning_rate=0.01)
    again.run(6)
    np.testing.assert_array_equal(again.image.numpy(), opt.image.numpy())
    assert again.evaluations == opt.evaluations


def test_run_counts_are_checked():
    problem = make_problem("quadratic")
    opt = optimizers.make_optimizer("lbfgs", problem.objective, problem.x0)
    opt.run(0)
    assert opt.evaluations == 0
    with pytest.raises(ValueError, match="num_evaluations"):
        opt.run(-1)


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_nonfinite_stops_and_keeps_last_finite_image(name):
    problem = make_problem("quadratic")
    x0 = np.zeros(SHAPE, np.float32)
    opt = optimizers.make_optimizer(name, nan_beyond(problem, 1.0), x0, learning_rate=0.1)
    opt.run(30)
    assert opt.nonfinite and not opt.stopped
    finite = (np_lbfgs if name == "lbfgs" else np_adam)(
        problem.np_fg, x0, opt.evaluations + 1, **({"m": 100} if name == "lbfgs" else {"lr": 0.1})
    )
    assert 1 < opt.evaluations < 30
    assert finite[-2].max() <= 1.0 < finite[-1].max()  # evaluation evaluations + 1 was the NaN
    np.testing.assert_allclose(opt.image.numpy().ravel(), finite[-2], rtol=1e-5, atol=1e-6)
    assert np.isfinite(opt.loss.numpy())
    image, evaluations = opt.image.numpy(), opt.evaluations
    opt.run(5)  # a non-finite run stays stopped
    assert opt.evaluations == evaluations
    np.testing.assert_array_equal(opt.image.numpy(), image)


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_xla_gives_the_graph_results(name):
    images = []
    for jit_compile in (False, True):
        opt = optimizers.make_optimizer(
            name, tf_objective, np.zeros(SHAPE), learning_rate=0.1, jit_compile=jit_compile
        )
        opt.run(3)
        opt.run(4)
        images.append(opt.image.numpy())
    np.testing.assert_allclose(images[1], images[0], rtol=1e-5, atol=1e-6)


def test_dot_multiplies_in_float32_and_accumulates_in_float64():
    # 2^25 + 1 - 2^25: float32 sums from the left lose the 1; float64 ones keep it.
    a = tf.constant([2.0**25, 1.0, -(2.0**25)], tf.float32)
    ones = tf.ones([3], tf.float32)
    assert np.float32(2.0**25) + np.float32(1.0) - np.float32(2.0**25) == 0.0
    assert base.dot(a, ones).dtype == tf.float64
    assert float(base.dot(a, ones)) == 1.0
    # The products are float32: (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 (a tie,
    # to even) before it is summed.
    b = tf.constant([1.0 + 2.0**-12], tf.float32)
    assert float(base.dot(b, b)) == 1.0 + 2.0**-11
    assert (1.0 + 2.0**-12) ** 2 == 1.0 + 2.0**-11 + 2.0**-24  # the float64 product
    assert base.dot(a, ones, tf.float32).dtype == tf.float32


@pytest.mark.parametrize(
    "name", ["lbfgs", "adam", pytest.param("tfp_lbfgs", marks=pytest.mark.slow)]
)
def test_average_decay_is_the_bias_corrected_moving_average_of_the_iterates(name):
    decay = 0.8
    opt = optimizers.make_optimizer(
        name, tf_objective, np.zeros(SHAPE), learning_rate=0.1, average_decay=decay
    )
    iterates = []
    for _ in range(7):  # one iterate at a time (TFP: one iteration)
        opt.run(1)
        iterates.append(opt.image.numpy().astype(np.float64))
    average = np.zeros(SHAPE)
    for x in iterates:  # the recurrence of docs/quality.md, in float64
        average = decay * average + (1 - decay) * x
    want = average / (1 - decay ** len(iterates))
    np.testing.assert_allclose(opt.result().numpy(), want, rtol=1e-5, atol=1e-6)
    assert np.abs(want - iterates[-1]).max() > 1e-3  # the average is not the last iterate
    # In chunks: the same average.
    chunked = optimizers.make_optimizer(
        name, tf_objective, np.zeros(SHAPE), learning_rate=0.1, average_decay=decay
    )
    chunked.run(3)
    chunked.run(4)
    np.testing.assert_allclose(chunked.result().numpy(), want, rtol=1e-5, atol=1e-6)
    # Without averaging the result is the latest iterate.
    plain = optimizers.make_optimizer(name, tf_objective, np.zeros(SHAPE), learning_rate=0.1)
    plain.run(7)
    np.testing.assert_array_equal(plain.result().numpy(), plain.image.numpy())
    # A new run starts a new average.
    opt.reset(np.zeros(SHAPE))
    opt.run(1)
    np.testing.assert_allclose(opt.result().numpy(), opt.image.numpy(), rtol=1e-6)
