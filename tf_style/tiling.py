"""-tile_size: each evaluation tile by tile, so that activation memory is bounded by a tile
(two on a CPU where two fit: `TiledObjective.together`).

The image is cut into cores (a grid, aligned to the network's stride); each tile is its core with
`overlap` pixels of real neighbouring image on every side (fewer at the image's edges, where the
tile is shifted inside the image), so its border sees context. Every tile's losses weight each
feature with a feathered weight: 1 inside the core, falling linearly to 0 across a band of
`overlap` pixels centred on the core's edge, so that neighbouring tiles' weights add up to 1 at
every position and no seam is cut into the loss. Each tile's gradient is added into one
full-size gradient, which the optimiser steps with as usual.

* Content loss: each tile's weighted squared differences against the content's activations at
  the same positions (captured tile by tile, then assembled), divided by the whole image's
  element count: summed over the tiles this is the untiled loss wherever the network's
  receptive field fits in the margin.
* Style loss: each tile's statistics (guided by its weights, as a mask guides them) against the
  style's, weighted by the tile's share of the image. This differs from an untiled run, which
  matches the statistics of the whole image once: every tile must carry the style's statistics
  by itself. At print sizes this is what one wants (a region of a print is seen on its own), and
  it is what keeps memory bounded: the whole image's Gram needs the whole image's activations.
* TV (and any image-space term) on the whole image.

See docs/high-resolution.md for the seam score and the measured memory.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from tf_style.optimizers.base import acyclic


@dataclasses.dataclass(frozen=True)
class Grid:
    """Where the tiles of an image are: crop origins and the cores they feather around."""

    height: int
    width: int
    tile: int  # a core's side, about
    stride: int  # cores and crops start on multiples of it
    crop: tuple[int, int]  # every tile's (height, width): one shape, one trace
    overlap: int
    origins: tuple[tuple[int, int], ...]  # each tile's top-left corner in the image
    cores: tuple[tuple[tuple[int, int], tuple[int, int]], ...]  # ((y0, y1), (x0, x1))

    def __len__(self) -> int:
        return len(self.origins)

    def weights(self, k: int, axis: int, positions: np.ndarray) -> np.ndarray:
        """Tile k's feathered weight at image coordinates `positions` along `axis` (0: rows)."""
        (lo, hi), size = self.cores[k][axis], (self.height, self.width)[axis]
        half = self.overlap / 2
        w = np.ones_like(positions, dtype=np.float64)
        if lo > 0 and self.overlap:
            w *= np.clip((positions - (lo - half)) / self.overlap, 0, 1)
        if hi < size and self.overlap:
            w *= np.clip(((hi + half) - positions) / self.overlap, 0, 1)
        return w


def _cuts(size: int, tile: int, stride: int) -> list[int]:
    """Core boundaries along one axis: about `tile` apart, on multiples of `stride`."""
    count = max(1, math.ceil(size / tile))
    cuts = [0] + [round(i * size / count / stride) * stride for i in range(1, count)] + [size]
    return sorted(set(cuts))


def make_grid(height: int, width: int, tile: int, overlap: int, stride: int) -> Grid:
    """The grid of `tile`-sized cores of an image, each cropped with `overlap` pixels of context.

    `stride` is the network's total downsampling: cores and crops start on multiples of it, so
    that tiles' features sit at the same image positions. Along an axis the image fits in one
    tile, there is one core and the crop is the whole axis.
    """
    axes = []
    for size in (height, width):
        cuts = _cuts(size, tile, stride)
        cores = list(zip(cuts[:-1], cuts[1:]))
        longest = max(b - a for a, b in cores)
        crop = -(-(longest + 2 * overlap) // stride) * stride
        crop = size if len(cores) == 1 else min(size, crop)
        # The last crop ends at the image's edge: with the rest a multiple of the stride, it
        # starts on the stride too, and every tile's features sit where the whole image's do.
        crop += (size - crop) % stride
        starts = [min(max(0, (a - overlap) // stride * stride), size - crop) for a, _ in cores]
        axes.append((cores, crop, starts))
    (ycores, ycrop, ystarts), (xcores, xcrop, xstarts) = axes
    origins, cores = [], []
    for yc, ys in zip(ycores, ystarts):
        for xc, xs in zip(xcores, xstarts):
            origins.append((ys, xs))
            cores.append((yc, xc))
    crop = (ycrop, xcrop)
    return Grid(height, width, tile, stride, crop, overlap, tuple(origins), tuple(cores))


def layer_weights(grid: Grid, crop_layer: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each tile's feathered weights at a layer whose map of a crop is `crop_layer` (h, w):
    ([tiles, h], [tiles, w]), at the image positions of the layer's features (a feature's
    centre: its crop origin plus (i + 0.5) times the layer's stride)."""
    out = []
    strides = _layer_stride(grid.crop, crop_layer)
    for axis in (0, 1):
        centres = (np.arange(crop_layer[axis]) + 0.5) * strides[axis] - 0.5
        out.append(
            np.stack(
                [grid.weights(k, axis, grid.origins[k][axis] + centres) for k in range(len(grid))]
            )
        )
    return out[0], out[1]


@tf.function(jit_compile=True, autograph=False)
def _add_crop(total: tf.Variable, crop: tf.Tensor, y: tf.Tensor, x: tf.Tensor) -> None:
    # XLA adds into the variable in place; TensorFlow's own slice assignment would switch it to
    # copy-on-read, and then every read of the gradient would copy the whole image. A dynamic
    # update, not a slice assignment: that needs its origin at compile time (one compilation
    # per tile, and none inside -jit's loop); this one was 8x faster on a 4096 px gradient.
    from tensorflow.compiler.tf2xla.python import xla  # not in tf.raw_ops; every wheel has it

    start = [0, y, x, 0]
    value = total.read_value()
    total.assign(xla.dynamic_update_slice(value, tf.slice(value, start, crop.shape) + crop, start))


def network_stride(extractor) -> int:
    """The largest downsampling of the loss layers (a power of two for VGG: 16 at relu5_1)."""
    size = 1024
    shapes = extractor.model.compute_output_shape((1, size, size, 3))
    shapes = shapes if isinstance(shapes, list) else [shapes]
    return max(1, max(round(size / s[1]) for s in shapes))


def _maps(extractor, height: int, width: int) -> list[tuple[int, int]]:
    """Each loss layer's map size for an input of this size (shape inference only)."""
    shapes = extractor.model.compute_output_shape((1, height, width, 3))
    shapes = shapes if isinstance(shapes, list) else [shapes]
    return [(int(s[1]), int(s[2])) for s in shapes]


def _layer_stride(crop: tuple[int, int], crop_map: tuple[int, int]) -> tuple[int, int]:
    """A layer's (whole) downsampling: a crop of odd size maps to ceil(size / stride)."""
    return tuple(max(1, round(c / m)) for c, m in zip(crop, crop_map))


def _core_range(lo: int, hi: int, stride: float) -> tuple[int, int]:
    """The layer positions whose centres ((i + 0.5) stride - 0.5) lie in the image's [lo, hi)."""
    return math.ceil((lo + 0.5) / stride - 0.5), math.ceil((hi + 0.5) / stride - 0.5)


class TiledObjective:
    """An `objective.Objective` evaluated tile by tile over `grid`, with its interface:
    `capture_content`, `capture_styles`, and `(loss, gradient, per-layer losses)` when called.

    Its own variables hold what spans the whole image: the content's activations (assembled
    from the tiles' cores), the masks at each layer's full size, and the accumulated gradient.
    With `together=2` an evaluation runs two tiles side by side (twice a tile's activations).
    """

    def __init__(self, objective, grid: Grid, together: int = 1):
        if together not in (1, 2):
            raise ValueError(f"together must be 1 or 2, not {together}")
        self.objective = objective
        self.together = together  # tiles evaluated at once: 2 where memory allows (prepare)
        self.extractor = objective.extractor
        self.grid = grid
        ex = self.extractor
        self._crop_maps = _maps(ex, *grid.crop)
        self._full_maps = _maps(ex, grid.height, grid.width)
        self._strides = [_layer_stride(grid.crop, size) for size in self._crop_maps]
        self._ramps = [
            tuple(tf.constant(r, tf.float32) for r in layer_weights(grid, size))
            for size in self._crop_maps
        ]
        self._origins = tf.constant(grid.origins, tf.int32)
        self._pixels = layer_weights(grid, grid.crop)  # each tile's weights on the image's pixels
        rows, cols = self._pixels
        shares = rows.sum(axis=1) * cols.sum(axis=1) / (grid.height * grid.width)
        self._shares = tf.Variable(shares[:, None], trainable=False, dtype=tf.float32)
        self._gradient = tf.Variable(tf.zeros([1, grid.height, grid.width, 3]), trainable=False)
        self.content_maps: list[tf.Variable] = []
        self.content_masks: list[tf.Variable] = []
        self.style_targets: list = []
        self.style_masks: list = []
        self.term_weights: tf.Variable | None = None

    @property
    def num_content(self) -> int:
        return self.objective.num_content

    @property
    def num_style(self) -> int:
        return self.objective.num_style

    @property
    def temporal_weight(self) -> float:
        return self.objective.temporal_weight  # 0: config.validate refuses tiled video frames

    def _crops(self, image: np.ndarray, grid: Grid):
        """(tile, its activations) of each tile of `grid` over `image` [1, H, W, 3]."""
        (sy, sx) = grid.crop
        for k, (y, x) in enumerate(grid.origins):
            crop = tf.constant(image[:, y : y + sy, x : x + sx])
            yield k, self.objective.features(crop)

    def capture_content(self, content: np.ndarray, mask: np.ndarray | None = None) -> None:
        """The content's activations at the content layers, each position from the tile whose
        core it lies in, and `mask` at each content layer's full size."""
        from tf_style.masks import to_layer

        ex, grid = self.extractor, self.grid
        maps = {}
        for k, feats in self._crops(content, grid):
            for i in ex.content:
                f = feats[i].numpy().astype(np.float32)
                full = maps.setdefault(
                    i, np.zeros((1, *self._full_maps[i], f.shape[-1]), np.float32)
                )
                (sy, sx), box = self._strides[i], []
                for axis, stride in ((0, sy), (1, sx)):
                    lo, hi = _core_range(*grid.cores[k][axis], stride)
                    box.append((lo, hi, grid.origins[k][axis] // stride))
                (r0, r1, dr), (c0, c1, dc) = box
                full[:, r0:r1, c0:c1] = f[:, r0 - dr : r1 - dr, c0 - dc : c1 - dc]
        values = [tf.constant(maps[i]) for i in ex.content]
        self.content_maps = _assign(self.content_maps, values)
        if mask is not None:
            masks = [
                tf.constant(to_layer(mask, *self._full_maps[i])[None, ..., None], tf.float32)
                for i in ex.content
            ]
            self.content_masks = _assign(self.content_masks, masks)
        self.objective.snapshot_kernels()

    def capture_styles(self, styles, blend_weights, terms=()) -> None:
        """The style targets, each style image's statistics accumulated over its own tiles (as
        `Objective.capture_styles` computes them on the whole image), and the terms' output
        masks at each style layer's full size."""
        from tf_style import losses
        from tf_style.masks import StyleTerm, to_layer

        ex, kind = self.extractor, self.objective.style_loss
        guided = bool(terms) and terms[0].output_mask is not None
        terms = terms or [StyleTerm(i, w) for i, w in enumerate(blend_weights)]
        sums = [[None] * len(terms) for _ in ex.style]
        for index, image in enumerate(styles):
            h, w = image.shape[1:3]
            grid = make_grid(h, w, self.grid.tile, self.grid.overlap, self.grid.stride)
            crop_maps = _maps(ex, *grid.crop)
            full_maps = _maps(ex, h, w)
            for k, feats in self._crops(image, grid):
                for j, i in enumerate(ex.style):
                    ry, rx = layer_weights(grid, crop_maps[i])
                    weight = np.outer(ry[k], rx[k])
                    stride = _layer_stride(grid.crop, crop_maps[i])
                    oy, ox = (o // s for o, s in zip(grid.origins[k], stride))
                    for t, term in enumerate(terms):
                        if term.style != index:
                            continue
                        omega = weight
                        if term.style_mask is not None:
                            side = to_layer(term.style_mask, *full_maps[i])
                            hh, ww = crop_maps[i]
                            omega = weight * side[oy : oy + hh, ox : ox + ww] ** 2
                        mask = tf.constant(np.sqrt(omega)[None, ..., None], tf.float32)
                        part = losses.moments(feats[i], kind, mask)
                        sums[j][t] = part if sums[j][t] is None else _add(sums[j][t], part)
        targets = []
        for layer in sums:
            stats = [losses.from_moments(kind, *part) for part in layer]
            if not guided:
                stats = [losses.blend(stats, [t.weight for t in terms])]
            if kind == "w2":
                stats = [losses.w2_target(*s) for s in stats]
            targets.append(tuple(stats) if guided else stats[0])
        flat = _assign(tf.nest.flatten(self.style_targets), tf.nest.flatten(targets))
        self.style_targets = tf.nest.pack_sequence_as(targets, flat)
        self._guided = guided
        weights = [t.weight for t in terms] if guided else [1.0]
        if self.term_weights is None or self.term_weights.shape[0] != len(weights):
            self.term_weights = tf.Variable(weights, trainable=False, dtype=tf.float32)
        self.term_weights.assign(weights)
        if guided:
            # Each tile's share of each term's region: the whole image's guided loss is split
            # among the tiles as the region is (a tile outside it weighs nothing).
            (self._shares,) = _assign([self._shares], [tf.constant(self._guided_shares(terms))])
            layered = [
                tf.constant(
                    to_layer(t.output_mask, *self._full_maps[i])[None, ..., None], tf.float32
                )  # fmt: skip
                for i in ex.style
                for t in terms
            ]
            self.style_masks = _assign(self.style_masks, layered)

    def _guided_shares(self, terms) -> np.ndarray:
        """[tiles, terms]: sum(w_k m_t^2) / sum(m_t^2) over the image's pixels."""
        (oy, ox), (sy, sx) = zip(*self.grid.origins), self.grid.crop
        rows, cols = self._pixels
        shares = np.zeros((len(self.grid), len(terms)), np.float32)
        for t, term in enumerate(terms):
            squared = term.output_mask**2
            for k in range(len(self.grid)):
                part = squared[oy[k] : oy[k] + sy, ox[k] : ox[k] + sx]
                shares[k, t] = rows[k] @ part @ cols[k] / squared.sum()
        return shares

    def _tile_targets(self, k: tf.Tensor):
        """The `objective.Targets` of tile k: the slices of the whole image's targets and masks
        at its place, times its feathered weights."""
        from tf_style.objective import Targets

        ex = self.extractor
        origin = self._origins[k]

        def place(full: tf.Variable, i: int) -> tf.Tensor:
            (sy, sx), (h, w) = self._strides[i], self._crop_maps[i]
            y, x = origin[0] // sy, origin[1] // sx
            return tf.slice(full, [0, y, x, 0], [1, h, w, full.shape[-1]])

        def feather(i: int) -> tf.Tensor:
            ry, rx = self._ramps[i]
            return (ry[k][:, None] * rx[k][None, :])[None, :, :, None]

        content = tuple(place(m, i) for m, i in zip(self.content_maps, ex.content))
        content_masks = []
        for j, i in enumerate(ex.content):
            (h, w), (fh, fw) = self._crop_maps[i], self._full_maps[i]
            m = feather(i) * (h * w / (fh * fw))
            if self.content_masks:
                m = m * place(self.content_masks[j], i)
            content_masks.append(m)
        terms = int(self.term_weights.shape[0])
        style, style_masks = [], []
        for j, i in enumerate(ex.style):
            layer = self.style_targets[j]
            style.append(tuple(layer) if self._guided else (layer,))
            root = tf.sqrt(feather(i))
            if self._guided:
                style_masks.append(
                    tuple(root * place(self.style_masks[j * terms + t], i) for t in range(terms))
                )
            else:
                style_masks.append((root,))
        weights = self.term_weights * self._shares[k]  # per term (or the one blended term)
        return Targets(content, tuple(style), tuple(style_masks), weights, tuple(content_masks))

    def _tile(self, image: tf.Tensor, k: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Tile k's losses (a vector in print order) and their gradient w.r.t. its crop."""
        (sy, sx), origin = self.grid.crop, self._origins[k]
        crop = tf.slice(image, [0, origin[0], origin[1], 0], [1, sy, sx, 3])
        with tf.GradientTape() as tape:
            tape.watch(crop)
            terms, _ = self.objective.terms(crop, self._tile_targets(k), image_terms=False)
            loss = tf.reduce_sum(terms)
        return terms, tape.gradient(loss, crop)

    def __call__(self, image: tf.Tensor):
        """(loss, gradient w.r.t. the image, per-layer losses), tile by tile; traceable."""
        count = len(self.grid)
        self._gradient.assign(tf.zeros_like(self._gradient))
        tile = acyclic(self._tile)  # each tile a call of its own, for oneDNN (see acyclic)

        def add(k, gradient):
            _add_crop(self._gradient, gradient, self._origins[k][0], self._origins[k][1])

        def body(k, total):
            terms, gradient = tile(image, k)
            add(k, gradient)
            if self.together == 2:
                # The next tile too, neither waiting for the other: a lone tile leaves one of
                # two cores idle much of the time, the pair keeps both busy (1.2x to 1.5x
                # faster, docs/performance.md). Past the last tile (odd counts), zeros.
                # The zeros depend on nothing (under -jit the cond waits for all its inputs),
                # and the add stays outside the cond (inside, the cond would write the
                # gradient, and TensorFlow would run it after the first tile's add).
                last = tf.minimum(k + 1, count - 1)
                more, more_gradient = tf.cond(
                    k + 1 < count,
                    lambda: tile(image, last),
                    lambda: (tf.zeros(terms.shape), tf.zeros([1, *self.grid.crop, 3])),
                )
                add(last, more_gradient)
                # Stacked, not added: Grappler would make the additions an AccumulateNV2, whose
                # temporary variable fails ("already exists") inside the optimizers' loops.
                terms = tf.reduce_sum(tf.stack([terms, more]), axis=0)
            return k + self.together, total + terms

        size = len(self.extractor.content) + len(self.extractor.style)
        _, terms = tf.while_loop(
            lambda k, total: k < count, body, [tf.constant(0), tf.zeros([size])]
        )
        with tf.GradientTape() as tape:
            tape.watch(image)
            extra = self.objective.image_loss(image)
        gradient = self._gradient.read_value()
        extra_gradient = tape.gradient(extra, image)
        if extra_gradient is not None:
            gradient = gradient + extra_gradient
        return tf.reduce_sum(terms) + extra, gradient, terms


def _add(a, b):
    return tuple(None if x is None else x + y for x, y in zip(a, b))


def _assign(variables: list, values: list) -> list:
    """Assigns `values` to `variables`, or makes new ones for new shapes."""
    if len(variables) == len(values) and all(v.shape == x.shape for v, x in zip(variables, values)):
        for v, x in zip(variables, values):
            v.assign(x)
        return variables
    return [tf.Variable(x, trainable=False) for x in values]
