"""The objective: per-layer losses against numpy on OpenCV's activations, and the gradient."""

import numpy as np
import pytest
import tensorflow as tf

from tf_style import caffe, image_io, preprocess
from tf_style.features import build_extractor
from tf_style.objective import Objective
from tf_style.testing.oracles import opencv_outputs

CONTENT = ["relu4_2"]
STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def np_gram(f):
    """Gram / (C*H*W) of a [1, H, W, C] activation, as the original computes it."""
    m = f.reshape(-1, f.shape[-1]).astype(np.float64)
    return m.T @ m / m.size


def np_tv(x, weight):
    """The original's squared TV over the top-left (H-1)x(W-1) block, halved."""
    x = x[0].astype(np.float64)
    a = x[:-1, :-1] - x[:-1, 1:]
    b = x[:-1, :-1] - x[1:, :-1]
    return weight / 2 * np.sum(a * a + b * b)


@pytest.fixture(scope="module")
def setup(tiny_vgg, images):
    proto, model_file = tiny_vgg
    content = preprocess.to_caffe(image_io.read_image(images["content"]))
    styles = [preprocess.to_caffe(image_io.read_image(images[k])) for k in ("style1", "style2")]
    return proto, model_file, content, styles


@pytest.mark.parametrize("normalize", [False, True])
def test_losses_at_iteration_one_match_numpy_on_opencv(setup, normalize):
    proto, model_file, content, styles = setup
    blend = [0.25, 0.75]
    x = preprocess.random_init(content.shape[1], content.shape[2], seed=0) * 5e4

    ex = build_extractor(caffe.load_model(proto, model_file), CONTENT, STYLE)
    objective = Objective(
        ex, content_weight=5.0, style_weight=100.0, tv_weight=1e-3, normalize_gradients=normalize
    )
    objective.capture_content(content)
    objective.capture_styles(styles, blend)
    terms, tv = objective.terms(tf.constant(x))

    names = CONTENT + STYLE
    at_x = opencv_outputs(proto, model_file, x, names)
    target = opencv_outputs(proto, model_file, content, CONTENT)
    grams = [opencv_outputs(proto, model_file, s, STYLE) for s in styles]
    want = [5.0 * np.mean((at_x[n].astype(np.float64) - target[n]) ** 2) for n in CONTENT]
    for n in STYLE:
        a = sum(w * np_gram(g[n]) for w, g in zip(blend, grams))
        want.append(100.0 * np.mean((np_gram(at_x[n]) - a) ** 2))
    np.testing.assert_allclose(terms.numpy(), want, rtol=1e-4)
    np.testing.assert_allclose(float(tv), np_tv(x, 1e-3), rtol=1e-5)


def test_gradient_matches_finite_differences(setup):
    proto, model_file, content, styles = setup
    ex = build_extractor(caffe.load_model(proto, model_file), ["relu2_1"], ["relu1_1", "relu2_1"])
    objective = Objective(ex, content_weight=1e-3, style_weight=1e-2, tv_weight=1e-3)
    objective.capture_content(content)
    objective.capture_styles(styles[:1], [1.0])
    rng = np.random.default_rng(3)
    x = content + rng.normal(0, 20, content.shape).astype(np.float32)
    loss, grad, _ = objective(tf.constant(x))

    def f(v):
        return float(objective(tf.constant(v.astype(np.float32)))[0])

    g = grad.numpy().astype(np.float64)
    for _ in range(3):
        # Directions with a large component along the gradient keep the float32 round-off of
        # f (about 1e-7 of its value) well below the change being measured.
        d = g / np.abs(g).max() + 0.5 * rng.normal(0, 1, x.shape)
        eps = 0.2
        numeric = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
        assert float(np.sum(g * d)) == pytest.approx(numeric, rel=1e-3)
    assert np.isfinite(float(loss))


def test_new_targets_of_the_same_shape_reuse_the_variables(setup):
    proto, model_file, content, styles = setup
    ex = build_extractor(caffe.load_model(proto, model_file), CONTENT, STYLE)
    objective = Objective(ex, content_weight=5.0, style_weight=100.0, tv_weight=0.0)
    objective.capture_content(content)
    objective.capture_styles(styles, [0.5, 0.5])

    def variables():
        return [
            id(v) for v in tf.nest.flatten([objective.content_targets, objective.style_targets])
        ]

    first = variables()
    objective.capture_content(content[:, ::-1])
    objective.capture_styles(styles[::-1], [0.5, 0.5])
    assert variables() == first


def test_the_gradient_takes_the_turned_kernels_captured_with_the_content(setup):
    # The input gradients' turned kernels are made once per capture, not in every backward pass
    # (caffe.kernels.snapshot_turned_kernels): the same gradient, following the weights of the
    # latest capture. The reference objective turns them in every backward pass, on a second
    # load of the model (a snapshot lives on its layers).
    proto, model_file, content, styles = setup
    model, fresh = caffe.load_model(proto, model_file), caffe.load_model(proto, model_file)
    weights = dict(content_weight=5.0, style_weight=100.0, tv_weight=0)
    objective = Objective(build_extractor(model, CONTENT, STYLE), **weights)
    reference = Objective(build_extractor(fresh, CONTENT, STYLE), **weights, turned_kernels=False)
    x = tf.constant(preprocess.random_init(content.shape[1], content.shape[2], seed=1) * 5e4)

    def turns(traced):  # the reverse and transpose of a 4-D kernel
        ops = traced.graph.get_operations()
        return [
            op
            for op in ops
            if op.type in ("ReverseV2", "Transpose") and op.inputs[0].shape.rank == 4
        ]

    def gradients():
        for o in (objective, reference):
            o.capture_content(content)
            o.capture_styles(styles, [0.5, 0.5])
        traced = tf.function(objective).get_concrete_function(tf.TensorSpec(x.shape))
        turning = tf.function(reference).get_concrete_function(tf.TensorSpec(x.shape))
        assert turns(turning) and not turns(traced)
        return traced(x)[1].numpy(), turning(x)[1].numpy()

    grad, want = gradients()
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    for m in (model, fresh):
        conv = m.get_layer("conv1_1")
        conv.kernel.assign(conv.kernel * 2.0)
    grad2, want2 = gradients()
    np.testing.assert_allclose(grad2, want2, rtol=1e-6, atol=1e-6 * np.abs(want2).max())
    assert not np.allclose(grad2, grad, rtol=1e-2)


def test_bfloat16_losses_close_to_float32(tiny_vgg):
    """Iteration 1: bfloat16 convolutions change the losses by well under 1% in total."""
    _, model_file = tiny_vgg
    model = caffe.load_model(None, model_file)
    rng = np.random.default_rng(1)
    content, style, x = (rng.uniform(-100, 100, (1, 48, 48, 3)).astype(np.float32) for _ in "abc")
    results = {}
    for precision in ("float32", "bfloat16"):
        extractor = build_extractor(model, ["relu4_2"], STYLE, precision=precision)
        objective = Objective(extractor, content_weight=5.0, style_weight=100.0, tv_weight=1e-3)
        objective.capture_content(content)
        objective.capture_styles([style], [1.0])
        loss, grad, terms = objective(tf.constant(x))
        results[precision] = loss.numpy(), grad, terms.numpy()
        wanted = tf.bfloat16 if precision == "bfloat16" else tf.float32
        assert all(t.dtype == wanted for t in extractor.model.outputs)
        assert loss.dtype == grad.dtype == tf.float32
    (l32, g32, t32), (l16, g16, t16) = results["float32"], results["bfloat16"]
    assert l16 == pytest.approx(l32, rel=0.01)
    # Per layer up to several percent on this 4-to-12-channel net (bfloat16 keeps 8 bits of
    # mantissa; a real VGG's 64-512 channels average much of it away).
    np.testing.assert_allclose(t16, t32, rtol=0.1)
    assert l16 != l32  # the bfloat16 path really is another computation
    cosine = tf.reduce_sum(g16 * g32) / (tf.norm(g16) * tf.norm(g32))
    assert float(cosine) > 0.95
