"""tf_style's own options (the original has none of these)."""

from __future__ import annotations

from dataclasses import dataclass

from tf_style.config.fields import CHECKPOINT, DEFAULT_MAX_PIXELS, GRAPH, opt


@dataclass(frozen=True)
class TfStyleOptions:
    """Colour control, scales, memory, checkpoints, precision, batches."""

    color_transfer: str = opt(
        "none",
        "tf_style options",
        "Colour control (Gatys et al. 2017): none; luminance (transfer the style to the "
        "luminance only and keep the content's colours); match (first give the style images "
        "the content's colour mean and covariance).",
        CHECKPOINT,
    )
    color_match_mode: str = opt(
        "chol",
        "tf_style options",
        "How -color_transfer match maps colours: chol (Cholesky), pca or sym (symmetric).",
        CHECKPOINT,
    )
    scales: tuple[int, ...] = opt(
        (),
        "tf_style options",
        "Coarse to fine in one command: image sizes such as 256,512,1024,2048, one run each, "
        "every run starting from the previous result enlarged (-image_size is then unused), "
        "or auto: sizes a factor sqrt(2) apart from 128 px up to -image_size. Each scale's "
        "image is saved as <name>_<size>px.<ext>, the last as -output_image.",
    )
    scale_iterations: tuple[int, ...] = opt(
        (), "tf_style options", "Iterations at each of -scales (default: -num_iterations)."
    )
    scale_content_weight: tuple[float, ...] = opt(
        (), "tf_style options", "-content_weight at each of -scales (default: -content_weight)."
    )
    scale_style_weight: tuple[float, ...] = opt(
        (), "tf_style options", "-style_weight at each of -scales (default: -style_weight)."
    )
    scale_tv_weight: tuple[float, ...] = opt(
        (), "tf_style options", "-tv_weight at each of -scales (default: -tv_weight)."
    )
    scale_lbfgs_num_correction: tuple[int, ...] = opt(
        (),
        "tf_style options",
        "-lbfgs_num_correction at each of -scales (default: -lbfgs_num_correction).",
    )
    recompute: bool = opt(
        False,
        "tf_style options",
        "Recompute activations in the backward pass instead of keeping them (per block): "
        "same results, a quarter to a third less peak memory at 1024-2048 px, for a second "
        "forward pass.",
        GRAPH,
    )
    log_dir: str = opt(
        "",
        "tf_style options",
        "Write TensorBoard summaries here: every loss term at each printed or saved iteration, "
        "and the image at every save.",
    )
    debug: bool = opt(
        False, "tf_style options", "Show TensorFlow's log messages and full tracebacks."
    )
    max_pixels: int = opt(
        DEFAULT_MAX_PIXELS,
        "tf_style options",
        "Refuse input images with more pixels than this (a guard against decompression bombs); "
        "raise it for a trusted larger file.",
    )
    checkpoint_iter: int = opt(
        0,
        "tf_style options",
        "Save the optimizer's whole state every checkpoint_iter iterations, and when "
        "interrupted, in the directory <output stem>.ckpt (out.png -> out.ckpt); 0 disables. "
        "L-BFGS keeps 2 x lbfgs_num_correction image-sized buffers, so checkpoints are large.",
    )
    resume: bool = opt(
        False,
        "tf_style options",
        "Continue from the checkpoint in <output stem>.ckpt, made by a run with the same "
        "settings (-num_iterations may grow); the result equals an uninterrupted run's. The "
        "random initial image is part of the saved state, so -seed need not be repeated.",
    )
    precision: str = opt(
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
    jit: bool = opt(
        False,
        "tf_style options",
        "Compile the optimization with XLA (jit_compile); one device only.",
        GRAPH,
    )
    jobs: str = opt(
        "",
        "tf_style options",
        "Run a batch of jobs, one per tf.distribute replica: a CSV file (columns content_image, "
        "style_image, output_image, optionally content_weight, style_weight, tv_weight, "
        "style_blend_weights, seed and the mask files style_masks, style_image_masks, "
        "content_mask, content_regions, style_regions) or a folder of content images, each "
        "styled with -style_image into -output_image's folder. Replicas: -gpu's GPUs, the "
        "workers in TF_CONFIG, or -tpu's cores.",
    )
    tpu: str = opt(
        "",
        "tf_style options",
        "With -jobs: the TPU to run on (a name or grpc:// address; 'local' for a TPU VM).",
    )
