"""Test problems for the optimizers, and the original's optimizers transcribed in numpy.

The transcriptions are the oracles of tests/optimizers/: written here from docs/semantics.md,
not from tf_style's code.
"""

import numpy as np
import tensorflow as tf

from tf_style import optimizers

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


def resumed(path, name, problem, **options):
    """A new optimizer `name` of `problem`, made from zeros, with the state saved at `path`."""
    optimizer = optimizers.make_optimizer(name, problem.objective, np.zeros(SHAPE), **options)
    tf.train.Checkpoint(optimizer=optimizer).read(path).assert_consumed()
    return optimizer


def nan_beyond(problem, limit):
    """The problem's objective, with NaN loss and gradient once any pixel exceeds limit."""

    def objective(x):
        loss, grad, aux = problem.objective(x)
        bad = tf.reduce_max(x) > limit
        return tf.where(bad, np.nan, loss), tf.where(bad, np.nan, grad), aux

    return objective


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
