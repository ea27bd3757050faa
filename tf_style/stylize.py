"""One style-transfer run, end to end: images -> targets -> optimisation -> saved images."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tf_style import color, image_io, models, optimizers, preprocess, report
from tf_style.config import StyleConfig
from tf_style.features import build_extractor, network_layers
from tf_style.objective import Objective
from tf_style.report import Reporter

# Longest stretch of evaluations run as one traced call: it bounds how long a Ctrl-C waits.
MAX_CHUNK = 20


class DeviceError(ValueError):
    """The requested device does not exist."""


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
    """What a callback sees after each printed or saved iteration."""

    iteration: int
    num_iterations: int
    evaluations: int
    content_losses: tuple[float, ...]
    style_losses: tuple[float, ...]
    image: Callable[[], np.ndarray]  # the current image as float RGB, computed on demand


def select_device(gpu: tuple[int, ...] | None, reporter: Reporter) -> str:
    """Maps the original's -gpu to a TensorFlow device name."""
    available = tf.config.list_logical_devices("GPU")
    if gpu == (-1,):
        return "/CPU:0"
    if gpu is None:
        if available:
            return available[0].name
        reporter.note("No GPU found; running on the CPU (-gpu -1 says so explicitly).")
        return "/CPU:0"
    if len(gpu) > 1:
        raise DeviceError(
            f"-gpu {','.join(map(str, gpu))}: splitting the network over several GPUs is not "
            "supported yet; give one GPU index"
        )
    if gpu[0] >= len(available):
        raise DeviceError(
            f"-gpu {gpu[0]}: this machine has {len(available)} GPU(s) visible to TensorFlow; "
            "use -gpu -1 for the CPU"
        )
    return available[gpu[0]].name


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


def load_images(config: StyleConfig) -> tuple[np.ndarray, list[np.ndarray]]:
    """The content image at image_size, and each style image at ceil(style_scale*image_size)."""
    content = image_io.read_image(config.content_image)
    h, w = preprocess.scaled_size(content.shape[0], content.shape[1], config.image_size)
    content = preprocess.resize(content, h, w)
    style_size = preprocess.style_size(config.image_size, config.style_scale)
    styles = []
    for path in config.style_image:
        style = image_io.read_image(path)
        sh, sw = preprocess.scaled_size(style.shape[0], style.shape[1], style_size)
        styles.append(preprocess.resize(style, sh, sw))
    return content, styles


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
        return space.to_net(preprocess.resize(image_io.read_image(config.init_image), h, w))
    if config.init == "image":
        return space.to_net(content)
    return preprocess.random_init(h, w, config.seed if config.seed >= 0 else None)


def _marks(num_iterations: int, print_iter: int, save_iter: int) -> list[int]:
    """The iterations after which the original prints or saves, and chunk ends, in order."""
    marks = set(range(MAX_CHUNK, num_iterations, MAX_CHUNK)) | {num_iterations}
    for every in (print_iter, save_iter):
        if every > 0:
            marks.update(range(every, num_iterations + 1, every))
    return sorted(marks)


def run(
    config: StyleConfig,
    reporter: Reporter | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
) -> np.ndarray:
    """Runs one stylisation as the original does and writes its images.

    Args:
        config: the run's options.
        reporter: where the original's log lines go (silent by default).
        callback: called after every printed or saved iteration (and every MAX_CHUNK
            iterations); returning True stops the run early, and the current image is saved as
            the final one.

    Returns:
        The final image as float RGB (before clamping), [H, W, 3].
    """
    reporter = reporter or Reporter()
    image_io.check_output_path(config.output_image)
    device = select_device(config.gpu, reporter)
    if config.seed >= 0:
        # Byte-identical results for a fixed seed on the CPU.
        tf.config.experimental.enable_op_determinism()
    content, styles = load_images(config)
    net_content, net_styles = network_inputs(config, content, styles)
    with tf.device(device):
        model, entry = models.load(
            config.model_file,
            config.proto_file or None,
            progress=report.text_progress(reporter.stream, config.model_file),
        )
        content_layers, style_layers = _layers(config, entry, reporter)
        space = ColorSpace(entry.mean_bgr, entry.scale) if entry else ColorSpace()
        reporter.loaded(config.model_file, _weighted_layers(model))
        extractor = build_extractor(model, content_layers, style_layers, config.pooling)
        for index in extractor.replaced_pools:
            reporter.replacing_pooling(index)
        for i, (name, index) in enumerate(zip(extractor.names, extractor.indices)):
            if i in extractor.content:
                reporter.setup_layer("content", index, name)
            if i in extractor.style:
                reporter.setup_layer("style", index, name)
        objective = Objective(
            extractor,
            content_weight=config.content_weight,
            style_weight=config.style_weight,
            tv_weight=config.tv_weight,
            normalize_gradients=config.normalize_gradients,
        )
        reporter.capturing_content()
        objective.capture_content(space.to_net(net_content))
        for i in range(1, len(styles) + 1):
            reporter.capturing_style(i)
        objective.capture_styles([space.to_net(s) for s in net_styles], config.blend_weights)
        optimizer = optimizers.make_optimizer(
            config.optimizer,
            objective,
            initial_image(config, net_content, space, reporter),
            learning_rate=config.learning_rate,
            num_correction=config.num_correction,
        )
        reporter.running(optimizer.title)
        return _optimize(config, optimizer, objective, content, space, reporter, callback)


def _optimize(config, optimizer, objective, content, space, reporter, callback) -> np.ndarray:
    n = config.num_iterations

    def current_image() -> np.ndarray:
        rgb = space.from_net(optimizer.image.numpy())
        if config.color_transfer == "luminance":
            rgb = color.combine_luminance(color.luminance(rgb), content)
        elif config.original_colors == 1:
            rgb = preprocess.original_colors(rgb, content)
        return rgb

    done = 0
    for mark in _marks(n, config.print_iter, config.save_iter):
        _, aux = optimizer.run(mark - done)
        done = optimizer.iterations
        if optimizer.nonfinite:
            image_io.write_image(config.output_image, current_image())
            raise FloatingPointError(
                f"the loss became NaN or infinite after iteration {done}; the last finite image "
                f"is in {config.output_image}. Try smaller weights or -learning_rate"
            )
        stopped = optimizer.stopped or done < mark
        aux = aux.numpy()
        k = objective.num_content
        if (config.print_iter > 0 and done % config.print_iter == 0) or stopped:
            reporter.iteration(done, n, aux[:k], aux[k:], optimizer.evaluations)
        if stopped:
            # The original wrote no final image when L-BFGS stopped early (its quirk Q4).
            reporter.note(f"The optimizer stopped at iteration {done}; saving the result.")
            break
        if done < n and config.save_iter > 0 and done % config.save_iter == 0:
            path = image_io.intermediate_path(config.output_image, done)
            image_io.write_image(path, current_image())
        progress = Progress(
            done, n, optimizer.evaluations, tuple(aux[:k]), tuple(aux[k:]), current_image
        )
        if callback is not None and callback(progress) and done < n:
            reporter.note(f"Stopped at iteration {done}; saving the result.")
            break
    final = current_image()
    image_io.write_image(config.output_image, final)
    return final
