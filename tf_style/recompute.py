"""-recompute: the extractor's backward pass recomputes activations instead of keeping them.

The network runs in segments cut at the loss and pooling layers; each segment keeps only its
outputs from the forward pass and recomputes the rest in the backward pass: a quarter to a third
less peak memory at 1024-2048 px (docs/high-resolution.md), for a second forward pass.
"""

from __future__ import annotations

import dataclasses

import keras

from tf_style import kerasgraph
from tf_style.features import Extractor, Segment, crossing, network_layers, split_extractor


def recompute_cuts(extractor: Extractor) -> list[str]:
    """The layers after which `recompute=True` cuts the network into segments.

    A cut follows each loss layer and each pooling layer (except the last layer) whose output
    alone feeds the rest: in a chain (VGG, NIN) that is every one of them; in a ResNet only
    those between residual blocks, so a segment there may span several blocks.
    """
    from tf_style.caffe import CaffePooling

    model = extractor.model
    layers = network_layers(model)
    position = {layer.name: i for i, layer in enumerate(layers)}
    feeds = kerasgraph.node_inputs(model)
    cuts = []
    for i, layer in enumerate(layers[:-1]):
        if layer.name in extractor.names or isinstance(layer, CaffePooling):
            if not crossing(feeds, position, layer.name, i):  # no residual branch crosses here
                cuts.append(layer.name)
    return cuts


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The segments of a `Recomputing` model; a plain object, so Keras does not track it."""

    segments: tuple[Segment, ...]
    recomputed: tuple[bool, ...]
    count: int


class Recomputing(keras.Model):
    """The extractor's functional model, whose call recomputes each segment in the backward pass.

    Shapes, layers and weights are those of the functional model (a functional subclass over
    the same graph); only `call` differs. Each segment is a `tf.custom_gradient` whose forward
    keeps just its outputs (loss activations and the boundary) and whose backward re-runs the
    segment under a local tape. `tf.recompute_grad` does the same but also differentiates the
    weights (our tape watches only the image), so we do not use it.

    A segment with fewer than two convolution or pooling layers is not recomputed: its only
    activation worth keeping is its output, which is kept anyway (tensorflow/tensorflow#11171).
    """

    def __init__(self, extractor: Extractor):
        model = extractor.model
        super().__init__(model.inputs, model.outputs, name=model.name)
        cuts = recompute_cuts(extractor)
        split = split_extractor(extractor, cuts, [""] * (len(cuts) + 1))
        recomputed = tuple(
            segment.model is not None and sum(map(_stores, network_layers(segment.model))) >= 2
            for segment in split.segments
        )
        self._plan = _Plan(split.segments, recomputed, len(extractor.names))

    def call(self, inputs, training=None, mask=None):
        import tensorflow as tf

        del training, mask  # inference only: no dropout or batch statistics
        values = [None] * self._plan.count
        h = tf.convert_to_tensor(inputs)
        for segment, recomputed in zip(self._plan.segments, self._plan.recomputed):
            run = _recomputed(segment.model) if recomputed else _plain(segment.model)
            outputs = run(h)
            for i, value in zip(segment.features, outputs):
                values[i] = value
            if segment.boundary is not None:
                h = outputs[segment.boundary]
        return values


def _stores(layer: keras.layers.Layer) -> bool:
    """Whether the layer is a convolution or pooling (what makes a segment worth recomputing)."""
    from tf_style.caffe import CaffePooling

    return isinstance(layer, (CaffePooling, keras.layers.Conv2D))


def _plain(model: keras.Model):
    def run(h):
        outputs = model(h, training=False)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    return run


def _recomputed(model: keras.Model):
    """`model` as a function whose backward pass recomputes its forward pass."""
    import tensorflow as tf

    forward = _plain(model)

    @tf.custom_gradient
    def run(h):
        outputs = forward(h)

        def grad(*upstream, variables=None):
            upstream = [tf.zeros_like(o) if u is None else u for o, u in zip(outputs, upstream)]
            # As tf.recompute_grad: a data dependency on the upstream gradient, so that the
            # recomputation runs in the backward pass and is not merged with the forward one.
            first = tf.reshape(upstream[0], [-1])[:1]
            gate = tf.cast(tf.reduce_max(tf.cast(first, tf.float32)), tf.bool)
            x = h + tf.cast(tf.where(tf.equal(gate, gate), 0.0, float("nan")), h.dtype)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                again = forward(x)
            dh = tape.gradient(again, x, output_gradients=upstream)
            # The network's weights are constants: no gradient for them.
            return (dh, [None] * len(variables)) if variables else dh

        return outputs, grad

    return lambda h: list(run(h))
