"""Optimizers of the image, run in chunks of evaluations between the caller's callbacks.

Three optimizers share one small interface (`base.Optimizer`), built by `make_optimizer`:

* `lbfgs`: the original's L-BFGS (`lbfgs.py`): fixed step, no line search, one evaluation per
  iteration; a functional core that the chunked runner, batches and the SavedModel export call.
* `tfp_lbfgs`: `tfp.optimizer.lbfgs_minimize` (Hager-Zhang line search, several evaluations
  per iteration), resumed chunk by chunk (`tfp_lbfgs.py`).
* `adam`: Keras 3 Adam with the original's settings (`adam.py`).
"""

from __future__ import annotations

import tensorflow as tf

from tf_style.config import OPTIMIZERS
from tf_style.errors import ConfigError
from tf_style.optimizers.adam import Adam
from tf_style.optimizers.base import WARMUP_EVALUATIONS, Objective, Optimizer
from tf_style.optimizers.lbfgs import LBFGS
from tf_style.optimizers.tfp_lbfgs import TFPLBFGS

_CLASSES = {"lbfgs": LBFGS, "tfp_lbfgs": TFPLBFGS, "adam": Adam}
assert tuple(_CLASSES) == OPTIMIZERS, "config.OPTIMIZERS names every optimizer here"


def warms_up(name: str, precision: str) -> bool:
    """Whether optimizer `name` with a `precision` network takes a float32 warm-up objective
    (see `base.WARMUP_EVALUATIONS`)."""
    return name == "lbfgs" and precision == "bfloat16"


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
    average_decay: float = 0.0,
) -> Optimizer:
    """Builds an optimizer of the image `x0`.

    Args:
        name: one of `config.OPTIMIZERS`.
        objective: `objective(x) -> (loss, grad, aux)`, traceable by `tf.function` without
            AutoGraph.
        x0: the initial image (any fixed shape), converted to float32.
        learning_rate: Adam's step size (the original's `-learning_rate`; L-BFGS, as in the
            original, always steps 1).
        num_correction: L-BFGS history size (`-lbfgs_num_correction`; the caller maps the
            original's 0 to 100).
        jit_compile: compile each chunk with XLA.
        float64_scalars: L-BFGS keeps its scalars and dot products in float64; False for
            devices without float64 (TPUs).
        warmup: `lbfgs` only: a float32 objective for the first `WARMUP_EVALUATIONS`
            evaluations when `objective` computes in bfloat16.
        average_decay: with a decay in (0, 1), `Optimizer.result` is the bias-corrected moving
            average of the iterates (-average_decay).

    Returns:
        The optimizer, not yet evaluated.

    Example:
        >>> import numpy as np
        >>> quadratic = lambda x: (tf.reduce_sum(x * x), 2 * x, tf.zeros([0]))
        >>> optimizer = make_optimizer("lbfgs", quadratic, np.ones((1, 4, 4, 3)))
        >>> loss, aux = optimizer.run(5)
    """
    if num_correction < 1:
        raise ConfigError(f"num_correction is {num_correction}; pass a history size of 1 or more")
    if warmup is not None and name != "lbfgs":
        raise ConfigError(f"a warm-up objective is for lbfgs only, not {name!r}")
    options = dict(jit_compile=jit_compile, average_decay=average_decay)
    if name == "lbfgs":
        return LBFGS(
            objective,
            x0,
            num_correction=num_correction,
            float64_scalars=float64_scalars,
            warmup=warmup,
            **options,
        )
    if name == "tfp_lbfgs":
        return TFPLBFGS(objective, x0, num_correction=num_correction, **options)
    if name == "adam":
        return Adam(objective, x0, learning_rate=learning_rate, **options)
    raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


__all__ = [
    "LBFGS",
    "OPTIMIZERS",
    "TFPLBFGS",
    "WARMUP_EVALUATIONS",
    "Adam",
    "Optimizer",
    "make_optimizer",
    "warms_up",
]
