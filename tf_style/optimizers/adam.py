"""`adam`: Keras 3 Adam with torch `optim.adam`'s settings (docs/semantics.md#adam)."""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_style.optimizers.base import FixedStepOptimizer, Objective


class Adam(FixedStepOptimizer):
    """Keras' Adam step on the image, one evaluation per iteration; its moments live in the
    Keras optimizer's variables."""

    title = "ADAM"

    def __init__(
        self,
        objective: Objective,
        x0: tf.Tensor,
        *,
        learning_rate: float = 10.0,
        **options,
    ):
        super().__init__(objective, x0, **options)
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

    def _propose(self, state, memory):
        # Keras' Adam step and its step count, as apply_gradients makes them, without its sum
        # of the gradients over tf.distribute replicas: each replica of a batch optimises its
        # own job, and that sum (a merge_call) fails inside the replica's traced chunk. The
        # step moves `image` (which holds state.x) in place.
        self._adam.update_step(state.grad, self.image, self._adam.learning_rate)
        self._adam.iterations.assign_add(1)
        return self.image.read_value(), tf.constant(True), memory
