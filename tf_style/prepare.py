"""Everything of one run before its optimisation: the network, the objective (targets
captured) and the optimizer, as `Prepared`."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tf_style import checkpoint, color, masks, memory, models, optimizers, preprocess, tiling
from tf_style.config import AUTO_TILE, StyleConfig, check_layer_weights
from tf_style.devices import split_points
from tf_style.features import build_extractor, split_extractor
from tf_style.inputs import check_image_sizes, initial_image, load_images
from tf_style.objective import Objective
from tf_style.preprocess import ColorSpace
from tf_style.report import Reporter, text_progress


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A run ready to optimise: its optimizer (targets captured) and what its images need."""

    optimizer: optimizers.Optimizer
    objective: Objective
    content: np.ndarray  # the content image as float RGB, for -original_colors
    space: ColorSpace
    warmup: Objective | None = None  # float32, for L-BFGS's first evaluations in bfloat16


def load_model(config: StyleConfig, reporter: Reporter):
    """(Keras model, zoo entry or None) for -model_file / -proto_file, downloading if needed."""
    return models.load(
        config.model_file,
        config.proto_file or None,
        progress=text_progress(reporter.stream, config.model_file),
    )


def determinism(config: StyleConfig) -> None:
    """Sets TensorFlow's determinism for the run (see below); before anything is traced."""
    sums_in_a_fixed_order()
    if config.jit:
        # TensorFlow's determinism switch makes XLA refuse max-pool gradients (on every
        # device), and an earlier run in this process may have set it; XLA's CPU kernels are
        # deterministic without it. (Private API: TensorFlow has no public switch to clear it.)
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()
    elif config.seed >= 0:
        # Byte-identical results for a fixed seed on the CPU.
        tf.config.experimental.enable_op_determinism()


def sums_in_a_fixed_order() -> None:
    """Turns off Grappler's scheduling of sums for the rest of the process: for every function
    traced and called after it, in this thread and in threads that have made no call yet (as
    tf.distribute's replica threads, new at each call). A non-inlined call keeps the config it
    was traced with, so this comes before tracing.

    That pass of Grappler's memory optimizer rewrites a sum of more than two tensors that its
    static estimate finds live at the peak (once the estimate passes 80 % of the 256 MiB that
    TensorFlow's CPU device declares) into a temporary variable each term is added to as it
    becomes ready: the rounding then depends on which term finishes first, and runs with a fixed
    seed differ (op determinism does not cover it). The image's gradient is such a sum (the
    network's and TV's three slices'), at 512 px on VGG-19. MANUAL rather than off keeps the
    memory optimizer's passes for hand-annotated ops (we annotate none) and its relaxing of
    allocator constraints, so nothing else changes. (Private API: TensorFlow has no public
    switch; each thread's function-call options are made from this base config.)
    """
    from tensorflow.core.protobuf import rewriter_config_pb2

    memory_optimization(rewriter_config_pb2.RewriterConfig.MANUAL)


def memory_optimization(level: int) -> None:
    """Sets the memory optimizer's level (a RewriterConfig.MemOptType) in the eager context's
    base config, for what is traced from now on (see `sums_in_a_fixed_order`)."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    ctx = context.context()
    base = config_pb2.ConfigProto()
    if ctx._config is not None:
        base.CopyFrom(ctx._config)
    base.graph_options.rewrite_options.memory_optimization = level
    ctx._config = base
    ctx.function_call_options = None  # this thread's, made again from the config when next read


def prepare(
    config: StyleConfig,
    reporter: Reporter,
    devices: Sequence[str] = ("/CPU:0",),
    resume_from: str | None = None,
    images: tuple[np.ndarray, list[np.ndarray]] | None = None,
    loaded: tuple | None = None,
    init: np.ndarray | None = None,
    guidance: masks.Guidance | None = None,
    temporal: tuple[np.ndarray, np.ndarray] | None = None,
) -> Prepared:
    """Everything of a run before its optimisation: images, network, targets, optimizer.

    The network is split over `devices` when there are several; the image and the optimizer's
    state live on the first. `resume_from` is a checkpoint prefix to restore; `images` are the
    resized (content, styles) when the caller has loaded them already, `loaded` the
    (model, zoo entry) of `load_model`, `init` a float RGB start replacing -init_image,
    `guidance` the masks (`masks.load`, by default from the config's files), `temporal` a
    video frame's (warped previous frame, consistency mask) (see `capture`).
    """
    determinism(config)
    config, taken = models.apply_zoo_defaults(config)
    if taken:
        reporter.zoo_defaults(config.model_file, taken)
    check_layer_weights(config)
    images = images or load_images(config)
    guidance = guidance or masks.load(config, *images)
    net_content, net_styles = color.network_inputs(config, *images)
    layers = config.content_layers, config.style_layers
    # The image and the optimizer's state live on the first device, as in the original.
    with tf.device(devices[0]):
        model, entry = loaded or load_model(config, reporter)
        space = models.color_space(entry)
        reporter.loaded(config.model_file, model)
        extractor = _extractor(
            model, devices[0], *layers, config.pooling, config.precision,
            recompute=config.recompute, padding=_padding(config),
        )  # fmt: skip
        check_image_sizes(config, extractor, net_content, net_styles)
        settings = dict(
            optimizer=config.optimizer,
            num_correction=config.num_correction,
            recompute=config.recompute,
            precision=config.precision,
            guided_terms=guidance.signature[0] if guidance.signature[1] else 0,
        )
        grid = _grid(config, extractor, net_content.shape[:2], devices[0], settings)
        together = _together(config, grid, extractor, net_content.shape[:2], devices, settings)
        if grid is not None:
            reporter.note(
                f"Tiles: {len(grid)} of {grid.crop[1]}x{grid.crop[0]} pixels "
                f"({grid.overlap} of them overlap on each side)"
                + (", two at a time." if together == 2 else ".")
            )
        # Stop before allocating when the run cannot fit (with what to change).
        memory.check_fits(
            extractor,
            *net_content.shape[:2],
            device=devices[0],
            tile=grid and grid.crop,
            tiles_together=together,
            **settings,
        )
        warmup = _warmup_extractor(
            config, model, layers, net_content.shape[:2], devices[0],
            tile=grid and grid.crop, tiles_together=together,
            guided_terms=settings["guided_terms"],
        )  # fmt: skip
        if len(devices) > 1:
            cuts = split_points(config.multigpu_strategy, extractor, config.tv_weight, len(devices))
            extractor = split_extractor(extractor, cuts, devices)
            warmup = warmup and split_extractor(warmup, cuts, devices)
        if warmup is not None:
            reporter.note(
                f"-precision bfloat16: L-BFGS's first {optimizers.WARMUP_EVALUATIONS} "
                "evaluations run in float32 (bfloat16 cannot resolve the small initial image)."
            )
        for index in extractor.replaced_pools:
            reporter.replacing_pooling(index)
        for i, (name, index) in enumerate(zip(extractor.names, extractor.indices)):
            if i in extractor.content:
                reporter.setup_layer("content", index, name)
            if i in extractor.style:
                reporter.setup_layer("style", index, name)
        objective = _objective(extractor, config, grid, together)
        warmup = warmup and _objective(warmup, config, grid, together)
        x0 = capture(
            config,
            (objective, warmup),
            space,
            (net_content, net_styles),
            reporter,
            init,
            guidance,
            temporal,
        )
        optimizer = optimizers.make_optimizer(
            config.optimizer,
            objective,
            x0,
            learning_rate=config.learning_rate,
            num_correction=config.num_correction,
            jit_compile=config.jit,
            float64_scalars=tf.DeviceSpec.from_string(devices[0]).device_type != "TPU",
            warmup=warmup,
            average_decay=config.average_decay,
        )
        if resume_from is not None:
            checkpoint.restore(resume_from, optimizer)
            reporter.note(f"Resuming from iteration {optimizer.iterations} ({resume_from}).")
        return Prepared(optimizer, objective, images[0], space, warmup)


# Extractors by model, then by device and options: kept as long as their model is.
_EXTRACTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _extractor(model, device: str, *args, **options):
    """`build_extractor(model, *args, **options)` placed on `device`, built once per model.

    Not only a saving: every build calls the model's shared layers (ReLUs, pools, sums) again,
    and each call leaves a Keras node on them that holds the new extractor, so rebuilding for
    each -scales stage or batch job kept every earlier extractor, folded weights included.
    """
    built = _EXTRACTORS.setdefault(model, {})
    key = (device, args, tuple(sorted(options.items())))
    if key not in built:
        with tf.device(device):
            built[key] = build_extractor(model, *args, **options)
    return built[key]


def _padding(config: StyleConfig) -> str:
    """The convolutions' padding: -padding's, or circular for -seamless."""
    return "circular" if config.seamless else config.padding


def _grid(config: StyleConfig, extractor, size, device: str, settings: dict):
    """The tiles of a run (None: untiled): -tile_size's, or with auto the largest that fits
    where the whole image does not (none when nothing does: the fit check then says so)."""
    if not config.tile_size:
        return None
    height, width = size
    tile = config.tile_size
    if tile == AUTO_TILE:
        have = memory.available_bytes(device)
        whole = memory.estimate_peak_bytes(extractor, height, width, **settings)
        if have is None or whole <= have:
            return None
        tile = memory.fitting_tile(extractor, height, width, have, **settings)
        if tile is None:
            return None
    stride = tiling.network_stride(extractor)
    overlap = config.tile_overlap or max(stride, tile // 4 // stride * stride)
    grid = tiling.make_grid(height, width, tile, overlap, stride)
    return grid if len(grid) > 1 else None


def _together(config: StyleConfig, grid, extractor, size, devices, settings: dict) -> int:
    """How many tiles an evaluation runs at once: two on one CPU where two fit and hold fewer
    pixels than the image (tiles are there to save memory; two are 1.2x to 1.5x faster,
    docs/high-resolution.md), else one. Not under -jit, where XLA runs them in turn."""
    if grid is None or config.jit or len(devices) > 1 or "CPU" not in devices[0].upper():
        return 1
    if 2 * grid.crop[0] * grid.crop[1] > size[0] * size[1]:
        return 1
    have = memory.available_bytes(devices[0])
    two = memory.estimate_peak_bytes(extractor, *size, tile=grid.crop, tiles_together=2, **settings)
    return 2 if have is not None and two <= have else 1


def _objective(extractor, config: StyleConfig, grid, together: int):
    objective = Objective.for_config(extractor, config)
    return objective if grid is None else tiling.TiledObjective(objective, grid, together)


def _warmup_extractor(config, model, layers, size, device, **fit):
    """The float32 extractor of L-BFGS's first evaluations in a bfloat16 run (see
    `optimizers.WARMUP_EVALUATIONS`), or None: other runs, or when float32 would not fit
    (`fit`: the run's tiles and guided terms, as `memory.estimate_peak_bytes` takes them)."""
    if not optimizers.warms_up(config.optimizer, config.precision):
        return None
    # The same arguments as a float32 run's extractor, so that the two share one.
    warmup = _extractor(
        model, device, *layers, config.pooling, "float32", recompute=config.recompute,
        padding=_padding(config),
    )  # fmt: skip
    # Its activations take twice bfloat16's memory while the L-BFGS history is still short
    # (all of it with -jit, which allocates it at once).
    try:
        memory.check_fits(
            warmup, *size, optimizer="lbfgs", recompute=config.recompute, device=device,
            num_correction=config.num_correction if config.jit else optimizers.WARMUP_EVALUATIONS,
            **fit,
        )  # fmt: skip
    except memory.MemoryEstimateError:
        return None
    return warmup


def capture(
    config: StyleConfig,
    objectives: Sequence[Objective | None],
    space: ColorSpace,
    net_images: tuple[np.ndarray, list[np.ndarray]],
    reporter: Reporter,
    init: np.ndarray | None = None,
    guidance: masks.Guidance | None = None,
    temporal: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Captures the content and style targets of each objective (None: skipped) from the
    (content, styles) the network sees (`color.network_inputs`), guided by `guidance`'s masks,
    and a video frame's temporal target: `temporal` is (the warped previous frame as float RGB,
    its consistency mask), at any size (brought to this run's; None: a zero mask, no temporal
    loss); returns the initial image in the network's space."""
    net_content, net_styles = net_images
    objectives = [o for o in objectives if o is not None]
    guidance = guidance or masks.Guidance()
    for note in guidance.notes:
        reporter.note(note)
    reporter.capturing_content()
    content = space.to_net(net_content)
    for objective in objectives:
        objective.capture_content(content, guidance.content_mask)
    for i in range(1, len(net_styles) + 1):
        reporter.capturing_style(i)
    styles = [space.to_net(s) for s in net_styles]
    for objective in objectives:
        objective.capture_styles(styles, config.blend_weights, guidance.terms)
    framed = [o for o in objectives if o.temporal_weight > 0]  # a -content_video frame's
    if framed:
        h, w = net_content.shape[:2]
        target, mask = temporal if temporal is not None else (net_content, np.zeros((h, w)))
        target, mask = space.to_net(preprocess.resize(target, h, w)), masks.to_layer(mask, h, w)
        for objective in framed:
            objective.capture_temporal(target, mask)
    return initial_image(config, net_content, space, reporter, init)
