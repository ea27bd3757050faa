"""The style-transfer objective: targets captured once, value and gradient as one traced call."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tf_style import losses
from tf_style.caffe import CaffeConvolution, kernels
from tf_style.features import Extractor, Segment, network_layers
from tf_style.masks import StyleTerm, to_layer


class Targets(NamedTuple):
    """What the losses compare the image with, in the extractor's order: the content's
    activations at the content layers, and at each style layer the blended style statistics
    its loss compares (`losses.statistics`: the Gram matrix, or mean and covariance; for `w2`
    also the covariance's square root)."""

    content: tuple[tf.Tensor, ...]
    style: tuple[tuple[tf.Tensor, ...], ...]
    # With masks (`masks.Guidance`): each style layer's target holds one statistics tuple per
    # style term; `style_masks` the output's mask of each term at each style layer (empty
    # when the terms cover the whole output), `term_weights` the terms' weights, and
    # `content_masks` the content mask at each content layer (empty: none).
    style_masks: tuple[tuple[tf.Tensor, ...], ...] = ()
    term_weights: tf.Tensor | None = None
    content_masks: tuple[tf.Tensor, ...] = ()


class Objective:
    """Content, style and TV losses of an image in Caffe space, with their image gradient.

    Captured targets live in tf.Variables so a traced evaluation stays valid when new targets
    of the same shapes are captured (the next image of a batch, the next run of a `Stylizer`);
    `evaluate` also takes targets as tensors (the SavedModel export computes them in its graph).

    With `turned_kernels` (the default), each content capture also snapshots the turned kernels
    of the convolutions whose input gradient is a forward convolution
    (`caffe.kernels.snapshot_turned_kernels`), each on its segment's device, so that no
    evaluation turns them again; like the targets, they are the weights of capture time.
    """

    def __init__(
        self,
        extractor: Extractor,
        *,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        normalize_gradients: bool = False,
        style_loss: str = "gram",
        content_layer_weights: Mapping[str, float] | None = None,
        style_layer_weights: Mapping[str, float] | None = None,
        turned_kernels: bool = True,
        wrap: bool = False,
        temporal_weight: float = 0.0,
    ):
        self.extractor = extractor
        self.tv_weight = float(tv_weight)
        self.wrap = wrap  # -seamless: TV around the edges
        self.normalize = bool(normalize_gradients)
        self.style_loss = style_loss
        # Each layer's weight: -content_weight / -style_weight times its layer weight.
        names = extractor.names
        self.content_weights = tuple(
            content_weight * (content_layer_weights or {}).get(names[i], 1.0)
            for i in extractor.content
        )
        self.style_weights = tuple(
            style_weight * (style_layer_weights or {}).get(names[i], 1.0) for i in extractor.style
        )
        self.content_targets: list[tf.Variable] = []
        self.style_targets: list[tuple[tf.Variable, ...]] = []
        self._turned_kernels = turned_kernels
        # Guidance (masks): the structure is fixed by the first capture (see `guidance`).
        self.content_masks: list[tf.Variable] = []
        self.style_masks: list[tuple[tf.Variable, ...]] = []
        self.term_weights: tf.Variable | None = None
        self._output_sizes: list[tuple[int, int]] = []  # the output's size at each style layer
        # Video (docs/video.md): the warped previous frame and its consistency mask, the last
        # entry of the printed terms when the weight is on.
        self.temporal_weight = float(temporal_weight)
        self.temporal: list[tf.Variable] = []

    @classmethod
    def for_config(cls, extractor: Extractor, config, *, turned_kernels: bool = True) -> Objective:
        """The objective a `StyleConfig`'s weights and -normalize_gradients ask for."""
        return cls(
            extractor,
            content_weight=config.content_weight,
            style_weight=config.style_weight,
            tv_weight=config.tv_weight,
            normalize_gradients=config.normalize_gradients,
            style_loss=config.style_loss,
            # By layer name: the extractor orders the layers as the network does.
            content_layer_weights=dict(zip(config.content_layers, config.content_layer_weights)),
            style_layer_weights=dict(zip(config.style_layers, config.style_layer_weights)),
            turned_kernels=turned_kernels,
            wrap=bool(config.seamless),
            temporal_weight=config.temporal_weight if config.content_video else 0.0,
        )

    def features(self, image) -> list[tf.Tensor]:
        """The loss layers' activations of `image`, in the extractor's order."""
        if not self.extractor.segments:
            outputs = self.extractor.model(image, training=False)
            return outputs if isinstance(outputs, (list, tuple)) else [outputs]
        feats = [None] * len(self.extractor.names)
        for segment in self.extractor.segments:
            with tf.device(segment.device):
                image, values = _forward(segment, image)
            for i, value in zip(segment.features, values):
                feats[i] = value
        return feats

    def _device(self, i: int) -> str | None:
        """The device of layer `i`'s segment; None (the caller's device) when not split."""
        for segment in self.extractor.segments:
            if i in segment.features:
                return segment.device
        return None

    def content_targets_of(self, content) -> tuple[tf.Tensor, ...]:
        """The content image's activations at the content layers (traceable)."""
        feats = self.features(tf.convert_to_tensor(content))
        return tuple(tf.cast(feats[i], tf.float32) for i in self.extractor.content)

    def guided_style_targets_of(self, styles, terms) -> tuple[tuple, ...]:
        """At each style layer, each style term's target (`masks.StyleTerm`): its style
        image's statistics, guided by the term's style-side mask brought to that layer's size.
        Terms without output masks (parts of the style images only) are blended into one
        target, as the original blends its styles."""
        devices = [self._device(i) for i in self.extractor.style]
        stats = [[None] * len(terms) for _ in devices]  # by layer, by term
        for index, image in enumerate(styles):
            # One style image's activations at a time: at print sizes each takes gigabytes.
            feats = self.features(tf.convert_to_tensor(image))
            for j, (i, device) in enumerate(zip(self.extractor.style, devices)):
                with _on(device):
                    for t, term in enumerate(terms):
                        if term.style == index:
                            side = term.style_mask
                            side = None if side is None else _layer_mask(side, feats[i].shape)
                            stats[j][t] = losses.statistics(feats[i], self.style_loss, side)
        guided = terms[0].output_mask is not None
        targets = []
        for layer, device in zip(stats, devices):
            with _on(device):
                if not guided:
                    layer = [losses.blend(layer, [t.weight for t in terms])]
                if self.style_loss == "w2":
                    layer = [losses.w2_target(*stats) for stats in layer]
            targets.append(tuple(layer) if guided else layer[0])
        return tuple(targets)

    def style_targets_of(self, styles, blend_weights: Sequence[float]) -> tuple[tuple, ...]:
        """At each style layer, the style images' statistics blended with `blend_weights`
        (sum_i w_i * gram(style_i) for the original's loss), each style at its own size."""
        terms = [StyleTerm(i, w) for i, w in enumerate(blend_weights)]
        return self.guided_style_targets_of(styles, terms)

    def capture_content(self, content: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Stores the content image's activations at the content layers, and `mask` (the
        content loss's per-pixel weight, [H, W]) brought to their sizes."""
        feats = self.features(tf.convert_to_tensor(content))
        devices = [self._device(i) for i in self.extractor.content]
        values = [tf.cast(feats[i], tf.float32) for i in self.extractor.content]
        self.content_targets = _assign(self.content_targets, values, devices)
        self._output_sizes = [tuple(feats[i].shape[1:3]) for i in self.extractor.style]
        if mask is not None:
            layered = [_layer_mask(mask, feats[i].shape) for i in self.extractor.content]
            self.content_masks = _assign(self.content_masks, layered, devices)
        self.snapshot_kernels()

    def snapshot_kernels(self) -> None:
        """Snapshots the turned kernels (see the class's docstring), when it takes them."""
        if self._turned_kernels:
            kernels.snapshot_turned_kernels(self._placed_convolutions())

    def capture_temporal(self, target: np.ndarray, mask: np.ndarray) -> None:
        """Stores the temporal loss's target (the warped previous frame in the network's space,
        [H, W, 3]) and its per-pixel weights ([H, W])."""
        values = [
            tf.constant(target[None], tf.float32),
            tf.constant(mask[None, ..., None], tf.float32),
        ]
        self.temporal = _assign(self.temporal, values, [None, None])

    def capture_styles(
        self, styles: Sequence[np.ndarray], blend_weights: Sequence[float], terms=()
    ) -> None:
        """Stores the blended style statistics (see `style_targets_of`) or, with style terms
        (`masks.StyleTerm`, after `capture_content`), each term's statistics, its output mask
        at each style layer and its weight."""
        targets = self.guided_style_targets_of(styles, terms) if terms else None
        if terms and terms[0].output_mask is not None:
            weights = tf.constant([t.weight for t in terms], tf.float32)
            if self.term_weights is None or self.term_weights.shape != weights.shape:
                self.term_weights = tf.Variable(weights, trainable=False)
            self.term_weights.assign(weights)
            layered = tuple(
                tuple(_layer_mask(t.output_mask, (1, *size)) for t in terms)
                for size in self._output_sizes
            )
            self.style_masks = self._assign_nested(self.style_masks, layered)
        elif not terms:
            targets = self.style_targets_of(styles, blend_weights)
        self.style_targets = self._assign_nested(self.style_targets, targets)

    def _assign_nested(self, variables, values):
        """`_assign` for a structure with one entry per style layer."""
        devices = [
            self._device(i)
            for i, v in zip(self.extractor.style, values)
            for _ in tf.nest.flatten(v)
        ]
        flat = _assign(tf.nest.flatten(variables), tf.nest.flatten(values), devices)
        return tf.nest.pack_sequence_as(values, flat)

    def _placed_convolutions(self) -> list[tuple[CaffeConvolution, str | None]]:
        """(convolution, its segment's device) for those with a forward-convolution gradient."""
        place = {}
        for segment in self.extractor.segments:
            if segment.model is not None:
                place.update((id(layer), segment.device) for layer in network_layers(segment.model))
        return [
            (layer, place.get(id(layer)))
            for layer in network_layers(self.extractor.model)
            if isinstance(layer, CaffeConvolution) and layer.forward_gradient
        ]

    def terms(
        self, image: tf.Tensor, targets: Targets | None = None, image_terms: bool = True
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """(content and style losses as one vector in print order, then the temporal loss of
        a video frame when its weight is on; the image-space terms' loss (`image_loss`; 0
        without `image_terms`)), against the captured targets or `targets`."""
        targets = targets or Targets(
            tuple(self.content_targets),
            tuple(self.style_targets),
            tuple(self.style_masks),
            self.term_weights,
            tuple(self.content_masks),
        )
        if self.extractor.segments:
            placed = []
            h = image
            for segment in self.extractor.segments:
                if segment.model is not None:
                    h, segment_terms = self._placed(segment, h, targets)
                    placed += segment_terms
        else:
            placed = self._layer_losses(dict(enumerate(self.features(image))), targets)
        terms = [term for _, term in sorted(placed, key=lambda p: p[0])]
        if self.temporal_weight > 0:
            # On the whole image: tiles never reach here (validate refuses tiled video frames).
            terms.append(losses.temporal_loss(image, *self.temporal, self.temporal_weight))
        return tf.stack(terms), self.image_loss(image) if image_terms else tf.constant(0.0)

    def image_loss(self, image: tf.Tensor) -> tf.Tensor:
        """The terms computed on the image itself rather than on its features: TV.

        The original's TV module has no forward value; its gradient is added, its value is not
        printed. We compute the value too, so line-search optimizers see a consistent objective.
        """
        if self.tv_weight <= 0:
            return tf.constant(0.0)
        return losses.tv_loss(image, self.tv_weight, wrap=self.wrap)

    def evaluate(
        self, image: tf.Tensor, targets: Targets | None = None
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(loss, gradient w.r.t. the image, per-layer losses) against the captured targets or
        `targets`; traceable."""
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms, tv = self.terms(image, targets)
            loss = tf.reduce_sum(terms) + tv
        return loss, tape.gradient(loss, image), terms

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """`evaluate` against the captured targets: the optimizers' objective."""
        return self.evaluate(image)

    def _layer_losses(
        self, feats: dict[int, tf.Tensor], targets: Targets
    ) -> list[tuple[int, tf.Tensor]]:
        """(position in print order, loss) of each content and style loss on the layers `feats`."""
        placed = []
        for j, (i, target) in enumerate(zip(self.extractor.content, targets.content)):
            if i in feats:
                loss = losses.content_loss(
                    feats[i],
                    target,
                    self.content_weights[j],
                    normalize=self.normalize,
                    mask=targets.content_masks[j] if targets.content_masks else None,
                )
                placed.append((j, loss))
        for j, (i, target) in enumerate(zip(self.extractor.style, targets.style)):
            if i in feats:
                placed.append(
                    (self.num_content + j, self._style_term(feats[i], j, target, targets))
                )
        return placed

    def _style_term(self, f: tf.Tensor, j: int, target, targets: Targets) -> tf.Tensor:
        """Style layer j's loss: the blended style's, or the sum of the guided terms'."""
        kind, weight = self.style_loss, self.style_weights[j]
        if targets.term_weights is None:
            return losses.style_loss(f, list(target), weight, kind=kind, normalize=self.normalize)
        total = []
        for t, term_target in enumerate(target):
            mask = targets.style_masks[j][t] if targets.style_masks else None
            total.append(
                losses.style_loss(
                    f,
                    list(term_target),
                    weight * targets.term_weights[t],
                    kind=kind,
                    normalize=self.normalize,
                    mask=mask,
                )
            )
        return tf.add_n(total)

    def _placed(
        self, segment: Segment, h: tf.Tensor, targets: Targets
    ) -> tuple[tf.Tensor | None, list[tuple[int, tf.Tensor]]]:
        """One segment's forward, losses and backward, all on the segment's device.

        A plain GradientTape runs every gradient op on the device current when `gradient()` is
        called (tensorflow/tensorflow#33688), which would put the whole backward on the first
        device; so each segment gets a custom gradient that computes its vector-Jacobian
        product under its own device. Only the boundary activation and scalars cross devices.
        """
        positions = []

        @tf.custom_gradient
        def run(h):
            with tf.device(segment.device), tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(h)
                boundary, values = _forward(segment, h)
                placed = self._layer_losses(dict(zip(segment.features, values)), targets)
                positions.extend(p for p, _ in placed)
                terms = tf.stack([t for _, t in placed]) if placed else tf.zeros([0])
            outputs = [terms] if boundary is None else [terms, boundary]

            def grad(*upstream, variables=None):
                with tf.device(segment.device):
                    upstream = [
                        tf.zeros_like(o) if u is None else u for o, u in zip(outputs, upstream)
                    ]
                    dh = tape.gradient(
                        outputs,
                        h,
                        output_gradients=upstream,
                        unconnected_gradients=tf.UnconnectedGradients.ZERO,
                    )
                # The network's weights are constants: no gradient for them.
                return (dh, [None] * len(variables)) if variables else dh

            return outputs, grad

        outputs = run(h)
        terms = [(p, outputs[0][k]) for k, p in enumerate(positions)]
        return (outputs[1] if len(outputs) > 1 else None), terms

    @property
    def num_content(self) -> int:
        return len(self.extractor.content)

    @property
    def num_style(self) -> int:
        return len(self.extractor.style)


def _layer_mask(mask: np.ndarray, shape) -> tf.Tensor:
    """A [H, W] mask at a layer's size, as [1, h, w, 1] (`masks.to_layer`)."""
    return tf.constant(to_layer(np.asarray(mask), int(shape[1]), int(shape[2]))[None, ..., None],
                       tf.float32)  # fmt: skip


def _on(device: str | None):
    return contextlib.nullcontext() if device is None else tf.device(device)


def _forward(segment: Segment, h: tf.Tensor) -> tuple[tf.Tensor | None, list[tf.Tensor]]:
    """(boundary activation or None for the last segment, the segment's loss activations)."""
    if segment.model is None:
        return h, []
    outputs = segment.model(h, training=False)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    boundary = None if segment.boundary is None else outputs[segment.boundary]
    return boundary, outputs[: len(segment.features)]


def _assign(
    variables: list[tf.Variable], values: list[tf.Tensor], devices: list[str | None]
) -> list[tf.Variable]:
    """Assigns `values` to `variables`, or makes new ones, each on its device, for new shapes."""
    if len(variables) == len(values) and all(v.shape == x.shape for v, x in zip(variables, values)):
        for v, x in zip(variables, values):
            v.assign(x)
        return variables
    made = []
    for x, device in zip(values, devices, strict=True):
        with _on(device):
            made.append(tf.Variable(x, trainable=False))
    return made
