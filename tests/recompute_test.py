"""Tests for tf_style.recompute: -recompute keeps the loss and gradient and cuts where it should."""

import numpy as np
import pytest

from tf_style import caffe
from tf_style.features import build_extractor, network_layers


@pytest.fixture(scope="module")
def model(tiny_vgg):
    return caffe.load_model(*tiny_vgg)


def _evaluate(model, recompute, pooling, content, style, x):
    """(loss, terms, image gradient) of one traced evaluation of the default layers."""
    import tensorflow as tf

    from tf_style.objective import Objective

    ex = build_extractor(
        model,
        ["relu4_2"],
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
        pooling,
        recompute=recompute,
    )
    objective = Objective(ex, content_weight=5.0, style_weight=100.0, tv_weight=1e-3)
    objective.capture_content(content)
    objective.capture_styles([style], [1.0])
    loss, grad, terms = tf.function(objective)(tf.constant(x))
    return ex, loss.numpy(), terms.numpy(), grad.numpy()


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_recompute_gives_the_same_loss_and_gradient(model, pooling):
    rng = np.random.default_rng(2)
    content, style, x = (rng.normal(0, 50, (1, 40, 56, 3)).astype(np.float32) for _ in range(3))
    _, loss, terms, grad = _evaluate(model, False, pooling, content, style, x)
    ex, loss_r, terms_r, grad_r = _evaluate(model, True, pooling, content, style, x)
    # The recomputing model keeps the functional model's graph: layers, outputs, shapes.
    assert network_layers(ex.model)[-1].name == "relu5_1"
    # 40x56 pooled four times: max pooling rounds up (3x4), the average replacement down (2x3).
    want = (1, 3, 4, 12) if pooling == "max" else (1, 2, 3, 12)
    assert ex.model.compute_output_shape((1, 40, 56, 3))[-1] == want
    assert any(ex.model._plan.recomputed)
    np.testing.assert_allclose(loss_r, loss, rtol=1e-5)
    np.testing.assert_allclose(terms_r, terms, rtol=1e-5)
    np.testing.assert_allclose(grad_r, grad, rtol=1e-5, atol=1e-5 * np.abs(grad).max())


def test_recompute_cuts_after_loss_and_pooling_layers(model):
    from tf_style.recompute import recompute_cuts

    ex = build_extractor(model, ["relu4_2"], ["relu1_1", "relu3_1"])
    # relu4_2 ends the network, so no cut follows it; relu4_1 is no loss layer.
    assert recompute_cuts(ex) == ["relu1_1", "pool1", "pool2", "relu3_1", "pool3"]
