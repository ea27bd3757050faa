"""Style transfer end to end: `run`, `stylize` and `Stylizer`, which keeps networks and traced
functions between runs.

A run goes images -> network -> targets -> optimisation (`loop.py`) -> saved images. Every entry
point comes through `Stylizer.run`, which takes a whole config: a plain run, a -scales chain
(`plan.stages`) or, through `run`, a batch of -jobs (`tf_style.batch`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tf_style import checkpoint, color, image_io, memory, models, optimizers, plan
from tf_style.config import GRAPH, StyleConfig, check_layer_weights, settings
from tf_style.devices import select_devices, split_points
from tf_style.errors import ConfigError, DeviceError
from tf_style.features import build_extractor, split_extractor
from tf_style.inputs import check_image_sizes, initial_image, load_images
from tf_style.loop import Callback, Progress, optimize
from tf_style.objective import Objective
from tf_style.preprocess import ColorSpace
from tf_style.report import Reporter, text_progress


def run(
    config: StyleConfig,
    reporter: Reporter | None = None,
    callback: Callback | None = None,
    devices: Sequence[str] | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Runs what `config` asks for, as the `tf-style` command does, and writes its images.

    Args:
        config: the run's options: one run, a -scales chain, or a batch of -jobs.
        reporter: where the original's log lines go (silent by default).
        callback: called after every printed or saved iteration (and every `loop.MAX_CHUNK`
            iterations) with a `Progress`; returning True stops the run early, and the current
            image is saved as the final one.
        devices: the TensorFlow devices that `config.gpu` indices count in (default: the
            GPUs); with several indices the network is split over them (`devices.py`), and a
            batch spreads its jobs over them.

    Returns:
        The final image as float RGB (before clamping), [H, W, 3]; for -jobs, the images of the
        jobs this worker ran, in job order.

    Example:
        >>> from tf_style import StyleConfig, run
        >>> image = run(StyleConfig(content_image="photo.jpg", style_image="starry.jpg",
        ...                         image_size=256, output_image="photo_starry.png"))
        >>> image.shape  # also written to photo_starry.png, with its flags in PNG text chunks
        (192, 256, 3)

    Raises:
        tf_style.errors.InputError: bad input, before any file is written.
        tf_style.errors.NonFiniteError: the loss became NaN or infinite; the last finite
            image was saved.
    """
    if config.jobs:
        from tf_style import batch

        results = batch.run_jobs(config, reporter, devices=devices, callback=callback)
        return [results[i] for i in sorted(results)]
    return Stylizer(reporter, devices).run(config, callback)


def stylize(content, styles, *, stylizer: Stylizer | None = None, **options) -> np.ndarray:
    """Stylises `content` in the style of `styles`, from Python: the library's one-liner.

    Args:
        content: a path, a PIL image, or an array [H, W, 3] (uint8, or float in [0, 1]).
        styles: one such image or a list of them.
        stylizer: reuse one `Stylizer` across calls to skip reloading and retracing.
        **options: any `StyleConfig` option (image_size, style_weight, num_iterations,
            scales, ...). Files are written only when `output_image` is given.

    Returns:
        The result as float RGB [H, W, 3] in [0, 1].

    Example:
        >>> import tf_style
        >>> image = tf_style.stylize("photo.jpg", "starry.jpg", image_size=256,
        ...                          model_file="open_nsfw", num_iterations=200)
        >>> image.shape
        (192, 256, 3)
    """
    styles = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    write = "output_image" in options

    def name(image) -> str:
        return str(image) if isinstance(image, (str, os.PathLike)) else "<array>"

    defaults = {"print_iter": 0, "save_iter": 0}  # quiet, and no intermediate files
    config = StyleConfig(
        **{
            **defaults,
            "content_image": name(content),
            "style_image": tuple(name(s) for s in styles),
            **options,
        }
    )
    arrays = [image_io.as_rgb(image, config.max_pixels) for image in (content, *styles)]
    result = (stylizer or Stylizer()).run(config, content=arrays[0], styles=arrays[1:], write=write)
    return np.clip(result, 0, 1)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A run ready to optimise: its optimizer (targets captured) and what its images need."""

    optimizer: optimizers.Optimizer
    objective: Objective
    content: np.ndarray  # the content image as float RGB, for -original_colors
    space: ColorSpace
    warmup: Objective | None = None  # float32, for L-BFGS's first evaluations in bfloat16


class Stylizer:
    """Runs many stylisations, keeping networks and traced functions between them.

    A run whose settings (the options marked `config.GRAPH`), image sizes and devices match an
    earlier one's reuses its network, target variables and traced optimisation: no model load,
    no retrace.

    Example:
        >>> stylizer = Stylizer()
        >>> for photo in ["a.jpg", "b.jpg"]:  # same size: the second run does not retrace
        ...     stylizer.run(StyleConfig(content_image=photo, style_image="starry.jpg",
        ...                              output_image=photo + ".starry.png"))
    """

    def __init__(self, reporter: Reporter | None = None, devices: Sequence[str] | None = None):
        self.reporter = reporter or Reporter()
        self.devices = devices
        self._prepared: dict = {}
        self._models: dict = {}  # loaded once per model file, shared by every size

    def run(
        self,
        config: StyleConfig,
        callback: Callback | None = None,
        *,
        content: np.ndarray | None = None,
        styles: Sequence[np.ndarray] | None = None,
        write: bool = True,
    ) -> np.ndarray:
        """Every stage of `config` (one, or one per -scales size; see `run`); `content` and
        `styles` arrays replace the config's files, and with `write=False` nothing is written
        (no images, no checkpoints). Returns the last stage's float RGB."""
        if config.jobs:
            raise ConfigError(
                "-jobs runs a batch over tf.distribute replicas: call tf_style.run, or "
                "tf_style.batch.run_jobs, rather than Stylizer.run"
            )
        chain = plan.stages(config)
        stopped = []

        def watch(progress: Progress) -> bool:
            stop = bool(callback and callback(progress))
            if stop:
                stopped.append(progress.iteration)
            return stop

        image = None
        for i, stage in enumerate(chain, 1):
            if len(chain) > 1:
                self.reporter.note(
                    f"Scale {i} / {len(chain)}: {stage.image_size} px, "
                    f"{stage.num_iterations} iterations"
                )
            # Without files, a stage starts from the previous result in memory (clamped, as
            # a saved image is).
            init = None if write or image is None else np.clip(image, 0, 1)
            # Every scale's image records the whole chain, so -show_config reproduces it.
            image = self._run_stage(stage, watch, content, styles, write, config, init)
            if stopped:
                if write and stage.output_image != config.output_image:
                    # Where the caller expects the result of an interrupted chain.
                    image_io.write_image(config.output_image, image)
                break
        return image

    def _run_stage(self, config, callback, content, styles, write, record, init) -> np.ndarray:
        reporter = self.reporter
        if write:
            image_io.check_output_path(config.output_image, bit_depth=config.output_bit_depth)
            checkpoint.check_writable(config)
        resume_from = checkpoint.find(config) if config.resume else None
        devices = select_devices(config.gpu, reporter, self.devices)
        if config.jit and len(devices) > 1:
            # XLA compiles a function for one device; a split places ops on several.
            raise DeviceError(
                f"-jit compiles the evaluation for one device, and -gpu lists {len(devices)}; "
                "drop -jit or give one device"
            )
        images = load_images(config, content, styles, device=devices[0])
        _determinism(config)
        key = (
            tuple(settings(config, GRAPH).values()),
            images[0].shape,
            tuple(s.shape for s in images[1]),
            tuple(devices),
        )
        prepared = self._prepared.get(key)
        if prepared is None or resume_from is not None:
            model_key = (config.model_file, config.proto_file)
            if model_key not in self._models:
                with tf.device(devices[0]):
                    self._models[model_key] = load_model(config, reporter)
            loaded = self._models[model_key]
            prepared = prepare(config, reporter, devices, resume_from, images, loaded, init)
            self._prepared[key] = prepared
        else:
            net_images = color.network_inputs(config, *images)
            objectives = (prepared.objective, prepared.warmup)
            with tf.device(devices[0]):
                x0 = capture(config, objectives, prepared.space, net_images, reporter, init)
                prepared.optimizer.reset(x0)
            prepared = dataclasses.replace(prepared, content=images[0])
        reporter.running(prepared.optimizer.title)
        with tf.device(devices[0]):
            return optimize(config, prepared, reporter, callback, write, record)


def load_model(config: StyleConfig, reporter: Reporter):
    """(Keras model, zoo entry or None) for -model_file / -proto_file, downloading if needed."""
    return models.load(
        config.model_file,
        config.proto_file or None,
        progress=text_progress(reporter.stream, config.model_file),
    )


def _determinism(config: StyleConfig) -> None:
    if config.jit:
        # TensorFlow's determinism switch makes XLA refuse max-pool gradients (on every
        # device), and an earlier run in this process may have set it; XLA's CPU kernels are
        # deterministic without it. (Private API: TensorFlow has no public switch to clear it.)
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()
    elif config.seed >= 0:
        # Byte-identical results for a fixed seed on the CPU.
        tf.config.experimental.enable_op_determinism()


def prepare(
    config: StyleConfig,
    reporter: Reporter,
    devices: Sequence[str] = ("/CPU:0",),
    resume_from: str | None = None,
    images: tuple[np.ndarray, list[np.ndarray]] | None = None,
    loaded: tuple | None = None,
    init: np.ndarray | None = None,
) -> Prepared:
    """Everything of a run before its optimisation: images, network, targets, optimizer.

    The network is split over `devices` when there are several; the image and the optimizer's
    state live on the first. `resume_from` is a checkpoint prefix to restore; `images` are the
    resized (content, styles) when the caller has loaded them already, `loaded` the
    (model, zoo entry) of `load_model`, `init` a float RGB start replacing -init_image.
    """
    _determinism(config)
    config, taken = models.apply_zoo_defaults(config)
    if taken:
        reporter.zoo_defaults(config.model_file, taken)
    check_layer_weights(config)
    images = images or load_images(config)
    net_content, net_styles = color.network_inputs(config, *images)
    layers = config.content_layers, config.style_layers
    # The image and the optimizer's state live on the first device, as in the original.
    with tf.device(devices[0]):
        model, entry = loaded or load_model(config, reporter)
        space = models.color_space(entry)
        reporter.loaded(config.model_file, model)
        extractor = build_extractor(
            model,
            *layers,
            config.pooling,
            config.precision,
            recompute=config.recompute,
            padding=config.padding,
        )
        check_image_sizes(config, extractor, net_content, net_styles)
        # Stop before allocating when the run cannot fit (with what to change).
        memory.check_fits(
            extractor,
            *net_content.shape[:2],
            optimizer=config.optimizer,
            num_correction=config.num_correction,
            recompute=config.recompute,
            precision=config.precision,
            device=devices[0],
        )
        warmup = _warmup_extractor(config, model, layers, net_content.shape[:2], devices[0])
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
        objective = Objective.for_config(extractor, config)
        warmup = warmup and Objective.for_config(warmup, config)
        x0 = capture(config, (objective, warmup), space, (net_content, net_styles), reporter, init)
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


def _warmup_extractor(config, model, layers, size, device):
    """The float32 extractor of L-BFGS's first evaluations in a bfloat16 run (see
    `optimizers.WARMUP_EVALUATIONS`), or None: other runs, or when float32 would not fit."""
    if not optimizers.warms_up(config.optimizer, config.precision):
        return None
    warmup = build_extractor(
        model, *layers, config.pooling, recompute=config.recompute, padding=config.padding
    )
    # Its activations take twice bfloat16's memory while the L-BFGS history is still short
    # (all of it with -jit, which allocates it at once).
    try:
        memory.check_fits(
            warmup, *size, optimizer="lbfgs", recompute=config.recompute, device=device,
            num_correction=config.num_correction if config.jit else optimizers.WARMUP_EVALUATIONS,
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
) -> np.ndarray:
    """Captures the content and style targets of each objective (None: skipped) from the
    (content, styles) the network sees (`color.network_inputs`); returns the initial image in
    the network's space."""
    net_content, net_styles = net_images
    objectives = [o for o in objectives if o is not None]
    reporter.capturing_content()
    content = space.to_net(net_content)
    for objective in objectives:
        objective.capture_content(content)
    for i in range(1, len(net_styles) + 1):
        reporter.capturing_style(i)
    styles = [space.to_net(s) for s in net_styles]
    for objective in objectives:
        objective.capture_styles(styles, config.blend_weights)
    return initial_image(config, net_content, space, reporter, init)
