"""Print sizes beyond memory (tiles) and tileable textures (docs/high-resolution.md)."""

from __future__ import annotations

from dataclasses import dataclass

from tf_style.config.fields import CHECKPOINT, GRAPH, opt

GROUP = "Tiling options"


@dataclass(frozen=True)
class TileOptions:
    """-tile_size, -tile_overlap, -seamless."""

    # A number or auto: a string flag, held as an int (auto: AUTO_TILE) once validated.
    tile_size: str | int = opt(
        0,
        GROUP,
        "Evaluate the losses tile by tile, each tile about this many pixels square plus its "
        "overlap, so that memory is bounded by a tile, not by the image (print sizes; two "
        "side by side on a CPU where they fit, which is faster); auto: "
        "the largest tile that fits, and only where the whole image does not; 0: no tiles. "
        "Each tile matches the style by itself (docs/high-resolution.md).",
        GRAPH,
        CHECKPOINT,
    )
    tile_overlap: int = opt(
        0,
        GROUP,
        "Pixels of real neighbouring image around each tile, across which neighbouring tiles "
        "cross-fade their losses (no seams); 0: a quarter of -tile_size.",
        GRAPH,
        CHECKPOINT,
    )
    seamless: int = opt(
        0,
        GROUP,
        "1 makes a tileable image (a texture): every convolution and pooling layer wraps "
        "around the image's edges, and so does TV. With -content_weight 0 and -init random "
        "it synthesises a texture from noise.",
        GRAPH,
        CHECKPOINT,
    )
