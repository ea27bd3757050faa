"""Every option checked in one place; the first bad one raises ConfigError with a one-line fix."""

from __future__ import annotations

import math
import os

from tf_style.config.fields import (
    BACKENDS,
    COLOR_MATCH_MODES,
    COLOR_TRANSFER,
    INIT,
    OPTIMIZERS,
    PADDINGS,
    POOLING,
    PRECISIONS,
    STYLE_LOSSES,
)
from tf_style.config.video import CONTAINERS, FLOW_METHODS
from tf_style.errors import ConfigError


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(c) -> None:
    """Checks every option; the first bad one raises ConfigError with a one-line fix."""
    _check(
        len(c.style_image) > 0 and all(c.style_image),
        "-style_image needs at least one image path (comma-separated for several)",
    )
    _check(bool(c.content_image), "-content_image needs an image path")
    if c.style_blend_weights is not None:
        _check(
            len(c.style_blend_weights) == len(c.style_image),
            f"-style_blend_weights has {len(c.style_blend_weights)} values but -style_image "
            f"has {len(c.style_image)} images; give one weight per style image",
        )
        _check(
            all(math.isfinite(w) and w >= 0 for w in c.style_blend_weights),
            "-style_blend_weights must be finite non-negative numbers",
        )
        _check(
            sum(c.style_blend_weights) > 0,
            "-style_blend_weights sum to zero; give at least one positive weight",
        )
    _check(c.image_size > 0, f"-image_size must be a positive number of pixels, got {c.image_size}")
    if c.gpu is not None:
        _check(
            len(c.gpu) > 0 and (c.gpu == (-1,) or all(g >= 0 for g in c.gpu)),
            f"-gpu must be -1 (CPU) or GPU indices >= 0 such as 0 or 0,1; got {_join(c.gpu)}",
        )
        _check(len(set(c.gpu)) == len(c.gpu), f"-gpu lists a device twice: {_join(c.gpu)}")
    for name in ("content_weight", "style_weight", "tv_weight", "learning_rate", "style_scale"):
        value = getattr(c, name)
        _check(
            math.isfinite(value) and value >= 0,
            f"-{name} must be a finite number >= 0, got {value}",
        )
    _check(c.learning_rate > 0, f"-learning_rate must be > 0, got {c.learning_rate}")
    _check(c.style_scale > 0, f"-style_scale must be > 0, got {c.style_scale}")
    _check(c.num_iterations > 0, f"-num_iterations must be at least 1, got {c.num_iterations}")
    _check(c.init in INIT, f"-init must be one of {', '.join(INIT)}; got {c.init!r}")
    _check(
        c.optimizer in OPTIMIZERS,
        f"-optimizer must be one of {', '.join(OPTIMIZERS)}; got {c.optimizer!r}",
    )
    _check(
        c.lbfgs_num_correction >= 0,
        f"-lbfgs_num_correction must be >= 0 (0 means 100), got {c.lbfgs_num_correction}",
    )
    _check(bool(c.output_image), "-output_image needs a file name such as out.png")
    _check(
        os.path.splitext(c.output_image)[1] != "",
        f"-output_image {c.output_image!r} has no extension; add one such as .png or .jpg",
    )
    _check(
        c.output_bit_depth in (8, 16),
        f"-output_bit_depth must be 8 or 16, got {c.output_bit_depth}",
    )
    _check(
        c.output_bit_depth == 8 or os.path.splitext(c.output_image)[1].lower() == ".png",
        f"-output_bit_depth 16 needs a .png -output_image, got {c.output_image!r}; "
        "use a .png name or -output_bit_depth 8",
    )
    _check(
        1 <= c.jpeg_quality <= 100,
        f"-jpeg_quality must be between 1 and 100, got {c.jpeg_quality}",
    )
    _check(
        len(c.content_layers) + len(c.style_layers) > 0,
        "-content_layers and -style_layers are both empty; name at least one layer",
    )
    for name in ("content_layers", "style_layers"):
        layers = getattr(c, name)
        _check(all(layers), f"-{name} has an empty layer name: {_join(layers)}")
        _check(len(set(layers)) == len(layers), f"-{name} names a layer twice: {_join(layers)}")
    _check(c.original_colors in (0, 1), f"-original_colors must be 0 or 1, got {c.original_colors}")
    _check(c.pooling in POOLING, f"-pooling must be one of {', '.join(POOLING)}; got {c.pooling!r}")
    _check(bool(c.model_file), "-model_file needs a model file or a model zoo name such as vgg19")
    _check(
        all(size > 0 for size in c.scales), f"-scales must be positive sizes, got {_join(c.scales)}"
    )
    for name in (
        "scale_iterations",
        "scale_content_weight",
        "scale_style_weight",
        "scale_tv_weight",
        "scale_lbfgs_num_correction",
    ):
        values = getattr(c, name)
        _check(
            not values or len(values) == len(c.scales),
            f"-{name} has {len(values)} values for {len(c.scales)} -scales; give one per scale",
        )
        _check(all(v >= 0 for v in values), f"-{name} must not be negative: {_join(values)}")
    _check(all(v > 0 for v in c.scale_iterations), "-scale_iterations must be at least 1 each")
    _check(
        c.color_transfer in COLOR_TRANSFER,
        f"-color_transfer must be one of {', '.join(COLOR_TRANSFER)}; got {c.color_transfer!r}",
    )
    _check(
        c.color_match_mode in COLOR_MATCH_MODES,
        f"-color_match_mode must be one of {', '.join(COLOR_MATCH_MODES)}; "
        f"got {c.color_match_mode!r}",
    )
    _check(
        c.backend in BACKENDS, f"-backend must be one of {', '.join(BACKENDS)}; got {c.backend!r}"
    )
    _check(c.max_pixels > 0, f"-max_pixels must be a positive pixel count, got {c.max_pixels}")
    _check(
        c.checkpoint_iter >= 0,
        f"-checkpoint_iter must be >= 0 (0 disables checkpoints), got {c.checkpoint_iter}",
    )
    _check(
        c.precision in PRECISIONS,
        f"-precision must be one of {', '.join(PRECISIONS)}; got {c.precision!r}",
    )
    _check(
        not c.tpu or bool(c.jobs),
        "-tpu runs a batch of jobs; give -jobs (a CSV file or a folder of content images)",
    )
    _check(
        not c.multigpu_strategy or all(c.multigpu_strategy),
        f"-multigpu_strategy has an empty entry: {_join(c.multigpu_strategy)}",
    )

    _check(
        c.style_loss in STYLE_LOSSES,
        f"-style_loss must be one of {', '.join(STYLE_LOSSES)}; got {c.style_loss!r}",
    )
    _check(
        c.padding in PADDINGS, f"-padding must be one of {', '.join(PADDINGS)}; got {c.padding!r}"
    )
    _check(
        math.isfinite(c.average_decay) and 0 <= c.average_decay < 1,
        f"-average_decay must be in [0, 1) (0 turns it off), got {c.average_decay}",
    )
    for name in ("style_layer_weights", "content_layer_weights"):
        values = getattr(c, name)
        _check(
            all(math.isfinite(v) and v >= 0 for v in values),
            f"-{name} must be finite numbers >= 0, got {_join(values)}",
        )

    styles = len(c.style_image)
    for name in ("style_masks", "style_image_masks", "style_regions"):
        values = getattr(c, name)
        _check(
            not values or len(values) == styles,
            f"-{name} has {len(values)} images for {styles} -style_image; give one per style "
            "image, in the same order",
        )
        _check(all(values), f"-{name} has an empty entry: {_join(values)}")
    _check(
        bool(c.content_regions) == bool(c.style_regions),
        "-content_regions and -style_regions go together: give a colour map of the content and "
        "one of each style image",
    )
    _check(
        not (c.content_regions and (c.style_masks or c.style_image_masks)),
        "-content_regions and -style_masks (or -style_image_masks) both place the styles; give "
        "region maps or masks, not both",
    )
    _check(
        math.isfinite(c.region_tolerance) and c.region_tolerance >= 0,
        f"-region_tolerance must be a distance >= 0 (0-255 units), got {c.region_tolerance}",
    )

    _check(
        c.tile_size == -1 or c.tile_size >= 0,
        f"-tile_size must be a size in pixels, auto or 0 (no tiles), got {c.tile_size}",
    )
    _check(c.tile_overlap >= 0, f"-tile_overlap must be >= 0 pixels, got {c.tile_overlap}")
    _check(c.seamless in (0, 1), f"-seamless must be 0 or 1, got {c.seamless}")
    _check(
        not (c.seamless and c.padding != "zero"),
        "-seamless wraps every convolution around the image's edges; leave out -padding",
    )
    _check(
        not (c.seamless and c.tile_size),
        "-seamless makes a texture, which fits untiled; leave out -tile_size",
    )
    _check_video(c)


def _check_video(c) -> None:
    _check(
        math.isfinite(c.temporal_weight) and c.temporal_weight >= 0,
        f"-temporal_weight must be a finite number >= 0 (0: independent frames), got "
        f"{c.temporal_weight}",
    )
    _check(
        len(c.video_iterations) in (0, 2) and all(v > 0 for v in c.video_iterations),
        "-video_iterations takes two counts, first,rest (such as 1000,500), each at least 1; "
        f"got {_join(c.video_iterations)}",
    )
    _check(
        c.optical_flow in FLOW_METHODS,
        f"-optical_flow must be one of {', '.join(FLOW_METHODS)}; got {c.optical_flow!r}",
    )
    _check(
        math.isfinite(c.video_fps) and c.video_fps >= 0,
        f"-video_fps must be a frame rate > 0, or 0 for the input's; got {c.video_fps}",
    )
    if not c.content_video:
        return
    extension = os.path.splitext(c.output_video)[1].lower()
    _check(
        extension in CONTAINERS,
        f"-output_video {c.output_video!r} needs one of the extensions {', '.join(CONTAINERS)}",
    )
    _check(
        not (c.resume or c.checkpoint_iter),
        "-content_video keeps every finished frame and continues where it stopped by itself; "
        "leave out -resume and -checkpoint_iter",
    )
    _check(
        not c.jobs,
        "-content_video stylises one clip; for several, give -jobs a folder of clips (and no "
        "-content_video)",
    )
    _check(
        not c.tile_size,
        "-content_video stylises whole frames (its temporal loss is not tiled); leave out "
        "-tile_size",
    )


def check_layer_weights(c) -> None:
    """Refuses layer-weight lists whose length is not the layer lists'. Checked once the layer
    lists are final (a zoo model may bring its own: `tf_style.models.apply_zoo_defaults`)."""
    for kind in ("content", "style"):
        weights, layers = getattr(c, f"{kind}_layer_weights"), getattr(c, f"{kind}_layers")
        _check(
            not weights or len(weights) == len(layers),
            f"-{kind}_layer_weights has {len(weights)} values for the {len(layers)} layers of "
            f"-{kind}_layers ({_join(layers)}); give one per layer",
        )


def _join(values) -> str:
    return ",".join(str(v) for v in values)
