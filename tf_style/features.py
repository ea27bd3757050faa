"""The feature extractor: a Keras model returning the loss layers' activations.

It is cut right after the last loss layer (Keras keeps only the layers the outputs need, which is
the original's truncation) and, with `-pooling avg`, every max pooling layer it keeps is replaced
by the original's average pooling (floor rounding, no padding).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence

import keras

from tf_style import kerasgraph
from tf_style.errors import LayerError


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
    segments: tuple[Segment, ...] = ()  # set by split_extractor; empty: one device


@dataclasses.dataclass(frozen=True)
class Segment:
    """One device's piece of a split extractor (see `split_extractor`).

    `model(h)` returns the activations of `features` (indices into `Extractor.names`) and, unless
    this is the last segment, the boundary activation the next segment takes, at position
    `boundary` of its outputs (the boundary may itself be one of the features). A segment
    without layers (the original's first chunk holding only its TV module) has `model` None and
    passes its input on.
    """

    model: keras.Model | None
    device: str
    features: tuple[int, ...]
    boundary: int | None


def network_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in network order, without the input layer."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def build_extractor(
    model: keras.Model,
    content_layers: Sequence[str],
    style_layers: Sequence[str],
    pooling: str = "max",
    precision: str = "float32",
    recompute: bool = False,
    padding: str = "zero",
) -> Extractor:
    """Builds the truncated extractor for the named layers.

    The original matches names one after another and silently ignores the rest of a list after a
    misspelt or out-of-order name (its quirk Q1); here names may come in any order, and an unknown
    name raises LayerError listing the model's layer names.

    With `precision="bfloat16"` the layers compute in bfloat16 (Keras' "mixed_bfloat16" policy:
    float32 weights and input, cast to bfloat16 inside each layer) and the activations come out
    in bfloat16; the losses cast them back to float32 (an option the original did not have).

    With `padding` other than "zero" (Caffe's) the convolutions that pad take that mode
    instead: "replicate", "reflect" or "circular" (`caffe.kernels.pad`; an option the original
    did not have).

    With `recompute=True` the network runs in segments cut at the loss and pooling layers, and
    the backward pass recomputes a segment's inner activations instead of keeping them from the
    forward pass (`recompute.Recomputing`; an option the original did not have).
    """
    layers = network_layers(model)
    position = {layer.name: i for i, layer in enumerate(layers)}
    for kind, requested in (("content", content_layers), ("style", style_layers)):
        for name in requested:
            _check_loss_layer(model, layers, position, f"-{kind}_layers", name)
    names = sorted(set(content_layers) | set(style_layers), key=position.__getitem__)
    truncated = keras.Model(model.input, [model.get_layer(n).output for n in names])
    replaced = []
    if pooling == "avg":
        truncated, replaced = _average_pooling(truncated, position)
    if padding != "zero":
        truncated = _reconfigured(truncated, _padding_edit(padding))
    if precision == "bfloat16":
        truncated = _reconfigured(truncated, lambda layer, config: {"dtype": "mixed_bfloat16"})
    elif precision != "float32":
        raise ValueError(f"precision must be 'float32' or 'bfloat16', not {precision!r}")
    truncated.trainable = False
    extractor = Extractor(
        model=truncated,
        names=tuple(names),
        indices=tuple(position[n] + 1 for n in names),
        content=tuple(i for i, n in enumerate(names) if n in content_layers),
        style=tuple(i for i, n in enumerate(names) if n in style_layers),
        replaced_pools=tuple(replaced),
    )
    if recompute:
        from tf_style.recompute import Recomputing

        extractor = dataclasses.replace(extractor, model=Recomputing(extractor))
    return extractor


def _check_loss_layer(model, layers, position: dict[str, int], flag: str, name: str) -> None:
    """Refuses a name that is no layer of the model (suggesting the close ones) or a layer
    without a spatial map (a fully connected layer or a classifier's output)."""
    if name not in position:
        close = difflib.get_close_matches(name, list(position), n=4, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}?" if close else _name_range(layers)
        raise LayerError(f"{flag}: the model has no layer {name!r}; {hint}")
    shape = model.get_layer(name).output.shape
    if len(shape) != 4:
        maps = [layer.name for layer in layers if len(layer.output.shape) == 4]
        last = f"; the last layer with a map is {maps[-1]}" if maps else ""
        raise LayerError(
            f"{flag}: {name} gives a vector of {shape[-1]} values, not a spatial map, and a "
            f"content or style loss needs a map: choose a convolution, ReLU or pooling "
            f"layer{last}"
        )


def _name_range(layers) -> str:
    """The model's layer names in short, for a name that resembles none of them."""
    names = [layer.name for layer in layers]
    if len(names) <= 12:
        return f"its layers are {','.join(names)}"
    return f"its {len(names)} layers run from {','.join(names[:4])} to {','.join(names[-3:])}"


def split_extractor(
    extractor: Extractor, cuts: Sequence[str | None], devices: Sequence[str]
) -> Extractor:
    """Splits the extractor into one segment per device, as the original's `-multigpu_strategy`.

    Segment k ends after the layer `cuts[k]` (None: before the first layer) and runs on
    `devices[k]`; the last segment runs to the end. Each loss layer's activation stays with its
    segment, so only the boundary activation crosses between devices.

    Raises:
        LayerError: a cut names no layer of the (truncated) extractor, cuts are not in network
            order, or more than one tensor would cross a cut (a branch, as in ResNet).
    """
    if len(cuts) != len(devices) - 1:
        raise LayerError(
            f"-multigpu_strategy gives {len(cuts)} split point(s) for {len(devices)} devices; "
            f"give {len(devices) - 1}"
        )
    model = extractor.model
    position = {layer.name: i for i, layer in enumerate(network_layers(model))}
    feeds = kerasgraph.node_inputs(model)
    # A layer's output in this model's graph (a shared layer's `.output` may be another graph's).
    tensor = kerasgraph.layer_outputs(model)
    tensor[None] = model.inputs[0]
    ends = []
    for cut in cuts:
        if cut is not None and cut not in position:
            raise LayerError(
                f"-multigpu_strategy: {cut!r} is not a layer of the network, which ends after "
                f"{extractor.names[-1]} (the last loss layer); split at one of "
                f"{','.join(position)}"
            )
        end = -1 if cut is None else position[cut]
        if ends and end <= ends[-1]:
            raise LayerError(
                f"-multigpu_strategy: split points must follow the network's order; {cut!r} "
                "does not come after the previous one"
            )
        ends.append(end)
        _check_chain(feeds, position, cut, end)
    if ends and ends[-1] >= len(position) - 1:
        raise LayerError(
            f"-multigpu_strategy: the last split leaves no layer for device {devices[-1]}; "
            f"the network ends after {extractor.names[-1]}, so split before it"
        )
    layer_of = {name: position[name] for name in extractor.names}
    segments = []
    for k, device in enumerate(devices):
        low = ends[k - 1] if k else -1
        high = ends[k] if k < len(ends) else len(position)
        feats = tuple(i for i, n in enumerate(extractor.names) if low < layer_of[n] <= high)
        outputs = [tensor[extractor.names[i]] for i in feats]
        boundary = None
        if k < len(cuts):
            if cuts[k] in layer_of:  # the boundary is one of the segment's features
                boundary = feats.index(extractor.names.index(cuts[k]))
            else:
                boundary = len(outputs)
                outputs.append(tensor[cuts[k]])
        start = tensor[cuts[k - 1] if k else None]
        sub = None if high == low else keras.Model(start, outputs)
        segments.append(Segment(sub, device, feats, boundary))
    return dataclasses.replace(extractor, segments=tuple(segments))


def crossing(feeds, position: dict[str, int], cut: str | None, end: int) -> set[str]:
    """The layers other than `cut` (at `end` in `position`) whose outputs feed layers after it
    (`feeds`: `kerasgraph.node_inputs`): empty where the cut layer's output alone crosses."""
    if cut is None:  # before the first layer only the image crosses
        return set()
    return {
        source
        for layer, sources in feeds
        if position.get(layer, -1) > end
        for source in sources
        if position.get(source, -1) <= end
    } - {cut}


def _check_chain(feeds, position: dict[str, int], cut: str | None, end: int) -> None:
    """Refuses a cut that more than the cut layer's output crosses."""
    others = crossing(feeds, position, cut, end)
    if others:
        raise LayerError(
            f"-multigpu_strategy: the network cannot be split after {cut}: the outputs of "
            f"{','.join(sorted(others))} also feed later layers; split after a layer whose "
            "output alone feeds the rest"
        )


def _maps_fit(model: keras.Model, height: int, width: int) -> bool:
    """Whether an input of this size gives every output at least a 1x1 map."""
    try:
        shapes = model.compute_output_shape((1, height, width, 3))
    except ValueError:  # a convolution or pooling window larger than its input
        return False
    shapes = shapes if isinstance(shapes, list) else [shapes]
    return all(s[1] >= 1 and s[2] >= 1 for s in shapes)


def minimum_input_size(extractor: Extractor, limit: int = 8192) -> tuple[int, int] | None:
    """The smallest input height and width that give every loss layer at least a 1x1 map.

    Found by binary search over shapes alone (Keras' shape inference: no pixels are computed),
    one axis at a time with the other at `limit`; output sizes never shrink as the input grows.
    The original had no such check: a too-small image failed deep inside Torch.

    Returns:
        (min_height, min_width), or None when no size up to `limit` fits (a fixed-size net).
    """
    if not _maps_fit(extractor.model, limit, limit):
        return None
    sizes = []
    for axis in (0, 1):
        low, high = 1, limit  # invariant: `high` fits
        while low < high:
            middle = (low + high) // 2
            shape = (middle, limit) if axis == 0 else (limit, middle)
            if _maps_fit(extractor.model, *shape):
                high = middle
            else:
                low = middle + 1
        sizes.append(high)
    return sizes[0], sizes[1]


def _reconfigured(model: keras.Model, edit) -> keras.Model:
    """A copy of `model` whose layers take the config changes `edit(layer, config)` returns
    (None or {}: the layer is shared as it is).

    A changed layer is a new layer with its own (float32) variables holding the original's
    values: a layer's dtype policy or padding is fixed when it is made, so it cannot be shared
    as in `_average_pooling`.
    """
    changed = []

    def rebuild(layer):
        config = layer.get_config()
        changes = edit(layer, config)
        if not changes:
            return layer
        new = layer.__class__.from_config({**config, **changes})
        changed.append((layer, new))
        return new

    clone = keras.models.clone_model(model, clone_function=rebuild)
    for old, new in changed:
        new.set_weights(old.get_weights())
    return clone


def _padding_edit(mode: str):
    """-padding: the convolutions that pad take `mode` instead of Caffe's zeros; with
    "circular" (-seamless) the pooling layers wrap around too."""
    from tf_style.caffe import CaffeConvolution, CaffePooling

    def edit(layer, config):
        if isinstance(layer, CaffeConvolution) and any(layer.pad):
            return {"padding_mode": mode}
        if isinstance(layer, CaffePooling) and mode == "circular":
            return {"padding_mode": "circular"}
        return None

    return edit


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
