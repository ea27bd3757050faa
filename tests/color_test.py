"""Tests for tf_style.color: oracles are numpy statistics, the Torch YUV formulas written out,
np.linalg.cholesky and a Denman-Beavers matrix square root written here."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tf_style import color, stylizer

INPUTS = Path(__file__).resolve().parent.parent / "examples" / "inputs"
MODES = ("chol", "pca", "sym")
EPS = 1e-5


def _smooth(height, width, seed):
    """A smooth colourful image in [0, 1] with correlated channels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    waves = np.stack(
        [
            np.sin(rng.uniform(2, 9) * xx + rng.uniform(2, 9) * yy + rng.uniform(0, 6))
            for _ in range(3)
        ],
        -1,
    )
    mixed = waves @ rng.uniform(-1, 1, (3, 3))
    return (mixed - mixed.min()) / (mixed.max() - mixed.min())


def _example(name, size):
    with Image.open(INPUTS / name) as image:
        image = image.convert("RGB").resize(size, Image.BILINEAR)
    return np.asarray(image, dtype=np.float64) / 255


PAIRS = {
    "smooth": lambda: (_smooth(30, 44, 1), _smooth(40, 36, 2)),
    "examples": lambda: (
        _example("starry_night.jpg", (64, 51)),
        _example("tubingen.jpg", (64, 48)),
    ),
}


def _stats(image):
    """Mean [3] and covariance [3, 3] (normalised by N) of an image's pixels."""
    pixels = image.reshape(-1, image.shape[-1])
    return np.mean(pixels, axis=0), np.cov(pixels, rowvar=False, bias=True)


def _recovered_matrix(style, result):
    """The A of result = A (style - mu) + b, recovered by least squares from the pixels."""
    x = style.reshape(-1, 3) - style.reshape(-1, 3).mean(0)
    y = result.reshape(-1, 3) - result.reshape(-1, 3).mean(0)
    return np.linalg.lstsq(x, y, rcond=None)[0].T


def _sqrtm(matrix):
    """Denman-Beavers iteration: the principal square root, without an eigendecomposition."""
    y, z = matrix, np.eye(len(matrix))
    for _ in range(50):
        y, z = (y + np.linalg.inv(z)) / 2, (z + np.linalg.inv(y)) / 2
    return y


@pytest.mark.parametrize("pair", sorted(PAIRS))
@pytest.mark.parametrize("mode", MODES)
def test_match_gives_content_mean_and_covariance(mode, pair):
    style, content = PAIRS[pair]()
    result = color.match_colors(style, content, mode)
    assert result.shape == style.shape
    mean, cov = _stats(result)
    content_mean, content_cov = _stats(content)
    np.testing.assert_allclose(mean, content_mean, atol=1e-3)
    np.testing.assert_allclose(cov, content_cov, atol=1e-3)
    # It did something: the style's own statistics were far from the content's.
    assert np.abs(_stats(style)[1] - content_cov).max() > 1e-3


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_modes_are_different_solutions(pair):
    style, content = PAIRS[pair]()
    results = {mode: color.match_colors(style, content, mode) for mode in MODES}
    for first, second in [("chol", "pca"), ("chol", "sym"), ("pca", "sym")]:
        assert np.abs(results[first] - results[second]).max() > 1e-2, (first, second)


def _regularised_covs(style, content):
    return _stats(style)[1] + EPS * np.eye(3), _stats(content)[1] + EPS * np.eye(3)


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_chol_matrix_is_cholesky_quotient(pair):
    style, content = PAIRS[pair]()
    a = _recovered_matrix(style, color.match_colors(style, content, "chol", eps=EPS))
    cov_s, cov_c = _regularised_covs(style, content)
    expected = np.linalg.cholesky(cov_c) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    np.testing.assert_allclose(a, expected, atol=1e-8)
    np.testing.assert_allclose(np.triu(a, 1), 0, atol=1e-8)


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_pca_matrix_is_square_root_quotient(pair):
    style, content = PAIRS[pair]()
    a = _recovered_matrix(style, color.match_colors(style, content, "pca", eps=EPS))
    cov_s, cov_c = _regularised_covs(style, content)
    np.testing.assert_allclose(a, _sqrtm(cov_c) @ np.linalg.inv(_sqrtm(cov_s)), atol=1e-7)
    assert np.abs(a - a.T).max() > 1e-3  # not the symmetric solution


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_sym_matrix_is_symmetric_positive_solution(pair):
    style, content = PAIRS[pair]()
    a = _recovered_matrix(style, color.match_colors(style, content, "sym", eps=EPS))
    cov_s, cov_c = _regularised_covs(style, content)
    np.testing.assert_allclose(a, a.T, atol=1e-8)
    assert np.linalg.eigvalsh((a + a.T) / 2).min() > 0
    np.testing.assert_allclose(a @ cov_s @ a, cov_c, atol=1e-10)
    root_s = _sqrtm(cov_s)
    expected = np.linalg.inv(root_s) @ _sqrtm(root_s @ cov_c @ root_s) @ np.linalg.inv(root_s)
    np.testing.assert_allclose(a, expected, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_degenerate_styles_stay_finite(mode):
    content = _smooth(20, 24, 3)
    flat = np.full((16, 16, 3), 0.4)
    result = color.match_colors(flat, content, mode)
    np.testing.assert_allclose(
        result, np.broadcast_to(content.mean((0, 1)), result.shape), atol=1e-6
    )
    grey = np.repeat(_smooth(16, 16, 4)[..., :1], 3, axis=-1)  # R = G = B: rank-one covariance
    result = color.match_colors(grey, content, mode)
    assert np.isfinite(result).all()
    np.testing.assert_allclose(result.mean((0, 1)), content.mean((0, 1)), atol=1e-6)


def test_match_rejects_bad_inputs():
    image = _smooth(8, 8, 5)
    with pytest.raises(ValueError, match="chol, pca, sym"):
        color.match_colors(image, image, "hist")
    with pytest.raises(color.ConfigError, match="same C"):
        color.match_colors(image, image[..., :2])
    with pytest.raises(color.ConfigError, match=r"\[H, W\]"):
        color.match_luminance(image, image)


def test_luminance_is_torch_y():
    rgb = _smooth(10, 12, 6)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    np.testing.assert_allclose(color.luminance(rgb), 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-12)


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_match_luminance_gives_content_mean_and_std(pair):
    style, content = PAIRS[pair]()
    style_y, content_y = color.luminance(style), color.luminance(content)
    result = color.match_luminance(style_y, content_y)
    assert result.shape == style_y.shape
    np.testing.assert_allclose(result.mean(), content_y.mean(), atol=1e-9)
    np.testing.assert_allclose(result.std(), content_y.std(), atol=1e-3)
    assert abs(style_y.std() - content_y.std()) > 1e-3
    # The map is increasing and affine: the ordering of the pixels is kept.
    np.testing.assert_array_equal(np.argsort(result, None), np.argsort(style_y, None))
    assert np.isfinite(color.match_luminance(np.full((5, 5), 0.3), content_y)).all()


def test_gray_to_rgb_replicates():
    y = _smooth(6, 7, 8)[..., 0]
    rgb = color.gray_to_rgb(y)
    assert rgb.shape == (6, 7, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], y)


def _torch_yuv(rgb):
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (
        0.299 * r + 0.587 * g + 0.114 * b,
        -0.14713 * r - 0.28886 * g + 0.436 * b,
        0.615 * r - 0.51499 * g - 0.10001 * b,
    )


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_combine_luminance_keeps_content_chroma(pair):
    style, content = PAIRS[pair]()
    # The luminance pipeline on a stand-in result: the matched style Y, cropped to the content.
    y = color.match_luminance(color.luminance(style), color.luminance(content))
    h, w = min(y.shape[0], content.shape[0]), min(y.shape[1], content.shape[1])
    y, content = y[:h, :w], content[:h, :w]
    out_y, out_u, out_v = _torch_yuv(color.combine_luminance(y, content))
    _, content_u, content_v = _torch_yuv(content)
    # Torch's two matrices are inverses only to about 1e-5.
    np.testing.assert_allclose(out_u, content_u, atol=1e-4)
    np.testing.assert_allclose(out_v, content_v, atol=1e-4)
    np.testing.assert_allclose(out_y, y, atol=1e-4)


def test_network_inputs_for_each_colour_mode(tiny_run, images):
    content, styles = stylizer.load_images(
        tiny_run.replace(style_image=f"{images['style1']},{images['style2']}")
    )
    same = color.network_inputs(tiny_run, content, styles)
    assert same[0] is content and same[1] is styles
    for mode in ("chol", "pca", "sym"):
        cfg = tiny_run.replace(color_transfer="match", color_match_mode=mode)
        net_content, net_styles = color.network_inputs(cfg, content, styles)
        assert net_content is content
        for s in net_styles:
            # Clipping to [0, 1] moves the statistics a little; these images barely clip.
            np.testing.assert_allclose(
                s.reshape(-1, 3).mean(0), content.reshape(-1, 3).mean(0), atol=0.02
            )
    gray_content, gray_styles = color.network_inputs(
        tiny_run.replace(color_transfer="luminance"), content, styles
    )
    for image in [gray_content, *gray_styles]:
        assert np.array_equal(image[..., 0], image[..., 1])
        assert np.array_equal(image[..., 0], image[..., 2])
    y = gray_content[..., 0]
    assert gray_styles[0][..., 0].mean() == pytest.approx(y.mean(), abs=0.02)
