"""One style-transfer run, end to end: images -> targets -> optimisation -> saved images."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from tf_style import (
    checkpoint,
    color,
    image_io,
    memory,
    models,
    optimizers,
    preprocess,
    provenance,
    report,
)
from tf_style.config import StyleConfig
from tf_style.devices import DeviceError, select_devices, split_points
from tf_style.errors import ImageError
from tf_style.features import build_extractor, minimum_input_size, network_layers, split_extractor
from tf_style.objective import Objective
from tf_style.report import Reporter

# Longest stretch of evaluations run as one traced call: it bounds how long a Ctrl-C waits.
MAX_CHUNK = 20


@dataclasses.dataclass(frozen=True)
class ColorSpace:
    """The model's input convention: BGR, `scale` x [0, 1] RGB, minus `mean` (B, G, R)."""

    mean: tuple[float, float, float] = preprocess.VGG_MEAN_BGR
    scale: float = preprocess.CAFFE_SCALE

    def to_net(self, rgb: np.ndarray) -> np.ndarray:
        return preprocess.to_caffe(rgb, mean=self.mean, scale=self.scale)

    def from_net(self, x: np.ndarray) -> np.ndarray:
        return preprocess.from_caffe(x, mean=self.mean, scale=self.scale)


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a callback sees after each printed or saved iteration.

    Example:
        >>> def stop_when_flat(progress: Progress) -> bool:  # returning True stops the run
        ...     return progress.iteration >= 100 and sum(progress.style_losses) < 1.0
        >>> run(StyleConfig(content_image="photo.jpg", style_image="starry.jpg"),
        ...     callback=stop_when_flat)
    """

    iteration: int
    num_iterations: int
    evaluations: int
    content_losses: tuple[float, ...]
    style_losses: tuple[float, ...]
    image: Callable[[], np.ndarray]  # the current image as float RGB, computed on demand


def _weighted_layers(model) -> list[tuple[str, tuple[int, ...]]]:
    """loadcaffe's summary: conv `out in kW kH`, fully connected `1 1 in out`."""
    lines = []
    for layer in network_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        shape = tuple(kernel.shape)
        if len(shape) == 4:
            kh, kw, cin, cout = shape
            lines.append((layer.name, (cout, cin, kw, kh)))
        elif len(shape) == 2:
            lines.append((layer.name, (1, 1, shape[0], shape[1])))
    return lines


def load_images(
    config: StyleConfig, content=None, styles=None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The content image at image_size, and each style image at ceil(style_scale*image_size).

    `content` and `styles` (float RGB arrays in [0, 1]) replace the files the config names.
    """
    if content is None:
        content = image_io.read_image(config.content_image, max_pixels=config.max_pixels)
    if styles is None:
        styles = [image_io.read_image(p, max_pixels=config.max_pixels) for p in config.style_image]
    h, w = preprocess.scaled_size(content.shape[0], content.shape[1], config.image_size)
    style_size = preprocess.style_size(config.image_size, config.style_scale)
    resized = []
    for style in styles:
        sh, sw = preprocess.scaled_size(style.shape[0], style.shape[1], style_size)
        resized.append(preprocess.resize(style, sh, sw))
    return preprocess.resize(content, h, w), resized


def network_inputs(
    config: StyleConfig, content: np.ndarray, styles: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The content and style images the network sees, after -color_transfer.

    Gatys et al. 2017: `match` gives each style image the content's colour mean and covariance;
    `luminance` feeds the network luminance only (Y replicated), each style's Y matched to the
    content's mean and spread. Matched images are clipped to [0, 1] afterwards.
    """
    if config.color_transfer == "match":
        mode = config.color_match_mode
        return content, [np.clip(color.match_colors(s, content, mode), 0, 1) for s in styles]
    if config.color_transfer == "luminance":
        y = color.luminance(content)
        gray = [np.clip(color.match_luminance(color.luminance(s), y), 0, 1) for s in styles]
        return color.gray_to_rgb(y), [color.gray_to_rgb(g) for g in gray]
    return content, styles


def _layers(config: StyleConfig, entry, reporter: Reporter):
    """The loss layers: the user's, or the zoo model's own when the user kept VGG's defaults."""
    defaults = {f.name: f.default for f in dataclasses.fields(StyleConfig)}
    chosen = config.content_layers, config.style_layers
    if entry is None or chosen != (defaults["content_layers"], defaults["style_layers"]):
        return chosen
    if chosen != (entry.content_layers, entry.style_layers):
        reporter.note(
            f"Using {entry.name}'s layers: -content_layers {','.join(entry.content_layers)} "
            f"-style_layers {','.join(entry.style_layers)}"
        )
    return entry.content_layers, entry.style_layers


def initial_image(
    config: StyleConfig, content: np.ndarray, space: ColorSpace, reporter: Reporter
) -> np.ndarray:
    """The starting point in the model's input space: noise, the content, or -init_image."""
    h, w = content.shape[:2]
    if config.init_image:
        if config.init != "image":
            # The original silently ignored -init_image without -init image (its quirk Q2).
            reporter.note(f"Using -init_image {config.init_image} (implies -init image).")
        # Resized to exactly the content's size, aspect ratio not kept, as in the original.
        init = image_io.read_image(config.init_image, max_pixels=config.max_pixels)
        return space.to_net(preprocess.resize(init, h, w))
    if config.init == "image":
        return space.to_net(content)
    return preprocess.random_init(h, w, config.seed if config.seed >= 0 else None)


def check_image_sizes(
    config: StyleConfig, extractor, content: np.ndarray, styles: list[np.ndarray]
) -> None:
    """Refuses a resized content or style image too small for every loss layer to see it.

    Raises:
        ImageError: names the image, its resized size, the minimum and the fix.
    """
    minimum = minimum_input_size(extractor)
    if minimum is None:
        return
    min_h, min_w = minimum
    inputs = [(config.content_image, content, "-image_size")]
    inputs += [(p, s, "-style_scale or -image_size") for p, s in zip(config.style_image, styles)]
    for path, image, option in inputs:
        h, w = image.shape[:2]
        if h < min_h or w < min_w:
            raise ImageError(
                f"{path}: resized to {w}x{h} pixels, it is smaller than the {min_w}x{min_h} "
                f"that the layers {','.join(extractor.names)} need; give a larger {option} "
                "(or a less elongated image)"
            )


def chunk_marks(
    num_iterations: int, print_iter: int, save_iter: int, checkpoint_iter: int = 0
) -> list[int]:
    """The iterations after which the original prints or saves, checkpoints and chunk ends."""
    marks = set(range(MAX_CHUNK, num_iterations, MAX_CHUNK)) | {num_iterations}
    for every in (print_iter, save_iter, checkpoint_iter):
        if every > 0:
            marks.update(range(every, num_iterations + 1, every))
    return sorted(marks)


def run(
    config: StyleConfig,
    reporter: Reporter | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    devices: Sequence[str] | None = None,
) -> np.ndarray:
    """Runs one stylisation as the original does and writes its images.

    Args:
        config: the run's options.
        reporter: where the original's log lines go (silent by default).
        callback: called after every printed or saved iteration (and every MAX_CHUNK
            iterations); returning True stops the run early, and the current image is saved as
            the final one.
        devices: the TensorFlow devices that `config.gpu` indices count in (default: the
            GPUs); with several indices the network is split over them (`devices.py`).

    Returns:
        The final image as float RGB (before clamping), [H, W, 3].

    Example:
        >>> from tf_style import StyleConfig, run
        >>> image = run(StyleConfig(content_image="photo.jpg", style_image="starry.jpg",
        ...                         image_size=256, output_image="photo_starry.png"))
        >>> image.shape  # also written to photo_starry.png, with its flags in PNG text chunks
        (192, 256, 3)

    Raises:
        ValueError: bad input, before any file is written (ImageError, ImageError,
            LayerError, DeviceError, CheckpointError).
        FloatingPointError: the loss became NaN or infinite; the last finite image was saved.
    """
    return Stylizer(reporter, devices).run(config, callback)


# What a traced evaluation and optimizer depend on, besides the image sizes. Runs that agree on
# these reuse one another's network, target variables and traced functions.
_GRAPH_SETTINGS = (
    "model_file",
    "proto_file",
    "content_layers",
    "style_layers",
    "pooling",
    "precision",
    "content_weight",
    "style_weight",
    "tv_weight",
    "normalize_gradients",
    "optimizer",
    "learning_rate",
    "lbfgs_num_correction",
    "jit",
    "multigpu_strategy",
)


class Stylizer:
    """Runs many stylisations, keeping networks and traced functions between them.

    A run whose settings (`_GRAPH_SETTINGS`) and image sizes match an earlier one's reuses its
    network, target variables and traced optimisation: no model load, no retrace.

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
        callback: Callable[[Progress], bool | None] | None = None,
        *,
        content: np.ndarray | None = None,
        styles: Sequence[np.ndarray] | None = None,
        write: bool = True,
        record: StyleConfig | None = None,
    ) -> np.ndarray:
        """One stylisation (see `run`); `content`/`styles` arrays replace the config's files,
        and with `write=False` nothing is written (no images, no checkpoints). `record` is the
        configuration the images' provenance names (default `config`; a -scales chain records
        the whole chain in every scale's image)."""
        reporter = self.reporter
        if write:
            image_io.check_output_path(config.output_image, bit_depth=config.output_bit_depth)
        resume_from = checkpoint.find(config) if config.resume else None
        devices = select_devices(config.gpu, reporter, self.devices)
        if config.jit and len(devices) > 1:
            # XLA compiles a function for one device; a split places ops on several.
            raise DeviceError(
                f"-jit compiles the evaluation for one device, and -gpu lists {len(devices)}; "
                "drop -jit or give one device"
            )
        images = load_images(config, content, styles)
        key = (
            tuple(getattr(config, k) for k in _GRAPH_SETTINGS),
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
            prepared = prepare(config, reporter, devices, resume_from, images, loaded)
            self._prepared[key] = prepared
        else:
            _determinism(config)
            net_content, net_styles = network_inputs(config, *images)
            with tf.device(devices[0]):
                x0 = _capture(
                    config,
                    (prepared.objective, prepared.warmup),
                    prepared.space,
                    net_content,
                    net_styles,
                    reporter,
                )
                prepared.optimizer.reset(x0)
            prepared = dataclasses.replace(prepared, content=images[0])
        reporter.running(prepared.optimizer.title)
        with tf.device(devices[0]):
            return _optimize(config, prepared, reporter, callback, write, record or config)


def stylize(content, styles, *, stylizer: Stylizer | None = None, **options) -> np.ndarray:
    """Stylises `content` in the style of `styles`, from Python: the library's one-liner.

    Args:
        content: a path, a PIL image, or an array [H, W, 3] (uint8, or float in [0, 1]).
        styles: one such image or a list of them.
        stylizer: reuse one `Stylizer` across calls to skip reloading and retracing.
        **options: any `StyleConfig` option (image_size, style_weight, num_iterations, ...).
            Files are written only when `output_image` is given.

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
    arrays = [_as_rgb(image, config.max_pixels) for image in (content, *styles)]
    result = (stylizer or Stylizer()).run(config, content=arrays[0], styles=arrays[1:], write=write)
    return np.clip(result, 0, 1)


def _as_rgb(image, max_pixels: int) -> np.ndarray:
    """A path, PIL image or array as float64 RGB [H, W, 3] in [0, 1]."""
    if isinstance(image, (str, os.PathLike)):
        return image_io.read_image(image, max_pixels=max_pixels)
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"an image array must be [H, W, 3], got shape {array.shape}")
    array = array[..., :3]
    return array / 255.0 if array.dtype == np.uint8 else array.astype(np.float64)


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
        progress=report.text_progress(reporter.stream, config.model_file),
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
) -> Prepared:
    """Everything of a run before its optimisation: images, network, targets, optimizer.

    The network is split over `devices` when there are several; the image and the optimizer's
    state live on the first. `resume_from` is a checkpoint prefix to restore; `images` are the
    resized (content, styles) when the caller has loaded them already, `loaded` the
    (model, zoo entry) of `load_model`.
    """
    _determinism(config)
    content, styles = images or load_images(config)
    net_content, net_styles = network_inputs(config, content, styles)
    # The image and the optimizer's state live on the first device, as in the original.
    with tf.device(devices[0]):
        model, entry = loaded or load_model(config, reporter)
        content_layers, style_layers = _layers(config, entry, reporter)
        space = ColorSpace(entry.mean_bgr, entry.scale) if entry else ColorSpace()
        reporter.loaded(config.model_file, _weighted_layers(model))
        extractor = build_extractor(
            model,
            content_layers,
            style_layers,
            config.pooling,
            config.precision,
            recompute=config.recompute,
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
        warmup = _warmup_extractor(
            config, model, (content_layers, style_layers), net_content.shape[:2], devices[0]
        )
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
        objective = _objective(config, extractor)
        warmup = warmup and _objective(config, warmup)
        optimizer = optimizers.make_optimizer(
            config.optimizer,
            objective,
            _capture(config, (objective, warmup), space, net_content, net_styles, reporter),
            learning_rate=config.learning_rate,
            num_correction=config.num_correction,
            jit_compile=config.jit,
            float64_scalars=tf.DeviceSpec.from_string(devices[0]).device_type != "TPU",
            warmup=warmup,
        )
        if resume_from is not None:
            checkpoint.restore(resume_from, optimizer)
            reporter.note(f"Resuming from iteration {optimizer.iterations} ({resume_from}).")
        return Prepared(optimizer, objective, content, space, warmup)


def _objective(config: StyleConfig, extractor) -> Objective:
    return Objective(
        extractor,
        content_weight=config.content_weight,
        style_weight=config.style_weight,
        tv_weight=config.tv_weight,
        normalize_gradients=config.normalize_gradients,
    )


def _warmup_extractor(config, model, layers, size, device):
    """The float32 extractor of L-BFGS's first evaluations in a bfloat16 run (see
    `optimizers.WARMUP_EVALUATIONS`), or None: other runs, or when float32 would not fit."""
    if not optimizers.warms_up(config.optimizer, config.precision):
        return None
    warmup = build_extractor(model, *layers, config.pooling, recompute=config.recompute)
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


def _capture(config, objectives, space, net_content, net_styles, reporter) -> np.ndarray:
    """Captures the content and style targets of each objective (None: skipped); returns the
    initial image."""
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
    return initial_image(config, net_content, space, reporter)


def output_rgb(
    config: StyleConfig, x: np.ndarray, content: np.ndarray, space: ColorSpace
) -> np.ndarray:
    """The image `x` (the model's input space) as the float RGB a run saves."""
    rgb = space.from_net(x)
    if config.color_transfer == "luminance":
        rgb = color.combine_luminance(color.luminance(rgb), content)
    elif config.original_colors == 1:
        rgb = preprocess.original_colors(rgb, content)
    return rgb


def _optimize(config, prepared: Prepared, reporter, callback, write, record) -> np.ndarray:
    optimizer, objective = prepared.optimizer, prepared.objective
    content, space = prepared.content, prepared.space
    n = config.num_iterations

    def current_image() -> np.ndarray:
        return output_rgb(config, optimizer.image.numpy(), content, space)

    # Every PNG carries the flags, versions and model checksum that made it (an addition).
    # -resume and -checkpoint_iter leave the image unchanged: they are not recorded, so a
    # resumed run's file equals an uninterrupted run's byte for byte.
    metadata = write and provenance.image_metadata(record.replace(resume=False, checkpoint_iter=0))

    def save(path: str, rgb: np.ndarray) -> None:
        if not write:
            return
        image_io.write_image(
            path,
            rgb,
            metadata=metadata,
            jpeg_quality=config.jpeg_quality,
            bit_depth=config.output_bit_depth,
        )

    checkpoints = write and (config.checkpoint_iter > 0 or config.resume)
    board = report.TensorBoardLog(config.log_dir) if write and config.log_dir else None
    done = saved_at = first = optimizer.iterations  # not 0 after -resume
    start = time.perf_counter()
    for mark in chunk_marks(n, config.print_iter, config.save_iter, config.checkpoint_iter):
        if mark <= done:
            continue
        _, aux = optimizer.run(mark - done)
        done = optimizer.iterations
        reporter.progress(done, n, (done - first) / (time.perf_counter() - start))
        if optimizer.nonfinite:
            save(config.output_image, current_image())
            raise FloatingPointError(
                f"the loss became NaN or infinite after iteration {done}; the last finite image "
                f"is in {config.output_image}. Try smaller weights or -learning_rate"
            )
        stopped = optimizer.stopped or done < mark
        aux = aux.numpy()
        k = objective.num_content
        if (config.print_iter > 0 and done % config.print_iter == 0) or stopped:
            reporter.iteration(done, n, aux[:k], aux[k:], optimizer.evaluations)
        if board is not None:
            board.losses(done, aux[:k], aux[k:])
        if stopped:
            # The original wrote no final image when L-BFGS stopped early (its quirk Q4).
            reporter.note(f"The optimizer stopped at iteration {done}; saving the result.")
            break
        if done < n and config.save_iter > 0 and done % config.save_iter == 0:
            path = image_io.intermediate_path(config.output_image, done)
            save(path, current_image())
            if board is not None:
                board.image(done, current_image())
        if write and config.checkpoint_iter > 0 and done % config.checkpoint_iter == 0:
            checkpoint.save(config, optimizer)
            saved_at = done
        progress = Progress(
            done, n, optimizer.evaluations, tuple(aux[:k]), tuple(aux[k:]), current_image
        )
        if callback is not None and callback(progress) and done < n:
            reporter.note(f"Stopped at iteration {done}; saving the result.")
            if checkpoints and saved_at != done:
                checkpoint.save(config, optimizer)
            break
    final = current_image()
    save(config.output_image, final)
    return final
