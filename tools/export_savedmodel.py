"""Exports style transfer as a TensorFlow SavedModel that runs without tf_style.

    python tools/export_savedmodel.py -model_file open_nsfw -output stylize_savedmodel

The SavedModel's `serving_default` signature takes `content` and `style` (float32 RGB
[H, W, 3] in [0, 1], any sizes) and `iterations` (int32 scalar) and returns `image` (float32
RGB [H, W, 3] in [0, 1], the content's size). Everything happens inside the graph: the
model's preprocessing (BGR, x scale, minus the mean pixel), the content and style targets, and
the original's L-BFGS (fixed step, no line search, one evaluation per iteration) as one
tf.while_loop. TensorFlow Serving, or any TensorFlow runtime, can load it:

    image = tf.saved_model.load("stylize_savedmodel").signatures["serving_default"](
        content=content, style=style, iterations=tf.constant(500))["image"]

Differences from `tf-style`: the images are used at the size given (resize them first, as
`tf_style.stylize.load_images` does), one style image, the generated image starts from the
content (the original's `-init image`), and the colour options are not applied. With those
settings the result equals the library's (a test checks it).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence

import tensorflow as tf
from absl import app, flags

from tf_style import losses, models, preprocess
from tf_style.config import StyleConfig
from tf_style.features import build_extractor
from tf_style.objective import Objective

# The library's own L-BFGS pieces, so that the exported loop and optimizers.LBFGS stay the same.
from tf_style.optimizers import _LBFGS_MIN_YS, _LBFGS_TOL_X, _all_finite, _dot

_DEFAULTS = {f.name: f for f in dataclasses.fields(StyleConfig)}


class StyleTransfer(tf.Module):
    """The exported computation: (content, style, iterations) -> stylised image.

    Example:
        >>> model, entry = models.load("open_nsfw")  # doctest: +SKIP
        >>> module = StyleTransfer(model, entry.content_layers, entry.style_layers)
        >>> tf.saved_model.save(module, "out", signatures={"serving_default": module.stylize})
    """

    def __init__(
        self,
        model,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        *,
        mean_bgr: Sequence[float] = preprocess.VGG_MEAN_BGR,
        scale: float = preprocess.CAFFE_SCALE,
        content_weight: float = 5.0,
        style_weight: float = 100.0,
        tv_weight: float = 1e-3,
        normalize_gradients: bool = False,
        pooling: str = "max",
        num_correction: int = 100,
    ):
        super().__init__(name="style_transfer")
        self._extractor = build_extractor(model, content_layers, style_layers, pooling)
        # Tracked, so that the SavedModel holds the weights.
        self.model = self._extractor.model
        self._weights = dict(
            content_weight=content_weight,
            style_weight=style_weight,
            tv_weight=tv_weight,
            normalize_gradients=normalize_gradients,
        )
        self._mean = tf.constant(mean_bgr, tf.float64)
        self._scale = tf.constant(scale, tf.float64)
        self._m = int(num_correction)
        self.stylize = tf.function(
            self._stylize,
            input_signature=[
                tf.TensorSpec([None, None, 3], tf.float32, name="content"),
                tf.TensorSpec([None, None, 3], tf.float32, name="style"),
                tf.TensorSpec([], tf.int32, name="iterations"),
            ],
        )

    def _to_net(self, rgb: tf.Tensor) -> tf.Tensor:
        # preprocess.to_caffe: float64 arithmetic, then float32.
        bgr = tf.cast(rgb, tf.float64)[..., ::-1]
        return tf.cast(self._scale * bgr - self._mean, tf.float32)[tf.newaxis]

    def _from_net(self, x: tf.Tensor) -> tf.Tensor:
        rgb = ((tf.cast(x[0], tf.float64) + self._mean) / self._scale)[..., ::-1]
        # The original's image.save clamps; so does this output.
        return tf.cast(tf.clip_by_value(rgb, 0.0, 1.0), tf.float32)

    def _features(self, x: tf.Tensor) -> list[tf.Tensor]:
        outputs = self.model(x, training=False)
        return outputs if isinstance(outputs, (list, tuple)) else [outputs]

    def _objective(self, content: tf.Tensor, style: tf.Tensor) -> Objective:
        """The library's Objective, its targets tensors of this trace instead of variables.

        The targets are Objective.capture_content's and capture_styles' (one style, weight 1).
        """
        objective = Objective(self._extractor, **self._weights)
        content_features, style_features = self._features(content), self._features(style)
        objective.content_targets = [
            tf.cast(content_features[i], tf.float32) for i in self._extractor.content
        ]
        objective.style_targets = [
            losses.gram_matrix(style_features[i]) for i in self._extractor.style
        ]
        return objective

    def _stylize(self, content: tf.Tensor, style: tf.Tensor, iterations: tf.Tensor) -> dict:
        x0 = self._to_net(content)
        objective = self._objective(x0, self._to_net(style))
        return {"image": self._from_net(lbfgs(objective, x0, iterations, self._m))}


def lbfgs(objective, x0: tf.Tensor, n: tf.Tensor, num_correction: int) -> tf.Tensor:
    """`n` evaluations of the original's L-BFGS from `x0`, with tensors for state.

    The algorithm is `tf_style.optimizers.LBFGS`'s, step for step, as the plain two-loop
    recursion (the library computes the same direction in matrix form, which needs its history
    in variables); the state lives in loop tensors instead, so the image may have any shape.
    As there, evaluation t
    evaluates x_t and the result is x_n; the loop stops early when progress is not possible
    (g.d > 1) or an evaluation is not finite (keeping the last finite image).

    Example:
        >>> x = lbfgs(objective, x0, tf.constant(10), num_correction=100)  # doctest: +SKIP

    Returns:
        The image of the last finite evaluation, shaped like `x0`.
    """

    def evaluate(x):
        loss, grad, _ = objective(x)
        return tf.cast(loss, tf.float32), tf.reshape(tf.cast(grad, tf.float32), tf.shape(x))

    # At most n - 1 pairs are ever stored, so a shorter ring gives the same pairs in the same
    # order and saves memory.
    m = tf.maximum(tf.minimum(num_correction, n - 1), 1)
    hist_shape = tf.concat([[m], tf.shape(x0)], 0)
    loss0, g0 = evaluate(x0)

    def direction(g, s_hist, y_hist, rho, k, head, h0):
        def first_loop(i, q, alphas):
            idx = (head - 1 - i) % m
            alpha = rho[idx] * _dot(s_hist[idx], q)
            q -= tf.cast(alpha, tf.float32) * y_hist[idx]
            return i + 1, q, tf.tensor_scatter_nd_update(alphas, [[idx]], [alpha])

        _, q, alphas = tf.while_loop(
            lambda i, q, a: i < k, first_loop, [0, -g, tf.zeros([m], tf.float64)]
        )
        r = tf.cast(h0, tf.float32) * q

        def second_loop(i, r):
            idx = (head - k + i) % m
            beta = rho[idx] * _dot(y_hist[idx], r)
            return i + 1, r + tf.cast(alphas[idx] - beta, tf.float32) * s_hist[idx]

        return tf.while_loop(lambda i, r: i < k, second_loop, [0, r])[1]

    def step(evaluations, going, x, g, s_hist, y_hist, rho, k, head, h0):
        d = direction(g, s_hist, y_hist, rho, k, head, h0)
        ok = _dot(g, d) <= -_LBFGS_TOL_X
        first_step = tf.minimum(
            tf.constant(1.0, tf.float64), 1.0 / tf.reduce_sum(tf.abs(tf.cast(g, tf.float64)))
        )
        t = tf.cast(tf.where(tf.equal(evaluations, 1), first_step, 1.0), tf.float32)
        s = t * d
        state = (x, g, s_hist, y_hist, rho, k, head, h0)

        def move():
            x_new = x + s
            loss, g_new = evaluate(x_new)

            def accept():
                y = g_new - g
                ys = _dot(y, s)

                def push():
                    # When full, the slot at head holds the oldest pair: overwriting drops it.
                    at = [[head]]
                    return (
                        tf.tensor_scatter_nd_update(s_hist, at, s[tf.newaxis]),
                        tf.tensor_scatter_nd_update(y_hist, at, y[tf.newaxis]),
                        tf.tensor_scatter_nd_update(rho, at, (1.0 / ys)[tf.newaxis]),
                        tf.minimum(k + 1, m),
                        (head + 1) % m,
                        ys / _dot(y, y),
                    )

                pairs = tf.cond(
                    ys > _LBFGS_MIN_YS, push, lambda: (s_hist, y_hist, rho, k, head, h0)
                )
                return (evaluations + 1, tf.constant(True), x_new, g_new, *pairs)

            # Not finite: stop with the last finite image, as optimizers.LBFGS does.
            return tf.cond(
                _all_finite(loss, g_new),
                accept,
                lambda: (evaluations, tf.constant(False), *state),
            )

        return tf.cond(ok, move, lambda: (evaluations, tf.constant(False), *state))

    start = (
        tf.constant(1),
        _all_finite(loss0, g0),
        x0,
        g0,
        tf.zeros(hist_shape),
        tf.zeros(hist_shape),
        tf.zeros([m], tf.float64),
        tf.constant(0),
        tf.constant(0),
        tf.constant(1.0, tf.float64),
    )
    final = tf.while_loop(lambda evaluations, going, *_: going & (evaluations < n), step, start)
    return final[2]


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the tool's flags, with tf-style's defaults and help texts."""

    def default(name):
        value = _DEFAULTS[name].default
        return ",".join(value) if isinstance(value, tuple) else value

    def define(kind, name, help_text=None, **kwargs):
        help_text = help_text or _DEFAULTS[name].metadata["help"]
        kind(name=name, default=default(name), help=help_text, flag_values=flag_values, **kwargs)

    define(flags.DEFINE_string, "model_file")
    define(flags.DEFINE_string, "proto_file")
    define(
        flags.DEFINE_list,
        "content_layers",
        _DEFAULTS["content_layers"].metadata["help"]
        + " A zoo model's own layers when both lists are left at VGG's.",
    )
    define(flags.DEFINE_list, "style_layers")
    for name in ("content_weight", "style_weight", "tv_weight"):
        define(flags.DEFINE_float, name)
    define(flags.DEFINE_bool, "normalize_gradients")
    define(flags.DEFINE_enum, "pooling", enum_values=["max", "avg"])
    define(flags.DEFINE_integer, "lbfgs_num_correction")
    flags.DEFINE_string(
        "output", None, "The directory to write the SavedModel to.", flag_values=flag_values
    )
    flags.mark_flag_as_required("output", flag_values=flag_values)


def main(argv: list[str], opts: flags.FlagValues = flags.FLAGS) -> int:
    """Exports with the parsed flags; returns the exit status (2 for bad input)."""
    if len(argv) > 1:
        print(f"export_savedmodel: unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    try:
        # StyleConfig validates the shared options with the messages tf-style gives.
        config = StyleConfig(
            model_file=opts.model_file,
            proto_file=opts.proto_file,
            content_layers=tuple(opts.content_layers),
            style_layers=tuple(opts.style_layers),
            content_weight=opts.content_weight,
            style_weight=opts.style_weight,
            tv_weight=opts.tv_weight,
            normalize_gradients=opts.normalize_gradients,
            pooling=opts.pooling,
            lbfgs_num_correction=opts.lbfgs_num_correction,
        )
        model, entry = models.load(config.model_file, config.proto_file or None)
        layers = config.content_layers, config.style_layers
        vgg_layers = (_DEFAULTS["content_layers"].default, _DEFAULTS["style_layers"].default)
        if entry is not None and layers == vgg_layers:
            layers = entry.content_layers, entry.style_layers
        module = StyleTransfer(
            model,
            *layers,
            mean_bgr=entry.mean_bgr if entry else preprocess.VGG_MEAN_BGR,
            scale=entry.scale if entry else preprocess.CAFFE_SCALE,
            content_weight=config.content_weight,
            style_weight=config.style_weight,
            tv_weight=config.tv_weight,
            normalize_gradients=config.normalize_gradients,
            pooling=config.pooling,
            num_correction=config.num_correction,
        )
        tf.saved_model.save(module, opts.output, signatures={"serving_default": module.stylize})
    except ValueError as e:  # ConfigError, ModelError, CaffeError, LayerError: bad input
        print(f"export_savedmodel: {e}", file=sys.stderr)
        return 2
    print(f"wrote {opts.output} (content {','.join(layers[0])}; style {','.join(layers[1])})")
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(lambda argv: sys.exit(main(argv)))
