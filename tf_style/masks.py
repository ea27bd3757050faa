"""Spatial control (Gatys et al. 2017): masks and colour-coded region maps decide where each
style goes and which part of each style image it is taken from.

What a run's masks become is a `Guidance`: style terms, each tying a style image (optionally a
part of it) to a part of the output, and an optional per-pixel weight of the content loss. The
objective brings every mask to each layer's size (`to_layer`: the area resize of the image
resize rule) and guides the statistics with it (`losses.statistics`). Nothing here needs
TensorFlow: the command checks the masks before TensorFlow loads.

Region maps: the colours of a map are its commonest colours (quantised to steps of 1/32), each
further than -region_tolerance from the more common ones and covering at least `_MIN_SHARE` of
the map: JPEG ringing and anti-aliased edges make many stray colours. Every pixel belongs to its
nearest colour. A content colour and a style map's colour match when they are within
-region_tolerance (0-255 units, Euclidean in RGB) of each other.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tf_style import image_io, preprocess
from tf_style.config import StyleConfig
from tf_style.errors import ImageError

# A map's colour counts when it covers this share of the map (fewer pixels are noise).
_MIN_SHARE = 0.002
# The quantisation step used to find a map's colours.
_STEP = 1 / 32
# How far a mask's aspect ratio may be from its image's.
_ASPECT_TOLERANCE = 0.01


@dataclasses.dataclass(frozen=True)
class StyleTerm:
    """One style loss term: style image `style` (or its part `style_mask`, in its own frame)
    on the part `output_mask` of the output (None: everywhere), weighted by `weight`."""

    style: int
    weight: float
    output_mask: np.ndarray | None = None  # [H, W] in [0, 1], the content's size
    style_mask: np.ndarray | None = None  # [h, w] in [0, 1], that style image's size


@dataclasses.dataclass(frozen=True)
class Guidance:
    """A run's masks. No terms: the original's blended style everywhere."""

    terms: tuple[StyleTerm, ...] = ()
    content_mask: np.ndarray | None = None  # [H, W] in [0, 1]
    notes: tuple[str, ...] = ()

    @property
    def signature(self) -> tuple:
        """What the traced evaluation depends on (not the masks' values)."""
        guided = bool(self.terms) and self.terms[0].output_mask is not None
        return len(self.terms), guided, self.content_mask is not None


def guided(config: StyleConfig) -> bool:
    """Whether `config` asks for any mask or region map."""
    return bool(
        config.style_masks
        or config.style_image_masks
        or config.content_mask
        or config.content_regions
    )


def load(
    config: StyleConfig,
    content: np.ndarray,
    styles: list[np.ndarray],
    arrays: dict | None = None,
) -> Guidance:
    """The guidance of a run whose resized content and style images are `content`, `styles`.

    Masks are read from the files the config names, or taken from `arrays` (option name ->
    float RGB array, or a list of them), and resized to their image's size by the image resize
    rule.

    Raises:
        ImageError: a mask that cannot be read, whose aspect ratio is not its image's, or that
            is all black; region maps that share no colour.
    """
    arrays = arrays or {}
    size = content.shape[:2]
    terms: list[StyleTerm] = []
    notes: list[str] = []
    weights = config.style_blend_weights or (1.0,) * len(config.style_image)
    if config.content_regions:
        terms, notes = _region_terms(config, size, [s.shape[:2] for s in styles], arrays, weights)
    elif config.style_masks or config.style_image_masks:
        outputs = _masks(config, "style_masks", [size] * len(styles), arrays)
        sides = _masks(config, "style_image_masks", [s.shape[:2] for s in styles], arrays)
        if outputs is None:
            # Parts of the style images, blended as the original blends its styles.
            weights = config.blend_weights
        for i in range(len(styles)):
            terms.append(
                StyleTerm(
                    i,
                    float(weights[i]),
                    None if outputs is None else outputs[i],
                    None if sides is None else sides[i],
                )
            )
    content_mask = None
    if config.content_mask:
        content_mask = _masks(config, "content_mask", [size], arrays)[0]
    return Guidance(tuple(terms), content_mask, tuple(notes))


def check(config: StyleConfig) -> None:
    """Reads the run's images and masks and checks them, as `load` does, without TensorFlow:
    the command's check before it loads."""
    if not guided(config):
        return
    content = image_io.read_image(config.content_image, max_pixels=config.max_pixels)
    styles = [image_io.read_image(p, max_pixels=config.max_pixels) for p in config.style_image]
    load(config, content, styles)


def to_layer(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A mask brought to a layer's size: the area average of the image resize rule (each layer
    pixel averages the image pixels it covers), as Gatys et al. downsample their masks."""
    return preprocess.resize(mask[..., None], height, width)[..., 0]


def _masks(config, option: str, sizes, arrays) -> list[np.ndarray] | None:
    """The grayscale masks of `option`, each resized to its size; None when not given."""
    sources = arrays.get(option, getattr(config, option))
    if isinstance(sources, (str, os.PathLike, np.ndarray)) or hasattr(sources, "convert"):
        sources = [sources]
    if not sources or sources == [""]:
        return None
    masks = []
    for source, size, name in zip(sources, sizes, _names(sources)):
        rgb = _read(config, option, source)
        _check_aspect(option, name, rgb.shape[:2], size)
        mask = preprocess.resize(rgb, *size).mean(axis=-1).clip(0, 1)
        if mask.max() < 1 / 255:
            raise ImageError(
                f"-{option} {name}: the mask is all black, so it selects nothing; paint in "
                "white (or grey) where it applies"
            )
        masks.append(mask)
    return masks


def _names(sources) -> list[str]:
    return [s if isinstance(s, (str, os.PathLike)) else "<array>" for s in sources]


def _read(config, option: str, source) -> np.ndarray:
    if isinstance(source, (str, os.PathLike)):
        try:
            return image_io.read_image(source, max_pixels=config.max_pixels)
        except ImageError as e:
            raise ImageError(f"-{option}: {e}") from None
    return image_io.as_rgb(source, config.max_pixels)


def _check_aspect(option: str, name: str, found, wanted) -> None:
    """Refuses a mask whose aspect ratio is not its image's `wanted` size's (which may be the
    resized image: its sides are whole pixels, so it may be off by a pixel's share)."""
    ratio, want = found[1] / found[0], wanted[1] / wanted[0]
    if abs(ratio / want - 1) > _ASPECT_TOLERANCE + 1 / min(wanted):
        raise ImageError(
            f"-{option} {name}: the mask is {found[1]}x{found[0]}, an aspect ratio {ratio:.3f} "
            f"where its image's is {want:.3f}; draw the mask on (a copy of) the image itself"
        )


def _nearest(rgb: np.ndarray, size) -> np.ndarray:
    """A colour map at `size` by nearest neighbours: resizing would blend its colours."""
    rows = (np.arange(size[0]) + 0.5) * rgb.shape[0] / size[0]
    cols = (np.arange(size[1]) + 0.5) * rgb.shape[1] / size[1]
    return rgb[rows.astype(int)][:, cols.astype(int)]


def _palette(rgb: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """(the map's colours [K, 3], each pixel's colour index [H, W]).

    The colours are found among the pixels inside a region (whose eight neighbours are within
    `tolerance` of them): JPEG's chroma subsampling and anti-aliasing paint bands of other
    colours along every edge. The commonest quantised colours there, from the most common down,
    are kept when further than `tolerance` from every colour kept before them (JPEG's shifted
    copies of a colour are not colours of their own) and covering at least `_MIN_SHARE` of the
    map (the commonest always).
    """
    pixels = rgb.reshape(-1, 3)
    quantised = np.round(_interior(rgb, tolerance) / _STEP) * _STEP
    candidates, counts = np.unique(quantised, axis=0, return_counts=True)
    kept = []
    for k in np.argsort(-counts, kind="stable"):
        if kept and counts[k] < _MIN_SHARE * len(pixels):
            break
        if all(np.sqrt(((candidates[k] - c) ** 2).sum()) > tolerance for c in kept):
            kept.append(candidates[k])
    colours = np.array(kept)
    distances = ((pixels[:, None, :] - colours[None, :, :]) ** 2).sum(-1)
    return colours, distances.argmin(axis=1).reshape(rgb.shape[:2])


def _interior(rgb: np.ndarray, tolerance: float) -> np.ndarray:
    """The pixels [N, 3] whose eight neighbours are within `tolerance` of them (all of them
    when none is: a map of one-pixel strokes)."""
    padded = np.pad(rgb, [(1, 1), (1, 1), (0, 0)], mode="edge")
    h, w = rgb.shape[:2]
    inside = np.ones((h, w), bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            step = np.sqrt(((padded[dy : dy + h, dx : dx + w] - rgb) ** 2).sum(-1))
            inside &= step <= tolerance
    return rgb[inside] if inside.any() else rgb.reshape(-1, 3)


def _region_terms(config, size, style_sizes, arrays, weights):
    """One term per (style image, colour) that the content map and that style's map share."""
    source = arrays.get("content_regions", config.content_regions)
    name = _names([source])[0]
    content_map = _read(config, "content_regions", source)
    _check_aspect("content_regions", name, content_map.shape[:2], size)
    tolerance = config.region_tolerance / 255
    colours, labels = _palette(_nearest(content_map, size), tolerance)
    sources = arrays.get("style_regions", config.style_regions)
    matches: dict[int, list] = {}
    for i, (style_source, style_name) in enumerate(zip(sources, _names(sources))):
        style_map = _read(config, "style_regions", style_source)
        _check_aspect("style_regions", style_name, style_map.shape[:2], style_sizes[i])
        theirs, their_labels = _palette(_nearest(style_map, style_sizes[i]), tolerance)
        for k, colour in enumerate(colours):
            distance = np.sqrt(((theirs - colour) ** 2).sum(-1))
            if distance.min() <= tolerance:
                matches.setdefault(k, []).append((i, their_labels == distance.argmin()))
    notes = [
        f"Region colour {_hex(colour)} ({int((labels == k).sum())} pixels of {name}) is in no "
        "-style_regions map: it keeps the content only."
        for k, colour in enumerate(colours)
        if k not in matches
    ]
    if not matches:
        raise ImageError(
            f"-content_regions {name}: none of its colours "
            f"({', '.join(_hex(c) for c in colours)}) is in a -style_regions map; paint the "
            "regions in the same colours (within -region_tolerance)"
        )
    terms = []
    for k, found in sorted(matches.items()):
        # Styles sharing a colour share its region, in the proportions of their weights.
        share = sum(weights[i] for i, _ in found)
        for i, side in found:
            output = (labels == k).astype(np.float64)
            terms.append(StyleTerm(i, float(weights[i] / share), output, side.astype(np.float64)))
    return terms, notes


def _hex(colour: np.ndarray) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in colour)
