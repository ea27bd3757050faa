"""Tests for tf_style.optimizers.lbfgs against a numpy transcription of the original's L-BFGS."""

import numpy as np
import pytest
import tensorflow as tf

from tests.optimizers.problems import (
    PROBLEMS,
    SHAPE,
    Problem,
    chunk_nodes,
    evaluated_images,
    make_problem,
    np_lbfgs,
    quadratic_fg,
    tf_objective,
)
from tf_style import optimizers
from tf_style.optimizers import base, lbfgs
from tf_style.testing import processes


@pytest.mark.parametrize("m", [3, 100])
@pytest.mark.parametrize("name", PROBLEMS)
def test_lbfgs_iterates_match_numpy_transcription(name, m):
    problem = make_problem(name)
    want = np_lbfgs(problem.np_fg, problem.x0, 20, m, dtype=np.float32)
    assert len(want) == 20
    opt = optimizers.make_optimizer("lbfgs", problem.objective, problem.x0, num_correction=m)
    got = evaluated_images(opt, 20)
    # The same math in float64: float32 rounding grows along the trajectory, and from
    # (-1.2, 1) Rosenbrock amplifies it past 1e-4 after about 10 steps.
    exact = np_lbfgs(problem.np_fg, problem.x0, 20, m)
    # We round differently from the float32 transcription (its two loops are our triangular
    # solves, and the CPU's vector width changes how sums round), and Rosenbrock from (-1.2, 1)
    # amplifies float32 rounding past 1e-2 by the 20th image for m = 3. How far a float32 run
    # may stray from the exact one is measured, not guessed: float32 transcriptions started one
    # ulp away from x0 in random directions. We stay within twice their largest distance.
    x0 = problem.x0.ravel()
    runs = [want]
    for seed in range(8):
        away = np.random.default_rng(seed).choice([-np.inf, np.inf], x0.size).astype(np.float32)
        start = np.nextafter(x0, away).reshape(problem.x0.shape)
        runs.append(np_lbfgs(problem.np_fg, start, 20, m, dtype=np.float32))
    spread = np.max([np.abs(run - exact) for run in runs], axis=0)
    slack = 2 * spread + 1e-5 * np.abs(exact) + 1e-6
    assert np.all(np.abs(got - exact) <= slack), np.max(np.abs(got - exact) / slack)
    n = 10 if name == "rosenbrock2d" else 20
    np.testing.assert_allclose(got[:n], exact[:n], rtol=1e-4, atol=1e-4)
    assert (opt.evaluations, opt.iterations, opt.stopped, opt.nonfinite) == (20, 20, False, False)
    # The loss and aux are those of the last evaluated image (near the quadratic's minimum a
    # float32 image's loss differs from the transcription's by more than its rounding).
    loss, _ = problem.np_fg(got[-1].astype(np.float64))
    np.testing.assert_allclose(opt.loss.numpy(), loss, rtol=1e-6)
    np.testing.assert_allclose(opt.aux.numpy(), [loss, got[-1].sum()], rtol=1e-6)


def kinked_fg(x):
    """A weighted L1 distance minus a little curvature: the gradient changes by -0.1 s between
    kinks, where y.s < 0 and L-BFGS keeps no pair, and jumps where coordinates cross 1.5."""
    a = np.linspace(1.0, 2.0, x.size)
    r = x - 1.5
    return np.sum(a * np.abs(r) - 0.05 * r**2), a * np.sign(r) - 0.1 * r


@pytest.mark.parametrize("m", [3, 100])
def test_lbfgs_products_with_the_gradient_follow_the_history(m):
    # The direction takes s_i.g and y_i.g from the pass that kept the latest pair, or from
    # their own pass when the step kept none (y.s <= 1e-10). After every evaluation they must
    # be the products of the history and the current gradient, also when a step keeps no
    # pair while others are kept (the kinks make the trajectory too sensitive to rounding for
    # the transcription test, so this checks the state itself, in float64 numpy).
    problem = Problem(kinked_fg, 1.5 + np.random.default_rng(1).normal(size=SHAPE), None)
    opt = optimizers.make_optimizer("lbfgs", problem.objective, problem.x0, num_correction=m)
    kept, skipped_with_pairs = [], 0
    for _ in range(20):
        opt.run(1)
        k = opt.num_pairs
        state = (k, int(opt._head.numpy()))  # both stay put when a step keeps no pair
        skipped_with_pairs += k > 0 and state == kept[-1]
        kept.append(state)
        size = opt.image.shape.num_elements()
        g = opt._grad.numpy().ravel().astype(np.float64)
        for history, products in ((opt._s_hist, opt._sg), (opt._y_hist, opt._yg)):
            want = history.numpy()[:k, :size].astype(np.float64) @ g
            np.testing.assert_allclose(products.numpy()[:k], want, rtol=1e-5, atol=1e-6)
    assert skipped_with_pairs >= 2, kept
    assert max(kept)[0] >= 3, kept


def shifted_quadratic_fg(x):
    """Another quadratic (minimum 0.5, other curvatures): the warm-up objective below."""
    a = np.linspace(3.0, 0.5, x.size)
    return 0.5 * np.sum(a * (x - 0.5) ** 2), a * (x - 0.5)


def test_lbfgs_warmup_objective_serves_the_first_evaluations():
    # The float32 objective of a bfloat16 run serves evaluations 1-5, the run's own the rest,
    # in one traced chunk, and again after reset(): the iterates are the float64
    # transcription's with a function that switches after 5 calls.
    k = optimizers.WARMUP_EVALUATIONS
    warm, main = Problem(shifted_quadratic_fg, np.zeros(SHAPE), None), make_problem("quadratic")
    calls = []

    def switching_fg(x):
        calls.append(x)
        return (shifted_quadratic_fg if len(calls) <= k else quadratic_fg)(x)

    want = np_lbfgs(switching_fg, main.x0, 12, 100)
    opt = optimizers.make_optimizer(
        "lbfgs", main.objective, main.x0, num_correction=100, warmup=warm.objective
    )
    for _ in range(2):
        got = []
        for _ in range(12):
            opt.run(1)
            got.append(opt.image.numpy().ravel())
            # aux[0] is the loss of whichever objective evaluated the image.
            fg = shifted_quadratic_fg if len(got) <= k else quadratic_fg
            np.testing.assert_allclose(opt.aux.numpy()[0], fg(got[-1])[0], rtol=1e-5)
        np.testing.assert_allclose(np.array(got), want, rtol=1e-4, atol=1e-4)
        opt.reset(main.x0)
    assert (warm.traces, main.traces) == (1, 1)
    # Without the warm-up the run differs from the second evaluation on.
    plain = np_lbfgs(quadratic_fg, main.x0, 12, 100)
    assert np.abs(plain[1:] - want[1:]).max() > 0.1
    with pytest.raises(ValueError, match="lbfgs only"):
        optimizers.make_optimizer("adam", main.objective, main.x0, warmup=warm.objective)


def test_lbfgs_stops_when_progress_is_not_possible(monkeypatch):
    # g.d > -tolX never holds for a positive definite L-BFGS matrix with tolX = -1, so raise
    # tolX until every direction fails the test.
    monkeypatch.setattr(lbfgs, "TOL_X", 1e30)
    problem = make_problem("quadratic")
    opt = optimizers.make_optimizer("lbfgs", problem.objective, problem.x0)
    opt.run(5)
    assert opt.stopped and not opt.nonfinite
    assert (opt.evaluations, opt.iterations) == (1, 1)
    np.testing.assert_array_equal(opt.image.numpy(), problem.x0)


@pytest.mark.parametrize("name", ["quadratic", "rosenbrock_image"])
def test_lbfgs_with_float32_scalars_follows_the_float64_transcription(name):
    problem = make_problem(name)
    exact = np_lbfgs(problem.np_fg, problem.x0, 20, 100)
    opt = optimizers.make_optimizer("lbfgs", problem.objective, problem.x0, float64_scalars=False)
    np.testing.assert_allclose(evaluated_images(opt, 20), exact, rtol=1e-4, atol=1e-4)
    # Nothing in the chunk is float64 (TPUs have none), with a pure-TensorFlow objective.
    opt = optimizers.make_optimizer("lbfgs", tf_objective, np.zeros(SHAPE), float64_scalars=False)
    attrs = [a for n in chunk_nodes(opt) for a in n.attr.values()]
    kinds = [a.type for a in attrs] + [t for a in attrs for t in a.list.type]
    assert tf.float64.as_datatype_enum not in kinds
    assert tf.float32.as_datatype_enum in kinds


# L-BFGS at 512 px with 100 slots (2 x 315 MB) and three pairs kept, in a fresh process:
# prints how much the peak resident memory grew from before the optimizer was made.
_HISTORY_MEMORY = """
import numpy as np
import tensorflow as tf
from tf_style import optimizers
from tf_style.optimizers import base, lbfgs
def peak():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if "VmHWM" in l)
x0 = np.random.default_rng(0).normal(size=(1, 512, 512, 3)).astype(np.float32)
d = tf.constant(np.linspace(1.0, 10.0, x0.size, dtype=np.float32).reshape(x0.shape))
objective = lambda x: (0.5 * tf.reduce_sum(d * x * x), d * x, tf.zeros([1]))
objective(tf.constant(x0))
before = peak()
opt = optimizers.make_optimizer("lbfgs", objective, x0, num_correction=100)
opt.run(4)
assert opt.num_pairs == 3
print(peak() - before)
"""


@pytest.mark.slow
def test_lbfgs_history_memory_grows_with_the_pairs_kept():
    done = processes.run(
        processes.snippet(_HISTORY_MEMORY), check=True, env={"TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    grown = int(done.stdout.split()[-1])
    # Filled slots alone would be 629 MB (741 MiB in all, measured before they grew lazily).
    # Three pairs are 19 MB; tracing, the XLA row writer's compilation and an iteration's
    # image-sized buffers about 140 MiB more (163 MiB in all, measured).
    assert grown < 300 * 2**20, grown / 2**20


def test_lbfgs_history_is_only_read_densely_and_written_by_xla():
    # A gather, scatter or slice assign would switch the history variables to copy-on-read,
    # after which each matrix-vector product over the history copies all of it (about
    # 0.35 s at 512 px with 100 pairs): the chunk's graph must hold none of those ops.
    problem = make_problem("quadratic")
    opt = optimizers.make_optimizer("lbfgs", problem.objective, problem.x0, num_correction=4)
    nodes = chunk_nodes(opt)
    sparse = {n.op for n in nodes if n.op.startswith(("ResourceScatter", "ResourceGather"))}
    sparse |= {n.op for n in nodes if n.op == "ResourceStridedSliceAssign"}
    assert not sparse
    compiled = [n for n in nodes if n.attr["_XlaMustCompile"].b]
    assert compiled, "the history rows are written by an XLA-compiled function"


@pytest.mark.parametrize("name, m, n", [("rosenbrock_image", 3, 10), ("quadratic", 100, 6)])
def test_minimize_on_tensors_alone_follows_the_transcription(name, m, n):
    # The functional core the SavedModel export runs: no variables, a ring of
    # min(m, n - 1) slots (it wraps for m = 3), the same iterates as the float64 transcription
    # (whose last image moves by 3e-3 and 1e-2 with m = 100 and m = 3 instead).
    problem = make_problem(name)
    exact = np_lbfgs(problem.np_fg, problem.x0, n, m)
    # As the export traces it: the number of evaluations is a tensor of unknown value.
    run = tf.function(
        lambda x0, n: lbfgs.minimize(base.evaluator(problem.objective), x0, n, m),
        input_signature=[tf.TensorSpec(SHAPE, tf.float32), tf.TensorSpec([], tf.int32)],
        autograph=False,
    )
    state = run(tf.constant(problem.x0), tf.constant(n))
    assert int(state.evaluations) == n and not bool(state.stopped) and not bool(state.nonfinite)
    np.testing.assert_allclose(state.x.numpy().ravel(), exact[-1], rtol=1e-4, atol=1e-4)
    loss, grad = problem.np_fg(state.x.numpy().astype(np.float64).ravel())
    np.testing.assert_allclose(state.loss.numpy(), loss, rtol=1e-6)
    np.testing.assert_allclose(state.grad.numpy().ravel(), grad, rtol=1e-5, atol=1e-6)
