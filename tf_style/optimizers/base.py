"""What every optimizer of the image shares: its run state, one fixed step, and the runner.

Evaluation semantics are the original's (docs/semantics.md#evaluations-and-iterations): evaluation
`t`
evaluates the image `x_t`; the caller's callbacks (printing, saving) come after evaluation `t`
and see `x_t` with its loss; the update computed from evaluation `t` moves the image to
`x_{t+1}` only right before evaluation `t + 1`. A run of `N` evaluations therefore ends on
`x_N`: the original never evaluates nor saves its last update, and neither do we.

The objective is a traceable callable `objective(x) -> (loss, grad, aux)` (traced without
AutoGraph: control flow on tensors must be `tf.cond` / `tf.while_loop`): `x` a float32 tensor
of fixed shape, `loss` a float32 scalar, `grad` shaped like `x` and `aux` a float32 1-D tensor
(per-layer losses) passed through untouched.

`fixed_step` is functional: state in, state out. The `Optimizer` runner keeps that state in
`tf.Variable`s (a `tf.Module`, so `tf.train.Checkpoint` saves and restores a run exactly) and
runs chunks of steps as one traced call between the caller's callbacks.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf

from tf_style.errors import ConfigError

Objective = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]
# evaluate(x, evaluations done so far) -> (loss, grad, aux), all float32.
Evaluate = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]

# With a bfloat16 network, L-BFGS's first evaluations use a float32 objective. The original
# starts from noise of 0.001, far below the network's biases, and its first step is
# min(1, 1/sum|g|), smaller still: bfloat16 activations (8 significant bits) do not resolve
# the image yet, the first curvature pairs are rounding noise, and a bfloat16 run trailed
# float32 by tens of iterations (+11 % after 100 at 256 px for one start). The image reaches
# its working scale in about five evaluations (its rms grows 1000x at 256 px); with these in
# float32 the bfloat16 run follows float32's within 1 % (three starts, after 100).
WARMUP_EVALUATIONS = 5


def dot(a: tf.Tensor, b: tf.Tensor, dtype: tf.DType = tf.float64) -> tf.Tensor:
    """`a . b`: products in float32, accumulated in `dtype`.

    Torch's CPU dot returns a double (docs/semantics.md#precision-of-the-dot-products): about 1e-11
    relative
    at 3 x 512^2 elements, and on the CPU 8x faster than casting both vectors to float64 first.
    """
    return tf.reduce_sum(tf.cast(a * b, dtype))


def function(fn: Callable, jit_compile: bool) -> Callable:
    """`fn` as a `tf.function`, whose traces let go of their custom gradients once made."""

    @functools.wraps(fn)
    def traced(*args):
        with _custom_gradients_released():
            return fn(*args)

    # Control flow here is written with tf.cond / tf.while_loop, so AutoGraph has nothing to
    # convert; left on, it transpiles every function reached from the chunk (the objective and
    # the model's layers too), 4-5 s of a VGG-19 run's first trace.
    return tf.function(traced, jit_compile=jit_compile, autograph=False)


@contextlib.contextmanager
def _custom_gradients_released():
    """Unregisters the gradients that `tf.custom_gradient` registers while this traces.

    In a graph each `tf.custom_gradient` call registers its gradient function under a new
    name in TensorFlow's global registry, and nothing ever removes it; the function holds
    tensors of the graph being traced, so every traced objective stayed in memory with its
    graphs (a -scales chain kept each stage's). The chunk takes its gradients inside its own
    trace, so once the trace is made the entries are never looked up again. (Private API:
    TensorFlow has no public way to unregister; without the registry nothing is released.)
    """
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    known = len(registry) if isinstance(registry, dict) else None
    try:
        yield
    finally:
        if known is not None:
            # Dicts keep insertion order: what this trace registered comes after `known`.
            # (Traces nest, inner ones ending first; none run side by side in threads here.)
            for name in list(registry)[known:]:
                if name.startswith("CustomGradient-"):
                    del registry[name]


def all_finite(*tensors: tf.Tensor) -> tf.Tensor:
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


def acyclic(fn: Callable) -> Callable:
    """`fn` as a function call that TensorFlow does not inline into the caller's loops.

    oneDNN's graph pass gives a max pool's gradient its fast kernel only when it meets the
    forward pool first, walking the graph from its inputs; inside a loop it may meet them in
    either order, and then leaves the gradient to TensorFlow's own single-threaded kernel, 18x
    slower (a sixth of plain runs, every tiled run seen; see docs/performance.md). A call's
    body is a graph without loops, so the pass orders it right. Made at each trace of the
    caller, so no trace reuses variables an objective has replaced.
    """
    return tf.function(fn, autograph=False, experimental_attributes={"_noinline": True})


def evaluator(objective: Objective, warmup: Objective | None = None) -> Evaluate:
    """`evaluate(x, evaluations)` of `objective` in float32; with a `warmup` objective, that one
    serves the first WARMUP_EVALUATIONS evaluations (both are traced, only one runs)."""

    def cast(fn: Objective, x: tf.Tensor):
        loss, grad, aux = acyclic(fn)(x)  # every evaluation a call of its own, for oneDNN
        return (
            tf.cast(loss, tf.float32),
            tf.reshape(tf.cast(grad, tf.float32), tf.shape(x)),
            tf.cast(aux, tf.float32),
        )

    if warmup is None:
        return lambda x, evaluations: cast(objective, x)
    return lambda x, evaluations: tf.cond(
        evaluations < WARMUP_EVALUATIONS, lambda: cast(warmup, x), lambda: cast(objective, x)
    )


class RunState(NamedTuple):
    """What every fixed-step optimizer carries from one evaluation to the next."""

    x: tf.Tensor  # the image of the latest finite evaluation
    loss: tf.Tensor
    grad: tf.Tensor
    aux: tf.Tensor
    evaluations: tf.Tensor  # int64: finite evaluations done
    stopped: tf.Tensor  # the optimizer stopped itself
    nonfinite: tf.Tensor  # an evaluation gave NaN/Inf: stopped for good


# propose(state, memory) -> (next image, ok, memory); ok False: stop without evaluating.
Propose = Callable[[RunState, Any], tuple[tf.Tensor, tf.Tensor, Any]]
# accept(state, memory, new gradient) -> memory, once the proposed image evaluated finite.
Accept = Callable[[RunState, Any, tf.Tensor], Any]


def fixed_step(
    state: RunState, memory: Any, evaluate: Evaluate, propose: Propose, accept: Accept
) -> tuple[RunState, Any]:
    """One (update, evaluation) pair, or only the evaluation of x_1 when nothing is evaluated.

    `memory` is the optimizer's own state (the L-BFGS history, or nothing); `propose` and
    `accept` are the optimizer. Deviation from the original: a non-finite evaluation keeps the
    last finite image and stops (the original carries on with NaNs).
    """
    first = tf.equal(state.evaluations, 0)
    x_new, ok, proposed = tf.cond(
        first, lambda: (state.x, tf.constant(True), memory), lambda: propose(state, memory)
    )

    def evaluate_new():
        loss, grad, aux = evaluate(x_new, state.evaluations)

        def commit():
            kept = tf.cond(first, lambda: proposed, lambda: accept(state, proposed, grad))
            done = RunState(x_new, loss, grad, aux, state.evaluations + 1, *_flags(False, False))
            return done, kept

        return tf.cond(
            all_finite(loss, grad), commit, lambda: (_with_flags(state, False, True), proposed)
        )

    return tf.cond(ok, evaluate_new, lambda: (_with_flags(state, True, False), proposed))


def _flags(stopped: bool, nonfinite: bool) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.constant(stopped), tf.constant(nonfinite)


def _with_flags(state: RunState, stopped: bool, nonfinite: bool) -> RunState:
    return state._replace(**dict(zip(("stopped", "nonfinite"), _flags(stopped, nonfinite))))


class _Untracked:
    """Holds a function so that `tf.Module` does not checkpoint whatever it closes over."""

    def __init__(self, fn: Callable):
        self.fn = fn


class Optimizer(tf.Module):
    """An optimizer of one image, run in chunks; the state is all `tf.Variable`s.

    Attributes:
        title: name for the original's "Running optimization with ..." line.
        image: `tf.Variable` holding the image of the latest (finite) evaluation.
    """

    title = ""

    def __init__(
        self,
        objective: Objective,
        x0: tf.Tensor,
        *,
        jit_compile: bool = False,
        warmup: Objective | None = None,
        average_decay: float = 0.0,
    ):
        super().__init__(name=type(self).__name__.lower())
        self._evaluate_fn = _Untracked(evaluator(objective, warmup))
        self._decay = float(average_decay)
        x0 = tf.convert_to_tensor(x0, tf.float32)
        self.image = tf.Variable(x0, trainable=False, name="image")
        self._loss = tf.Variable(0.0, trainable=False, name="loss")
        self._grad = tf.Variable(tf.zeros_like(x0), trainable=False, name="grad")
        # Its length is known only once the objective runs.
        self._aux = tf.Variable(tf.zeros([0]), shape=[None], trainable=False, name="aux")
        self._evaluations = tf.Variable(0, dtype=tf.int64, trainable=False, name="evaluations")
        self._stopped = tf.Variable(False, trainable=False, name="stopped")
        self._nonfinite = tf.Variable(False, trainable=False, name="nonfinite")
        if self._decay:
            # -average_decay: the moving average of the iterates and how many it has seen.
            self._average = tf.Variable(tf.zeros_like(x0), trainable=False, name="average")
            self._averaged = tf.Variable(0, dtype=tf.int64, trainable=False, name="averaged")
        if jit_compile:
            # XLA compiles against the variables' current shapes, so aux needs its final
            # length before the first chunk: one extra trace of the objective finds it.
            spec = tf.TensorSpec(x0.shape, tf.float32)
            traced = function(self._evaluate, False).get_concrete_function(spec)
            self._aux.assign(tf.zeros(traced.structured_outputs[2].shape))

    def _evaluate(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return self._evaluate_fn.fn(x, self._evaluations)

    def _run_state(self) -> RunState:
        return RunState(*(v.read_value() for v in self._run_variables()))

    def _assign_run_state(self, state: RunState) -> None:
        for variable, value in zip(self._run_variables(), state, strict=True):
            variable.assign(value)

    def _run_variables(self) -> tuple[tf.Variable, ...]:
        return (
            self.image,
            self._loss,
            self._grad,
            self._aux,
            self._evaluations,
            self._stopped,
            self._nonfinite,
        )

    def result(self) -> tf.Tensor:
        """The image a run saves and returns: the latest iterate, or with -average_decay the
        bias-corrected moving average of the iterates, avg_t / (1 - decay^t) with
        avg_t = decay avg_{t-1} + (1 - decay) x_t and avg_0 = 0."""
        if not self._decay or int(self._averaged.numpy()) == 0:
            return self.image.read_value()
        t = tf.cast(self._averaged, tf.float32)
        return self._average / (1.0 - tf.pow(self._decay, t))

    def _update_average(self, grew: tf.Tensor, x: tf.Tensor) -> None:
        """Takes the iterate `x` into the average when `grew` (a new finite iterate)."""
        if not self._decay:
            return
        moved = self._decay * self._average + (1.0 - self._decay) * x
        self._average.assign(tf.where(grew, moved, self._average))
        self._averaged.assign_add(tf.cast(grew, tf.int64))

    @property
    def evaluations(self) -> int:
        """Objective evaluations done so far (finite ones; see :attr:`nonfinite`)."""
        return int(self._evaluations.numpy())

    @property
    def iterations(self) -> int:
        """Iterations done so far, in the unit of :meth:`run`: one per evaluation for `lbfgs`
        and `adam` (the original's "Iteration t" is evaluation t), TFP's own count for
        `tfp_lbfgs`."""
        return self.evaluations

    @property
    def stopped(self) -> bool:
        """Whether the optimizer stopped itself (`lbfgs`: progress not possible; `tfp_lbfgs`:
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
        """The objective's `aux` of the latest evaluation."""
        return self._aux.read_value()

    def reset(self, x0: tf.Tensor) -> None:
        """Starts a new run from `x0` (same shape), keeping the traced functions.

        This is what lets a `Stylizer` run again without retracing.
        """
        self.image.assign(tf.convert_to_tensor(x0, tf.float32))
        self._loss.assign(0.0)
        self._grad.assign(tf.zeros_like(self._grad))
        self._evaluations.assign(0)
        self._stopped.assign(False)
        self._nonfinite.assign(False)
        if self._decay:
            self._average.assign(tf.zeros_like(self._average))
            self._averaged.assign(0)
        self._reset_state()

    def _reset_state(self) -> None:
        """Clears what a subclass keeps between iterations (history, moments)."""

    def run(self, num_evaluations: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Runs one chunk as one `tf.function` call.

        Args:
            num_evaluations: evaluations to perform (for `tfp_lbfgs`: iterations). The first
                chunk of a run starts by evaluating the initial image.

        Returns:
            `(loss, aux)` of the latest evaluation. Fewer evaluations than asked are done when
            the optimizer stops itself or meets a non-finite value.
        """
        if num_evaluations < 0:
            raise ConfigError(f"num_evaluations is {num_evaluations}; pass a count of 0 or more")
        if num_evaluations == 0 or self.stopped or self.nonfinite:
            return self.loss, self.aux
        return self.chunk(tf.constant(num_evaluations, tf.int32))

    def chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """`run`'s chunk of `n` evaluations: the optimizer's traced (with -jit, compiled)
        function, which a caller's own `tf.function` may call too (a batch runs every
        replica's chunk in one traced program), though not differentiate: its trace lets go
        of the custom gradients a gradient through it would need (`function`)."""
        raise NotImplementedError


class FixedStepOptimizer(Optimizer):
    """Optimizers with one evaluation per iteration: a chunk is one `tf.while_loop` of
    `fixed_step`. Subclasses give `_propose`, `_accept` and their memory's variables."""

    def __init__(self, objective: Objective, x0: tf.Tensor, **options):
        super().__init__(objective, x0, **options)
        self._chunk_fn = function(self._chunk, options.get("jit_compile", False))

    def chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self._chunk_fn(n)

    def _memory(self) -> Any:
        """The subclass's state as `fixed_step` takes it."""
        return ()

    def _assign_memory(self, memory: Any) -> None:
        del memory

    def _propose(self, state: RunState, memory: Any) -> tuple[tf.Tensor, tf.Tensor, Any]:
        raise NotImplementedError

    def _accept(self, state: RunState, memory: Any, grad: tf.Tensor) -> Any:
        del state, grad
        return memory

    def _chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        def body(i, going):
            del going
            before = self._evaluations.read_value()
            state, memory = fixed_step(
                self._run_state(), self._memory(), self._evaluate_fn.fn, self._propose, self._accept
            )
            self._assign_run_state(state)
            self._assign_memory(memory)
            self._update_average(state.evaluations > before, state.x)
            return i + 1, ~(state.stopped | state.nonfinite)

        tf.while_loop(lambda i, going: going & (i < n), body, [tf.constant(0), tf.constant(True)])
        return self._loss.read_value(), self._aux.read_value()
