"""Tests for tf_style.optimizers against numpy transcriptions and analytic minima."""

import numpy as np
import pytest
import tensorflow as tf

from tf_style import optimizers
from tf_style.optimizers import lbfgs
from tf_style.testing import processes

SHAPE = (1, 4, 4, 3)  # a tiny image


def np_lbfgs(fg, x0, num_evaluations, m, dtype=np.float64):
    """docs/semantics.md#l-bfgs (torch optim.lbfgs, neural-style's settings) in numpy.

    Vectors are stored in ``dtype`` (float32 mirrors a Torch FloatTensor), scalars are
    float64, and dot products multiply in ``dtype`` and sum in float64 as tf_style does.
    Returns the evaluated images x_1 .. x_n, flattened, one row each.
    """

    def vec(v):
        return np.asarray(v, dtype)

    def dot(a, b):
        return float(np.sum((a * b).astype(np.float64)))

    x = vec(x0).ravel()
    g = vec(fg(x.astype(np.float64))[1])
    xs = [x]
    s_hist, y_hist, h0 = [], [], 1.0
    g_prev = d_prev = t_prev = None  # set at the end of each iteration
    for k in range(1, num_evaluations):
        if k == 1:
            d = -g
        else:
            y, s = vec(g - g_prev), vec(dtype(t_prev) * d_prev)
            ys = dot(y, s)
            if ys > 1e-10:
                if len(s_hist) == m:
                    s_hist.pop(0)
                    y_hist.pop(0)
                s_hist.append(s)
                y_hist.append(y)
                h0 = ys / dot(y, y)
            q, alphas = -g, [0.0] * len(s_hist)
            for i in reversed(range(len(s_hist))):
                alphas[i] = dot(s_hist[i], q) / dot(y_hist[i], s_hist[i])
                q = vec(q - dtype(alphas[i]) * y_hist[i])
            r = vec(dtype(h0) * q)
            for i in range(len(s_hist)):
                beta = dot(y_hist[i], r) / dot(y_hist[i], s_hist[i])
                r = vec(r + dtype(alphas[i] - beta) * s_hist[i])
            d = r
        g_prev = g
        if dot(g, d) > 1:
            break
        t = min(1.0, 1.0 / np.abs(g.astype(np.float64)).sum()) if k == 1 else 1.0
        x = vec(x + dtype(t) * d)
        d_prev, t_prev = d, t
        g = vec(fg(x.astype(np.float64))[1])
        xs.append(x)
    return np.array(xs)


def np_adam(fg, x0, num_evaluations, lr):
    """docs/semantics.md#adam (torch optim.adam) in float64; returns x_1 .. x_n flattened."""
    x = x0.astype(np.float64).ravel()
    m = v = np.zeros_like(x)
    xs = [x]
    for t in range(1, num_evaluations):
        _, g = fg(x)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        x = x - lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (np.sqrt(v) + 1e-8)
        xs.append(x)
    return np.array(xs)


class Problem:
    """A test function given as numpy (float64, flat) and as an objective for the optimizers."""

    def __init__(self, np_fg, x0, minimum):
        self.np_fg, self.x0, self.minimum = np_fg, x0.astype(np.float32), minimum
        self.traces = 0

    def objective(self, x):
        self.traces += 1  # runs once per Python trace of the enclosing tf.function
        loss, grad = tf.numpy_function(
            lambda v: [np.float64(a) for a in self.np_fg(v.astype(np.float64).ravel())],
            [x],
            [tf.float64, tf.float64],
            stateful=False,
        )
        loss = tf.cast(tf.reshape(loss, []), tf.float32)
        aux = tf.stack([loss, tf.reduce_sum(x)])
        return loss, tf.cast(tf.reshape(grad, tf.shape(x)), tf.float32), aux


def quadratic_fg(x):
    a = np.linspace(1.0, 10.0, x.size)
    return 0.5 * np.sum(a * (x - 1.5) ** 2), a * (x - 1.5)


def rosenbrock_fg(x):
    """Chained Rosenbrock; its minimum is all ones."""
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return f, g


def make_problem(name):
    rng = np.random.default_rng(1)
    if name == "quadratic":
        return Problem(quadratic_fg, rng.normal(size=SHAPE), np.full(SHAPE, 1.5))
    if name == "rosenbrock2d":
        return Problem(rosenbrock_fg, np.array([-1.2, 1.0]), np.ones(2))
    return Problem(rosenbrock_fg, 1 + 0.2 * rng.normal(size=SHAPE), np.ones(SHAPE))


PROBLEMS = ("quadratic", "rosenbrock2d", "rosenbrock_image")


def evaluated_images(opt, n):
    """x_1 .. x_n, one run(1) each, flattened."""
    images = []
    for _ in range(n):
        opt.run(1)
        images.append(opt.image.numpy().ravel())
    return np.array(images)


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
        k = int(opt._num_pairs.numpy())
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
    resumed = optimizers.make_optimizer(
        name, problem.objective, np.zeros(SHAPE), num_correction=3, learning_rate=0.01
    )
    tf.train.Checkpoint(optimizer=resumed).read(path).assert_consumed()
    resumed.run(6)
    np.testing.assert_array_equal(resumed.image.numpy(), opt.image.numpy())
    assert resumed.evaluations == opt.evaluations


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
    resumed = optimizers.make_optimizer("tfp_lbfgs", problem.objective, np.zeros(SHAPE))
    tf.train.Checkpoint(optimizer=resumed).read(path).assert_consumed()
    resumed.run(5)
    np.testing.assert_array_equal(resumed.image.numpy(), whole.image.numpy())
    assert resumed.evaluations == whole.evaluations


def nan_beyond(problem, limit):
    """The problem's objective, with NaN loss and gradient once any pixel exceeds limit."""

    def objective(x):
        loss, grad, aux = problem.objective(x)
        bad = tf.reduce_max(x) > limit
        return tf.where(bad, np.nan, loss), tf.where(bad, np.nan, grad), aux

    return objective


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


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_nonfinite_first_evaluation(name):
    problem = make_problem("quadratic")
    x0 = np.full(SHAPE, 2.0, np.float32)
    opt = optimizers.make_optimizer(name, nan_beyond(problem, 1.0), x0)
    opt.run(3)
    assert opt.nonfinite and opt.evaluations == 0
    np.testing.assert_array_equal(opt.image.numpy(), x0)


def test_tfp_lbfgs_line_search_backs_off_from_nan():
    problem = make_problem("quadratic")
    opt = optimizers.make_optimizer("tfp_lbfgs", nan_beyond(problem, 1.0), np.zeros(SHAPE))
    opt.run(20)
    # TFP's first trial step lands past the limit, its line search meets the NaN and fails:
    # a stop, on the finite start.
    assert opt.stopped and not opt.nonfinite
    np.testing.assert_array_equal(opt.image.numpy(), 0.0)
    np.testing.assert_allclose(opt.loss.numpy(), quadratic_fg(np.zeros(48))[0], rtol=1e-6)


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


def test_titles_and_unknown_name():
    problem = make_problem("quadratic")
    assert optimizers.make_optimizer("lbfgs", problem.objective, problem.x0).title == "L-BFGS"
    with pytest.raises(ValueError, match="lbfgs, tfp_lbfgs, adam"):
        optimizers.make_optimizer("sgd", problem.objective, problem.x0)
    with pytest.raises(ValueError, match="num_correction"):
        optimizers.make_optimizer("lbfgs", problem.objective, problem.x0, num_correction=0)


def test_run_counts_are_checked():
    problem = make_problem("quadratic")
    opt = optimizers.make_optimizer("lbfgs", problem.objective, problem.x0)
    opt.run(0)
    assert opt.evaluations == 0
    with pytest.raises(ValueError, match="num_evaluations"):
        opt.run(-1)


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


def chunk_nodes(opt):
    """The NodeDefs of an optimizer's traced chunk, nested loop and branch bodies included."""
    graph_def = opt._chunk_fn.get_concrete_function(
        tf.TensorSpec([], tf.int32)
    ).graph.as_graph_def()
    return list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]


def tf_objective(x):  # pure TensorFlow: XLA cannot compile tf.numpy_function
    scale = tf.constant(np.linspace(1.0, 3.0, 48).reshape(SHAPE), tf.float32)
    loss = tf.reduce_sum(scale * (x - 1.0) ** 2)
    return loss, 2 * scale * (x - 1.0), tf.stack([loss])


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


# L-BFGS at 512 px with 100 slots (2 x 315 MB) and three pairs kept, in a fresh process:
# prints how much the peak resident memory grew from before the optimizer was made.
_HISTORY_MEMORY = """
import numpy as np
import tensorflow as tf
from tf_style import optimizers
from tf_style.optimizers import lbfgs
def peak():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if "VmHWM" in l)
x0 = np.random.default_rng(0).normal(size=(1, 512, 512, 3)).astype(np.float32)
d = tf.constant(np.linspace(1.0, 10.0, x0.size, dtype=np.float32).reshape(x0.shape))
objective = lambda x: (0.5 * tf.reduce_sum(d * x * x), d * x, tf.zeros([1]))
objective(tf.constant(x0))
before = peak()
opt = optimizers.make_optimizer("lbfgs", objective, x0, num_correction=100)
opt.run(4)
assert int(opt._num_pairs.numpy()) == 3
print(peak() - before)
"""


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


@pytest.mark.parametrize("name", ["lbfgs", "adam", "tfp_lbfgs"])
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
