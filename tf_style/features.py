"""The feature extractor: a Keras model returning the loss layers' activations.

It is cut right after the last loss layer (Keras keeps only the layers the outputs need, which is
the original's truncation) and, with `-pooling avg`, every max pooling layer it keeps is replaced
by the original's average pooling (floor rounding, no padding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras


class LayerError(ValueError):
    """A requested layer does not exist in the model."""


@dataclasses.dataclass(frozen=True)
class Extractor:
    """`model(x)` returns the activations of `names`, in network order.

    `content` and `style` are indices into `names` (a layer may serve both), in network order.
    `indices` are the original's module numbers of `names` (loadcaffe counts every Caffe layer,
    ReLUs included, from 1), used in the "Setting up ... layer" lines.
    """

    model: keras.Model
    names: tuple[str, ...]
    indices: tuple[int, ...]
    content: tuple[int, ...]
    style: tuple[int, ...]
    replaced_pools: tuple[int, ...]


def network_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in network order, without the input layer."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def build_extractor(
    model: keras.Model,
    content_layers: Sequence[str],
    style_layers: Sequence[str],
    pooling: str = "max",
) -> Extractor:
    """Builds the truncated extractor for the named layers.

    The original matches names one after another and silently ignores the rest of a list after a
    misspelt or out-of-order name (its quirk Q1); here names may come in any order, and an unknown
    name raises LayerError listing the model's layer names.
    """
    layers = network_layers(model)
    position = {layer.name: i for i, layer in enumerate(layers)}
    for kind, requested in (("content", content_layers), ("style", style_layers)):
        unknown = [n for n in requested if n not in position]
        if unknown:
            raise LayerError(
                f"-{kind}_layers: the model has no layer {', '.join(map(repr, unknown))}; "
                f"its layers are {','.join(position)}"
            )
    names = sorted(set(content_layers) | set(style_layers), key=position.__getitem__)
    truncated = keras.Model(model.input, [model.get_layer(n).output for n in names])
    replaced = []
    if pooling == "avg":
        truncated, replaced = _average_pooling(truncated, position)
    truncated.trainable = False
    return Extractor(
        model=truncated,
        names=tuple(names),
        indices=tuple(position[n] + 1 for n in names),
        content=tuple(i for i, n in enumerate(names) if n in content_layers),
        style=tuple(i for i, n in enumerate(names) if n in style_layers),
        replaced_pools=tuple(replaced),
    )


def _average_pooling(model: keras.Model, position: dict[str, int]):
    """Replaces max pooling with the original's average pooling: floor rounding, pad 0."""
    from tf_style.caffe import CaffePooling

    replaced = []

    def swap(layer):
        config = layer.get_config()
        if isinstance(layer, CaffePooling) and config["pool"] == "max":
            replaced.append(position[layer.name] + 1)
            config.update(pool="ave", padding=(0, 0), round_mode="floor")
            return CaffePooling.from_config(config)
        return layer  # the same layer object, so the weights are shared, not copied

    clone = keras.models.clone_model(model, clone_function=swap)
    return clone, sorted(replaced)
