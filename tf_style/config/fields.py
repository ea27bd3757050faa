"""How an option is declared: its default, CLI group, help text and tags; the lists of choices.

Standard library only: importing tf_style must stay instant.
"""

from __future__ import annotations

from dataclasses import field

OPTIMIZERS = ("lbfgs", "tfp_lbfgs", "adam")
POOLING = ("max", "avg")
INIT = ("random", "image")
COLOR_TRANSFER = ("none", "luminance", "match")
COLOR_MATCH_MODES = ("chol", "pca", "sym")
BACKENDS = ("nn", "cudnn", "clnn")
PRECISIONS = ("float32", "bfloat16")
STYLE_LOSSES = ("gram", "mean_cov", "w2")
PADDINGS = ("zero", "replicate", "reflect")
# image_io.DEFAULT_MAX_PIXELS (repeated because this package imports only the standard library;
# a test checks that the two agree).
DEFAULT_MAX_PIXELS = 178_956_970

# The original README's option groups, in its order; ours come last.
GROUPS = (
    "Options",
    "Optimization options",
    "Output options",
    "Layer options",
    "Other options",
    "tf_style options",
    "Quality options",
    "Spatial control options",
    "Tiling options",
    "Video options",
)

# Tags (besides the CLI's group and help text): GRAPH marks the options that shape a run's
# network, targets' shapes or traced optimisation (runs that agree on them, and on the image
# sizes and devices, share all three: `Stylizer`); CHECKPOINT marks those a checkpoint's state
# depends on (-resume refuses a checkpoint made with other values; the rest, such as
# -num_iterations, printing, saving or the device, may change, and -init and -seed only choose
# the initial image, which is part of the saved state).
GRAPH = "graph"
CHECKPOINT = "checkpoint"


def opt(default, group: str, help: str, *tags: str):
    """A StyleConfig field: its default, the CLI group and help text it is listed under, and
    its tags (GRAPH, CHECKPOINT)."""
    return field(default=default, metadata={"group": group, "help": help, "tags": tags})
