"""The style-transfer objective: targets captured once, value and gradient as one traced call."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tf_style import losses
from tf_style.features import Extractor


class Objective:
    """Content, style and TV losses of an image in Caffe space, with their image gradient.

    Targets live in tf.Variables so a traced evaluation stays valid when new targets of the same
    shapes are captured (the next image of a batch, the next run of a `Stylizer`).
    """

    def __init__(
        self,
        extractor: Extractor,
        *,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        normalize_gradients: bool = False,
    ):
        self.extractor = extractor
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.normalize = bool(normalize_gradients)
        self.content_targets: list[tf.Variable] = []
        self.style_targets: list[tf.Variable] = []

    def _features(self, image) -> list[tf.Tensor]:
        outputs = self.extractor.model(image, training=False)
        return outputs if isinstance(outputs, (list, tuple)) else [outputs]

    def capture_content(self, content: np.ndarray) -> None:
        """Stores the content image's activations at the content layers."""
        feats = self._features(tf.constant(content))
        values = [tf.cast(feats[i], tf.float32) for i in self.extractor.content]
        self.content_targets = _assign(self.content_targets, values)

    def capture_styles(self, styles: Sequence[np.ndarray], blend_weights: Sequence[float]) -> None:
        """Stores the blended Gram matrices: sum_i w_i * gram(style_i), each at its own size."""
        grams = None
        for image, weight in zip(styles, blend_weights, strict=True):
            feats = self._features(tf.constant(image))
            current = [weight * losses.gram_matrix(feats[i]) for i in self.extractor.style]
            grams = current if grams is None else [a + b for a, b in zip(grams, current)]
        self.style_targets = _assign(self.style_targets, grams)

    def terms(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(content and style losses as one vector in print order, TV loss)."""
        feats = self._features(image)
        terms = [
            losses.content_loss(feats[i], target, self.content_weight, normalize=self.normalize)
            for i, target in zip(self.extractor.content, self.content_targets)
        ] + [
            losses.style_loss(feats[i], target, self.style_weight, normalize=self.normalize)
            for i, target in zip(self.extractor.style, self.style_targets)
        ]
        # The original's TV module has no forward value; its gradient is added, its value is not
        # printed. We compute the value too, so line-search optimizers see a consistent objective.
        tv = losses.tv_loss(image, self.tv_weight) if self.tv_weight > 0 else tf.constant(0.0)
        return tf.stack(terms), tv

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(loss, gradient w.r.t. the image, per-layer losses); traceable."""
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms, tv = self.terms(image)
            loss = tf.reduce_sum(terms) + tv
        return loss, tape.gradient(loss, image), terms

    @property
    def num_content(self) -> int:
        return len(self.extractor.content)


def _assign(variables: list[tf.Variable], values: list[tf.Tensor]) -> list[tf.Variable]:
    if len(variables) == len(values) and all(v.shape == x.shape for v, x in zip(variables, values)):
        for v, x in zip(variables, values):
            v.assign(x)
        return variables
    return [tf.Variable(x, trainable=False) for x in values]
