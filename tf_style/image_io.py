"""Reading and writing image files: the only module that touches image files.

Images are float64 arrays [H, W, 3] in RGB order, nominally in [0, 1], as the original's
`image.load(path, 3)` gives them. Writing follows the original's `image.save`: clamp to [0, 1],
multiply by 255 and truncate (not round). Every write is atomic: a temporary file in the same
directory is renamed over the output, so a crash never leaves a partial image behind.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from tf_style import fileio
from tf_style.errors import ImageError, WriteError

# PIL's own hard limit (2 * Image.MAX_IMAGE_PIXELS): large enough for any camera up to ~180 MP,
# small enough to refuse a decompression bomb before its pixels are decoded.
DEFAULT_MAX_PIXELS = 178_956_970

# Extension -> PIL format name. The original wrote whatever torch `image.save` could (PNG, JPEG,
# PPM); TIFF, BMP and WebP are additions.
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".ppm": "PPM",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
_ACCEPTED = ", ".join(FORMATS)

# 16-bit colour PNG rawmodes that PIL decodes to 8 bits (high bytes only) and the rawmodes that
# read the same bytes as little-endian, i.e. give the low bytes: see `_read_png16`.
_PNG16_LOW_BYTES = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Guards the temporary change of PIL's global pixel limit in `_open`.
_PIL_LIMIT_LOCK = threading.Lock()


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _corrupt(path: str, error: BaseException) -> ImageError:
    return ImageError(
        f"{path}: the image is truncated or corrupt ({_one_line(error)}); "
        "re-create or re-download it"
    )


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file; check the path")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a directory, not an image file; give the path of an image")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes); re-create or re-download it")


def _open(path: str, max_pixels: int) -> Image.Image:
    """Opens `path` and checks its pixel count; only the header is read, no pixel data."""
    try:
        # Our own `max_pixels` replaces PIL's global decompression-bomb limit, which would warn
        # above 89 MP and refuse above 179 MP whatever the caller asked for.
        with _PIL_LIMIT_LOCK:
            saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved_limit
    except Image.UnidentifiedImageError:
        raise ImageError(
            f"{path}: not an image file PIL can read; give a PNG, JPEG, TIFF, BMP or WebP file"
        ) from None
    except PermissionError as e:
        raise ImageError(
            f"{path}: cannot be read ({_one_line(e)}); check the file's permissions"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise _corrupt(path, e) from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageError(
            f"{path}: {width}x{height} = {width * height} pixels is above the limit of "
            f"{max_pixels} pixels; if the file is trusted, raise the limit with -max_pixels "
            "(max_pixels= in Python)"
        )
    return image


def _decode(path: str, image: Image.Image) -> None:
    """Decodes the pixels now, so that a truncated file fails here and not later."""
    try:
        # With ImageFile.LOAD_TRUNCATED_IMAGES left at its default (False, never changed here)
        # a truncated JPEG or PNG raises in load().
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise _corrupt(path, e) from None


def _png16_rawmode(image: Image.Image) -> str | None:
    """The rawmode of an undecoded 16-bit colour PNG that PIL would reduce to 8 bits, or None."""
    if image.format != "PNG" or len(image.tile) != 1:
        return None
    rawmode = image.tile[0].args
    return rawmode if rawmode in _PNG16_LOW_BYTES else None


def _read_png16(path: str, max_pixels: int, high: Image.Image, rawmode: str) -> np.ndarray:
    """Full 16-bit precision for a colour PNG, which PIL can only decode to 8 bits per channel.

    PIL's PNG decoder unfilters the rows and then keeps one byte of each big-endian 16-bit
    sample: the high byte with rawmode `RGB;16B` (`high`, already decoded), the low byte with
    `RGB;16L` (the same bytes read as little-endian). Decoding twice and combining keeps every
    bit.
    """
    with _open(path, max_pixels) as low:
        low.tile = [low.tile[0]._replace(args=_PNG16_LOW_BYTES[rawmode])]
        _decode(path, low)
        high_bytes = np.asarray(ImageOps.exif_transpose(high), dtype=np.uint16)
        low_bytes = np.asarray(ImageOps.exif_transpose(low), dtype=np.uint16)
    return ((high_bytes << 8) | low_bytes)[..., :3] / 65535.0


def _to_rgb(image: Image.Image) -> np.ndarray:
    """A decoded PIL image (EXIF orientation applied) -> float64 [H, W, 3] in [0, 1]."""
    mode = image.mode
    if mode in ("RGB", "RGBA", "RGBX"):
        # Alpha is dropped without compositing, as the original's image.load(path, 3) does.
        return np.asarray(image)[..., :3] / 255.0
    if mode in ("L", "LA"):
        gray = np.asarray(image)
        gray = gray if mode == "L" else gray[..., 0]
        return np.repeat(gray[..., None] / 255.0, 3, axis=2)
    if mode.startswith("I"):
        # 16-bit grayscale PNG: 'I;16' (Pillow >= 10.3) or 'I' (older Pillow), range 0..65535.
        gray = np.asarray(image).astype(np.float64) / 65535.0
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("P", "PA"):
        # Palette: look the colours up; the palette's transparency is dropped like alpha.
        return np.asarray(image.convert("RGBA"))[..., :3] / 255.0
    # CMYK (Adobe-inverted CMYK JPEGs included), YCbCr, LAB, HSV, 1-bit, float: PIL converts.
    return np.asarray(image.convert("RGB")) / 255.0


def read_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Reads an image file as float64 RGB in [0, 1], like the original's `image.load(path, 3)`.

    The EXIF orientation is honoured (an addition: the original ignored it). Grayscale is
    replicated to three channels, alpha is dropped (no compositing), palette and CMYK images
    are converted, and 16-bit PNGs keep their precision (divided by 65535). One deviation:
    16-bit gray+alpha PNGs are read with 8 bits of precision (PIL has no decoder for them).

    Args:
        path: the image file.
        max_pixels: refuse images with more pixels than this, before decoding their pixels.

    Returns:
        float64 array [H, W, 3].

    Raises:
        ImageError: a missing, empty, truncated, oversized or non-image file.
    """
    path = os.fspath(path)
    _check_readable(path)
    with _open(path, max_pixels) as image:
        rawmode = _png16_rawmode(image)
        _decode(path, image)
        if rawmode is not None:
            return _read_png16(path, max_pixels, image, rawmode)
        return _to_rgb(ImageOps.exif_transpose(image))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG file; {} for other formats.

    Raises:
        ImageError: as `read_image`.
    """
    path = os.fspath(path)
    _check_readable(path)
    with _open(path, DEFAULT_MAX_PIXELS) as image:
        _decode(path, image)
        if image.format != "PNG":
            return {}
        return {str(key): str(value) for key, value in image.text.items()}


def _format_for(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise ImageError(
            f"{path}: unknown image file extension {extension or '(none)'!r}; "
            f"use one of {_ACCEPTED}"
        )
    return FORMATS[extension]


def _check_bit_depth(path: str, image_format: str, bit_depth: int) -> None:
    if bit_depth not in (8, 16):
        raise ImageError(f"{path}: bit depth {bit_depth} is not supported; use 8 or 16")
    if bit_depth == 16 and image_format != "PNG":
        raise ImageError(f"{path}: 16-bit output is supported for .png only; use a .png path")


def check_output_path(path: str | os.PathLike, *, bit_depth: int = 8) -> None:
    """Checks, before a long run, that `write_image` will be able to write `path`.

    Raises:
        ImageError: unknown extension, a directory, a missing or read-only directory.
    """
    path = os.fspath(path)
    _check_bit_depth(path, _format_for(path), bit_depth)
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a directory; give a file name such as {path}/out.png")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise ImageError(f"{path}: the directory {directory} does not exist; create it first")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ImageError(
            f"{path}: the directory {directory} is not writable; choose another output path"
        )


def check_files(config) -> None:
    """Reads every input image of a run's `StyleConfig` and checks its output path.

    Done before anything slow starts (the command does it before TensorFlow loads, a batch for
    every job before the first one runs), so that a wrong path fails at once.

    Raises:
        ImageError: the first input that cannot be read, or an unusable output path.
    """
    check_output_path(config.output_image, bit_depth=config.output_bit_depth)
    for path in (config.content_image, *config.style_image, config.init_image):
        if path:
            read_image(path, max_pixels=config.max_pixels)


def intermediate_path(output_image: str | os.PathLike, t: int) -> str:
    """The file name of the save at iteration `t`: `dir/x.png` -> `dir/x_100.png`.

    The original builds `dirname .. '/' .. stem .. '_' .. t .. '.' .. ext`; `out.png` gives
    `./out_100.png` there and the equivalent `out_100.png` here.

    Raises:
        ImageError: `output_image` has no extension (the original failed at the first save).
    """
    output_image = os.fspath(output_image)
    stem, extension = os.path.splitext(output_image)
    if not extension:
        raise ImageError(f"{output_image}: the output image needs an extension such as .png")
    return f"{stem}_{t}{extension}"


def _quantize(rgb: np.ndarray, bit_depth: int) -> np.ndarray:
    """Clamp to [0, 1], scale and truncate, as the original's image.save does for 8 bits."""
    top = 255 if bit_depth == 8 else 65535
    # NaN is stored as 0; the original's C cast of NaN is undefined (deviation).
    values = np.clip(np.nan_to_num(np.asarray(rgb, dtype=np.float64), nan=0.0), 0.0, 1.0)
    return (values * top).astype(np.uint8 if bit_depth == 8 else np.uint16)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png_text_chunk(key: str, value: str) -> bytes:
    try:
        return _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # iTXt: keyword, no compression, no language tag, no translated keyword, UTF-8 text.
        data = key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")
        return _png_chunk(b"iTXt", data)


def _png16_bytes(pixels: np.ndarray, metadata: Mapping[str, str]) -> bytes:
    """A 16-bit RGB PNG (PIL cannot write one): every row uses the 'Up' filter."""
    height, width, _ = pixels.shape
    rows = pixels.astype(">u2").view(np.uint8).reshape(height, width * 6)
    # Up filter: byte minus the byte above, modulo 256 (uint8 arithmetic wraps).
    filtered = np.diff(rows, axis=0, prepend=np.zeros((1, width * 6), np.uint8))
    scanlines = np.concatenate([np.full((height, 1), 2, np.uint8), filtered], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"".join(
        [_PNG_SIGNATURE, _png_chunk(b"IHDR", header)]
        + [_png_text_chunk(key, value) for key, value in metadata.items()]
        + [_png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)), _png_chunk(b"IEND", b"")]
    )


def _encode(file, pixels: np.ndarray, image_format: str, metadata, jpeg_quality: int) -> None:
    if pixels.dtype == np.uint16:
        file.write(_png16_bytes(pixels, metadata))
        return
    options = {}
    if image_format == "PNG" and metadata:
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_text(key, value)  # tEXt, or iTXt when the text is not Latin-1
        options["pnginfo"] = info
    elif image_format == "JPEG":
        options["quality"] = jpeg_quality
    elif image_format == "WEBP":
        options["lossless"] = True  # an addition; lossless like PNG
    Image.fromarray(pixels).save(file, format=image_format, **options)


def _check_metadata(path: str, metadata: Mapping[str, str]) -> None:
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ImageError(f"{path}: metadata keys and values must be str, got {key!r}")
        try:
            key.encode("latin-1")
        except UnicodeEncodeError:
            raise ImageError(f"{path}: metadata key {key!r} must be Latin-1 text") from None
        if not 1 <= len(key) <= 79 or key != key.strip():
            raise ImageError(
                f"{path}: metadata key {key!r} must be 1-79 characters without outer spaces"
            )


def write_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    *,
    metadata: Mapping[str, str] | None = None,
    jpeg_quality: int = 75,
    bit_depth: int = 8,
) -> None:
    """Writes float RGB [H, W, 3] like the original's `image.save`, atomically.

    Values are clamped to [0, 1], multiplied by 255 (65535 for 16 bits) and truncated toward
    zero, not rounded (the original's C conversion). The format comes from the extension.
    The data goes to a temporary `.<name>.<random>.tmp` file in the same directory, is fsynced
    and then renamed over `path`; on any failure the temporary file is removed and an existing
    `path` is left untouched.

    Args:
        path: output file; extension one of `FORMATS`.
        rgb: float array [H, W, 3], possibly outside [0, 1].
        metadata: text stored as PNG tEXt/iTXt chunks; ignored for other formats.
        jpeg_quality: JPEG quality (the original's 75).
        bit_depth: 8, or 16 for PNG.

    Raises:
        ImageError: bad extension, bit depth, metadata or array shape, or the file cannot be
            written.
    """
    path = os.fspath(path)
    image_format = _format_for(path)
    _check_bit_depth(path, image_format, bit_depth)
    metadata = dict(metadata or {})
    _check_metadata(path, metadata)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageError(f"{path}: expected an RGB array [H, W, 3], got shape {rgb.shape}")
    pixels = _quantize(rgb, bit_depth)
    try:
        target = fileio.AtomicFile(path)
    except OSError as e:
        raise ImageError(
            f"{path}: cannot create the file ({_one_line(e)}); check that the directory "
            "exists and is writable"
        ) from None
    try:
        with target as file:
            _encode(file, pixels, image_format, metadata, jpeg_quality)
    except OSError as e:
        # During a run, not bad input: the path was checked before it started.
        raise WriteError(
            f"{path}: writing failed ({_one_line(e)}); check free space and permissions"
        ) from None


def as_rgb(image, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A path, PIL image or array as float64 RGB [H, W, 3] in [0, 1].

    Arrays may be [H, W] (gray), [H, W, 3] or [H, W, 4] (alpha dropped), uint8 or float in
    [0, 1].

    Raises:
        ImageError: a path that is not a readable image, or an array of another shape.
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, max_pixels=max_pixels)
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ImageError(f"an image array must be [H, W, 3], got shape {array.shape}")
    array = array[..., :3]
    return array / 255.0 if array.dtype == np.uint8 else array.astype(np.float64)
