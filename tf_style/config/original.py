"""The original neural-style's options, with its defaults, names and help texts."""

from __future__ import annotations

from dataclasses import dataclass

from tf_style.config.fields import CHECKPOINT, GRAPH, opt


@dataclass(frozen=True)
class OriginalOptions:
    """The flags of jcjohnson/neural-style, in its README's groups and order."""

    # Basic options.
    style_image: tuple[str, ...] = opt(
        ("examples/inputs/seated-nude.jpg",),
        "Options",
        "Comma-separated list of style images.",
        CHECKPOINT,
    )
    style_blend_weights: tuple[float, ...] | None = opt(
        None,
        "Options",
        "Weights for blending several style images, comma-separated, such as 3,7. "
        "By default all style images are weighted equally ('nil').",
        CHECKPOINT,
    )
    content_image: str = opt(
        "examples/inputs/tubingen.jpg", "Options", "The content image.", CHECKPOINT
    )
    image_size: int = opt(
        512,
        "Options",
        "Maximum side length (in pixels) of the generated image.",
        CHECKPOINT,
    )
    gpu: tuple[int, ...] | None = opt(
        None,
        "Options",
        "Zero-indexed ID of the GPU to use; -1 for CPU. By default the first GPU, or the CPU "
        "(with a note) when there is none. A comma-separated list (0,1) splits the network "
        "over several GPUs.",
    )
    multigpu_strategy: tuple[str, ...] = opt(
        (),
        "Options",
        "Where to split the network between GPUs: comma-separated 1-based module indices "
        "counted as the original counts (its net with the TV module first and a loss module "
        "after each loss layer; each index closes a device's part), or layer names (a part "
        "ends after that layer). Default for 2 GPUs: 3 (4 with TV), as in the original.",
        GRAPH,
    )
    # Optimization options.
    content_weight: float = opt(
        5.0,
        "Optimization options",
        "How much to weight the content reconstruction term.",
        GRAPH,
        CHECKPOINT,
    )
    style_weight: float = opt(
        100.0,
        "Optimization options",
        "How much to weight the style reconstruction term.",
        GRAPH,
        CHECKPOINT,
    )
    tv_weight: float = opt(
        1e-3,
        "Optimization options",
        "Weight of total-variation (TV) regularization; 0 disables it.",
        GRAPH,
        CHECKPOINT,
    )
    num_iterations: int = opt(1000, "Optimization options", "Number of iterations.")
    normalize_gradients: bool = opt(
        False,
        "Optimization options",
        "L1-normalize the style and content gradients of each layer.",
        GRAPH,
        CHECKPOINT,
    )
    init: str = opt(
        "random",
        "Optimization options",
        "How to initialize the generated image: random (noise) or image.",
    )
    init_image: str = opt(
        "",
        "Optimization options",
        "Image to start from; implies -init image (the original ignored it without -init image).",
    )
    optimizer: str = opt(
        "lbfgs",
        "Optimization options",
        "lbfgs (the original's fixed-step L-BFGS), tfp_lbfgs (TensorFlow Probability's L-BFGS "
        "with line search) or adam.",
        GRAPH,
        CHECKPOINT,
    )
    learning_rate: float = opt(
        10.0,
        "Optimization options",
        "Learning rate of the Adam optimizer.",
        GRAPH,
        CHECKPOINT,
    )
    lbfgs_num_correction: int = opt(
        0,
        "Optimization options",
        "L-BFGS history size; 0 means the default of 100. Smaller values save memory.",
        GRAPH,
        CHECKPOINT,
    )
    # Output options.
    output_image: str = opt(
        "out.png", "Output options", "Name of the output image; its extension selects the format."
    )
    print_iter: int = opt(
        50, "Output options", "Print progress every print_iter iterations; 0 disables."
    )
    save_iter: int = opt(
        100,
        "Output options",
        "Save the image every save_iter iterations (as <name>_<iteration>.<ext>); 0 disables.",
    )
    output_bit_depth: int = opt(
        8,
        "Output options",
        "Bits per channel of the saved images: 8, or 16 for .png (an addition; the original "
        "wrote 8).",
    )
    jpeg_quality: int = opt(
        75, "Output options", "Quality (1-100) of .jpg output images; 75 is the original's."
    )
    # Layer options.
    content_layers: tuple[str, ...] = opt(
        ("relu4_2",),
        "Layer options",
        "Comma-separated layer names to use for content reconstruction.",
        GRAPH,
        CHECKPOINT,
    )
    style_layers: tuple[str, ...] = opt(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        "Layer options",
        "Comma-separated layer names to use for style reconstruction.",
        GRAPH,
        CHECKPOINT,
    )
    # Other options.
    style_scale: float = opt(
        1.0,
        "Other options",
        "Scale at which to extract features from the style images.",
        CHECKPOINT,
    )
    original_colors: int = opt(0, "Other options", "1 keeps the colors of the content image.")
    pooling: str = opt(
        "max", "Other options", "The type of pooling layers to use: max or avg.", GRAPH, CHECKPOINT
    )
    proto_file: str = opt(
        "",
        "Other options",
        "The Caffe .prototxt of the model; optional (the architecture is also in the .caffemodel).",
        GRAPH,
        CHECKPOINT,
    )
    model_file: str = opt(
        "vgg19",
        "Other options",
        "A .caffemodel, a converted model file, or a model zoo name (vgg19, vgg16, "
        "vgg19_normalized, nin, open_nsfw, keras:vgg19, keras:vgg16).",
        GRAPH,
        CHECKPOINT,
    )
    backend: str = opt(
        "nn",
        "Other options",
        "Accepted for compatibility: nn, cudnn or clnn. TensorFlow picks its kernels itself "
        "(cuDNN on NVIDIA GPUs, oneDNN on CPUs).",
    )
    cudnn_autotune: bool = opt(
        False,
        "Other options",
        "Accepted for compatibility: TensorFlow autotunes cuDNN convolutions by default.",
    )
    seed: int = opt(
        -1,
        "Other options",
        "Random seed; a negative value draws a fresh one. With the same seed, a run on the CPU "
        "gives the same image bit for bit on the same machine and TensorFlow.",
    )
