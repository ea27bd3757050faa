"""BatchNorm and Scale folded into the convolution before them, in an extractor's model.

A ResNet such as open_nsfw follows every convolution with a BatchNorm and a Scale layer, each a
per-channel `x * scale + bias` (`ChannelAffine`): four elementwise passes over the activation
forward and two backward, a third of an evaluation's time at 384 px on the 2-core CPU
(docs/performance.md#resnets). Both are affine per output channel, so they fold into the
convolution's kernel and bias exactly (up to float32 rounding).

Folding happens where the layers to compute are known (`features.build_extractor`): a
convolution whose output feeds only affine layers folds them up to the first one whose output is
asked for, so every requested layer gives the unfolded model's value. A folded affine layer
stays in the model as an identity layer of its own name (free at run time: TensorFlow's graph
optimiser removes it), so layer names, the original's module numbers and split points stay as
they were; only the requested outputs are exact, a folded chain's inner layers all give its
folded output. The loaded model keeps every Caffe layer as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import keras
import numpy as np

from tf_style import kerasgraph
from tf_style.caffe.layers import CaffeConvolution, ChannelAffine


def chains(model: keras.Model, keep: Iterable[str] = ()) -> dict[str, list[str]]:
    """Convolution name -> the affine layers that fold into it, in order (only non-empty ones).

    An affine layer folds when it is the only consumer of the output before it (a convolution's
    or a folded affine's), that output is neither a model output nor in `keep`, and no layer
    involved is called more than once in the graph.
    """
    feeds = kerasgraph.node_inputs(model)
    calls = Counter(name for name, _ in feeds)
    readers: dict[str, list[str]] = {}
    for name, sources in feeds:
        for source in sources:
            readers.setdefault(source, []).append(name)
    keep = set(keep) | {kerasgraph.producer(t) for t in model.outputs}
    layers = {layer.name: layer for layer in model.layers}
    plan = {}
    for name, layer in layers.items():
        if not isinstance(layer, CaffeConvolution) or calls[name] != 1:
            continue
        chain, last = [], name
        while last not in keep and len(readers.get(last, ())) == 1:
            (reader,) = readers[last]
            if not isinstance(layers[reader], ChannelAffine) or calls[reader] != 1:
                break
            chain.append(reader)
            last = reader
        if chain:
            plan[name] = chain
    return plan


def folded_weights(conv: CaffeConvolution, affines: list[ChannelAffine]) -> list[np.ndarray]:
    """[kernel, bias] of `conv` followed by `affines`, computed in float64.

    Per output channel o: kernel[..., o] * s_o and bias_o * s_o + t_o for each affine's scale s
    and bias t (a missing bias is 0).
    """
    kernel = np.asarray(conv.kernel, np.float64)
    bias = np.asarray(conv.bias, np.float64) if conv.use_bias else np.zeros(kernel.shape[-1])
    for affine in affines:
        scale = np.asarray(affine.scale, np.float64)
        kernel = kernel * scale
        bias = bias * scale + (np.asarray(affine.bias, np.float64) if affine.use_bias else 0.0)
    return [kernel.astype(np.float32), bias.astype(np.float32)]


def fold(model: keras.Model, keep: Iterable[str] = ()) -> keras.Model:
    """A copy of `model` with its foldable affine layers folded (`chains`); `model` itself when
    nothing folds. Layers that do not change are shared with `model`."""
    plan = chains(model, keep)
    if not plan:
        return model
    layers = {layer.name: layer for layer in model.layers}
    folded = {affine for chain in plan.values() for affine in chain}
    made = []

    def rebuild(layer):
        if layer.name in plan:
            new = layer.__class__.from_config({**layer.get_config(), "use_bias": True})
            made.append((new, folded_weights(layer, [layers[a] for a in plan[layer.name]])))
            return new
        if layer.name in folded:
            return keras.layers.Identity(name=layer.name)
        return layer

    clone = keras.models.clone_model(model, clone_function=rebuild)
    for new, weights in made:
        new.set_weights(weights)
        new.trainable = False
    return clone
