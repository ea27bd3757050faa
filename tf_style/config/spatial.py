"""Spatial control options: masks and colour-coded region maps (docs/spatial-control.md)."""

from __future__ import annotations

from dataclasses import dataclass

from tf_style.config.fields import CHECKPOINT, opt

GROUP = "Spatial control options"


@dataclass(frozen=True)
class SpatialOptions:
    """Where each style goes, which part of each style image it comes from, where the content
    counts."""

    style_masks: tuple[str, ...] = opt(
        (),
        GROUP,
        "One grayscale image per -style_image, in the content image's frame, comma-separated: "
        "white where that style goes, grey to blend, black where it does not.",
        CHECKPOINT,
    )
    style_image_masks: tuple[str, ...] = opt(
        (),
        GROUP,
        "One grayscale image per -style_image, in that style image's frame: the part of it "
        "whose statistics make the style.",
        CHECKPOINT,
    )
    content_mask: str = opt(
        "",
        GROUP,
        "A grayscale image in the content image's frame weighting the content loss per pixel: "
        "black leaves a region to the style alone.",
        CHECKPOINT,
    )
    content_regions: str = opt(
        "",
        GROUP,
        "A colour-coded map of the content image (same frame): each colour that also occurs in "
        "a -style_regions map ties that region of the output to that region of that style "
        "image. A colour in no style map keeps the content only.",
        CHECKPOINT,
    )
    style_regions: tuple[str, ...] = opt(
        (),
        GROUP,
        "One colour-coded map per -style_image, in that style image's frame (see "
        "-content_regions).",
        CHECKPOINT,
    )
    region_tolerance: float = opt(
        40.0,
        GROUP,
        "How far apart (0-255 units, RGB distance) two region colours may be and still match: "
        "maps saved as JPEG shift their colours.",
        CHECKPOINT,
    )
