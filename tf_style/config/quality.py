"""Options for better images than the original's (each off by default: the original's maths).

Wasserstein-2 and mean/covariance style losses, per-layer weights, an average of the iterates,
padding modes and automatic scales; what each buys is measured in docs/quality.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from tf_style.config.fields import CHECKPOINT, GRAPH, opt

GROUP = "Quality options"


@dataclass(frozen=True)
class QualityOptions:
    """-style_loss, layer weights, -average_decay, -padding."""

    style_loss: str = opt(
        "gram",
        GROUP,
        "How the style is compared at each style layer: gram (the original's: the Gram "
        "matrices' mean squared difference); mean_cov (the features' means and covariances, "
        "mean squared differences); w2 (the squared Wasserstein-2 distance between Gaussian "
        "fits of the features, per channel). mean_cov and w2 need their own -style_weight "
        "(configs/quality.flags has one for open_nsfw).",
        GRAPH,
        CHECKPOINT,
    )
    style_layer_weights: tuple[float, ...] = opt(
        (),
        GROUP,
        "A weight per -style_layers layer, comma-separated, multiplying its loss (the printed "
        "losses include it). By default all 1, the original's.",
        GRAPH,
        CHECKPOINT,
    )
    content_layer_weights: tuple[float, ...] = opt(
        (),
        GROUP,
        "A weight per -content_layers layer, as -style_layer_weights.",
        GRAPH,
        CHECKPOINT,
    )
    average_decay: float = opt(
        0.0,
        GROUP,
        "Save and return an exponential moving average of the iterates instead of the last "
        "one, with this decay per iteration (bias-corrected; 0.9 averages about the last 10); "
        "each of -scales starts from it. 0 turns it off.",
        GRAPH,
        CHECKPOINT,
    )
    padding: str = opt(
        "zero",
        GROUP,
        "How the convolutions pad their input: zero (Caffe's), replicate (the edge pixels) "
        "or reflect (mirrored, without the edge): fewer dark or bright borders.",
        GRAPH,
        CHECKPOINT,
    )
