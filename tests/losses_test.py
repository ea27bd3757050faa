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
