"""What a configuration asks for, as the single runs it means, in order.

A plain config is one run. `-scales 256,512,1024` is a chain of runs, coarse to fine: the
original needed a shell script of several runs for print sizes, each reloading the network and
the previous 8-bit result; here each stage starts from the previous stage's saved image
enlarged to the new size (the original's upscale rule, via -init_image), the style targets are
taken again at each scale (style_scale x size), and one `Stylizer` keeps the network loaded.
Every entry point (the command line, `tf_style.run`, `Stylizer`) goes through `stages`.
"""

from __future__ import annotations

import os

from tf_style.config import StyleConfig

# Per-scale lists and the option each one overrides at its scale.
PER_SCALE = {
    "scale_iterations": "num_iterations",
    "scale_content_weight": "content_weight",
    "scale_style_weight": "style_weight",
    "scale_tv_weight": "tv_weight",
    "scale_lbfgs_num_correction": "lbfgs_num_correction",
}


def stages(config: StyleConfig) -> list[StyleConfig]:
    """The single runs of `config`, each a config without -scales.

    With -scales, one run per scale, chained through their output images: every stage but the
    last writes `<name>_<size>px.<ext>`, the last -output_image, and each later stage starts
    from the one before (`init_image`).

    Example:
        >>> [s.image_size for s in stages(StyleConfig(scales=(256, 512)))]
        [256, 512]
    """
    if not config.scales:
        return [config]
    stem, ext = os.path.splitext(config.output_image)
    cleared = {"scales": (), **{name: () for name in PER_SCALE}}
    result = []
    for i, size in enumerate(config.scales):
        last = i == len(config.scales) - 1
        changes = {
            **cleared,
            "image_size": size,
            "output_image": config.output_image if last else f"{stem}_{size}px{ext}",
        }
        for per_scale, option in PER_SCALE.items():
            values = getattr(config, per_scale)
            if values:
                changes[option] = values[i]
        if result:
            changes.update(init="image", init_image=result[-1].output_image)
        result.append(config.replace(**changes))
    return result
