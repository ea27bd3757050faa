"""The images of one run: loaded at the sizes the original resizes them to, checked against
the loss layers, and the image the optimisation starts from."""

from __future__ import annotations

import numpy as np

from tf_style import image_io, memory, preprocess
from tf_style.config import StyleConfig
from tf_style.errors import ImageError
from tf_style.features import minimum_input_size
from tf_style.preprocess import ColorSpace
from tf_style.report import Reporter


def load_images(
    config: StyleConfig, content=None, styles=None, device: str = "CPU"
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The content image at image_size, and each style image at ceil(style_scale*image_size).

    `content` and `styles` (float RGB arrays in [0, 1]) replace the files the config names.

    Raises:
        ImageError: an image cannot be read.
        MemoryEstimateError: the sizes cannot fit on `device` whatever the network: checked
            before anything is resized (or a model loaded).
    """
    if content is None:
        content = image_io.read_image(config.content_image, max_pixels=config.max_pixels)
    if styles is None:
        styles = [image_io.read_image(p, max_pixels=config.max_pixels) for p in config.style_image]
    h, w = preprocess.scaled_size(content.shape[0], content.shape[1], config.image_size)
    style_size = preprocess.style_size(config.image_size, config.style_scale)
    style_sizes = [preprocess.scaled_size(*s.shape[:2], style_size) for s in styles]
    memory.check_sizes_fit(
        (h, w),
        style_sizes,
        optimizer=config.optimizer,
        num_correction=config.num_correction,
        device=device,
    )
    resized = [preprocess.resize(s, *size) for s, size in zip(styles, style_sizes)]
    return preprocess.resize(content, h, w), resized


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


def initial_image(
    config: StyleConfig,
    content: np.ndarray,
    space: ColorSpace,
    reporter: Reporter,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """The starting point in the model's input space: noise, the content, -init_image, or the
    float RGB `init` (which replaces -init_image)."""
    h, w = content.shape[:2]
    if init is not None or config.init_image:
        if init is None:
            if config.init != "image":
                # The original silently ignored -init_image without -init image (quirk Q2).
                reporter.note(f"Using -init_image {config.init_image} (implies -init image).")
            init = image_io.read_image(config.init_image, max_pixels=config.max_pixels)
        # Resized to exactly the content's size, aspect ratio not kept, as in the original.
        return space.to_net(preprocess.resize(init, h, w))
    if config.init == "image":
        return space.to_net(content)
    return preprocess.random_init(h, w, config.seed if config.seed >= 0 else None)
