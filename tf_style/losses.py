"""Loss functions of neural style transfer: content, style (Gram, mean and covariance,
Wasserstein-2), total variation.

Pure tensor functions that work eagerly and inside ``tf.function``. The math is the original's
(jcjohnson/neural-style, docs/semantics.md#losses): MSE losses averaged over their elements, Gram
matrices divided by the layer's total element count, and a squared total-variation term.

Features may arrive in a reduced precision (bfloat16 or float16 convolutions); every loss casts
them to float32 first, so Gram matrices and MSE reductions always run in float32 (a bfloat16
Gram loses precision and a float16 Gram overflows, docs/performance.md#precision).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    return statistics(features, "gram")[0]


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
    unweighted: Callable[..., tf.Tensor],
    features: tf.Tensor,
    target: Sequence[tf.Tensor],
    weight: tf.Tensor,
) -> tf.Tensor:
    """``weight * unweighted(features, *target)`` with the original's normalised gradient.

    The gradient w.r.t. ``features`` is ``weight * g / (sum|g| + 1e-8)`` times the upstream
    gradient, where ``g`` is the gradient of the un-weighted loss
    (docs/semantics.md#normalized-gradients); the value stays ``weight * loss``, so the
    gradient is deliberately not the gradient of the value. ``target`` (one or more tensors)
    and ``weight`` are explicit inputs (not captured) so that they may be ``tf.Variable``s;
    they receive no gradient.
    """

    @tf.custom_gradient
    def loss(f, w, *p):
        with tf.GradientTape() as tape:
            tape.watch(f)
            value = unweighted(f, *p)
        g = tape.gradient(value, f)

        def grad(upstream):
            scale = upstream * w / (tf.reduce_sum(tf.abs(g)) + _NORMALIZE_EPSILON)
            return (scale * g, None, *[None] * len(p))

        return w * value, grad

    return loss(_f32(features), _f32(weight), *map(_f32, target))


def content_loss(
    features: tf.Tensor,
    target: tf.Tensor,
    weight: float | tf.Tensor,
    *,
    normalize: bool = False,
    mask: tf.Tensor | None = None,
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
        mask: per-position weights ([1, H, W, 1]) of the squared differences (-content_mask),
            still averaged over every element: an all-ones mask is the plain loss.

    Returns:
        A float32 scalar.
    """
    distance = _mse
    if mask is not None:
        m = _f32(mask)

        def distance(x, p):
            return tf.reduce_mean(m * tf.square(x - p))

    if normalize:
        return _normalized_loss(distance, features, [target], weight)
    return _f32(weight) * distance(_f32(features), _f32(target))


def statistics(features: tf.Tensor, kind: str, mask: tf.Tensor | None = None):
    """The statistics of a feature map that a style loss of `kind` compares.

    `gram`: (the Gram matrix / (C*H*W),); `mean_cov` and `w2`: (the channels' mean, their
    covariance). With a `mask` (one weight per position, [1, H, W, 1] or [H, W]), every position
    counts with the square of its weight: the Gram of `F * mask` divided by C times the sum of
    the squared weights, and the weighted mean and covariance; an all-ones mask gives exactly
    the unmasked statistics.
    """
    return from_moments(kind, *moments(features, kind, mask))


def moments(features: tf.Tensor, kind: str, mask: tf.Tensor | None = None):
    """(the positions' total weight, the weighted sum of the features or None for `gram`, the
    weighted sum of their outer products) of a feature map; each position weighs the square of
    its `mask` value (1 without one). Sums of these over the parts of an image (tiles) are the
    whole image's: `from_moments` turns them into `statistics`."""
    f = _f32(features)
    f = tf.reshape(f, [-1, tf.shape(f)[-1]])
    if mask is None:
        count = tf.cast(tf.shape(f)[0], tf.float32)
    else:
        m = tf.reshape(_f32(mask), [-1, 1])
        f = f * m
        count = tf.reduce_sum(tf.square(m))
    # With a mask f holds m f: sum m^2 f = (m f)^T m, and the outer products are Gram(m f).
    first = None
    if kind != "gram":
        first = tf.reduce_sum(f if mask is None else f * m, axis=0)
    return count, first, _gram(f)


def from_moments(kind: str, count, first, second):
    """`statistics` from `moments` (or their sums)."""
    channels = tf.cast(tf.shape(second)[0], tf.float32)
    # A mask may leave no weight at all (a tile outside a region): statistics of nothing are 0.
    count = tf.maximum(count, 1e-30)
    if kind == "gram":
        return (second / (count * channels),)
    mean = first / count
    return mean, second / count - mean[:, None] * mean[None, :]


def blend(parts: Sequence[tuple[tf.Tensor, ...]], weights: Sequence[float]):
    """The weighted sum of several images' statistics, component by component: blended Gram
    matrices (the original's), or blended means and covariances."""
    return tuple(
        sum(w * component for w, component in zip(weights, components))
        for components in zip(*parts)
    )


# The covariances W2 compares get this fraction of their mean variance added on the diagonal:
# a ReLU layer's covariance is singular (dead channels, fewer positions than channels at the
# last layers), and the matrix square root's gradient grows as the inverse square root of the
# smallest eigenvalue. 1e-5 keeps it bounded at a change of the distance far below its noise.
_W2_RIDGE = 1e-5


def _ridge(covariance: tf.Tensor) -> tf.Tensor:
    c = covariance.shape[-1] or tf.shape(covariance)[-1]
    scale = tf.linalg.trace(covariance) / tf.cast(c, covariance.dtype)
    return covariance + _W2_RIDGE * scale * tf.eye(c, dtype=covariance.dtype)


def w2_target(mean: tf.Tensor, covariance: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """What `w2_squared` compares with, computed once per capture: (mean, the covariance with
    its ridge, its matrix square root). The square root by eigendecomposition in float64."""
    covariance = _ridge(_f32(covariance))
    values, vectors = tf.linalg.eigh(tf.cast(covariance, tf.float64))
    root = (vectors * tf.sqrt(tf.maximum(values, 0.0))[None, :]) @ tf.transpose(vectors)
    return _f32(mean), covariance, tf.cast(root, tf.float32)


@tf.custom_gradient
def _trace_sqrt(m: tf.Tensor) -> tf.Tensor:
    """tr(m^1/2) of a symmetric positive semi-definite matrix, with the gradient (m^-1/2) / 2.

    Why eigendecomposition, and not the gradient of eigh or Newton-Schulz: the loss needs only
    the trace of the square root, whose gradient is half the inverse square root, so one
    float32 eigendecomposition gives both and no eigenvector derivative (whose 1/(l_i - l_j)
    terms blow up on the repeated eigenvalues of ReLU features) is ever formed. Newton-Schulz
    iterations converge slowly on such ill-conditioned matrices and cost more matrix products
    than one eigh (30 ms for 512 x 512 on the 2-core CPU). Eigenvalues below 1e-7 of the
    largest are float32 rounding: they are clamped there in the gradient.
    """
    values, vectors = tf.linalg.eigh(m)
    roots = tf.sqrt(tf.maximum(values, 0.0))

    def grad(upstream):
        floor = 1e-7 * tf.reduce_max(values)
        inverse = 0.5 / tf.sqrt(tf.maximum(values, floor))
        return upstream * (vectors * inverse[None, :]) @ tf.transpose(vectors)

    return tf.reduce_sum(roots), grad


def w2_squared(mean, covariance, target_mean, target_covariance, target_root) -> tf.Tensor:
    """The squared Wasserstein-2 distance between the Gaussians N(mean, covariance) and the
    target's: |m - m_t|^2 + tr(S + S_t - 2 (T S T)^1/2) with T = S_t^1/2 (`w2_target`)."""
    s = _ridge(covariance)
    inner = target_root @ s @ target_root
    inner = 0.5 * (inner + tf.transpose(inner))  # symmetric to the last bit, for eigh
    spread = tf.linalg.trace(s) + tf.linalg.trace(target_covariance) - 2.0 * _trace_sqrt(inner)
    return tf.reduce_sum(tf.square(mean - target_mean)) + spread


def _style_distance(kind: str, mask: tf.Tensor | None):
    """The un-weighted style loss of `kind`: features and the target's statistics -> scalar."""

    def distance(features, *target):
        stats = statistics(features, kind, mask)
        if kind == "gram":
            return _mse(stats[0], target[0])
        if kind == "mean_cov":
            return _mse(stats[0], target[0]) + _mse(stats[1], target[1])
        # Per channel, like the other two's means: comparable across layers of any width.
        channels = tf.cast(tf.shape(stats[0])[0], tf.float32)
        return w2_squared(*stats, *target) / channels

    return distance


def style_loss(
    features: tf.Tensor,
    target: Sequence[tf.Tensor] | tf.Tensor,
    weight: float | tf.Tensor,
    *,
    kind: str = "gram",
    normalize: bool = False,
    mask: tf.Tensor | None = None,
) -> tf.Tensor:
    """The style loss of a layer: ``weight`` times the distance of `kind` between the
    features' statistics and the target's.

    * ``gram``: ``mean((G(F) - A)^2)`` over the ``C*C`` Gram entries (the original's,
      docs/semantics.md#style-loss); `target` is the (blended) target Gram matrix ``A``.
    * ``mean_cov``: the mean squared differences of the channels' means and of their
      covariances; `target` is (mean, covariance).
    * ``w2``: the squared Wasserstein-2 distance between Gaussian fits, divided by the number
      of channels (`w2_squared`); `target` is `w2_target`'s.

    Args:
        features: activations of the image being optimised, ``[1, H, W, C]`` or ``[H, W, C]``.
        target: the target's statistics, as above (a lone tensor for ``gram``).
        weight: the style weight.
        kind: ``gram``, ``mean_cov`` or ``w2``.
        normalize: the original's ``-normalize_gradients``, as in :func:`content_loss`.
        mask: per-position weights guiding the statistics (see `statistics`).

    Returns:
        A float32 scalar.
    """
    target = target if isinstance(target, (list, tuple)) else [target]
    # A tensor, not a variable: the custom gradient of -normalize_gradients must not read one.
    distance = _style_distance(kind, None if mask is None else _f32(mask))
    if normalize:
        return _normalized_loss(distance, features, target, weight)
    return _f32(weight) * distance(_f32(features), *map(_f32, target))


def tv_loss(image: tf.Tensor, weight: float | tf.Tensor, wrap: bool = False) -> tf.Tensor:
    """Squared total-variation loss of the original (docs/semantics.md#total-variation).

    ``weight / 2 * sum(a^2 + b^2)`` with ``a = x[i, j] - x[i, j+1]`` and ``b = x[i, j] - x[i+1, j]``
    over the top-left ``(H-1) x (W-1)`` block only: the last row's horizontal and the last
    column's vertical differences are left out, exactly as the original's hand-written backward
    does. The original never reports this value (its module's forward is the identity); its
    gradient equals that backward.

    With `wrap` (-seamless, an addition) the differences run around the edges too, over every
    pixel: the last column's right neighbour is the first column.

    Args:
        image: ``[1, H, W, C]`` (the original hard-wires C = 3).
        weight: the TV weight.
        wrap: the image is a torus (a tileable texture).

    Returns:
        A float32 scalar.
    """
    x = _f32(image)
    if wrap:
        a = x - tf.roll(x, -1, axis=2)
        b = x - tf.roll(x, -1, axis=1)
        return 0.5 * _f32(weight) * tf.reduce_sum(tf.square(a) + tf.square(b))
    # tf.slice, not x[:, :-1, :-1]: the CPU gradient of a strided slice (StridedSliceGrad) took
    # 12 ms of a 130 ms open_nsfw evaluation at 384 px, the slices' (a pad) 1 ms.
    size = tf.shape(x) - [0, 1, 1, 0]
    corner = tf.slice(x, [0, 0, 0, 0], size)
    a = corner - tf.slice(x, [0, 0, 1, 0], size)
    b = corner - tf.slice(x, [0, 1, 0, 0], size)
    return 0.5 * _f32(weight) * tf.reduce_sum(tf.square(a) + tf.square(b))


def temporal_loss(
    image: tf.Tensor, target: tf.Tensor, mask: tf.Tensor, weight: float | tf.Tensor
) -> tf.Tensor:
    """Ruder et al.'s short-term temporal loss (docs/video.md#the-maths):
    ``weight * mean(c * (x - w)^2)`` over all ``H*W*C`` elements, with ``w`` the previous
    stylised frame warped by the optical flow and ``c`` the consistency mask (1 where the flow
    is reliable, 0 at disocclusions and motion boundaries).

    Args:
        image: ``[1, H, W, C]``, the image being optimised.
        target: the warped previous frame, same shape.
        mask: ``[1, H, W, 1]`` per-pixel weights in [0, 1].
        weight: the temporal weight.

    Returns:
        A float32 scalar.
    """
    difference = _f32(image) - _f32(target)
    return _f32(weight) * tf.reduce_mean(_f32(mask) * tf.square(difference))
