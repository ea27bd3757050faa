"""Every option of a style-transfer run, with the original's defaults, validated in one place.

`StyleConfig` is the single source of defaults: the CLI (`cli.py`) builds its flags from these
fields and their metadata (group, help text, tags), and the library takes the same object.
Field names are the original neural-style flag names. The fields are declared by theme
(`original.py`, `ours.py`), checked in `validate.py`; this package imports only the standard
library.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tf_style.config.fields import (
    BACKENDS,
    CHECKPOINT,
    COLOR_MATCH_MODES,
    COLOR_TRANSFER,
    DEFAULT_MAX_PIXELS,
    GRAPH,
    GROUPS,
    INIT,
    OPTIMIZERS,
    POOLING,
    PRECISIONS,
)
from tf_style.config.original import OriginalOptions
from tf_style.config.ours import TfStyleOptions
from tf_style.config.quality import QualityOptions
from tf_style.config.spatial import SpatialOptions
from tf_style.config.tiles import TileOptions
from tf_style.config.validate import check_layer_weights, validate
from tf_style.config.video import FLOW_METHODS, VideoOptions
from tf_style.errors import ConfigError


# Fields come in the order of the bases from last to first: the original's, then ours.
@dataclass(frozen=True)
class StyleConfig(
    VideoOptions, TileOptions, SpatialOptions, QualityOptions, TfStyleOptions, OriginalOptions
):
    """One style-transfer run. Defaults are those of jcjohnson/neural-style.

    List-valued options accept a tuple, a list, or a comma-separated string (as on the CLI).

    Example:
        >>> cfg = StyleConfig(style_image="starry.jpg", content_image="photo.jpg", image_size=256)
        >>> cfg.style_image
        ('starry.jpg',)
    """

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("style_blend_weights", "gpu") and value in (None, "", "nil"):
                object.__setattr__(self, f.name, None)
            elif f.name == "scales" and value in ("auto", ("auto",), ["auto"]):
                object.__setattr__(self, f.name, auto_scales(self.image_size))
            elif f.name == "tile_size":
                object.__setattr__(self, f.name, _tile_size(value))
            elif f.type.startswith("tuple"):
                object.__setattr__(self, f.name, _to_tuple(f.name, value, f.type))
        validate(self)

    def replace(self, **changes) -> StyleConfig:
        """Returns a copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def blend_weights(self) -> tuple[float, ...]:
        """The style blend weights normalised to sum to 1, one per style image."""
        raw = self.style_blend_weights or (1.0,) * len(self.style_image)
        total = sum(raw)
        return tuple(w / total for w in raw)

    @property
    def num_correction(self) -> int:
        """The L-BFGS history size the original uses: 0 means 100."""
        return self.lbfgs_num_correction if self.lbfgs_num_correction > 0 else 100


# -tile_size auto, as the field holds it.
AUTO_TILE = -1
# The smallest size of -scales auto, where the style's largest structures form.
AUTO_SCALES_START = 128


def auto_scales(image_size: int) -> tuple[int, ...]:
    """-scales auto: sizes a factor sqrt(2) apart, from about AUTO_SCALES_START up to
    `image_size` (which is always the last).

    Example:
        >>> auto_scales(512)
        (128, 181, 256, 362, 512)
    """
    sizes, k = [], 0
    while not sizes or sizes[-1] > AUTO_SCALES_START:
        size = round(image_size / 2 ** (k / 2))
        if size < AUTO_SCALES_START and sizes:
            break
        sizes.append(size)
        k += 1
    return tuple(sorted(set(sizes)))


def _tile_size(value) -> int:
    if value == "auto":
        return AUTO_TILE
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"-tile_size must be a size in pixels, auto or 0 (no tiles), got {value!r}"
        ) from None


def settings(config: StyleConfig, tag: str) -> dict:
    """The values of the options tagged `tag` (GRAPH or CHECKPOINT), by name."""
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if tag in f.metadata["tags"]
    }


def _to_tuple(name: str, value, type_name: str) -> tuple:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")] if value.strip() else []
    try:
        items = list(value)
    except TypeError:
        items = [value]
    convert = {"int": int, "float": float}.get(type_name.split("[")[1].split(",")[0], str)
    try:
        return tuple(convert(v) for v in items)
    except (TypeError, ValueError):
        kind = "integers" if convert is int else "numbers"
        raise ConfigError(
            f"-{name} must be a comma-separated list of {kind}, got {value!r}"
        ) from None


__all__ = [
    "AUTO_TILE",
    "BACKENDS",
    "CHECKPOINT",
    "COLOR_MATCH_MODES",
    "COLOR_TRANSFER",
    "ConfigError",
    "DEFAULT_MAX_PIXELS",
    "FLOW_METHODS",
    "GRAPH",
    "GROUPS",
    "INIT",
    "OPTIMIZERS",
    "POOLING",
    "PRECISIONS",
    "StyleConfig",
    "auto_scales",
    "check_layer_weights",
    "settings",
]
