"""Colour control beyond the original's `-original_colors` (Gatys et al. 2017).

Gatys, Ecker, Bethge, Hertzmann, Shechtman, "Controlling Perceptual Factors in Neural Style
Transfer", CVPR 2017, section "Colour control", offers two methods, both added here (the original
neural-style has neither):

- colour histogram matching (`-color_transfer match`): before optimising, an affine map
  x' = A (x - mu_s) + mu_c gives the style image's pixels the content's colour mean and
  covariance; `match_colors`.
- luminance-only transfer (`-color_transfer luminance`): optimise on one luminance channel,
  the style's luminance matched in mean and variance to the content's, then put the content's
  chroma back; `luminance`, `match_luminance`, `gray_to_rgb`, `combine_luminance`.

Deviation from the paper: luminance and chroma are Torch's YUV (the original's `-original_colors`
matrices, from preprocess), not YIQ, so that both colour features agree with each other.
Everything is numpy float64 on RGB images [H, W, 3] (any [H, W, C] for `match_colors`).
"""

from __future__ import annotations

import numpy as np

from tf_style.config import COLOR_MATCH_MODES as MATCH_MODES
from tf_style.config import StyleConfig
from tf_style.errors import ConfigError
from tf_style.preprocess import RGB_TO_YUV, ColorSpace, original_colors

# Added to both covariances. A flat style image has a zero covariance and a grey one (R = G = B)
# a rank-one covariance: Cholesky then fails and the inverse square roots are infinite. With
# eps * I, A stays finite (a flat image maps to the content's mean colour, no NaN); the price is
# that the covariance is matched up to eps * (I - A A^T), about 1e-5 for ordinary images. 1e-5 is
# the value in Gatys's own code (leongatys/NeuralImageSynthesis, `match_color`).
DEFAULT_EPS = 1e-5


def _mean_cov(image: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean [C] and regularised pixel covariance [C, C] of an [H, W, C] image."""
    pixels = image.reshape(-1, image.shape[-1])
    mean = pixels.mean(axis=0)
    centred = pixels - mean
    return mean, centred.T @ centred / len(pixels) + eps * np.eye(pixels.shape[1])


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root U diag(sqrt(l)) U^T of a symmetric PSD matrix."""
    values, vectors = np.linalg.eigh(matrix)
    # Rounding can leave tiny negative eigenvalues of a PSD product; they are zero.
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def match_colors(
    style: np.ndarray, content: np.ndarray, mode: str = "chol", eps: float = DEFAULT_EPS
) -> np.ndarray:
    """Gives `style` the colour mean and covariance of `content` (the paper's linear transfer).

    x' = A (x - mu_s) + mu_c for every pixel x of the style, with any A such that
    A Sigma_s A^T = Sigma_c; the modes are the paper's choices of A:

    - "chol": A = L_c L_s^-1, with Sigma = L L^T the Cholesky factorisations.
    - "pca": A = Sigma_c^1/2 Sigma_s^-1/2, the paper's "image analogies" colour transfer, with
      Sigma^1/2 = U Lambda^1/2 U^T from the eigendecomposition (hence the name).
    - "sym": the unique symmetric positive definite A with A Sigma_s A = Sigma_c,
      A = Sigma_s^-1/2 (Sigma_s^1/2 Sigma_c Sigma_s^1/2)^1/2 Sigma_s^-1/2.

    The result is not clipped: clipping would change the statistics just matched. Callers clip
    to [0, 1] before feeding the network.

    Args:
        style: float [H, W, C], the image to recolour.
        content: float [H', W', C], whose colour statistics to take; any size.
        mode: one of MATCH_MODES.
        eps: added to the diagonal of both covariances (see DEFAULT_EPS for why).

    Returns:
        float64 [H, W, C], the recoloured style.
    """
    style = np.asarray(style, dtype=np.float64)
    content = np.asarray(content, dtype=np.float64)
    if style.ndim != 3 or content.ndim != 3 or style.shape[-1] != content.shape[-1]:
        raise ConfigError(
            f"colour matching needs two [H, W, C] images with the same C, got style "
            f"{style.shape} and content {content.shape}"
        )
    mu_s, cov_s = _mean_cov(style, eps)
    mu_c, cov_c = _mean_cov(content, eps)
    if mode == "chol":
        a = np.linalg.cholesky(cov_c) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    elif mode == "pca":
        a = _sqrtm(cov_c) @ np.linalg.inv(_sqrtm(cov_s))
    elif mode == "sym":
        root_s = _sqrtm(cov_s)
        inv_root_s = np.linalg.inv(root_s)
        a = inv_root_s @ _sqrtm(root_s @ cov_c @ root_s) @ inv_root_s
    else:
        raise ConfigError(
            f"-color_match_mode must be one of {', '.join(MATCH_MODES)}, got {mode!r}"
        )
    return (style - mu_s) @ a.T + mu_c


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Y of an RGB [H, W, 3] image: the Y row of the original's (Torch's) YUV, [H, W]."""
    return np.asarray(rgb, dtype=np.float64) @ RGB_TO_YUV[0]


def match_luminance(
    style_y: np.ndarray, content_y: np.ndarray, eps: float = DEFAULT_EPS
) -> np.ndarray:
    """The paper's L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c on [H, W] luminance images.

    This is `match_colors` with one channel (where all modes agree), so the same eps guards a
    flat style: the standard deviations are sqrt(var + eps), and the content's is matched to a
    relative error of about eps / var. Not clipped.

    Returns:
        float64 [H, W], the style's luminance with the content's mean and standard deviation.
    """
    style_y = np.asarray(style_y, dtype=np.float64)
    content_y = np.asarray(content_y, dtype=np.float64)
    if style_y.ndim != 2 or content_y.ndim != 2:
        raise ConfigError(
            f"luminance images must be [H, W], got style {style_y.shape} and "
            f"content {content_y.shape}"
        )
    return match_colors(style_y[..., None], content_y[..., None], "chol", eps)[..., 0]


def gray_to_rgb(y: np.ndarray) -> np.ndarray:
    """Y [H, W] replicated into R, G and B, [H, W, 3]: what the network is fed in luminance mode."""
    return np.repeat(np.asarray(y, dtype=np.float64)[..., None], 3, axis=-1)


def combine_luminance(y: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The luminance mode's final image: Y from the result, U and V from the content.

    Exactly `-original_colors 1` applied to the replicated Y (its Y is y again, up to rounding:
    the Y row sums to 1). For a result that came back from the network as RGB, pass
    `luminance(result)`.

    Args:
        y: the optimised luminance, [H, W].
        content_rgb: the content image, [H, W, 3] in [0, 1], at the result's size.

    Returns:
        float64 RGB [H, W, 3], not clipped (like the original's, clipped when saved).
    """
    return original_colors(gray_to_rgb(y), content_rgb)


def network_inputs(
    config: StyleConfig, content: np.ndarray, styles: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The content and style images the network sees, after -color_transfer.

    `match` gives each style image the content's colour mean and covariance; `luminance` feeds
    the network luminance only (Y replicated), each style's Y matched to the content's mean and
    spread. Matched images are clipped to [0, 1] afterwards.
    """
    if config.color_transfer == "match":
        mode = config.color_match_mode
        return content, [np.clip(match_colors(s, content, mode), 0, 1) for s in styles]
    if config.color_transfer == "luminance":
        y = luminance(content)
        gray = [np.clip(match_luminance(luminance(s), y), 0, 1) for s in styles]
        return gray_to_rgb(y), [gray_to_rgb(g) for g in gray]
    return content, styles


def output_rgb(
    config: StyleConfig, x: np.ndarray, content: np.ndarray, space: ColorSpace
) -> np.ndarray:
    """The image `x` (the model's input space) as the float RGB a run saves: with the
    content's chroma for -color_transfer luminance and -original_colors 1."""
    rgb = space.from_net(x)
    if config.color_transfer == "luminance":
        return combine_luminance(luminance(rgb), content)
    if config.original_colors == 1:
        return original_colors(rgb, content)
    return rgb
