"""Optimizers for the image, run in chunks of evaluations between the caller's callbacks.

Three optimizers share one small interface (:class:`Optimizer`, built by :func:`make_optimizer`):

* ``lbfgs``: the original's L-BFGS (torch ``optim.lbfgs`` with neural-style's settings,
  semantics.md 5.2): fixed step, no line search, one evaluation per iteration, written as one
  ``tf.while_loop`` with the history in preallocated ring buffers.
* ``tfp_lbfgs``: ``tfp.optimizer.lbfgs_minimize`` (Hager-Zhang line search, several evaluations
  per iteration), resumed chunk by chunk.
* ``adam``: Keras 3 Adam with the original's settings (semantics.md 5.3).

Evaluation semantics are the original's: evaluation ``t`` evaluates the image ``x_t``; the
caller's callbacks (printing, saving) come after evaluation ``t`` and see ``x_t`` with its loss;
the update computed from evaluation ``t`` moves the image to ``x_{t+1}`` only right before
evaluation ``t + 1``. A run of ``N`` evaluations therefore ends on ``x_N``: the original never
evaluates nor saves its last update, and neither do we.

The objective is a traceable callable ``objective(x) -> (loss, grad, aux)`` (traced without
AutoGraph: control flow on tensors must be ``tf.cond`` / ``tf.while_loop``): ``x`` a float32
tensor of fixed shape, ``loss`` a float32 scalar, ``grad`` shaped like ``x`` and ``aux`` a
float32 1-D tensor (per-layer losses) passed through untouched. Every piece of state is a
``tf.Variable`` reachable from the optimizer (a ``tf.Module``), so ``tf.train.Checkpoint`` can
save and restore a run exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from tf_style.errors import ConfigError

Objective = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]

OPTIMIZERS = ("lbfgs", "tfp_lbfgs", "adam")

# torch optim.lbfgs as called by neural-style: tolX = -1, so "progress not possible" means
# g.d > 1, and a curvature pair is kept only when y.s > 1e-10.
_LBFGS_TOL_X = -1.0
_LBFGS_MIN_YS = 1e-10

# With a bfloat16 network, L-BFGS's first evaluations use a float32 objective. The original
# starts from noise of 0.001, far below the network's biases, and its first step is
# min(1, 1/sum|g|), smaller still: bfloat16 activations (8 significant bits) do not resolve
# the image yet, the first curvature pairs are rounding noise, and a bfloat16 run trailed
# float32 by tens of iterations (+11 % after 100 at 256 px for one start). The image reaches
# its working scale in about five evaluations (its rms grows 1000x at 256 px); with these in
# float32 the bfloat16 run follows float32's within 1 % (three starts, after 100).
WARMUP_EVALUATIONS = 5


def warms_up(name: str, precision: str) -> bool:
    """Whether optimizer `name` with a `precision` network takes a float32 warm-up objective."""
    return name == "lbfgs" and precision == "bfloat16"


def _dot(a: tf.Tensor, b: tf.Tensor, dtype: tf.DType = tf.float64) -> tf.Tensor:
    # Products in float32, accumulated in float64 (Torch's CPU dot returns a double,
    # semantics.md 14.7): about 1e-11 relative at 3 x 512^2 elements, and on CPU 8x faster
    # than casting both vectors to float64 first.
    return tf.reduce_sum(tf.cast(a * b, dtype))


def _function(fn: Callable, jit_compile: bool) -> Callable:
    # Control flow here is written with tf.cond / tf.while_loop, so AutoGraph has nothing to
    # convert; left on, it transpiles every function reached from the chunk (the objective and
    # the model's layers too), 4-5 s of a VGG-19 run's first trace.
    return tf.function(fn, jit_compile=jit_compile, autograph=False)


def _evaluated(objective: Objective, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    loss, grad, aux = objective(x)
    return (
        tf.cast(loss, tf.float32),
        tf.reshape(tf.cast(grad, tf.float32), tf.shape(x)),
        tf.cast(aux, tf.float32),
    )


def _all_finite(*tensors: tf.Tensor) -> tf.Tensor:
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


class _Untracked:
    """Holds the objective so that ``tf.Module`` does not checkpoint whatever it closes over."""

    def __init__(self, fn: Objective):
        self.fn = fn


class Optimizer(tf.Module):
    """An optimizer of one image, run in chunks; the state is all ``tf.Variable``s.

    Attributes:
        title: name for the original's "Running optimization with ..." line.
        image: ``tf.Variable`` holding the image of the latest (finite) evaluation.
    """

    title = ""

    def __init__(
        self,
        objective: Objective,
        x0: tf.Tensor,
        *,
        jit_compile: bool = False,
        warmup: Objective | None = None,
    ):
        super().__init__(name=type(self).__name__.lower())
        self._objective = _Untracked(objective)
        self._warmup = None if warmup is None else _Untracked(warmup)
        x0 = tf.convert_to_tensor(x0, tf.float32)
        self.image = tf.Variable(x0, trainable=False, name="image")
        self._loss = tf.Variable(0.0, trainable=False, name="loss")
        self._grad = tf.Variable(tf.zeros_like(x0), trainable=False, name="grad")
        # Its length is known only once the objective runs.
        self._aux = tf.Variable(tf.zeros([0]), shape=[None], trainable=False, name="aux")
        self._evaluations = tf.Variable(0, dtype=tf.int64, trainable=False, name="evaluations")
        self._stopped = tf.Variable(False, trainable=False, name="stopped")
        self._nonfinite = tf.Variable(False, trainable=False, name="nonfinite")
        if jit_compile:
            # XLA compiles against the variables' current shapes, so aux needs its final
            # length before the first chunk: one extra trace of the objective finds it.
            spec = tf.TensorSpec(x0.shape, tf.float32)
            traced = _function(self._evaluate, False).get_concrete_function(spec)
            self._aux.assign(tf.zeros(traced.structured_outputs[2].shape))

    def _evaluate(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        if self._warmup is None:
            return _evaluated(self._objective.fn, x)
        # Both are traced; only the taken branch runs (see WARMUP_EVALUATIONS).
        return tf.cond(
            self._evaluations < WARMUP_EVALUATIONS,
            lambda: _evaluated(self._warmup.fn, x),
            lambda: _evaluated(self._objective.fn, x),
        )

    @property
    def evaluations(self) -> int:
        """Objective evaluations done so far (finite ones; see :attr:`nonfinite`)."""
        return int(self._evaluations.numpy())

    @property
    def iterations(self) -> int:
        """Iterations done so far, in the unit of :meth:`run`: one per evaluation for ``lbfgs``
        and ``adam`` (the original's "Iteration t" is evaluation t), TFP's own count for
        ``tfp_lbfgs``."""
        return self.evaluations

    @property
    def stopped(self) -> bool:
        """Whether the optimizer stopped itself (``lbfgs``: progress not possible; ``tfp_lbfgs``:
        a failed line search, or a loss of exactly 0)."""
        return bool(self._stopped.numpy())

    @property
    def nonfinite(self) -> bool:
        """Whether an evaluation gave a NaN/Inf loss or gradient; the run then stops for good
        and :attr:`image` keeps the image of the last finite evaluation."""
        return bool(self._nonfinite.numpy())

    @property
    def loss(self) -> tf.Tensor:
        """The loss of the latest evaluation."""
        return self._loss.read_value()

    @property
    def aux(self) -> tf.Tensor:
        """The objective's ``aux`` of the latest evaluation."""
        return self._aux.read_value()

    def reset(self, x0: tf.Tensor) -> None:
        """Starts a new run from `x0` (same shape), keeping the traced functions.

        This is what lets `engine.Stylizer` run again without retracing.
        """
        self.image.assign(tf.convert_to_tensor(x0, tf.float32))
        self._loss.assign(0.0)
        self._grad.assign(tf.zeros_like(self._grad))
        self._evaluations.assign(0)
        self._stopped.assign(False)
        self._nonfinite.assign(False)
        self._reset_state()

    def _reset_state(self) -> None:
        """Clears what a subclass keeps between iterations (history, moments)."""

    def run(self, num_evaluations: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Runs one chunk as one ``tf.function`` call.

        Args:
            num_evaluations: evaluations to perform (for ``tfp_lbfgs``: iterations). The first
                chunk of a run starts by evaluating the initial image.

        Returns:
            ``(loss, aux)`` of the latest evaluation. Fewer evaluations than asked are done when
            the optimizer stops itself or meets a non-finite value.
        """
        if num_evaluations < 0:
            raise ConfigError(f"num_evaluations is {num_evaluations}; pass a count of 0 or more")
        if num_evaluations == 0 or self.stopped or self.nonfinite:
            return self.loss, self.aux
        return self._run_chunk(tf.constant(num_evaluations, tf.int32))

    def _run_chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        raise NotImplementedError


class _FixedStepOptimizer(Optimizer):
    """Optimizers with one evaluation per iteration; a chunk is one ``tf.while_loop``.

    Subclasses give :meth:`_propose` (the next image from the latest evaluation) and
    :meth:`_accept` (bookkeeping once the proposed image evaluated finite).
    """

    def __init__(self, objective: Objective, x0: tf.Tensor, **options):
        super().__init__(objective, x0, **options)
        self._chunk_fn = _function(self._chunk, options.get("jit_compile", False))

    def _run_chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self._chunk_fn(n)

    def _propose(self) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns ``(next image, ok)``; ``ok`` False means stop without evaluating."""
        raise NotImplementedError

    def _accept(self, grad_old: tf.Tensor, grad_new: tf.Tensor) -> None:
        """Called after the proposed image evaluated finite, before the state moves to it."""
        del grad_old, grad_new  # Adam's own state lives in the Keras optimizer.

    def _step(self) -> tf.Tensor:
        """One (update, evaluation) pair, or only the evaluation of x_1; returns keep going."""
        first = tf.equal(self._evaluations, 0)
        x_old = tf.identity(self.image)
        grad_old = tf.identity(self._grad)
        x_new, ok = tf.cond(first, lambda: (x_old, tf.constant(True)), self._propose)

        def evaluate():
            loss, grad, aux = self._evaluate(x_new)
            finite = _all_finite(loss, grad)

            def commit():
                tf.cond(first, lambda: None, lambda: self._accept(grad_old, grad))
                self.image.assign(x_new)
                self._loss.assign(loss)
                self._grad.assign(grad)
                self._aux.assign(aux)
                self._evaluations.assign_add(1)
                return tf.constant(True)

            def reject():
                # Deviation: the original carries on with NaNs; we keep the last finite image.
                self.image.assign(x_old)
                self._nonfinite.assign(True)
                return tf.constant(False)

            return tf.cond(finite, commit, reject)

        def stop():
            self._stopped.assign(True)
            return tf.constant(False)

        return tf.cond(ok, evaluate, stop)

    def _chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        tf.while_loop(
            lambda i, going: going & (i < n),
            lambda i, going: (i + 1, self._step()),
            [tf.constant(0), tf.constant(True)],
        )
        return self._loss.read_value(), self._aux.read_value()


class LBFGS(_FixedStepOptimizer):
    """The original's L-BFGS: torch ``optim.lbfgs`` with neural-style's settings.

    Fixed step (``min(1, 1/sum|g|)`` on the first iteration, 1 afterwards), no line search,
    ``num_correction`` curvature pairs kept in ring buffers, a pair accepted only when
    ``y.s > 1e-10``, ``H0 = y.s / y.y``; stops itself when ``g.d > 1`` (tolX = -1).
    Scalars and dot products are float64 unless ``float64_scalars`` is False (TPUs have no
    float64).

    The two-loop recursion is computed in its matrix form: with the dot products ``s_i.y_j``
    and ``y_i.y_j`` of the pairs kept up to date, each of its loops is a small triangular
    solve, and the image-sized work is four passes over the history per iteration instead of
    4m dot products and axpys: when a pair arrives, one pass over each history gives its
    products with the new pair and with the new gradient (which the next direction needs),
    and the direction itself is one pass over each. Same direction in exact arithmetic; it
    reads the history at memory bandwidth (about 6x faster at 512 px with 100 pairs on a
    2-core CPU).
    """

    title = "L-BFGS"

    def __init__(
        self,
        objective: Objective,
        x0: tf.Tensor,
        *,
        num_correction: int = 100,
        jit_compile: bool = False,
        float64_scalars: bool = True,
        warmup: Objective | None = None,
    ):
        super().__init__(objective, x0, jit_compile=jit_compile, warmup=warmup)
        m = num_correction
        f = self._f = tf.float64 if float64_scalars else tf.float32
        # Rows padded to 64 bytes, so that the first k rows of a history are a view, not a copy
        # (see _combination).
        self._size = self.image.shape.num_elements()
        shape = [m, -(-self._size // 16) * 16]

        # One row per slot; only _write_pair writes them (see there). The original preallocates
        # its buffers (2 x (m + 1) image-sized) and fills them. Without XLA a slot is read only
        # once it holds a pair, so the rows start uninitialised, and on the CPU the operating
        # system provides a row's memory when its first pair is written: the history grows with
        # the pairs kept, as neural-style-pt's does, instead of taking 0.59 GiB at 512 px (9.4
        # at 2048) from the first iteration. A compiled chunk reads every slot (the masks
        # multiply the unused ones by 0), so there they must be zeros.
        def slots():
            if jit_compile:
                return tf.zeros(shape)
            return tf.raw_ops.Empty(shape=shape, dtype=tf.float32)

        self._s_hist = tf.Variable(slots(), trainable=False, name="s_history")
        self._y_hist = tf.Variable(slots(), trainable=False, name="y_history")
        # By slot: sy[i, j] = s_i.y_j, yy[i, j] = y_i.y_j.
        self._sy = tf.Variable(tf.zeros([m, m], f), trainable=False, name="s_dot_y")
        self._yy = tf.Variable(tf.zeros([m, m], f), trainable=False, name="y_dot_y")
        self._rho = tf.Variable(tf.zeros([m], f), trainable=False, name="rho")
        # By slot, for the latest gradient g: sg[i] = s_i.g, yg[i] = y_i.g (only the slots of
        # kept pairs are ever read).
        self._sg = tf.Variable(tf.zeros([m], f), trainable=False, name="s_dot_g")
        self._yg = tf.Variable(tf.zeros([m], f), trainable=False, name="y_dot_g")
        self._num_pairs = tf.Variable(0, trainable=False, name="num_pairs")
        self._head = tf.Variable(0, trainable=False, name="head")  # next slot to write
        self._h0 = tf.Variable(1.0, dtype=f, trainable=False, name="h0")
        self._s_step = tf.Variable(tf.zeros_like(self.image), trainable=False, name="step")
        self._m = m
        # XLA needs static shapes: a compiled chunk reads every slot (the masks zero the unused).
        self._slice_rows = not jit_compile
        self._write_pair = _function(self._write_pair_rows, jit_compile=True)

    def _reset_state(self) -> None:
        # Stale pairs in the buffers are never read: num_pairs says how many are valid.
        self._num_pairs.assign(0)
        self._head.assign(0)
        self._h0.assign(1.0)

    def _write_pair_rows(self, head: tf.Tensor, s: tf.Tensor, y: tf.Tensor) -> None:
        # XLA updates the rows in place. TensorFlow's own row writes (scatter, slice assign)
        # switch a variable to copy-on-read for good, and every later dense read (the
        # matrix-vector products) would copy the whole history: 0.35 s at 512 px, m = 100.
        for history, row in ((self._s_hist, s), (self._y_hist, y)):
            history.assign(tf.tensor_scatter_nd_update(history, [[head]], [row]))

    def _direction(self, g: tf.Tensor) -> tf.Tensor:
        """The two-loop recursion over the ring buffer, newest pair first, in matrix form."""
        m, k, head = self._m, self._num_pairs.read_value(), self._head.read_value()
        g = self._row(g)
        # Pairs by age (0 the newest); rows and columns of pairs not (yet) kept are zeroed.
        slots = (head - 1 - tf.range(m)) % m
        valid = tf.cast(tf.range(m) < k, self._f)
        mask = valid[:, None] * valid[None, :]
        # (Gathers from read values: a gather from a variable is a sparse access, see above.)
        rho = tf.gather(self._rho.read_value(), slots) * valid
        sy = tf.gather(tf.gather(self._sy.read_value(), slots), slots, axis=1) * mask
        yy = tf.gather(tf.gather(self._yy.read_value(), slots), slots, axis=1) * mask
        rows = k if self._slice_rows else m
        # s_i.g and y_i.g came with the pass that kept the latest pair (see _accept).
        sg = tf.gather(self._sg.read_value(), slots)
        yg = tf.gather(self._yg.read_value(), slots)
        eye = tf.eye(m, dtype=self._f)
        newer = tf.linalg.band_part(sy, -1, 0) * (1 - eye)  # [a, b] = s_a.y_b for b newer
        # First loop: alpha_a = rho_a s_a.q with q = -g - sum over newer b of alpha_b y_b.
        lower = eye + rho[:, None] * newer
        alpha = tf.linalg.triangular_solve(lower, (-rho * sg)[:, None], lower=True)
        # Second loop: beta_a = rho_a y_a.r with r = h0 q + sum over older c of
        # (alpha_c - beta_c) s_c.
        h0 = self._h0.read_value()
        older = tf.transpose(newer)  # [a, c] = s_c.y_a for c older
        u = h0 * (-yg[:, None] - tf.matmul(yy, alpha)) + tf.matmul(older, alpha)
        upper = eye + rho[:, None] * older
        beta = tf.linalg.triangular_solve(upper, rho[:, None] * u, lower=False)
        # d = h0 q + sum (alpha - beta) s = -h0 g - h0 sum alpha y + sum (alpha - beta) s.
        by_slot = tf.scatter_nd(slots[:, None], tf.concat([alpha - beta, -h0 * alpha], 1), [m, 2])
        by_slot = tf.cast(by_slot, tf.float32)
        d = (
            -tf.cast(h0, tf.float32) * g
            + _combination(self._s_hist, by_slot[:, 0], rows)
            + _combination(self._y_hist, by_slot[:, 1], rows)
        )
        return tf.reshape(d[: self._size], self.image.shape)

    def _row(self, x: tf.Tensor) -> tf.Tensor:
        """An image-shaped tensor as a zero-padded history row."""
        return tf.pad(tf.reshape(x, [-1]), [[0, self._s_hist.shape[1] - self._size]])

    def _products(self, history: tf.Variable, vectors: list, rows: tf.Tensor | int) -> tf.Tensor:
        """``[v.h_i for v in vectors]`` for every slot i, in one pass over `history`.

        Slots from `rows` on read 0. Products accumulate in float32, as the BLAS dot of the
        original's Torch does; the result is in the scalar type.
        """
        h = _leading(history, rows)
        v = tf.stack(vectors)
        if not self._slice_rows:  # under XLA
            # XLA:CPU runs the [k, n] x [n, rows] form as a naive loop (10x slower).
            out = tf.transpose(tf.matmul(h, v, transpose_b=True))
        else:
            # oneDNN streams the history once for a few vectors in this form; h @ v^T takes
            # 60 % longer (512 px, 100 pairs, 2 or 3 vectors, on the 2-core CPU).
            out = tf.matmul(v, h, transpose_b=True)
        if not isinstance(rows, int):
            out = tf.pad(out, [[0, 0], [0, self._m - rows]])
        return tf.cast(out, self._f)

    def _propose(self) -> tuple[tf.Tensor, tf.Tensor]:
        g = tf.convert_to_tensor(self._grad)
        d = self._direction(g)
        ok = _dot(g, d, self._f) <= -_LBFGS_TOL_X
        first_step = tf.minimum(
            tf.constant(1.0, self._f), 1.0 / tf.reduce_sum(tf.abs(tf.cast(g, self._f)))
        )
        t = tf.cast(tf.where(tf.equal(self._evaluations, 1), first_step, 1.0), tf.float32)
        step = t * d
        self._s_step.assign(step)
        return self.image + step, ok

    def _accept(self, grad_old: tf.Tensor, grad_new: tf.Tensor) -> None:
        y = grad_new - grad_old
        s = tf.convert_to_tensor(self._s_step)
        ys = _dot(y, s, self._f)
        g_row = self._row(grad_new)

        def push():
            # When full, the slot at head holds the oldest pair: overwriting drops it.
            head = self._head.read_value()
            s_row, y_row = self._row(s), self._row(y)
            self._write_pair(head, s_row, y_row)
            kept = tf.minimum(self._num_pairs + 1, self._m)  # with this pair
            rows = kept if self._slice_rows else self._m
            # s_i.y, s_i.g and y_i.s, y_i.y, y_i.g for every slot i: one pass over each history.
            s_dots = self._products(self._s_hist, [y_row, g_row], rows)
            y_dots = self._products(self._y_hist, [s_row, y_row, g_row], rows)
            # The new pair's own products come from _dot, as the original's do.
            yy = _dot(y, y, self._f)
            at_head = tf.equal(tf.range(self._m), head)
            s_dot = tf.where(at_head, ys, s_dots[0])
            y_dot = tf.where(at_head, ys, y_dots[0])
            y_norms = tf.where(at_head, yy, y_dots[1])
            self._sy.assign(_with_row_and_column(self._sy, at_head, y_dot, s_dot))
            self._yy.assign(_with_row_and_column(self._yy, at_head, y_norms, y_norms))
            self._rho.assign(tf.where(at_head, 1.0 / ys, self._rho))
            self._sg.assign(s_dots[1])
            self._yg.assign(y_dots[2])
            self._head.assign((head + 1) % self._m)
            self._num_pairs.assign(kept)
            self._h0.assign(ys / yy)

        def keep():
            # No new pair: the history's products with the new gradient alone.
            rows = self._num_pairs.read_value() if self._slice_rows else self._m
            self._sg.assign(self._products(self._s_hist, [g_row], rows)[0])
            self._yg.assign(self._products(self._y_hist, [g_row], rows)[0])

        tf.cond(ys > _LBFGS_MIN_YS, push, keep)


def _leading(history: tf.Variable, rows: tf.Tensor | int) -> tf.Tensor:
    """The history's slots ``[0, rows)``; an int `rows` (under XLA) is every slot.

    Until the ring buffer is full its pairs are exactly those first slots, and a short run
    reads only what it has kept. A leading slice of the 64-byte aligned rows shares the
    buffer; others would be copied.
    """
    h = tf.convert_to_tensor(history)
    return h if isinstance(rows, int) else h[:rows]


def _combination(history: tf.Variable, v: tf.Tensor, rows: tf.Tensor | int) -> tf.Tensor:
    """``history^T @ v`` over slots ``[0, rows)``, in one pass at memory bandwidth."""
    return tf.linalg.matvec(_leading(history, rows), v[:rows], transpose_a=True)


def _with_row_and_column(matrix: tf.Variable, at: tf.Tensor, row: tf.Tensor, column: tf.Tensor):
    """``matrix`` with the row where ``at`` is True set to ``row``, that column to ``column``."""
    out = tf.where(at[:, None], row[None, :], matrix)
    return tf.where(at[None, :], column[:, None], out)


class Adam(_FixedStepOptimizer):
    """Keras 3 Adam with torch ``optim.adam``'s settings (semantics.md 5.3)."""

    title = "ADAM"

    def __init__(
        self,
        objective: Objective,
        x0: tf.Tensor,
        *,
        learning_rate: float = 10.0,
        jit_compile: bool = False,
    ):
        super().__init__(objective, x0, jit_compile=jit_compile)
        # Keras' default epsilon is 1e-7; torch optim.adam's is 1e-8.
        self._adam = keras.optimizers.Adam(
            learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8
        )
        self._adam.build([self.image])

    def _reset_state(self) -> None:
        # The step counter and the moments; the learning rate stays.
        for variable in self._adam.variables:
            if "learning_rate" not in variable.name:
                variable.assign(tf.zeros_like(variable))

    def _propose(self) -> tuple[tf.Tensor, tf.Tensor]:
        # Keras' Adam step and its step count, as apply_gradients makes them, without its sum
        # of the gradients over tf.distribute replicas: each replica of a batch optimises its
        # own job, and that sum (a merge_call) fails inside the replica's traced chunk.
        grad = tf.convert_to_tensor(self._grad)
        self._adam.update_step(grad, self.image, self._adam.learning_rate)
        self._adam.iterations.assign_add(1)
        return self.image.read_value(), tf.constant(True)


class TFPLBFGS(Optimizer):
    """``tfp.optimizer.lbfgs_minimize`` on the flattened image, resumed chunk by chunk.

    A chunk is ``n`` L-BFGS iterations, each with a Hager-Zhang line search of usually several
    evaluations; :attr:`evaluations` is TFP's ``num_objective_evaluations``. TFP's stopping
    tests are disabled (the original runs all iterations); a failed line search stops it.
    Each chunk ends with one extra objective call at the final position for ``aux`` (TFP keeps
    no side outputs); that call is not counted in :attr:`evaluations`.
    """

    title = "TFP L-BFGS"

    def __init__(
        self,
        objective: Objective,
        x0: tf.Tensor,
        *,
        num_correction: int = 100,
        jit_compile: bool = False,
    ):
        super().__init__(objective, x0, jit_compile=jit_compile)
        size = self.image.shape.num_elements()
        self._m = num_correction
        self._iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self._position_deltas = tf.Variable(
            tf.zeros([num_correction, size]), trainable=False, name="position_deltas"
        )
        self._gradient_deltas = tf.Variable(
            tf.zeros([num_correction, size]), trainable=False, name="gradient_deltas"
        )
        self._first_fn = _function(self._first_chunk, jit_compile)
        self._next_fn = _function(self._next_chunk, jit_compile)

    def _reset_state(self) -> None:
        # TFP's history lives in its results; the next chunk starts from the image again.
        self._iterations.assign(0)

    @property
    def iterations(self) -> int:
        """TFP's iteration count (each iteration usually takes several evaluations)."""
        return int(self._iterations.numpy())

    def _value_and_gradient(self, position: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loss, grad, _ = self._evaluate(tf.reshape(position, self.image.shape))
        return loss, tf.reshape(grad, [-1])

    def _minimize(self, **kwargs) -> tuple[tf.Tensor, tf.Tensor]:
        # Negative tolerances switch TFP's stopping tests off (its tests are "<=", and a loss
        # is never negative); the original runs every iteration it is asked for.
        # Imported here: TFP takes 1.7 s and 54 MB to import, for the one optimizer that uses it.
        import tensorflow_probability as tfp

        results = tfp.optimizer.lbfgs_minimize(
            self._value_and_gradient,
            num_correction_pairs=self._m,
            tolerance=-1.0,
            x_tolerance=-1.0,
            f_relative_tolerance=-1.0,
            f_absolute_tolerance=-1.0,
            **kwargs,
        )
        _, _, aux = self._evaluate(tf.reshape(results.position, self.image.shape))
        finite = _all_finite(results.objective_value, results.objective_gradient)

        def commit():
            self.image.assign(tf.reshape(results.position, self.image.shape))
            self._loss.assign(results.objective_value)
            self._grad.assign(tf.reshape(results.objective_gradient, self.image.shape))
            self._aux.assign(aux)
            self._evaluations.assign(tf.cast(results.num_objective_evaluations, tf.int64))
            self._iterations.assign(tf.cast(results.num_iterations, tf.int64))
            self._stopped.assign(results.converged | results.failed)
            self._position_deltas.assign(results.position_deltas)
            self._gradient_deltas.assign(results.gradient_deltas)
            return tf.constant(True)

        def reject():
            # The whole chunk is dropped: TFP moves onto the non-finite point before failing.
            self._nonfinite.assign(True)
            return tf.constant(False)

        tf.cond(finite, commit, reject)
        return self._loss.read_value(), self._aux.read_value()

    def _first_chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self._minimize(initial_position=tf.reshape(self.image, [-1]), max_iterations=n)

    def _next_chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        from tensorflow_probability.python.optimizer.lbfgs import LBfgsOptimizerResults

        previous = LBfgsOptimizerResults(
            converged=tf.constant(False),
            failed=tf.constant(False),
            num_iterations=tf.cast(self._iterations, tf.int32),
            num_objective_evaluations=tf.cast(self._evaluations, tf.int32),
            position=tf.reshape(self.image, [-1]),
            objective_value=self._loss.read_value(),
            objective_gradient=tf.reshape(self._grad, [-1]),
            position_deltas=self._position_deltas.read_value(),
            gradient_deltas=self._gradient_deltas.read_value(),
        )
        # max_iterations counts from the start of the whole run, not of this chunk.
        return self._minimize(
            initial_position=None,
            previous_optimizer_results=previous,
            max_iterations=previous.num_iterations + n,
        )

    def _run_chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        # Two functions, each traced once: TFP starts from a position or from its own results.
        if self.evaluations == 0:
            return self._first_fn(n)
        return self._next_fn(n)


def make_optimizer(
    name: str,
    objective: Objective,
    x0: tf.Tensor,
    *,
    learning_rate: float = 10.0,
    num_correction: int = 100,
    jit_compile: bool = False,
    float64_scalars: bool = True,
    warmup: Objective | None = None,
) -> Optimizer:
    """Builds an optimizer of the image ``x0``.

    Args:
        name: one of :data:`OPTIMIZERS`.
        objective: ``objective(x) -> (loss, grad, aux)``, traceable by ``tf.function``
            without AutoGraph.
        x0: the initial image (any fixed shape), converted to float32.
        learning_rate: Adam's step size (the original's ``-learning_rate``; L-BFGS, as in the
            original, always steps 1).
        num_correction: L-BFGS history size (``-lbfgs_num_correction``; the caller maps the
            original's 0 to 100).
        jit_compile: compile each chunk with XLA.
        float64_scalars: L-BFGS keeps its scalars and dot products in float64; False for
            devices without float64 (TPUs).
        warmup: ``lbfgs`` only: a float32 objective for the first
            :data:`WARMUP_EVALUATIONS` evaluations when ``objective`` computes in bfloat16.

    Returns:
        The optimizer, not yet evaluated.
    """
    if num_correction < 1:
        raise ConfigError(f"num_correction is {num_correction}; pass a history size of 1 or more")
    if warmup is not None and name != "lbfgs":
        raise ConfigError(f"a warm-up objective is for lbfgs only, not {name!r}")
    if name == "lbfgs":
        return LBFGS(
            objective,
            x0,
            num_correction=num_correction,
            jit_compile=jit_compile,
            float64_scalars=float64_scalars,
            warmup=warmup,
        )
    if name == "tfp_lbfgs":
        return TFPLBFGS(objective, x0, num_correction=num_correction, jit_compile=jit_compile)
    if name == "adam":
        return Adam(objective, x0, learning_rate=learning_rate, jit_compile=jit_compile)
    raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
