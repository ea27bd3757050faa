"""Tests for tf_style.image_io: files are made with PIL, OpenCV or by hand in tmp_path."""

import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from tf_style import config as config_module
from tf_style import image_io, stylizer
from tf_style.config import StyleConfig
from tf_style.errors import WriteError
from tf_style.image_io import ImageError
from tf_style.report import Reporter
from tf_style.testing import oracles, processes


def _random_uint8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def _blocks():
    """A 16x32 image of 8x8 blocks in saturated colours: survives JPEG almost unchanged."""
    colours = np.array(
        [[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]],
         [[0, 255, 255], [255, 0, 255], [255, 255, 255], [0, 0, 0]]],
        dtype=np.uint8,
    )  # fmt: skip
    return np.repeat(np.repeat(colours, 8, axis=0), 8, axis=1)


def _assert_one_line_error(path, **kwargs):
    with pytest.raises(ImageError) as info:
        image_io.read_image(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# Reading


def test_read_rgb_png_exact(tmp_path):
    pixels = _random_uint8((5, 7, 3))
    Image.fromarray(pixels).save(tmp_path / "a.png")
    result = image_io.read_image(tmp_path / "a.png")
    assert result.dtype == np.float64 and result.shape == (5, 7, 3)
    np.testing.assert_array_equal(result, pixels / 255.0)


def test_read_grayscale_is_replicated(tmp_path):
    gray = _random_uint8((4, 6))
    Image.fromarray(gray).save(tmp_path / "g.png")
    result = image_io.read_image(tmp_path / "g.png")
    np.testing.assert_array_equal(result, np.stack([gray / 255.0] * 3, axis=2))


def test_read_rgba_drops_alpha_without_compositing(tmp_path):
    pixels = _random_uint8((4, 5, 4))
    pixels[..., 3] = 0  # fully transparent: the colour must still come through
    Image.fromarray(pixels).save(tmp_path / "a.png")
    np.testing.assert_array_equal(image_io.read_image(tmp_path / "a.png"), pixels[..., :3] / 255.0)


def test_read_palette(tmp_path):
    palette = [10, 20, 30, 200, 100, 0, 255, 255, 255] + [0] * (256 * 3 - 9)
    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette)
    image.save(tmp_path / "p.png", transparency=1)
    expected = np.array(palette[:9]).reshape(3, 3)[indices] / 255.0
    np.testing.assert_array_equal(image_io.read_image(tmp_path / "p.png"), expected)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_read_16_bit_png_keeps_precision(tmp_path, channels):
    values = np.random.default_rng(1).integers(0, 65536, (6, 9, channels)).astype(np.uint16)
    values[0, 0] = 65535
    values[0, 1] = 1
    oracles.opencv_write(tmp_path / "d.png", values)  # a 16-bit PNG made by another encoder
    result = image_io.read_image(tmp_path / "d.png")
    expected = np.broadcast_to(values[..., :3], (6, 9, 3)) / 65535.0
    np.testing.assert_array_equal(result, expected)


def test_read_cmyk_jpeg(tmp_path):
    cmyk = np.zeros((16, 16, 4), dtype=np.uint8)
    cmyk[:8, :, 1] = 255  # magenta
    cmyk[8:, :, 0] = 255  # cyan
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.jpg", quality=100)
    result = image_io.read_image(tmp_path / "c.jpg")
    np.testing.assert_allclose(result[:8], np.broadcast_to([1.0, 0.0, 1.0], (8, 16, 3)), atol=0.02)
    np.testing.assert_allclose(result[8:], np.broadcast_to([0.0, 1.0, 1.0], (8, 16, 3)), atol=0.02)
    # OpenCV's libjpeg-based CMYK -> BGR agrees.
    opencv = oracles.opencv_read(tmp_path / "c.jpg") / 255.0
    np.testing.assert_allclose(result, opencv, atol=0.02)


@pytest.mark.parametrize("orientation, turns", [(3, 2), (6, -1), (8, 1)])
def test_read_honours_exif_orientation(tmp_path, orientation, turns):
    # EXIF: 3 = rotate 180 to display, 6 = rotate 90 clockwise, 8 = rotate 90 anticlockwise.
    stored = _blocks()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "r.jpg", quality=95, subsampling=0, exif=exif)
    result = image_io.read_image(tmp_path / "r.jpg")
    np.testing.assert_allclose(result, np.rot90(stored, k=turns) / 255.0, atol=0.06)


def test_read_errors_name_the_path(tmp_path):
    assert "no such file" in _assert_one_line_error(tmp_path / "missing.png")
    assert "directory" in _assert_one_line_error(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty" in _assert_one_line_error(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("not an image\n")
    assert "not an image" in _assert_one_line_error(tmp_path / "text.png")


@pytest.mark.parametrize("extension", ["png", "jpg"])
@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.95])
def test_read_truncated_files_fail(tmp_path, extension, fraction):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    path = tmp_path / f"t.{extension}"
    Image.fromarray(_random_uint8((64, 64, 3))).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    assert "truncated or corrupt" in _assert_one_line_error(path)


def test_read_corrupt_png_crc_fails(tmp_path):
    path = tmp_path / "crc.png"
    Image.fromarray(_random_uint8((8, 8, 3))).save(path)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    path.write_bytes(bytes(data))
    _assert_one_line_error(path)


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(_random_uint8((48, 64, 3))).save(path)

    def no_decoding(self):
        raise AssertionError("pixels decoded before the size check")

    with monkeypatch.context() as patch:
        patch.setattr(ImageFile.ImageFile, "load", no_decoding)
        message = _assert_one_line_error(path, max_pixels=3071)
    assert "64x48" in message and "3072" in message and "3071" in message
    assert "-max_pixels" in message
    assert image_io.read_image(path, max_pixels=3072).shape == (48, 64, 3)


def test_our_pixel_limit_replaces_pil_global_limit(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.fromarray(_random_uint8((48, 64, 3))).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL would refuse above 200 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert image_io.read_image(path).shape == (48, 64, 3)
    assert Image.MAX_IMAGE_PIXELS == 100


# Writing


def test_write_truncates_and_clamps(tmp_path):
    rgb = np.array([[[0.9999, 1.5, -0.2], [0.5, 1 / 255, 254.9 / 255], [np.nan, 1.0, 0.0]]])
    image_io.write_image(tmp_path / "o.png", rgb)
    stored = oracles.opencv_read(tmp_path / "o.png")
    np.testing.assert_array_equal(stored, [[[254, 255, 0], [127, 1, 254], [0, 255, 0]]])


def test_write_16_bit_truncates_and_opencv_reads_it(tmp_path):
    values = np.random.default_rng(2).integers(0, 65536, (5, 6, 3)).astype(np.uint16)
    rgb = values / 65535.0
    rgb[0, 0] = [0.99999, 2.0, -1.0]
    image_io.write_image(tmp_path / "o.png", rgb, bit_depth=16)
    stored = oracles.opencv_read(tmp_path / "o.png", unchanged=True)
    assert stored.dtype == np.uint16
    values[0, 0] = [65534, 65535, 0]  # 0.99999 * 65535 = 65534.34 -> 65534
    np.testing.assert_array_equal(stored, values)


@pytest.mark.parametrize("extension", ["png", "ppm", "tif", "tiff", "bmp", "webp"])
def test_write_read_round_trip_is_exact(tmp_path, extension):
    pixels = _random_uint8((7, 5, 3), seed=3)
    path = tmp_path / f"o.{extension}"
    image_io.write_image(path, pixels / 255.0)
    np.testing.assert_array_equal(image_io.read_image(path), pixels / 255.0)


def test_write_read_16_bit_round_trip_is_exact(tmp_path):
    values = np.random.default_rng(4).integers(0, 65536, (33, 17, 3)).astype(np.uint16)
    image_io.write_image(tmp_path / "o.png", values / 65535.0, bit_depth=16)
    np.testing.assert_array_equal(image_io.read_image(tmp_path / "o.png"), values / 65535.0)


def test_write_jpeg_uses_quality(tmp_path):
    pixels = _random_uint8((16, 16, 3), seed=5)
    image_io.write_image(tmp_path / "o.jpg", pixels / 255.0)
    Image.fromarray(pixels).save(tmp_path / "pil75.jpg", quality=75)
    np.testing.assert_array_equal(
        image_io.read_image(tmp_path / "o.jpg"), image_io.read_image(tmp_path / "pil75.jpg")
    )
    image_io.write_image(tmp_path / "q95.jpeg", pixels / 255.0, jpeg_quality=95)
    assert (tmp_path / "q95.jpeg").stat().st_size > (tmp_path / "o.jpg").stat().st_size


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_metadata_round_trip(tmp_path, bit_depth):
    metadata = {"Software": "tf_style", "command": "tf-style -image_size 512", "note": "ünï ✓"}
    path = tmp_path / "m.png"
    image_io.write_image(path, np.zeros((2, 2, 3)), metadata=metadata, bit_depth=bit_depth)
    assert image_io.read_metadata(path) == metadata
    with Image.open(path) as image:  # readable by other tools too
        assert image.text == metadata


def test_metadata_ignored_for_jpeg_and_bad_keys_refused(tmp_path):
    image_io.write_image(tmp_path / "m.jpg", np.zeros((2, 2, 3)), metadata={"a": "b"})
    assert image_io.read_metadata(tmp_path / "m.jpg") == {}
    with pytest.raises(ImageError, match="metadata key"):
        image_io.write_image(tmp_path / "m.png", np.zeros((2, 2, 3)), metadata={"": "b"})
    assert not (tmp_path / "m.png").exists()


def test_write_errors(tmp_path):
    rgb = np.zeros((2, 2, 3))
    for name in ["o.gif", "out", "o.png.bak"]:
        with pytest.raises(ImageError, match=".png") as info:
            image_io.write_image(tmp_path / name, rgb)
        assert str(tmp_path / name) in str(info.value)
    with pytest.raises(ImageError, match="16-bit"):
        image_io.write_image(tmp_path / "o.jpg", rgb, bit_depth=16)
    with pytest.raises(ImageError, match="does not exist|directory"):
        image_io.write_image(tmp_path / "missing" / "o.png", rgb)
    with pytest.raises(ImageError, match="shape"):
        image_io.write_image(tmp_path / "o.png", np.zeros((2, 2)))
    assert os.listdir(tmp_path) == []


def test_write_file_permissions_follow_umask(tmp_path):
    umask = os.umask(0o022)
    try:
        image_io.write_image(tmp_path / "o.png", np.zeros((2, 2, 3)))
    finally:
        os.umask(umask)
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("error", [OSError("disk full"), RuntimeError("interrupted")])
def test_failed_write_leaves_existing_output_and_no_temporary(tmp_path, monkeypatch, error):
    path = tmp_path / "out.png"
    path.write_bytes(b"previous result")
    seen = []

    def failing_save(self, file, **kwargs):
        seen.extend(os.listdir(tmp_path))
        file.write(b"partial")
        raise error

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(WriteError if isinstance(error, OSError) else RuntimeError):
        image_io.write_image(path, np.zeros((4, 4, 3)))
    temporary = [name for name in seen if name != "out.png"]
    assert len(temporary) == 1 and temporary[0].startswith(".out.png.")
    assert temporary[0].endswith(".tmp")
    assert os.listdir(tmp_path) == ["out.png"]
    assert path.read_bytes() == b"previous result"


def test_failed_16_bit_write_removes_temporary(tmp_path, monkeypatch):
    def failing_fsync(descriptor):
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(WriteError, match="fsync failed"):
        image_io.write_image(tmp_path / "o.png", np.zeros((4, 4, 3)), bit_depth=16)
    assert os.listdir(tmp_path) == []


def test_write_replaces_existing_output(tmp_path):
    path = tmp_path / "o.png"
    path.write_bytes(b"old")
    image_io.write_image(path, np.ones((2, 3, 3)))
    np.testing.assert_array_equal(image_io.read_image(path), np.ones((2, 3, 3)))
    assert os.listdir(tmp_path) == ["o.png"]


# Paths


def test_check_output_path(tmp_path):
    image_io.check_output_path(tmp_path / "o.png")
    image_io.check_output_path(tmp_path / "o.PNG", bit_depth=16)
    (tmp_path / "d.png").mkdir()
    cases = {
        tmp_path / "o.gif": "extension",
        tmp_path / "d.png": "is a directory",
        tmp_path / "missing" / "o.png": "does not exist",
    }
    for path, expected in cases.items():
        with pytest.raises(ImageError, match=expected) as info:
            image_io.check_output_path(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ImageError, match="16-bit"):
        image_io.check_output_path(tmp_path / "o.jpg", bit_depth=16)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_check_output_path_read_only_directory(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        with pytest.raises(ImageError, match="not writable"):
            image_io.check_output_path(directory / "o.png")
    finally:
        directory.chmod(0o700)


def test_intermediate_path():
    assert image_io.intermediate_path("dir/x.png", 100) == "dir/x_100.png"
    assert image_io.intermediate_path("out.png", 100) == "out_100.png"
    assert image_io.intermediate_path("a/b.c/x.jpg", 5) == "a/b.c/x_5.jpg"
    assert image_io.intermediate_path(os.path.join("d", "x.y.png"), 7) == os.path.join(
        "d", "x.y_7.png"
    )
    with pytest.raises(ImageError, match="extension"):
        image_io.intermediate_path("out", 100)


def test_bad_image_files_in_the_library(quiet_run, bad_images):
    # The same checks as tests/cli_test.py's, without the CLI's early look at the files.
    for path, needle in bad_images.values():
        for role in ("content_image", "style_image"):
            with pytest.raises(image_io.ImageError, match=needle):
                stylizer.run(quiet_run.replace(**{role: str(path)}))
    assert os.listdir(os.path.dirname(quiet_run.output_image)) == []


def test_pixel_limit_is_a_flag(quiet_run, images):
    # The 40x56 content has 2240 pixels.
    code, _, err = processes.run_all([processes.cli_for(quiet_run, max_pixels=2000)])[0]
    processes.assert_one_line(code, err, 2, "40", "2240 pixels", "-max_pixels")
    assert os.listdir(os.path.dirname(quiet_run.output_image)) == []
    with pytest.raises(image_io.ImageError, match="2240 pixels"):
        stylizer.run(quiet_run.replace(max_pixels=2000))
    # Raised above the file's size, the same image is accepted (read_image is what run uses).
    assert image_io.read_image(images["content"], max_pixels=2240).shape == (40, 56, 3)
    assert StyleConfig.max_pixels == image_io.DEFAULT_MAX_PIXELS
    assert config_module.DEFAULT_MAX_PIXELS == image_io.DEFAULT_MAX_PIXELS


def test_every_kind_of_image_file_runs(quiet_run, images, tmp_path):
    pixels = np.asarray(Image.open(images["content"]))  # 40 x 56
    folder = tmp_path / "odd"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed portrait: rotate 90 degrees clockwise
    Image.fromarray(pixels).save(folder / "rotated.jpg", exif=exif)
    Image.fromarray(np.dstack([pixels, pixels[..., 0]])).save(folder / "alpha.png")
    Image.fromarray(pixels[..., 1]).save(folder / "gray.png")
    image_io.write_image(folder / "deep.png", pixels / 255.0, bit_depth=16)
    Image.fromarray(pixels).convert("CMYK").save(folder / "cmyk.jpg")
    styles = [str(folder / n) for n in ("alpha.png", "gray.png", "deep.png", "cmyk.jpg")]
    # In the library: the CLI only passes the paths on (its early look uses the same reader).
    log = io.StringIO()
    config = quiet_run.replace(content_image=str(folder / "rotated.jpg"), style_image=styles)
    stylizer.run(config.replace(num_iterations=2), Reporter(log))
    assert "Capturing style target 4" in log.getvalue()
    # The EXIF rotation is honoured: the output is portrait, 32 high and int(40*32/56) wide.
    assert image_io.read_image(quiet_run.output_image).shape == (32, 22, 3)
