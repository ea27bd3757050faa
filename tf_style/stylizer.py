"""Style transfer end to end: `run`, `stylize` and `Stylizer`, which keeps networks and traced
functions between runs.

A run goes images -> network -> targets -> optimisation (`loop.py`) -> saved images. Every entry
point comes through `Stylizer.run`, which takes a whole config: a plain run, a -scales chain
(`plan.stages`) or, through `run`, a batch of -jobs (`tf_style.batch`).
"""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tf_style import checkpoint, color, image_io, masks, plan, prepare, video
from tf_style.config import GRAPH, StyleConfig, settings
from tf_style.devices import select_devices
from tf_style.errors import ConfigError, DeviceError
from tf_style.inputs import load_images
from tf_style.loop import Callback, Progress, optimize
from tf_style.report import Reporter


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
    if config.content_video or (config.jobs and video.is_clip_folder(config.jobs)):
        from tf_style import clips

        return clips.run(config, reporter, callback, devices)
    if config.jobs:
        from tf_style import batch

        results = batch.run_jobs(config, reporter, devices=devices, callback=callback)
        return [results[i] for i in sorted(results)]
    return Stylizer(reporter, devices).run(config, callback)


# The options that name masks, which `stylize` also takes as images.
MASK_OPTIONS = (
    "style_masks",
    "style_image_masks",
    "content_mask",
    "content_regions",
    "style_regions",
)


def stylize(content, styles, *, stylizer: Stylizer | None = None, **options) -> np.ndarray:
    """Stylises `content` in the style of `styles`, from Python: the library's one-liner.

    Args:
        content: a path, a PIL image, or an array [H, W, 3] (uint8, or float in [0, 1]).
        styles: one such image or a list of them.
        stylizer: reuse one `Stylizer` across calls to skip reloading and retracing.
        **options: any `StyleConfig` option (image_size, style_weight, num_iterations,
            scales, ...). The mask options (style_masks, content_mask, content_regions, ...)
            take images as `content` does. Files are written only when `output_image` is given.

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

    mask_images = {}
    for option in MASK_OPTIONS:
        value = options.get(option)
        many = isinstance(value, (list, tuple))
        values = list(value) if many else [value]
        if value is not None and not all(isinstance(v, (str, os.PathLike)) for v in values):
            mask_images[option] = values if many else value
            options[option] = tuple(map(name, values)) if many else name(value)
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
    result = (stylizer or Stylizer()).run(
        config, content=arrays[0], styles=arrays[1:], mask_images=mask_images, write=write
    )
    return np.clip(result, 0, 1)


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
        self._kept: tuple | None = None  # (key, prepare.Prepared) of the latest run
        self._models: dict = {}  # loaded once per model file, shared by every size

    def run(
        self,
        config: StyleConfig,
        callback: Callback | None = None,
        *,
        content: np.ndarray | None = None,
        styles: Sequence[np.ndarray] | None = None,
        mask_images: dict | None = None,
        write: bool = True,
        init: np.ndarray | None = None,
        temporal: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Every stage of `config` (one, or one per -scales size; see `run`); `content` and
        `styles` arrays replace the config's files, as `mask_images` (option name -> image or
        list of images) replace its mask files, and with `write=False` nothing is written (no
        images, no checkpoints). `init` (float RGB) is the first stage's start instead of
        -init; `temporal` makes the run one frame of a -content_video (see `prepare.capture`);
        without it, a -content_video config runs the whole clip (`clips.stylize_clip`).
        Returns the last stage's float RGB."""
        if config.content_video and temporal is None:
            from tf_style import clips

            return clips.stylize_clip(config, self, callback)
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
            if i > 1:
                init = None if write else np.clip(image, 0, 1)
            # Every scale's image records the whole chain, so -show_config reproduces it.
            image = self._run_stage(
                stage, watch, (content, styles, mask_images), write, config, init, temporal
            )
            if stopped:
                if write and stage.output_image != config.output_image:
                    # Where the caller expects the result of an interrupted chain.
                    image_io.write_image(config.output_image, image)
                break
        return image

    def _run_stage(self, config, callback, arrays, write, record, init, temporal) -> np.ndarray:
        content, styles, mask_arrays = arrays
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
        guidance = masks.load(config, *images, arrays=mask_arrays)
        prepare.determinism(config)
        key = (
            guidance.signature,
            tuple(settings(config, GRAPH).values()),
            images[0].shape,
            tuple(s.shape for s in images[1]),
            tuple(devices),
            bool(config.content_video),  # a video frame's objective has a temporal term
        )
        prepared = self._kept[1] if self._kept and self._kept[0] == key else None
        if prepared is None or resume_from is not None:
            # Only the latest run is kept: a -scales chain's earlier stages (their optimizer
            # state and targets) would otherwise stay in memory under the next, larger one, and
            # its fit check would find the memory they hold missing.
            self._kept = prepared = None
            gc.collect()
            model_key = (config.model_file, config.proto_file)
            if model_key not in self._models:
                with tf.device(devices[0]):
                    self._models[model_key] = prepare.load_model(config, reporter)
            loaded = self._models[model_key]
            prepared = prepare.prepare(
                config, reporter, devices, resume_from, images, loaded, init, guidance, temporal
            )
            self._kept = (key, prepared)
        else:
            net_images = color.network_inputs(config, *images)
            objectives = (prepared.objective, prepared.warmup)
            with tf.device(devices[0]):
                x0 = prepare.capture(
                    config, objectives, prepared.space, net_images, reporter, init, guidance,
                    temporal,
                )  # fmt: skip
                prepared.optimizer.reset(x0)
            prepared = dataclasses.replace(prepared, content=images[0])
        reporter.running(prepared.optimizer.title)
        with tf.device(devices[0]):
            return optimize(config, prepared, reporter, callback, write, record)
