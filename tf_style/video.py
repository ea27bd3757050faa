"""Video for style transfer (Ruder et al. 2016; docs/video.md): frames in and out, optical flow,
the warp of the previous stylised frame and the consistency mask of its temporal loss.

Clips are read and written with PyAV (FFmpeg in its wheels: every container FFmpeg reads, and
the audio copied unchanged), flow comes from OpenCV; both are the optional extra
`tf-style[video]`, imported on first use. Nothing here needs TensorFlow: the command checks a
clip before TensorFlow loads. Images are float RGB [H, W, 3] in [0, 1], as in `image_io`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Sequence
from fractions import Fraction

import numpy as np

from tf_style import fileio, image_io
from tf_style.config.video import CONTAINERS
from tf_style.errors import VideoError

# The extensions of video files, for -jobs folders of clips (any FFmpeg reads them).
VIDEO_EXTENSIONS = (*CONTAINERS, ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv", ".3gp")
# The frame rate of a folder or pattern of frames, which carries none.
DEFAULT_FPS = Fraction(25)
# Where the previous content frame, warped, differs more than this from the current one (mean
# absolute difference over RGB in [0, 1]), the flow is taken as wrong (`consistency`).
PHOTOMETRIC_THRESHOLD = 0.07
# A printf pattern's number, as FFmpeg's image2 demuxer reads it: %d, %4d, %04d.
_PATTERN = re.compile(r"%0?(\d*)d")


def _require(module: str):
    """PyAV (`av`) or OpenCV (`cv2`), or one line that says how to install them."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise VideoError(
            "-content_video needs PyAV and OpenCV, which are not installed: "
            "pip install 'tf-style[video]'"
        ) from None


@dataclasses.dataclass(frozen=True)
class Clip:
    """A clip to stylise: a video file, or frame files (a folder or a printf pattern)."""

    source: str
    count: int  # frames
    size: tuple[int, int]  # (height, width) of every frame
    fps: Fraction
    paths: tuple[str, ...] = ()  # the frame files, in order; empty for a video file
    audio: bool = False  # a video file with an audio stream


def is_clip_folder(path: str) -> bool:
    """Whether `path` is a folder of video files (a -jobs batch of clips)."""
    return os.path.isdir(path) and any(
        os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS for name in os.listdir(path)
    )


def open_clip(source: str, max_pixels: int = image_io.DEFAULT_MAX_PIXELS) -> Clip:
    """The clip at `source`: a video file, a folder of frames (in natural order: 2 before 10)
    or a printf pattern (numbered from the first of 0-4 that exists, as FFmpeg's).

    Raises:
        VideoError: no such file, not a video, no frames, frames of different sizes.
    """
    if _PATTERN.search(source) and not os.path.exists(source):
        return _frames_clip(source, _pattern_paths(source), max_pixels)
    if os.path.isdir(source):
        names = [
            n for n in os.listdir(source) if os.path.splitext(n)[1].lower() in image_io.FORMATS
        ]
        paths = [os.path.join(source, n) for n in sorted(names, key=_natural)]
        return _frames_clip(source, paths, max_pixels)
    if not os.path.isfile(source):
        raise VideoError(f"-content_video {source}: no such file or folder; check the path")
    return _file_clip(source)


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _pattern_paths(pattern: str) -> list[str]:
    start = next((i for i in range(5) if os.path.isfile(pattern % i)), None)
    paths = []
    while start is not None and os.path.isfile(pattern % (start + len(paths))):
        paths.append(pattern % (start + len(paths)))
    return paths


def _frames_clip(source: str, paths: list[str], max_pixels: int) -> Clip:
    if not paths:
        raise VideoError(f"-content_video {source}: no frames in it; give image files")
    sizes = {}
    for path in paths:
        sizes.setdefault(_frame_size(source, path, max_pixels), path)
    if len(sizes) > 1:
        (a, first), (b, other) = list(sizes.items())[:2]
        raise VideoError(
            f"-content_video {source}: frames of different sizes ({first} is {a[1]}x{a[0]}, "
            f"{other} is {b[1]}x{b[0]}); give frames of one size"
        )
    return Clip(source, len(paths), next(iter(sizes)), DEFAULT_FPS, tuple(paths))


def _frame_size(source: str, path: str, max_pixels: int) -> tuple[int, int]:
    """(height, width) of a frame file as `image_io.read_image` gives it, from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            turned = image.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF: a quarter turn
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise VideoError(f"-content_video {source}: {path} is not a readable image ({e})") from None
    if width * height > max_pixels:
        raise VideoError(f"-content_video {source}: {path} has more than -max_pixels pixels")
    return (width, height) if turned else (height, width)


def _file_clip(source: str) -> Clip:
    av = _require("av")
    try:
        with av.open(source) as container:
            if not container.streams.video:
                raise VideoError(
                    f"-content_video {source}: no frames (it has no video stream); give a clip "
                    "with frames"
                )
            stream = container.streams.video[0]
            size = (stream.codec_context.height, stream.codec_context.width)
            fps = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
            count = sum(1 for _ in container.decode(stream))
            audio = bool(container.streams.audio)
    except av.error.FFmpegError as e:
        raise VideoError(
            f"-content_video {source}: not a video FFmpeg can read ({e.strerror or e}); give a "
            "video file, a folder of frames or a pattern such as frames/%04d.png"
        ) from None
    if count == 0:
        raise VideoError(f"-content_video {source}: the clip has no frames; give another clip")
    return Clip(source, count, size, Fraction(fps), (), audio)


def frames(clip: Clip, max_pixels: int = image_io.DEFAULT_MAX_PIXELS) -> Iterator[np.ndarray]:
    """The clip's frames in order, as float RGB [H, W, 3] in [0, 1]."""
    if clip.paths:
        for path in clip.paths:
            yield image_io.read_image(path, max_pixels=max_pixels)
        return
    av = _require("av")
    with av.open(clip.source) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24") / 255.0


def check_output(path: str) -> None:
    """Refuses, before a run, an -output_video that cannot be written (with its frames).

    Raises:
        VideoError: a folder, a missing or read-only folder, or a frames folder that is a file.
    """
    if os.path.isdir(path):
        raise VideoError(f"-output_video {path}: is a folder; give a file name such as out.mp4")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise VideoError(f"-output_video {path}: the folder {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise VideoError(f"-output_video {path}: the folder {directory} is not writable")
    folder = frames_folder(path)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise VideoError(f"-output_video {path}: {folder}, where its frames go, is a file")


def frames_folder(output_video: str) -> str:
    """Where a clip's stylised frames go: `dir/out.mp4` -> `dir/out_frames`."""
    return os.path.splitext(output_video)[0] + "_frames"


def frame_path(output_video: str, t: int) -> str:
    """Frame `t` (from 1) of a clip's stylised frames: `out_frames/frame_00001.png`."""
    return os.path.join(frames_folder(output_video), f"frame_{t:05d}.png")


def write_video(
    path: str, frame_paths: Sequence[str], fps: Fraction, audio_from: str | None = None
) -> list[str]:
    """Encodes the frame files into `path` at `fps` (H.264 in .mp4, .mov, .mkv and .avi, VP9 in
    .webm, a palette GIF), copying the first audio stream of the video file `audio_from`.

    Written to a temporary file beside `path` and renamed into place: a failure leaves no
    partial clip. H.264 and VP9 need an even width and height: an odd last row or column is
    left out. Returns notes for the log (what was cropped, audio that could not be copied).

    Raises:
        WriteError: the file cannot be written.
    """
    av = _require("av")
    extension = os.path.splitext(path)[1].lower()
    first = image_io.read_image(frame_paths[0])
    height, width = first.shape[:2]
    notes = []
    codec, pix_fmt = {".gif": ("gif", "pal8"), ".webm": ("libvpx-vp9", "yuv420p")}.get(
        extension, ("libx264", "yuv420p")
    )
    if pix_fmt == "yuv420p" and (height % 2 or width % 2):
        notes.append(f"{path}: {width}x{height} frames cropped to even sizes for {codec}")
        height, width = height - height % 2, width - width % 2
    temporary = fileio.temporary_path(path)
    try:
        with av.open(temporary, "w", format=CONTAINERS[extension]) as output:
            stream = output.add_stream(codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.time_base = 1 / fps
            if codec == "libx264":
                stream.options = {"crf": "18"}
            source = av.open(audio_from) if audio_from else None
            audio = _audio_stream(output, source, path, notes)
            for i, frame_file in enumerate(frame_paths):
                rgb = image_io.read_image(frame_file)[:height, :width]
                pixels = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts, frame.time_base = i, stream.time_base
                output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
            if audio is not None:
                for packet in source.demux(source.streams.audio[0]):
                    if packet.dts is not None:
                        packet.stream = audio
                        output.mux(packet)
            if source is not None:
                source.close()
        fileio.replace(temporary, path)
    except BaseException as e:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(e, (OSError, av.error.FFmpegError)):
            from tf_style.errors import WriteError

            raise WriteError(f"{path}: writing the clip failed ({e}); check free space") from None
        raise
    return notes


def _audio_stream(output, source, path: str, notes: list[str]):
    """The output's copy of the source's first audio stream, or None (with a note why)."""
    if source is None or not source.streams.audio:
        return None
    template = source.streams.audio[0]
    if template.codec_context.name not in output.supported_codecs:
        notes.append(f"{path}: the {template.codec_context.name} audio cannot go in this format")
        return None
    return output.add_stream_from_template(template)


def optical_flow(a: np.ndarray, b: np.ndarray, method: str = "dis") -> np.ndarray:
    """The dense flow from frame `a` to frame `b`, [H, W, 2] (x, y) in pixels: `a` at pixel p
    shows what `b` shows at p + flow(p). `method`: OpenCV's DIS (medium preset) or Farneback."""
    cv2 = _require("cv2")
    gray = [
        cv2.cvtColor((np.clip(x, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for x in (a, b)
    ]
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(*gray, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(*gray, None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at p + flow(p) for every pixel p, bilinearly, the border repeated
    outside: with `flow` the flow from frame t to frame t-1, frame t-1 moved onto frame t."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    x = np.clip(xs + flow[..., 0], 0, image.shape[1] - 1)
    y = np.clip(ys + flow[..., 1], 0, image.shape[0] - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, image.shape[1] - 1), np.minimum(y0 + 1, image.shape[0] - 1)
    fx, fy = x - x0, y - y0
    if image.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def consistency(
    forward: np.ndarray,
    backward: np.ndarray,
    before: np.ndarray | None = None,
    after: np.ndarray | None = None,
) -> np.ndarray:
    """The consistency mask [H, W] of frame t (docs/video.md#the-consistency-rule): 1 where
    the flow is reliable, 0 where frame t shows what frame t-1 did not.

    `forward` is the flow from frame t-1 to t, `backward` from t to t-1 (w, w^ below). As in
    Ruder et al., a pixel p is 0 when (1) the two flows disagree,
    |w~ + w^|^2 > 0.01 (|w~|^2 + |w^|^2) + 0.5 with w~(p) = w(p + w^(p)) (disocclusions), or
    (2) it lies on a motion boundary, |grad u^|^2 + |grad v^|^2 > 0.01 |w^|^2 + 0.002 (central
    differences). Ours besides: (3) p + w^(p) lies outside frame t-1; with the content frames
    `before` (t-1) and `after` (t), (4) `before` warped onto frame t differs from `after` by
    more than `PHOTOMETRIC_THRESHOLD` (mean over RGB); and then the zeros grow by one pixel.
    OpenCV's flows are less exact than the DeepFlow Ruder et al. used, and (1) and (2) alone
    let a third of the pixels a motion uncovers through.
    """
    h, w = backward.shape[:2]
    sampled = warp(forward, backward)
    sum_sq = np.sum((sampled + backward) ** 2, axis=-1)
    size_sq = np.sum(sampled**2, axis=-1) + np.sum(backward**2, axis=-1)
    unreliable = sum_sq > 0.01 * size_sq + 0.5
    gradients = [np.gradient(backward[..., c]) for c in range(2)]
    steepness = sum(g**2 for pair in gradients for g in pair)
    unreliable |= steepness > 0.01 * np.sum(backward**2, axis=-1) + 0.002
    ys, xs = np.mgrid[0:h, 0:w]
    x, y = xs + backward[..., 0], ys + backward[..., 1]
    unreliable |= (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
    if before is None:
        return (~unreliable).astype(np.float64)
    unreliable |= np.abs(warp(before, backward) - after).mean(axis=-1) > PHOTOMETRIC_THRESHOLD
    grown = np.pad(unreliable, 1, mode="edge")
    grown = np.max([grown[i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=0)
    return (~grown).astype(np.float64)


__all__ = [
    "Clip",
    "check_output",
    "consistency",
    "frame_path",
    "frames",
    "frames_folder",
    "is_clip_folder",
    "open_clip",
    "optical_flow",
    "warp",
    "write_video",
]
