"""The original's L-BFGS: torch `optim.lbfgs` with neural-style's settings, state in, state out.

Fixed step (`min(1, 1/sum|g|)` on the first iteration, 1 afterwards), no line search,
`num_correction` curvature pairs kept in a ring buffer, a pair accepted only when
`y.s > 1e-10`, `H0 = y.s / y.y`; it stops itself when `g.d > 1` (tolX = -1); see
docs/semantics.md#l-bfgs. Scalars and dot products are float64 unless the device has
none (TPUs).

The two-loop recursion is computed in its matrix form: with the dot products `s_i.y_j` and
`y_i.y_j` of the pairs kept up to date, each of its loops is a small triangular solve, and the
image-sized work is four passes over the history per iteration instead of 4m dot products and
axpys: when a pair arrives, one pass over each history gives its products with the new pair and
with the new gradient (which the next direction needs), and the direction itself is one pass
over each. Same direction in exact arithmetic; it reads the history at memory bandwidth (about
6x faster at 512 px with 100 pairs on a 2-core CPU).

The core (`propose`, `accept`, `minimize`) is functional, as TFP's optimizers are: `Memory` in,
`Memory` out. `minimize` runs it on tensors alone (the SavedModel export); `LBFGS` keeps the
memory in variables and writes the history rows in place (the command line, `Stylizer`, batches).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

from tf_style.optimizers.base import (
    Evaluate,
    FixedStepOptimizer,
    Objective,
    RunState,
    all_finite,
    dot,
    fixed_step,
    function,
)

# torch optim.lbfgs as called by neural-style: tolX = -1, so "progress not possible" means
# g.d > 1, and a curvature pair is kept only when y.s > 1e-10.
TOL_X = -1.0
MIN_YS = 1e-10
# History rows are padded to 64 bytes, so that the first k rows are a view, not a copy.
_ROW_ALIGN = 16


class Memory(NamedTuple):
    """L-BFGS's own state, by ring-buffer slot (slot `head` is written next)."""

    s_history: tf.Tensor  # [m, row]: the steps s_i, as zero-padded rows
    y_history: tf.Tensor  # [m, row]: the gradient changes y_i
    sy: tf.Tensor  # [m, m]: s_i.y_j
    yy: tf.Tensor  # [m, m]: y_i.y_j
    rho: tf.Tensor  # [m]: 1 / s_i.y_i
    sg: tf.Tensor  # [m]: s_i.g for the latest gradient g (only kept slots are read)
    yg: tf.Tensor  # [m]: y_i.g
    num_pairs: tf.Tensor  # int32: pairs kept
    head: tf.Tensor  # int32
    h0: tf.Tensor  # the initial Hessian scale y.s / y.y of the latest pair
    step: tf.Tensor  # image-shaped: the latest step s = t d


def _scatter_rows(s_history, y_history, head, s_row, y_row):
    return (
        tf.tensor_scatter_nd_update(s_history, [[head]], [s_row]),
        tf.tensor_scatter_nd_update(y_history, [[head]], [y_row]),
    )


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the core runs: its scalar type, whether it may slice the history (XLA needs
    static shapes, so there every slot is read and masks zero the unused), and how a pair's
    rows are written into the history (functionally by default)."""

    scalars: tf.DType = tf.float64
    slice_rows: bool = True
    write_pair: Callable = _scatter_rows


def row_width(size: int) -> int:
    """A history row's length for an image of `size` values."""
    return -(-size // _ROW_ALIGN) * _ROW_ALIGN


def initial_memory(x0: tf.Tensor, num_correction, settings: Settings = Settings()) -> Memory:
    """The memory of a run that has kept no pair yet, with zeroed history rows."""
    width = (-(-tf.size(x0) // _ROW_ALIGN)) * _ROW_ALIGN
    m, f = num_correction, settings.scalars
    return Memory(
        tf.zeros([m, width]),
        tf.zeros([m, width]),
        tf.zeros([m, m], f),
        tf.zeros([m, m], f),
        tf.zeros([m], f),
        tf.zeros([m], f),
        tf.zeros([m], f),
        tf.constant(0),
        tf.constant(0),
        tf.constant(1.0, f),
        tf.zeros_like(x0),
    )


def _slots(memory: Memory):
    """m, static when known."""
    m = memory.rho.shape[0]
    return m if m is not None else tf.shape(memory.rho)[0]


def _row(x: tf.Tensor, history) -> tf.Tensor:
    """An image-shaped tensor as a zero-padded history row."""
    flat = tf.reshape(x, [-1])
    width = history.shape[1] if history.shape[1] is not None else tf.shape(history)[1]
    return tf.pad(flat, [[0, width - tf.size(flat)]])


def _leading(history, rows):
    """The history's slots `[0, rows)`; an int `rows` (under XLA) is every slot.

    Until the ring buffer is full its pairs are exactly those first slots, and a short run
    reads only what it has kept. A leading slice of the 64-byte aligned rows shares the
    buffer; others would be copied.
    """
    h = tf.convert_to_tensor(history)
    return h if isinstance(rows, int) else h[:rows]


def _products(history, vectors: list, rows, m, settings: Settings) -> tf.Tensor:
    """`[v.h_i for v in vectors]` for every slot i, in one pass over `history`.

    Slots from `rows` on read 0. Products accumulate in float32, as the BLAS dot of the
    original's Torch does; the result is in the scalar type.
    """
    h = _leading(history, rows)
    v = tf.stack(vectors)
    if not settings.slice_rows:  # under XLA
        # XLA:CPU runs the [k, n] x [n, rows] form as a naive loop (10x slower).
        out = tf.transpose(tf.matmul(h, v, transpose_b=True))
    else:
        # oneDNN streams the history once for a few vectors in this form; h @ v^T takes
        # 60 % longer (512 px, 100 pairs, 2 or 3 vectors, on the 2-core CPU).
        out = tf.matmul(v, h, transpose_b=True)
    if not isinstance(rows, int):
        out = tf.pad(out, [[0, 0], [0, m - rows]])
    return tf.cast(out, settings.scalars)


def _combination(history, v: tf.Tensor, rows) -> tf.Tensor:
    """`history^T @ v` over slots `[0, rows)`, in one pass at memory bandwidth."""
    return tf.linalg.matvec(_leading(history, rows), v[:rows], transpose_a=True)


def _with_row_and_column(matrix, at: tf.Tensor, row: tf.Tensor, column: tf.Tensor):
    """`matrix` with the row where `at` is True set to `row`, that column to `column`."""
    out = tf.where(at[:, None], row[None, :], matrix)
    return tf.where(at[None, :], column[:, None], out)


def direction(memory: Memory, g: tf.Tensor, settings: Settings = Settings()) -> tf.Tensor:
    """The two-loop recursion over the ring buffer, newest pair first, in matrix form."""
    m, k, head, f = _slots(memory), memory.num_pairs, memory.head, settings.scalars
    g_row = _row(g, memory.s_history)
    # Pairs by age (0 the newest); rows and columns of pairs not (yet) kept are zeroed.
    slots = (head - 1 - tf.range(m)) % m
    valid = tf.cast(tf.range(m) < k, f)
    mask = valid[:, None] * valid[None, :]
    rho = tf.gather(memory.rho, slots) * valid
    sy = tf.gather(tf.gather(memory.sy, slots), slots, axis=1) * mask
    yy = tf.gather(tf.gather(memory.yy, slots), slots, axis=1) * mask
    rows = k if settings.slice_rows else m
    # s_i.g and y_i.g came with the pass that kept the latest pair (see accept).
    sg = tf.gather(memory.sg, slots)
    yg = tf.gather(memory.yg, slots)
    eye = tf.eye(m, dtype=f)
    newer = tf.linalg.band_part(sy, -1, 0) * (1 - eye)  # [a, b] = s_a.y_b for b newer
    # First loop: alpha_a = rho_a s_a.q with q = -g - sum over newer b of alpha_b y_b.
    lower = eye + rho[:, None] * newer
    alpha = tf.linalg.triangular_solve(lower, (-rho * sg)[:, None], lower=True)
    # Second loop: beta_a = rho_a y_a.r with r = h0 q + sum over older c of
    # (alpha_c - beta_c) s_c.
    h0 = memory.h0
    older = tf.transpose(newer)  # [a, c] = s_c.y_a for c older
    u = h0 * (-yg[:, None] - tf.matmul(yy, alpha)) + tf.matmul(older, alpha)
    upper = eye + rho[:, None] * older
    beta = tf.linalg.triangular_solve(upper, rho[:, None] * u, lower=False)
    # d = h0 q + sum (alpha - beta) s = -h0 g - h0 sum alpha y + sum (alpha - beta) s.
    by_slot = tf.scatter_nd(slots[:, None], tf.concat([alpha - beta, -h0 * alpha], 1), [m, 2])
    by_slot = tf.cast(by_slot, tf.float32)
    d = (
        -tf.cast(h0, tf.float32) * g_row
        + _combination(memory.s_history, by_slot[:, 0], rows)
        + _combination(memory.y_history, by_slot[:, 1], rows)
    )
    return tf.reshape(d[: tf.size(g)], tf.shape(g))


def propose(
    state: RunState, memory: Memory, settings: Settings = Settings()
) -> tuple[tf.Tensor, tf.Tensor, Memory]:
    """The next image, whether progress is possible, and the memory holding the step."""
    g, f = state.grad, settings.scalars
    d = direction(memory, g, settings)
    ok = dot(g, d, f) <= -TOL_X
    first_step = tf.minimum(tf.constant(1.0, f), 1.0 / tf.reduce_sum(tf.abs(tf.cast(g, f))))
    t = tf.cast(tf.where(tf.equal(state.evaluations, 1), first_step, 1.0), tf.float32)
    step = t * d
    return state.x + step, ok, memory._replace(step=step)


def accept(
    state: RunState, memory: Memory, grad_new: tf.Tensor, settings: Settings = Settings()
) -> Memory:
    """The memory after the proposed step evaluated finite with gradient `grad_new`."""
    m, f = _slots(memory), settings.scalars
    y = grad_new - state.grad
    s = memory.step
    ys = dot(y, s, f)
    g_row = _row(grad_new, memory.s_history)

    def push():
        # When full, the slot at head holds the oldest pair: overwriting drops it.
        head = memory.head
        s_row, y_row = _row(s, memory.s_history), _row(y, memory.s_history)
        s_hist, y_hist = settings.write_pair(memory.s_history, memory.y_history, head, s_row, y_row)
        kept = tf.minimum(memory.num_pairs + 1, m)  # with this pair
        rows = kept if settings.slice_rows else m
        # s_i.y, s_i.g and y_i.s, y_i.y, y_i.g for every slot i: one pass over each history.
        s_dots = _products(s_hist, [y_row, g_row], rows, m, settings)
        y_dots = _products(y_hist, [s_row, y_row, g_row], rows, m, settings)
        # The new pair's own products come from dot, as the original's do.
        yy = dot(y, y, f)
        at_head = tf.equal(tf.range(m), head)
        s_dot = tf.where(at_head, ys, s_dots[0])
        y_dot = tf.where(at_head, ys, y_dots[0])
        y_norms = tf.where(at_head, yy, y_dots[1])
        return Memory(
            s_hist,
            y_hist,
            _with_row_and_column(memory.sy, at_head, y_dot, s_dot),
            _with_row_and_column(memory.yy, at_head, y_norms, y_norms),
            tf.where(at_head, 1.0 / ys, memory.rho),
            s_dots[1],
            y_dots[2],
            kept,
            (head + 1) % m,
            ys / yy,
            s,
        )

    def keep():
        # No new pair: the history's products with the new gradient alone.
        rows = memory.num_pairs if settings.slice_rows else m
        sg = _products(memory.s_history, [g_row], rows, m, settings)[0]
        yg = _products(memory.y_history, [g_row], rows, m, settings)[0]
        return memory._replace(sg=sg, yg=yg)

    return tf.cond(ys > MIN_YS, push, keep)


def minimize(
    evaluate: Evaluate,
    x0: tf.Tensor,
    num_evaluations: tf.Tensor,
    num_correction: int,
    settings: Settings = Settings(),
) -> RunState:
    """`num_evaluations` evaluations of L-BFGS from `x0`, on tensors alone (any shape).

    At most n - 1 pairs are ever kept, so the ring holds min(num_correction, n - 1) slots: the
    same pairs in the same order, in less memory.

    Returns:
        The run state after the last evaluation (or where the optimizer stopped, or at the
        last finite image).
    """
    n = tf.cast(num_evaluations, tf.int64)
    m = tf.maximum(tf.minimum(num_correction, tf.cast(n, tf.int32) - 1), 1)
    # The first evaluation, outside the loop: it fixes aux's shape.
    loss, grad, aux = evaluate(x0, tf.constant(0, tf.int64))
    finite = all_finite(loss, grad)
    state = RunState(x0, loss, grad, aux, tf.cast(finite, tf.int64), tf.constant(False), ~finite)

    def step(state, memory):
        return fixed_step(
            state,
            memory,
            evaluate,
            lambda st, mem: propose(st, mem, settings),
            lambda st, mem, g: accept(st, mem, g, settings),
        )

    state, _ = tf.while_loop(
        lambda st, mem: ~st.stopped & ~st.nonfinite & (st.evaluations < n),
        step,
        (state, initial_memory(x0, m, settings)),
    )
    return state


class LBFGS(FixedStepOptimizer):
    """`lbfgs`: the core above with its memory in variables, for chunked runs.

    The history rows are written in place by an XLA function (TensorFlow's own row writes
    would switch the variables to copy-on-read, see `_write_pair_rows`).
    """

    title = "L-BFGS"

    def __init__(
        self,
        objective: Objective,
        x0: tf.Tensor,
        *,
        num_correction: int = 100,
        float64_scalars: bool = True,
        **options,
    ):
        super().__init__(objective, x0, **options)
        jit_compile = options.get("jit_compile", False)
        m = num_correction
        f = tf.float64 if float64_scalars else tf.float32
        self._settings = Settings(f, not jit_compile, self._write_pair_in_place)
        shape = [m, row_width(self.image.shape.num_elements())]

        # One row per slot; only _write_pair writes them. The original preallocates its
        # buffers (2 x (m + 1) image-sized) and fills them. Without XLA a slot is read only
        # once it holds a pair, so the rows start uninitialised, and on the CPU the operating
        # system provides a row's memory when its first pair is written: the history grows
        # with the pairs kept, as neural-style-pt's does, instead of taking 0.59 GiB at 512 px
        # (9.4 at 2048) from the first iteration. A compiled chunk reads every slot (the masks
        # multiply the unused ones by 0), so there they must be zeros.
        def slots():
            if jit_compile:
                return tf.zeros(shape)
            return tf.raw_ops.Empty(shape=shape, dtype=tf.float32)

        start = initial_memory(tf.zeros([0]), m, self._settings)
        self._s_hist = tf.Variable(slots(), trainable=False, name="s_history")
        self._y_hist = tf.Variable(slots(), trainable=False, name="y_history")
        self._sy = tf.Variable(start.sy, trainable=False, name="s_dot_y")
        self._yy = tf.Variable(start.yy, trainable=False, name="y_dot_y")
        self._rho = tf.Variable(start.rho, trainable=False, name="rho")
        self._sg = tf.Variable(start.sg, trainable=False, name="s_dot_g")
        self._yg = tf.Variable(start.yg, trainable=False, name="y_dot_g")
        self._num_pairs = tf.Variable(0, trainable=False, name="num_pairs")
        self._head = tf.Variable(0, trainable=False, name="head")
        self._h0 = tf.Variable(start.h0, trainable=False, name="h0")
        self._s_step = tf.Variable(tf.zeros_like(self.image), trainable=False, name="step")
        self._write_pair = function(self._write_pair_rows, jit_compile=True)

    @property
    def num_pairs(self) -> int:
        """Curvature pairs the history holds now (at most `num_correction`)."""
        return int(self._num_pairs.numpy())

    def _small_variables(self) -> tuple[tf.Variable, ...]:
        """The memory's variables after the two histories, in `Memory`'s order."""
        return (
            self._sy,
            self._yy,
            self._rho,
            self._sg,
            self._yg,
            self._num_pairs,
            self._head,
            self._h0,
            self._s_step,
        )

    def _memory(self) -> Memory:
        # The histories go in as variables: the core reads them densely and writes them
        # through `_write_pair_in_place` only.
        small = (v.read_value() for v in self._small_variables())
        return Memory(self._s_hist, self._y_hist, *small)

    def _assign_memory(self, memory: Memory) -> None:
        for variable, value in zip(self._small_variables(), memory[2:], strict=True):
            variable.assign(value)

    def _propose(self, state, memory):
        return propose(state, memory, self._settings)

    def _accept(self, state, memory, grad):
        return accept(state, memory, grad, self._settings)

    def _reset_state(self) -> None:
        # Stale pairs in the buffers are never read: num_pairs says how many are valid.
        self._num_pairs.assign(0)
        self._head.assign(0)
        self._h0.assign(1.0)

    def _write_pair_in_place(self, s_history, y_history, head, s_row, y_row):
        del s_history, y_history  # they are the variables written here
        self._write_pair(head, s_row, y_row)
        return self._s_hist, self._y_hist

    def _write_pair_rows(self, head: tf.Tensor, s: tf.Tensor, y: tf.Tensor) -> None:
        # XLA updates the rows in place. TensorFlow's own row writes (scatter, slice assign)
        # switch a variable to copy-on-read for good, and every later dense read (the
        # matrix-vector products) would copy the whole history: 0.35 s at 512 px, m = 100.
        for history, row in ((self._s_hist, s), (self._y_hist, y)):
            history.assign(tf.tensor_scatter_nd_update(history, [[head]], [row]))
