"""Every option of a style-transfer run, with the original's defaults, validated in one place.

`StyleConfig` is the single source of defaults: the CLI (`cli.py`) builds its flags from these
fields and their metadata (group and help text), and the library takes the same object. Field
names are the original neural-style flag names.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

from tf_style.errors import ConfigError

OPTIMIZERS = ("lbfgs", "tfp_lbfgs", "adam")
POOLING = ("max", "avg")
INIT = ("random", "image")
COLOR_TRANSFER = ("none", "luminance", "match")
COLOR_MATCH_MODES = ("chol", "pca", "sym")
BACKENDS = ("nn", "cudnn", "clnn")
PRECISIONS = ("float32", "bfloat16")
# image_io.DEFAULT_MAX_PIXELS (repeated because this module imports only the standard library;
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
)


# Field metadata (besides the CLI's group and help text): GRAPH marks the options that shape a
# run's network, targets' shapes or traced optimisation (runs that agree on them, and on the
# image sizes and devices, share all three: `Stylizer`); CHECKPOINT marks those a checkpoint's
# state depends on (-resume refuses a checkpoint made with other values; the rest, such as
# -num_iterations, printing, saving or the device, may change, and -init and -seed only choose
# the initial image, which is part of the saved state).
GRAPH = "graph"
CHECKPOINT = "checkpoint"


def _opt(default, group: str, help: str, *tags: str):
    return field(default=default, metadata={"group": group, "help": help, "tags": tags})


def settings(config: StyleConfig, tag: str) -> dict:
    """The values of the options marked `tag` (GRAPH or CHECKPOINT), by name."""
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if tag in f.metadata["tags"]
    }


@dataclass(frozen=True)
class StyleConfig:
    """One style-transfer run. Defaults are those of jcjohnson/neural-style.

    List-valued options accept a tuple, a list, or a comma-separated string (as on the CLI).

    Example:
        >>> cfg = StyleConfig(style_image="starry.jpg", content_image="photo.jpg", image_size=256)
        >>> cfg.style_image
        ('starry.jpg',)
    """

    # Basic options.
    style_image: tuple[str, ...] = _opt(
        ("examples/inputs/seated-nude.jpg",),
        "Options",
        "Comma-separated list of style images.",
        CHECKPOINT,
    )
    style_blend_weights: tuple[float, ...] | None = _opt(
        None,
        "Options",
        "Weights for blending several style images, comma-separated, such as 3,7. "
        "By default all style images are weighted equally ('nil').",
        CHECKPOINT,
    )
    content_image: str = _opt(
        "examples/inputs/tubingen.jpg", "Options", "The content image.", CHECKPOINT
    )
    image_size: int = _opt(
        512,
        "Options",
        "Maximum side length (in pixels) of the generated image.",
        CHECKPOINT,
    )
    gpu: tuple[int, ...] | None = _opt(
        None,
        "Options",
        "Zero-indexed ID of the GPU to use; -1 for CPU. By default the first GPU, or the CPU "
        "(with a note) when there is none. A comma-separated list (0,1) splits the network "
        "over several GPUs.",
    )
    multigpu_strategy: tuple[str, ...] = _opt(
        (),
        "Options",
        "Where to split the network between GPUs: comma-separated 1-based module indices "
        "counted as the original counts (its net with the TV module first and a loss module "
        "after each loss layer; each index closes a device's part), or layer names (a part "
        "ends after that layer). Default for 2 GPUs: 3 (4 with TV), as in the original.",
        GRAPH,
    )
    # Optimization options.
    content_weight: float = _opt(
        5.0,
        "Optimization options",
        "How much to weight the content reconstruction term.",
        GRAPH,
        CHECKPOINT,
    )
    style_weight: float = _opt(
        100.0,
        "Optimization options",
        "How much to weight the style reconstruction term.",
        GRAPH,
        CHECKPOINT,
    )
    tv_weight: float = _opt(
        1e-3,
        "Optimization options",
        "Weight of total-variation (TV) regularization; 0 disables it.",
        GRAPH,
        CHECKPOINT,
    )
    num_iterations: int = _opt(1000, "Optimization options", "Number of iterations.")
    normalize_gradients: bool = _opt(
        False,
        "Optimization options",
        "L1-normalize the style and content gradients of each layer.",
        GRAPH,
        CHECKPOINT,
    )
    init: str = _opt(
        "random",
        "Optimization options",
        "How to initialize the generated image: random (noise) or image.",
    )
    init_image: str = _opt(
        "",
        "Optimization options",
        "Image to start from; implies -init image (the original ignored it without -init image).",
    )
    optimizer: str = _opt(
        "lbfgs",
        "Optimization options",
        "lbfgs (the original's fixed-step L-BFGS), tfp_lbfgs (TensorFlow Probability's L-BFGS "
        "with line search) or adam.",
        GRAPH,
        CHECKPOINT,
    )
    learning_rate: float = _opt(
        10.0,
        "Optimization options",
        "Learning rate of the Adam optimizer.",
        GRAPH,
        CHECKPOINT,
    )
    lbfgs_num_correction: int = _opt(
        0,
        "Optimization options",
        "L-BFGS history size; 0 means the default of 100. Smaller values save memory.",
        GRAPH,
        CHECKPOINT,
    )
    # Output options.
    output_image: str = _opt(
        "out.png", "Output options", "Name of the output image; its extension selects the format."
    )
    print_iter: int = _opt(
        50, "Output options", "Print progress every print_iter iterations; 0 disables."
    )
    save_iter: int = _opt(
        100,
        "Output options",
        "Save the image every save_iter iterations (as <name>_<iteration>.<ext>); 0 disables.",
    )
    output_bit_depth: int = _opt(
        8,
        "Output options",
        "Bits per channel of the saved images: 8, or 16 for .png (an addition; the original "
        "wrote 8).",
    )
    jpeg_quality: int = _opt(
        75, "Output options", "Quality (1-100) of .jpg output images; 75 is the original's."
    )
    # Layer options.
    content_layers: tuple[str, ...] = _opt(
        ("relu4_2",),
        "Layer options",
        "Comma-separated layer names to use for content reconstruction.",
        GRAPH,
        CHECKPOINT,
    )
    style_layers: tuple[str, ...] = _opt(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        "Layer options",
        "Comma-separated layer names to use for style reconstruction.",
        GRAPH,
        CHECKPOINT,
    )
    # Other options.
    style_scale: float = _opt(
        1.0,
        "Other options",
        "Scale at which to extract features from the style images.",
        CHECKPOINT,
    )
    original_colors: int = _opt(0, "Other options", "1 keeps the colors of the content image.")
    pooling: str = _opt(
        "max", "Other options", "The type of pooling layers to use: max or avg.", GRAPH, CHECKPOINT
    )
    proto_file: str = _opt(
        "",
        "Other options",
        "The Caffe .prototxt of the model; optional (the architecture is also in the .caffemodel).",
        GRAPH,
        CHECKPOINT,
    )
    model_file: str = _opt(
        "vgg19",
        "Other options",
        "A .caffemodel, a converted model file, or a model zoo name (vgg19, vgg16, "
        "vgg19_normalized, nin, open_nsfw, keras:vgg19, keras:vgg16).",
        GRAPH,
        CHECKPOINT,
    )
    backend: str = _opt(
        "nn",
        "Other options",
        "Accepted for compatibility: nn, cudnn or clnn. TensorFlow picks its kernels itself "
        "(cuDNN on NVIDIA GPUs, oneDNN on CPUs).",
    )
    cudnn_autotune: bool = _opt(
        False,
        "Other options",
        "Accepted for compatibility: TensorFlow autotunes cuDNN convolutions by default.",
    )
    seed: int = _opt(-1, "Other options", "Random seed; a negative value draws a fresh one.")
    # tf_style's own options.
    color_transfer: str = _opt(
        "none",
        "tf_style options",
        "Colour control (Gatys et al. 2017): none; luminance (transfer the style to the "
        "luminance only and keep the content's colours); match (first give the style images "
        "the content's colour mean and covariance).",
        CHECKPOINT,
    )
    color_match_mode: str = _opt(
        "chol",
        "tf_style options",
        "How -color_transfer match maps colours: chol (Cholesky), pca or sym (symmetric).",
        CHECKPOINT,
    )
    scales: tuple[int, ...] = _opt(
        (),
        "tf_style options",
        "Coarse to fine in one command: image sizes such as 256,512,1024,2048, one run each, "
        "every run starting from the previous result enlarged (-image_size is then unused). "
        "Each scale's image is saved as <name>_<size>px.<ext>, the last as -output_image.",
    )
    scale_iterations: tuple[int, ...] = _opt(
        (), "tf_style options", "Iterations at each of -scales (default: -num_iterations)."
    )
    scale_content_weight: tuple[float, ...] = _opt(
        (), "tf_style options", "-content_weight at each of -scales (default: -content_weight)."
    )
    scale_style_weight: tuple[float, ...] = _opt(
        (), "tf_style options", "-style_weight at each of -scales (default: -style_weight)."
    )
    scale_tv_weight: tuple[float, ...] = _opt(
        (), "tf_style options", "-tv_weight at each of -scales (default: -tv_weight)."
    )
    scale_lbfgs_num_correction: tuple[int, ...] = _opt(
        (),
        "tf_style options",
        "-lbfgs_num_correction at each of -scales (default: -lbfgs_num_correction).",
    )
    recompute: bool = _opt(
        False,
        "tf_style options",
        "Recompute activations in the backward pass instead of keeping them (per block): "
        "same results, a quarter to a third less peak memory at 1024-2048 px, for a second "
        "forward pass.",
        GRAPH,
    )
    log_dir: str = _opt(
        "",
        "tf_style options",
        "Write TensorBoard summaries here: every loss term at each printed or saved iteration, "
        "and the image at every save.",
    )
    debug: bool = _opt(
        False, "tf_style options", "Show TensorFlow's log messages and full tracebacks."
    )
    max_pixels: int = _opt(
        DEFAULT_MAX_PIXELS,
        "tf_style options",
        "Refuse input images with more pixels than this (a guard against decompression bombs); "
        "raise it for a trusted larger file.",
    )
    checkpoint_iter: int = _opt(
        0,
        "tf_style options",
        "Save the optimizer's whole state every checkpoint_iter iterations, and when "
        "interrupted, in the directory <output stem>.ckpt (out.png -> out.ckpt); 0 disables. "
        "L-BFGS keeps 2 x lbfgs_num_correction image-sized buffers, so checkpoints are large.",
    )
    resume: bool = _opt(
        False,
        "tf_style options",
        "Continue from the checkpoint in <output stem>.ckpt, made by a run with the same "
        "settings (-num_iterations may grow); the result equals an uninterrupted run's. The "
        "random initial image is part of the saved state, so -seed need not be repeated.",
    )
    precision: str = _opt(
        "float32",
        "tf_style options",
        "Compute precision of the network: float32, or bfloat16 (convolutions in bfloat16; "
        "Gram matrices, losses and the optimizer's state stay float32). bfloat16 is faster on "
        "GPUs and on CPUs with native bfloat16 (AVX512_BF16, AMX): 2x per evaluation for "
        "VGG-19 on such a CPU, but not for ResNets (their evaluations are bound by per-op "
        "overhead); no faster elsewhere. With L-BFGS the first 5 evaluations run in float32 "
        "(bfloat16 cannot resolve the small random start); after them the loss follows "
        "float32's, within 2 % from about 50 iterations on in our measurements.",
        GRAPH,
        CHECKPOINT,
    )
    jit: bool = _opt(
        False,
        "tf_style options",
        "Compile the optimization with XLA (jit_compile); one device only.",
        GRAPH,
    )
    jobs: str = _opt(
        "",
        "tf_style options",
        "Run a batch of jobs, one per tf.distribute replica: a CSV file (columns content_image, "
        "style_image, output_image, optionally content_weight, style_weight, tv_weight, seed) "
        "or a folder of content images, each styled with -style_image into -output_image's "
        "folder. Replicas: -gpu's GPUs, the workers in TF_CONFIG, or -tpu's cores.",
    )
    tpu: str = _opt(
        "",
        "tf_style options",
        "With -jobs: the TPU to run on (a name or grpc:// address; 'local' for a TPU VM).",
    )

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("style_blend_weights", "gpu") and value in (None, "", "nil"):
                object.__setattr__(self, f.name, None)
            elif f.type.startswith("tuple"):
                object.__setattr__(self, f.name, _to_tuple(f.name, value, f.type))
        _validate(self)

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


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _validate(c: StyleConfig) -> None:
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


def _join(values) -> str:
    return ",".join(str(v) for v in values)
