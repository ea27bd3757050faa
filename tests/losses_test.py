"""Tests for tf_style.losses against numpy transcriptions of the original's math."""

import numpy as np
import pytest
import tensorflow as tf

from tf_style import losses

RTOL = 1e-5


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def np_gram(f):
    """docs/semantics.md#gram-matrix: F^T F / (C*H*W) on the (H*W) x C matrix."""
    mat = f.reshape(-1, f.shape[-1]).astype(np.float64)
    return mat.T @ mat / mat.size


def np_tv_backward(x, weight):
    """The original's hand-written TVLoss backward (docs/semantics.md#total-variation), on x of
    shape [C, H, W]."""
    a = x[:, :-1, :-1] - x[:, :-1, 1:]
    b = x[:, :-1, :-1] - x[:, 1:, :-1]
    g = np.zeros_like(x)
    g[:, :-1, :-1] += a + b
    g[:, :-1, 1:] -= a
    g[:, 1:, :-1] -= b
    return weight * g


def grad_of(fn, x):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x)
    return value, tape.gradient(value, x)


@pytest.mark.parametrize("shape", [(1, 5, 4, 3), (5, 4, 3)])
def test_gram_matrix_matches_numpy(rng, shape):
    f = rng.normal(size=shape).astype(np.float32)
    got = losses.gram_matrix(f).numpy()
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, np_gram(f), rtol=RTOL, atol=1e-7)


def test_gram_gradient_for_an_asymmetric_upstream(rng):
    # The Gram's own gradient F (dG + dG^T) / N: an asymmetric dG checks both terms.
    f = rng.normal(size=(1, 5, 4, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3)).astype(np.float32)
    _, grad = grad_of(lambda x: tf.reduce_sum(w * losses.gram_matrix(x)), f)
    mat = f.reshape(-1, 3).astype(np.float64)
    want = mat @ (w + w.T) / f.size
    np.testing.assert_allclose(grad.numpy().reshape(-1, 3), want, rtol=RTOL, atol=1e-8)


def test_content_loss_value_and_gradient(rng):
    f = rng.normal(size=(1, 4, 6, 5)).astype(np.float32)
    p = rng.normal(size=f.shape).astype(np.float32)
    value, grad = grad_of(lambda x: losses.content_loss(x, p, 7.5), f)
    np.testing.assert_allclose(value.numpy(), 7.5 * np.mean((f - p) ** 2.0), rtol=RTOL)
    # docs/semantics.md#content-loss: lambda * 2 (F - P) / N.
    np.testing.assert_allclose(grad.numpy(), 7.5 * 2 * (f - p) / f.size, rtol=RTOL, atol=1e-8)


def test_style_loss_value_and_gradient(rng):
    f = rng.normal(size=(1, 6, 5, 4)).astype(np.float32)
    a = np_gram(rng.normal(size=(1, 3, 7, 4)))
    value, grad = grad_of(lambda x: losses.style_loss(x, a.astype(np.float32), 100.0), f)
    g = np_gram(f)
    np.testing.assert_allclose(value.numpy(), 100.0 * np.mean((g - a) ** 2), rtol=RTOL)
    # docs/semantics.md#style-loss, as coded in the original: lambda * 4 (G - A) F / (N C^2).
    mat = f.reshape(-1, 4).astype(np.float64)
    want = 100.0 * 4 * mat @ (g - a) / (f.size * 16)
    np.testing.assert_allclose(grad.numpy().reshape(-1, 4), want, rtol=RTOL, atol=1e-8)


def test_tv_loss_value_and_gradient_match_original_backward(rng):
    x = rng.normal(size=(1, 5, 7, 3)).astype(np.float32)
    value, grad = grad_of(lambda t: losses.tv_loss(t, 0.3), x)
    chw = x[0].transpose(2, 0, 1).astype(np.float64)
    a = chw[:, :-1, :-1] - chw[:, :-1, 1:]
    b = chw[:, :-1, :-1] - chw[:, 1:, :-1]
    np.testing.assert_allclose(value.numpy(), 0.15 * np.sum(a**2 + b**2), rtol=RTOL)
    want = np_tv_backward(chw, 0.3).transpose(1, 2, 0)[np.newaxis]
    np.testing.assert_allclose(grad.numpy(), want, rtol=RTOL, atol=1e-6)


def test_normalized_content_gradient(rng):
    f = rng.normal(size=(1, 3, 4, 5)).astype(np.float32)
    p = rng.normal(size=f.shape).astype(np.float32)
    # An upstream factor (3) must multiply the normalised gradient.
    value, grad = grad_of(lambda x: 3.0 * losses.content_loss(x, p, 5.0, normalize=True), f)
    np.testing.assert_allclose(value.numpy(), 15.0 * np.mean((f - p) ** 2.0), rtol=RTOL)
    g = 2 * (f - p).astype(np.float64) / f.size
    want = 3.0 * 5.0 * g / (np.abs(g).sum() + 1e-8)
    np.testing.assert_allclose(grad.numpy(), want, rtol=RTOL, atol=1e-8)


def test_normalized_style_gradient(rng):
    f = rng.normal(size=(1, 4, 3, 6)).astype(np.float32)
    a = np_gram(rng.normal(size=(1, 5, 5, 6)))
    value, grad = grad_of(
        lambda x: losses.style_loss(x, a.astype(np.float32), 50.0, normalize=True), f
    )
    gram = np_gram(f)
    np.testing.assert_allclose(value.numpy(), 50.0 * np.mean((gram - a) ** 2), rtol=RTOL)
    g = 4 * f.reshape(-1, 6).astype(np.float64) @ (gram - a) / (f.size * 36)
    want = 50.0 * g / (np.abs(g).sum() + 1e-8)
    np.testing.assert_allclose(grad.numpy().reshape(-1, 6), want, rtol=RTOL, atol=1e-8)


def test_normalized_loss_accepts_variables(rng):
    f = rng.normal(size=(1, 3, 3, 2)).astype(np.float32)
    target = tf.Variable(rng.normal(size=f.shape).astype(np.float32))
    weight = tf.Variable(2.0)
    _, grad = grad_of(lambda x: losses.content_loss(x, target, weight, normalize=True), f)
    g = f - target.numpy()
    np.testing.assert_allclose(grad.numpy(), 2.0 * g / np.abs(g).sum(), rtol=1e-4, atol=1e-7)


def test_eager_and_graph_agree(rng):
    f = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    p = rng.normal(size=f.shape).astype(np.float32)
    a = np_gram(p).astype(np.float32)

    def total(x):
        return (
            losses.content_loss(x, p, 2.0, normalize=True)
            + losses.style_loss(x, a, 3.0)
            + losses.style_loss(x, a, 4.0, normalize=True)
            + losses.tv_loss(x[..., :3], 0.5)
        )

    eager = grad_of(total, f)
    graph = tf.function(lambda x: grad_of(total, x))(tf.constant(f))
    for e, g in zip(eager, graph, strict=True):
        np.testing.assert_allclose(e.numpy(), g.numpy(), rtol=RTOL, atol=1e-8)


@pytest.mark.parametrize("normalize", [False, True])
def test_bfloat16_features_give_float32_losses(rng, normalize):
    f32 = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    bf16 = tf.cast(f32, tf.bfloat16)
    rounded = tf.cast(bf16, tf.float32).numpy()
    p = rng.normal(size=f32.shape).astype(np.float32)
    a = np_gram(p).astype(np.float32)
    for loss in (
        lambda x: losses.content_loss(x, p, 2.0, normalize=normalize),
        lambda x: losses.style_loss(x, a, 3.0, normalize=normalize),
    ):
        value, grad = grad_of(loss, bf16)
        assert value.dtype == tf.float32
        assert grad.dtype == tf.bfloat16
        want_value, want_grad = grad_of(loss, rounded)
        np.testing.assert_allclose(value.numpy(), want_value.numpy(), rtol=RTOL)
        # Only the rounding of the gradient to bfloat16 (8 mantissa bits) on its way back.
        np.testing.assert_allclose(tf.cast(grad, tf.float32).numpy(), want_grad.numpy(), rtol=2**-8)


# -style_loss mean_cov and w2, against numpy and scipy written here.


def np_moments(f):
    """The channels' mean and (population) covariance of a [1, H, W, C] activation."""
    mat = f.reshape(-1, f.shape[-1]).astype(np.float64)
    mean = mat.mean(axis=0)
    centred = mat - mean
    return mean, centred.T @ centred / len(mat)


def np_ridge(cov):
    """docs/quality.md: 1e-5 of the mean variance added on the diagonal."""
    return cov + 1e-5 * np.trace(cov) / len(cov) * np.eye(len(cov))


def np_w2_squared(f, g):
    """|m_f - m_g|^2 + tr(S_f + S_g - 2 (S_g^1/2 S_f S_g^1/2)^1/2) with scipy's sqrtm."""
    from scipy.linalg import sqrtm

    (mf, sf), (mg, sg) = np_moments(f), np_moments(g)
    sf, sg = np_ridge(sf), np_ridge(sg)
    root = sqrtm(sg).real
    inner = sqrtm(root @ sf @ root).real
    return np.sum((mf - mg) ** 2) + np.trace(sf + sg - 2 * inner)


def features(rng, shape=(1, 9, 11, 6), shift=0.0):
    # ReLU-like: non-negative, with correlated channels and a few exact zeros.
    raw = rng.normal(size=shape) @ rng.normal(size=(shape[-1], shape[-1])) + shift
    return np.maximum(raw, 0).astype(np.float32)


def target_of(kind, g):
    stats = losses.statistics(tf.constant(g), kind)
    return list(losses.w2_target(*stats) if kind == "w2" else stats)


def test_mean_cov_and_w2_losses_match_numpy_and_scipy(rng):
    f, g = features(rng), features(rng, shift=0.5)
    mean, cov = losses.statistics(tf.constant(f), "mean_cov")
    np_mean, np_cov = np_moments(f)
    np.testing.assert_allclose(mean, np_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cov, np_cov, rtol=1e-4, atol=1e-5)
    (gm, gc) = np_moments(g)
    want = 3.0 * (np.mean((np_mean - gm) ** 2) + np.mean((np_cov - gc) ** 2))
    got = losses.style_loss(f, target_of("mean_cov", g), 3.0, kind="mean_cov")
    np.testing.assert_allclose(float(got), want, rtol=1e-4)
    got = losses.style_loss(f, target_of("w2", g), 3.0, kind="w2")
    np.testing.assert_allclose(float(got), 3.0 * np_w2_squared(f, g) / f.shape[-1], rtol=1e-4)
    # The squared distance itself, as written in docs/quality.md.
    target = target_of("w2", g)
    w2 = losses.w2_squared(*losses.statistics(tf.constant(f), "w2"), *target)
    np.testing.assert_allclose(float(w2), np_w2_squared(f, g), rtol=1e-4)


@pytest.mark.parametrize("kind", ["gram", "mean_cov", "w2"])
@pytest.mark.parametrize("normalize", [False, True])
def test_style_loss_gradients_match_finite_differences(rng, kind, normalize):
    f, g = features(rng, (1, 7, 8, 5)), features(rng, (1, 6, 9, 5), shift=0.3)
    target = target_of(kind, g)

    def loss(x):
        return losses.style_loss(x, target, 2.0, kind=kind, normalize=normalize)

    _, grad = grad_of(loss, f.astype(np.float64).astype(np.float32))
    grad = grad.numpy().astype(np.float64)
    if normalize:  # the original's: the un-weighted gradient, L1-normalised, times the weight
        _, plain = grad_of(lambda x: losses.style_loss(x, target, 1.0, kind=kind), f)
        plain = plain.numpy().astype(np.float64)
        np.testing.assert_allclose(grad, 2.0 * plain / (np.abs(plain).sum() + 1e-8), rtol=1e-4)
        return
    for _ in range(3):
        d = grad / np.abs(grad).max() + 0.3 * rng.normal(size=f.shape)
        eps = 1e-2
        numeric = (float(loss((f + eps * d).astype(np.float32))) -
                   float(loss((f - eps * d).astype(np.float32)))) / (2 * eps)  # fmt: skip
        assert float(np.sum(grad * d)) == pytest.approx(numeric, rel=2e-3)


def test_w2_of_a_distribution_with_itself_is_zero_and_flat_there(rng):
    f = features(rng)
    target = target_of("w2", f)
    scale = float(np.trace(np_moments(f)[1]))
    value, grad = grad_of(lambda x: losses.style_loss(x, target, 1.0, kind="w2"), f)
    assert abs(float(value)) < 1e-5 * scale
    # Against the gradient a little away from the minimum: zero up to float32 rounding.
    _, away = grad_of(lambda x: losses.style_loss(x, target, 1.0, kind="w2"), f * 1.2 + 0.1)
    assert np.abs(grad).max() < 1e-3 * np.abs(away).max()


def test_blending_blends_means_and_covariances(rng):
    a, b = features(rng), features(rng, (1, 5, 7, 6), shift=1.0)
    stats = [losses.statistics(tf.constant(x), "mean_cov") for x in (a, b)]
    mean, cov = losses.blend(stats, [0.25, 0.75])
    (ma, ca), (mb, cb) = np_moments(a), np_moments(b)
    np.testing.assert_allclose(mean, 0.25 * ma + 0.75 * mb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cov, 0.25 * ca + 0.75 * cb, rtol=1e-4, atol=1e-5)


def test_an_all_ones_mask_gives_the_unmasked_statistics_exactly(rng):
    f = tf.constant(features(rng))
    ones = tf.ones([1, 9, 11, 1])
    for kind in ("gram", "mean_cov"):
        for plain, masked in zip(losses.statistics(f, kind), losses.statistics(f, kind, ones)):
            np.testing.assert_array_equal(plain.numpy(), masked.numpy())
