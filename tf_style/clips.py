"""A clip stylised frame by frame (Ruder et al. 2016; docs/video.md): the per-frame plan, the
temporal target of each frame, resume, and the frames and clip written.

Frame 1 is a normal run. Frame t starts from the stylised frame t-1 warped onto it by the
optical flow between the two content frames, and its loss adds -temporal_weight times the
mean squared difference to that warped frame, weighted by the consistency mask
(`video.consistency`). Every frame is one `Stylizer.run` with an `init` and a `temporal`
target, so frames of one size share the network and the traced optimisation.

Resume: frame t is written (atomically) to `frame_NNNNN.png` when its run has finished, and a
run stopped inside a frame removes that frame's file; the same command later keeps every
finished frame and starts at the first missing one, warping from the finished frame before it
as read from its file (an uninterrupted run reads each frame back the same way, so both make
the same frames).
Nothing here imports TensorFlow: the command checks a clip with `check` before it loads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from tf_style import color, image_io, masks, plan, preprocess, video
from tf_style.config import StyleConfig
from tf_style.errors import VideoError
from tf_style.report import Reporter


def check(config: StyleConfig) -> video.Clip:
    """Reads what a -content_video run needs before anything slow starts: the clip (every
    frame's size, or a video file decoded once), the style, init and mask images, and
    -output_video's folder. Returns the clip.

    Raises:
        VideoError, ImageError: the first input that cannot serve, in one line.
    """
    clip = video.open_clip(config.content_video, config.max_pixels)
    video.check_output(config.output_video)
    styles = [image_io.read_image(p, max_pixels=config.max_pixels) for p in config.style_image]
    if config.init_image:
        image_io.read_image(config.init_image, max_pixels=config.max_pixels)
    if masks.guided(config):
        masks.load(config, next(video.frames(clip, config.max_pixels)), styles)
    return clip


def working_size(config: StyleConfig, clip: video.Clip) -> tuple[int, int]:
    """(height, width) of the stylised frames: the clip's frames at -image_size (the last of
    -scales), by the original's resize rule."""
    size = config.scales[-1] if config.scales else config.image_size
    return preprocess.scaled_size(*clip.size, size)


def frame_config(config: StyleConfig, t: int) -> StyleConfig:
    """The run of frame `t` (from 1): -video_iterations' count (with -scale_iterations scaled
    by rest/first for later frames), no intermediate saves, its file in the frames folder."""
    changes = {"save_iter": 0, "output_image": video.frame_path(config.output_video, t)}
    if config.video_iterations:
        first, rest = config.video_iterations
        changes["num_iterations"] = first if t == 1 else rest
        if t > 1 and config.scale_iterations:
            scaled = (max(1, round(n * rest / first)) for n in config.scale_iterations)
            changes["scale_iterations"] = tuple(scaled)
    return config.replace(**changes)


def network_view(config: StyleConfig, rgb: np.ndarray) -> np.ndarray:
    """A stylised frame as the optimised image holds it: its luminance, replicated, for
    -color_transfer luminance (whose network sees luminance only); else as it is."""
    if config.color_transfer == "luminance":
        return color.gray_to_rgb(color.luminance(rgb))
    return rgb


def kept_frames(config: StyleConfig, clip: video.Clip, size: tuple[int, int] | None) -> int:
    """How many frames, from the first, an earlier run of this command has finished.

    Raises:
        VideoError: a finished frame is not `size` (another -image_size).
    """
    done = 0
    while done < clip.count and os.path.isfile(video.frame_path(config.output_video, done + 1)):
        done += 1
    if done and size is not None:
        last = video.frame_path(config.output_video, done)
        found = image_io.read_image(last).shape[:2]
        if found != size:
            raise VideoError(
                f"{last} is {found[1]}x{found[0]} and this run makes {size[1]}x{size[0]} "
                f"frames; delete {video.frames_folder(config.output_video)} or choose another "
                "-output_video"
            )
    return done


def stylize_clip(config: StyleConfig, stylizer, callback=None) -> np.ndarray:
    """Stylises `config.content_video` into `config.output_video` and its frames folder
    (see the module's docstring), with `stylizer` (a `Stylizer`) running every frame.

    Returns:
        The last frame as float RGB; when `callback` stopped the run, the last finished one
        (None when none is).
    """
    reporter = stylizer.reporter
    clip = check(config)
    size = working_size(config, clip)
    styles = [image_io.read_image(p, max_pixels=config.max_pixels) for p in config.style_image]
    done = kept_frames(config, clip, size)
    os.makedirs(video.frames_folder(config.output_video), exist_ok=True)
    if done:
        reporter.note(f"Frames 1-{done} of {clip.count} kept from an earlier run.")
    stopped = []

    def watch(progress) -> bool:
        stop = bool(callback and callback(progress))
        if stop:
            stopped.append(progress.iteration)
        return stop

    previous = result = None  # the content frame t-1 at the working size, stylised frame t-1
    durations = []
    for t, frame in enumerate(video.frames(clip, config.max_pixels), 1):
        content = preprocess.resize(frame, *size)
        path = video.frame_path(config.output_video, t)
        if t <= done:
            if t == done:
                result = image_io.read_image(path)
            previous = content
            continue
        start = time.perf_counter()
        init, temporal = frame_start(config, previous, content, result)
        job = frame_config(config, t)
        stylizer.run(job, watch, content=content, styles=styles, init=init, temporal=temporal)
        stages = plan.stages(job)
        if stopped:
            _remove(*(s.output_image for s in stages))
            reporter.note(
                f"Stopped in frame {t} of {clip.count}; the finished frames are in "
                f"{video.frames_folder(config.output_video)}: the same command continues."
            )
            return result
        _remove(*(s.output_image for s in stages[:-1]))
        result, previous = image_io.read_image(path), content
        durations.append(time.perf_counter() - start)
        left = _time_left(config, durations, t, clip.count)
        reporter.frame(t, clip.count, durations[-1], left, False)
    fps = output_fps(config, clip)
    paths = [video.frame_path(config.output_video, t) for t in range(1, clip.count + 1)]
    audio = clip.source if clip.audio else None
    for note in video.write_video(config.output_video, paths, fps, audio):
        reporter.note(note)
    reporter.saved(config.output_video)
    return result


def output_fps(config: StyleConfig, clip: video.Clip) -> Fraction:
    """The stylised clip's frame rate: -video_fps, else the input's."""
    return Fraction(config.video_fps).limit_denominator(1001) if config.video_fps else clip.fps


def frame_start(
    config: StyleConfig,
    previous: np.ndarray | None,
    content: np.ndarray,
    result: np.ndarray | None,
) -> tuple[np.ndarray | None, tuple[np.ndarray, np.ndarray]]:
    """(init, temporal target) of a frame whose content is `content`, after the content frame
    `previous` stylised as `result` (None for the first frame): the warped result and its
    consistency mask; for the first frame, and with -temporal_weight 0, no init (the frame
    starts as -init says) and a zero mask."""
    if previous is None or result is None or config.temporal_weight == 0:
        return None, (content, np.zeros(content.shape[:2]))
    backward = video.optical_flow(content, previous, config.optical_flow)
    forward = video.optical_flow(previous, content, config.optical_flow)
    warped = network_view(config, video.warp(result, backward))
    mask = video.consistency(forward, backward, previous, content)
    return warped, (warped, mask)


def _time_left(config: StyleConfig, durations: Sequence[float], t: int, count: int) -> float:
    """The frames still to do times the mean time of the later frames this run did; the first
    frame (which may run more iterations, and loads the network) counts only while alone,
    scaled by -video_iterations' rest/first."""
    later = durations[1:] if t == len(durations) else durations  # without frame 1
    if later:
        return (count - t) * sum(later) / len(later)
    first, rest = config.video_iterations or (1, 1)
    return (count - t) * durations[0] * rest / first


def _remove(*paths: str) -> None:
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)


def stylize_video(
    content_video: str,
    styles,
    *,
    output_video: str = "out.mp4",
    stylizer=None,
    reporter: Reporter | None = None,
    **options,
) -> list[str]:
    """Stylises a clip from Python: `tf-style -content_video ... -output_video ...`.

    Args:
        content_video: a video file, a folder of frames or a printf pattern.
        styles: a style image path or a list of them.
        output_video: the clip to write; the frames go to `<stem>_frames/` beside it.
        stylizer: a `Stylizer` to reuse (its network and traces); `reporter` for a new one.
        **options: any `StyleConfig` option (image_size, temporal_weight,
            video_iterations, scales, ...).

    Returns:
        The stylised frames' PNG files, in order.

    Example:
        >>> import tf_style
        >>> frames = tf_style.stylize_video(
        ...     "walk.mp4", "starry.jpg", output_video="walk_starry.mp4", model_file="open_nsfw",
        ...     image_size=256, video_iterations=(300, 150))
        >>> frames[0]
        'walk_starry_frames/frame_00001.png'
    """
    styles = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    config = StyleConfig(
        content_video=os.fspath(content_video),
        output_video=os.fspath(output_video),
        style_image=tuple(map(os.fspath, styles)),
        **options,
    )
    if stylizer is None:
        from tf_style.stylizer import Stylizer

        stylizer = Stylizer(reporter)
    stylizer.run(config)
    count = kept_frames(config, video.open_clip(config.content_video, config.max_pixels), None)
    return [video.frame_path(config.output_video, t) for t in range(1, count + 1)]


def run(config: StyleConfig, reporter=None, callback=None, devices=None):
    """`tf_style.run` for a -content_video (returns its last frame), or for -jobs over a
    folder of clips (`batch.clips`; returns each finished clip's last frame, in name order)."""
    if config.jobs:
        from tf_style.batch import clips

        results = clips.run_clip_jobs(config, reporter, devices=devices, callback=callback)
        return [results[i] for i in sorted(results)]
    from tf_style.stylizer import Stylizer

    return Stylizer(reporter, devices).run(config, callback)
