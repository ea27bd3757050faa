"""Exports style transfer as a TensorFlow SavedModel that runs without tf_style.

    python tools/export_savedmodel.py -model_file open_nsfw -output stylize_savedmodel

The export takes tf-style's model, layer, loss-weight, pooling, history, -style_loss,
layer-weight and -padding options. The SavedModel's `serving_default` signature takes `content` and
`style` (float32 RGB [H, W, 3] in [0, 1], any sizes) and `iterations` (int32 scalar) and returns
`image` (float32 RGB [H, W, 3] in [0, 1], the content's size). Everything happens inside the
graph: the model's preprocessing (BGR, x scale, minus the mean pixel), the content and style
targets, and the original's L-BFGS (fixed step, no line search, one evaluation per iteration) as
one tf.while_loop. TensorFlow Serving, or any TensorFlow runtime, can load it:

    image = tf.saved_model.load("stylize_savedmodel").signatures["serving_default"](
        content=content, style=style, iterations=tf.constant(500))["image"]

Differences from `tf-style`: the images are used at the size given (resize them first, as
`tf_style.inputs.load_images` does), one style image, the generated image starts from the
content (the original's `-init image`), and the colour options are not applied. With those
settings the result equals the library's (a test checks it).
"""

from __future__ import annotations

import dataclasses
import sys

import tensorflow as tf
from absl import flags

from tf_style import apps, models, preprocess
from tf_style.config import StyleConfig, check_layer_weights
from tf_style.config.fields import PADDINGS, POOLING, STYLE_LOSSES
from tf_style.errors import InputError
from tf_style.features import build_extractor
from tf_style.objective import Objective, Targets
from tf_style.optimizers import base, lbfgs

_DEFAULTS = {f.name: f for f in dataclasses.fields(StyleConfig)}


class StyleTransfer(tf.Module):
    """The exported computation: (content, style, iterations) -> stylised image.

    The library's own pieces: its extractor and `Objective` (with targets computed in the
    graph) and the functional core of its L-BFGS (`tf_style.optimizers.lbfgs.minimize`).

    Example:
        >>> config, _ = models.apply_zoo_defaults(StyleConfig(model_file="open_nsfw"))
        >>> model, entry = models.load(config.model_file)  # doctest: +SKIP
        >>> module = StyleTransfer(model, config, models.color_space(entry))
        >>> tf.saved_model.save(module, "out", signatures={"serving_default": module.stylize})
    """

    def __init__(self, model, config: StyleConfig, space: preprocess.ColorSpace):
        super().__init__(name="style_transfer")
        extractor = build_extractor(
            model,
            config.content_layers,
            config.style_layers,
            config.pooling,
            padding=config.padding,
        )
        # Tracked, so that the SavedModel holds the weights.
        self.model = extractor.model
        # No turned-kernel snapshots: they are untracked variables a SavedModel cannot hold.
        self._objective = Objective.for_config(extractor, config, turned_kernels=False)
        self._mean = tf.constant(space.mean, tf.float64)
        self._scale = tf.constant(space.scale, tf.float64)
        self._m = config.num_correction
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

    def _stylize(self, content: tf.Tensor, style: tf.Tensor, iterations: tf.Tensor) -> dict:
        x0 = self._to_net(content)
        objective = self._objective
        targets = Targets(
            objective.content_targets_of(x0),
            objective.style_targets_of([self._to_net(style)], [1.0]),
        )
        evaluate = base.evaluator(lambda x: objective.evaluate(x, targets))
        final = lbfgs.minimize(evaluate, x0, iterations, self._m)
        return {"image": self._from_net(final.x)}


# The tf-style options the export takes (the rest concern images, output files and devices).
_EXPORTED = (
    "model_file",
    "proto_file",
    "content_layers",
    "style_layers",
    "content_weight",
    "style_weight",
    "tv_weight",
    "normalize_gradients",
    "pooling",
    "lbfgs_num_correction",
    "style_loss",
    "style_layer_weights",
    "content_layer_weights",
    "padding",
)


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
    define(flags.DEFINE_enum, "pooling", enum_values=list(POOLING))
    define(flags.DEFINE_integer, "lbfgs_num_correction")
    define(flags.DEFINE_enum, "style_loss", enum_values=list(STYLE_LOSSES))
    define(flags.DEFINE_list, "style_layer_weights")
    define(flags.DEFINE_list, "content_layer_weights")
    define(flags.DEFINE_enum, "padding", enum_values=list(PADDINGS))
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
        # StyleConfig validates the shared options with the messages tf-style gives, and a zoo
        # model brings its own defaults as it does for tf-style.
        config, _ = models.apply_zoo_defaults(
            StyleConfig(**{name: _flag_value(opts, name) for name in _EXPORTED})
        )
        check_layer_weights(config)
        model, entry = models.load(config.model_file, config.proto_file or None)
        module = StyleTransfer(model, config, models.color_space(entry))
        tf.saved_model.save(module, opts.output, signatures={"serving_default": module.stylize})
    except InputError as e:  # a bad option, model file or layer
        print(f"export_savedmodel: {e}", file=sys.stderr)
        return 2
    layers = ",".join(config.content_layers), ",".join(config.style_layers)
    print(f"wrote {opts.output} (content {layers[0]}; style {layers[1]})")
    return 0


def _flag_value(opts: flags.FlagValues, name: str):
    value = opts[name].value
    return tuple(value) if isinstance(value, list) else value


if __name__ == "__main__":
    define_flags()
    apps.run(lambda argv: sys.exit(main(argv)))
