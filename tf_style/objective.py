"""The style-transfer objective: targets captured once, value and gradient as one traced call."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tf_style import losses
from tf_style.caffe.layers import CaffeConvolution, turned_kernel, using_turned_kernels
from tf_style.features import Extractor, Segment, network_layers


class Objective:
    """Content, style and TV losses of an image in Caffe space, with their image gradient.

    Targets live in tf.Variables so a traced evaluation stays valid when new targets of the same
    shapes are captured (the next image of a batch, the next run of a `Stylizer`).
    """

    def __init__(
        self,
        extractor: Extractor,
        *,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        normalize_gradients: bool = False,
    ):
        self.extractor = extractor
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.normalize = bool(normalize_gradients)
        self.content_targets: list[tf.Variable] = []
        self.style_targets: list[tf.Variable] = []
        self.turned_kernels: dict[int, tf.Variable] = {}

    def _features(self, image) -> list[tf.Tensor]:
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

    def capture_content(self, content: np.ndarray) -> None:
        """Stores the content image's activations at the content layers."""
        feats = self._features(tf.constant(content))
        values = [tf.cast(feats[i], tf.float32) for i in self.extractor.content]
        devices = [self._device(i) for i in self.extractor.content]
        self.content_targets = _assign(self.content_targets, values, devices)
        self._capture_turned_kernels()

    def _capture_turned_kernels(self) -> None:
        """Snapshots the turned kernels of the convolutions whose input gradient is a forward
        convolution (`caffe.layers.using_turned_kernels`), each on its segment's device, so that
        no evaluation turns them again. Like the targets, they are the weights of capture time.
        """
        place = {}
        for segment in self.extractor.segments:
            if segment.model is not None:
                place.update((id(layer), segment.device) for layer in network_layers(segment.model))
        convolutions = [
            layer
            for layer in network_layers(self.extractor.model)
            if isinstance(layer, CaffeConvolution) and layer.forward_gradient
        ]
        values = [tf.cast(turned_kernel(c.kernel), c.compute_dtype) for c in convolutions]
        devices = [place.get(id(c)) for c in convolutions]
        made = _assign(list(self.turned_kernels.values()), values, devices)
        self.turned_kernels = {id(c): v for c, v in zip(convolutions, made, strict=True)}

    def capture_styles(self, styles: Sequence[np.ndarray], blend_weights: Sequence[float]) -> None:
        """Stores the blended Gram matrices: sum_i w_i * gram(style_i), each at its own size."""
        devices = [self._device(i) for i in self.extractor.style]
        grams = [None] * len(devices)
        for image, weight in zip(styles, blend_weights, strict=True):
            feats = self._features(tf.constant(image))
            for j, (i, device) in enumerate(zip(self.extractor.style, devices)):
                with _on(device):
                    gram = weight * losses.gram_matrix(feats[i])
                    grams[j] = gram if grams[j] is None else grams[j] + gram
        self.style_targets = _assign(self.style_targets, grams, devices)

    def terms(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(content and style losses as one vector in print order, TV loss)."""
        if self.extractor.segments:
            placed = []
            h = image
            for segment in self.extractor.segments:
                if segment.model is not None:
                    h, segment_terms = self._placed(segment, h)
                    placed += segment_terms
        else:
            placed = self._layer_losses(dict(enumerate(self._features(image))))
        terms = [term for _, term in sorted(placed, key=lambda p: p[0])]
        # The original's TV module has no forward value; its gradient is added, its value is not
        # printed. We compute the value too, so line-search optimizers see a consistent objective.
        tv = losses.tv_loss(image, self.tv_weight) if self.tv_weight > 0 else tf.constant(0.0)
        return tf.stack(terms), tv

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(loss, gradient w.r.t. the image, per-layer losses); traceable."""
        with using_turned_kernels(self.turned_kernels):
            with tf.GradientTape() as tape:
                tape.watch(image)
                terms, tv = self.terms(image)
                loss = tf.reduce_sum(terms) + tv
            return loss, tape.gradient(loss, image), terms

    def _layer_losses(self, feats: dict[int, tf.Tensor]) -> list[tuple[int, tf.Tensor]]:
        """(position in print order, loss) of each content and style loss on the layers `feats`."""
        placed = []
        for j, (i, target) in enumerate(zip(self.extractor.content, self.content_targets)):
            if i in feats:
                loss = losses.content_loss(
                    feats[i], target, self.content_weight, normalize=self.normalize
                )
                placed.append((j, loss))
        for j, (i, target) in enumerate(zip(self.extractor.style, self.style_targets)):
            if i in feats:
                loss = losses.style_loss(
                    feats[i], target, self.style_weight, normalize=self.normalize
                )
                placed.append((self.num_content + j, loss))
        return placed

    def _placed(
        self, segment: Segment, h: tf.Tensor
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
                placed = self._layer_losses(dict(zip(segment.features, values)))
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
