"""Coarse to fine in one command: `-scales 256,512,1024,2048`.

The original needed a shell script of five runs for print sizes (semantics.md 8.2), each run
reloading the network and the previous 8-bit result. Here one process runs the chain: a
`Stylizer` keeps the network loaded, each stage starts from the previous stage's saved image
enlarged to the new size (the original's upscale rule, via -init_image), and the style targets
are extracted again at each scale (style_scale x size).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from tf_style import image_io
from tf_style.config import StyleConfig
from tf_style.engine import Progress, Stylizer
from tf_style.report import Reporter

# Per-scale lists and the option each one overrides at its scale.
_PER_SCALE = {
    "scale_iterations": "num_iterations",
    "scale_content_weight": "content_weight",
    "scale_style_weight": "style_weight",
    "scale_tv_weight": "tv_weight",
    "scale_lbfgs_num_correction": "lbfgs_num_correction",
}


def stages(config: StyleConfig) -> list[StyleConfig]:
    """One plain run's config per scale, chained through their output images."""
    stem, ext = os.path.splitext(config.output_image)
    cleared = {"scales": (), **{name: () for name in _PER_SCALE}}
    result = []
    for i, size in enumerate(config.scales):
        last = i == len(config.scales) - 1
        changes = {
            **cleared,
            "image_size": size,
            "output_image": config.output_image if last else f"{stem}_{size}px{ext}",
        }
        for per_scale, option in _PER_SCALE.items():
            values = getattr(config, per_scale)
            if values:
                changes[option] = values[i]
        if result:
            changes.update(init="image", init_image=result[-1].output_image)
        result.append(config.replace(**changes))
    return result


def run(
    config: StyleConfig,
    reporter: Reporter | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    stylizer: Stylizer | None = None,
) -> np.ndarray:
    """Runs every scale of `config.scales` in turn; returns the last image (float RGB).

    Example:
        >>> from tf_style import StyleConfig
        >>> from tf_style.multiscale import run
        >>> image = run(StyleConfig(scales=(256, 512), scale_iterations=(500, 200),
        ...                         content_image="photo.jpg", style_image="starry.jpg"))
    """
    reporter = reporter or Reporter()
    stylizer = stylizer or Stylizer(reporter)
    chain = stages(config)
    stopped = []

    def watch(progress: Progress) -> bool:
        stop = bool(callback and callback(progress))
        if stop:
            stopped.append(progress.iteration)
        return stop

    for i, stage in enumerate(chain, 1):
        reporter.note(
            f"Scale {i} / {len(chain)}: {stage.image_size} px, {stage.num_iterations} iterations"
        )
        # Every scale's image records the whole chain, so -show_config reproduces it.
        image = stylizer.run(stage, watch, record=config)
        if stopped:
            if stage.output_image != config.output_image:
                # Where the caller expects the result of an interrupted chain.
                image_io.write_image(config.output_image, image)
            break
    return image
