"""Loss functions of neural style transfer: content, Gram, style, total variation.

Pure tensor functions that work eagerly and inside ``tf.function``. The math is the original's
(jcjohnson/neural-style, docs/semantics.md#losses): MSE losses averaged over their elements, Gram
matrices divided by the layer's total element count, and a squared total-variation term.

Features may arrive in a reduced precision (bfloat16 or float16 convolutions); every loss casts
them to float32 first, so Gram matrices and MSE reductions always run in float32 (a bfloat16
Gram loses precision and a float16 Gram overflows, docs/performance.md#precision).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

# The original adds this to the L1 norm of the gradient in -normalize_gradients.
_NORMALIZE_EPSILON = 1e-8


def _f32(x: tf.Tensor) -> tf.Tensor:
    # convert_to_tensor reads a tf.Variable (tf.cast would return it unread), so that
    # tf.custom_gradient below never sees a variable among its inputs.
    return tf.cast(tf.convert_to_tensor(x), tf.float32)


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Gram matrix of a feature map, divided by its total element count.

    Args:
        features: activations of one image, shape ``[1, H, W, C]`` or ``[H, W, C]``, any float
            dtype (cast to float32).

    Returns:
        ``F^T F / (C*H*W)`` of shape ``[C, C]`` in float32, where ``F`` is the ``(H*W) x C``
        matrix of the activations (the original divides by ``N = C*H*W``, not by ``H*W``).
    """
    f = _f32(features)
    channels = tf.shape(f)[-1]
    f = tf.reshape(f, [-1, channels])
    size = tf.cast(tf.size(f), tf.float32)
    return _gram(f) / size


@tf.custom_gradient
def _gram(f: tf.Tensor) -> tf.Tensor:
    """``F^T F`` whose gradient is one product, ``F (dG + dG^T)``: the tape would form ``F dG``
    and ``F dG^T`` separately and add them, a third more Gram work per evaluation."""

    def grad(dg):
        return tf.matmul(f, dg + tf.transpose(dg))

    return tf.matmul(f, f, transpose_a=True), grad


def _mse(x: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.square(x - target))


def _normalized_loss(
    unweighted: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    features: tf.Tensor,
    target: tf.Tensor,
    weight: tf.Tensor,
) -> tf.Tensor:
    """``weight * unweighted(features, target)`` with the original's normalised gradient.

    The gradient w.r.t. ``features`` is ``weight * g / (sum|g| + 1e-8)`` times the upstream
    gradient, where ``g`` is the gradient of the un-weighted loss
    (docs/semantics.md#normalized-gradients); the value
    stays ``weight * loss``, so the gradient is deliberately not the gradient of the value.
    ``target`` and ``weight`` are explicit inputs (not captured) so that they may be
    ``tf.Variable``s; they receive no gradient.
    """

    @tf.custom_gradient
    def loss(f, p, w):
        with tf.GradientTape() as tape:
            tape.watch(f)
            value = unweighted(f, p)
        g = tape.gradient(value, f)

        def grad(upstream):
            scale = upstream * w / (tf.reduce_sum(tf.abs(g)) + _NORMALIZE_EPSILON)
            return scale * g, None, None

        return w * value, grad

    return loss(_f32(features), _f32(target), _f32(weight))


def content_loss(
    features: tf.Tensor, target: tf.Tensor, weight: float | tf.Tensor, *, normalize: bool = False
) -> tf.Tensor:
    """Content loss ``weight * mean((F - P)^2)`` (Torch ``MSECriterion``,
    docs/semantics.md#content-loss).

    Args:
        features: activations of the image being optimised, any float dtype.
        target: activations of the content image, same shape.
        weight: the content weight.
        normalize: the original's ``-normalize_gradients``: the gradient w.r.t. ``features``
            becomes ``weight * g / (sum|g| + 1e-8)`` with ``g`` the gradient of the un-weighted
            MSE; the returned value is unchanged.

    Returns:
        A float32 scalar.
    """
    if normalize:
        return _normalized_loss(_mse, features, target, weight)
    return _f32(weight) * _mse(_f32(features), _f32(target))


def _style_mse(features: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    return _mse(gram_matrix(features), target_gram)


def style_loss(
    features: tf.Tensor,
    target_gram: tf.Tensor,
    weight: float | tf.Tensor,
    *,
    normalize: bool = False,
) -> tf.Tensor:
    """Style loss ``weight * mean((G(F) - A)^2)`` over the ``C*C`` Gram entries
    (docs/semantics.md#style-loss).

    Args:
        features: activations of the image being optimised, ``[1, H, W, C]`` or ``[H, W, C]``.
        target_gram: the (blended) target Gram matrix ``A``, shape ``[C, C]``.
        weight: the style weight.
        normalize: the original's ``-normalize_gradients``, as in :func:`content_loss`.

    Returns:
        A float32 scalar.
    """
    if normalize:
        return _normalized_loss(_style_mse, features, target_gram, weight)
    return _f32(weight) * _style_mse(features, _f32(target_gram))


def tv_loss(image: tf.Tensor, weight: float | tf.Tensor) -> tf.Tensor:
    """Squared total-variation loss of the original (docs/semantics.md#total-variation).

    ``weight / 2 * sum(a^2 + b^2)`` with ``a = x[i, j] - x[i, j+1]`` and ``b = x[i, j] - x[i+1, j]``
    over the top-left ``(H-1) x (W-1)`` block only: the last row's horizontal and the last
    column's vertical differences are left out, exactly as the original's hand-written backward
    does. The original never reports this value (its module's forward is the identity); its
    gradient equals that backward.

    Args:
        image: ``[1, H, W, C]`` (the original hard-wires C = 3).
        weight: the TV weight.

    Returns:
        A float32 scalar.
    """
    x = _f32(image)
    corner = x[:, :-1, :-1, :]
    a = corner - x[:, :-1, 1:, :]
    b = corner - x[:, 1:, :-1, :]
    return 0.5 * _f32(weight) * tf.reduce_sum(tf.square(a) + tf.square(b))
