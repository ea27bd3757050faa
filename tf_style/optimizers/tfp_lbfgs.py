"""`tfp_lbfgs`: TensorFlow Probability's L-BFGS (Hager-Zhang line search), resumed chunk by chunk.

TFP is imported when a chunk is first traced: it takes 1.7 s and 54 MB to import, for the one
optimizer that uses it.
"""

from __future__ import annotations

import tensorflow as tf

from tf_style.optimizers.base import Objective, Optimizer, all_finite, function


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
        **options,
    ):
        super().__init__(objective, x0, **options)
        jit_compile = options.get("jit_compile", False)
        size = self.image.shape.num_elements()
        self._m = num_correction
        self._iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self._position_deltas = tf.Variable(
            tf.zeros([num_correction, size]), trainable=False, name="position_deltas"
        )
        self._gradient_deltas = tf.Variable(
            tf.zeros([num_correction, size]), trainable=False, name="gradient_deltas"
        )
        self._first_fn = function(self._first_chunk, jit_compile)
        self._next_fn = function(self._next_chunk, jit_compile)

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
        finite = all_finite(results.objective_value, results.objective_gradient)

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

    def chunk(self, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        # Two functions, each traced once: TFP starts from a position or from its own results.
        # Which one runs depends on the state, so a caller's tf.function cannot take this
        # chunk (batches refuse tfp_lbfgs). With -average_decay the chunk goes one TFP iteration
        # at a time, so that the average takes every iterate.
        steps = [n] if not self._decay else [tf.constant(1)] * int(n)
        for step in steps:
            before = self.iterations
            result = (self._first_fn if self.evaluations == 0 else self._next_fn)(step)
            self._update_average(tf.constant(self.iterations > before), self.image)
            if self.stopped or self.nonfinite:
                break
        return result
