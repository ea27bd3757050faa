"""`-jobs` over a folder of clips: one clip per tf.distribute replica (docs/video.md#several-clips).

The frames of one clip depend on each other, so a clip cannot be spread over replicas; its
frames run in order on one. Clip i goes to replica i mod R, in waves of R clips, and a wave
runs frame k of every clip of the wave as one traced step (`distribute.optimize_wave`), then
frame k + 1, and so on: each replica keeps its network, objective and optimizer for the whole
clip (targets captured again per frame, the state reset), so a wave traces once. A clip
shorter than the others leaves its replica idle for the rest of its wave. Finished frames are
kept and the same command continues, as for one clip; a batch writes the frames and clips,
not the per-iteration log.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tf_style import clips, color, image_io, loop, masks, prepare, preprocess, video
from tf_style.batch import distribute
from tf_style.config import StyleConfig
from tf_style.errors import JobError
from tf_style.inputs import load_images
from tf_style.report import Reporter


def read_clips(config: StyleConfig) -> list[StyleConfig]:
    """One -content_video config per video file of the folder `config.jobs`, in name order,
    each writing `<-output_video's folder>/<clip stem>_<output stem><output extension>`.

    Raises:
        JobError: -scales or -optimizer tfp_lbfgs, which a batch of clips does not run.
    """
    if config.scales or config.optimizer == "tfp_lbfgs":
        raise JobError(
            "-jobs over a folder of clips runs one size with -optimizer lbfgs or adam; leave out "
            "-scales and tfp_lbfgs, or give each clip its own -content_video run"
        )
    out_dir = os.path.dirname(config.output_video)
    stem, ext = os.path.splitext(os.path.basename(config.output_video))
    base = config.replace(jobs="", tpu="")
    result = []
    for name in sorted(os.listdir(config.jobs)):
        clip_stem, clip_ext = os.path.splitext(name)
        if clip_ext.lower() in video.VIDEO_EXTENSIONS:
            output = os.path.join(out_dir, f"{clip_stem}_{stem}{ext}")
            source = os.path.join(config.jobs, name)
            result.append(base.replace(content_video=source, output_video=output))
    return result


@dataclasses.dataclass
class _Clip:
    """One clip of a wave as it runs: its frames, what is kept, the previous frame."""

    config: StyleConfig
    clip: video.Clip
    size: tuple[int, int]
    kept: int
    frames: object  # the iterator of its content frames
    previous: np.ndarray | None = None  # content frame k-1 at the working size
    result: np.ndarray | None = None  # stylised frame k-1, as read from its file


def run_clip_jobs(
    config: StyleConfig,
    reporter: Reporter | None = None,
    strategy: tf.distribute.Strategy | None = None,
    devices: Sequence[str] | None = None,
    callback: loop.Callback | None = None,
) -> dict[int, np.ndarray]:
    """Stylises every clip of the folder `config.jobs`, one per replica (see the module).

    Returns:
        {clip number (0-based, in name order): its last stylised frame} for the clips this
        worker finished.

    Raises:
        JobError, VideoError: a clip or option the batch cannot run, before any starts.
    """
    reporter = reporter or Reporter()
    jobs = read_clips(config)
    checked = [clips.check(job) for job in jobs]  # every clip before the first one starts
    strategy = strategy or distribute.make_strategy(config, reporter, devices)
    local = strategy.extended.worker_devices
    total = strategy.num_replicas_in_sync
    first = distribute.task_id(strategy) * len(local)
    styles = [image_io.read_image(p, max_pixels=config.max_pixels) for p in config.style_image]
    results, models = {}, {}
    for start in range(0, len(jobs), total):
        wave = {r: start + first + r for r in range(len(local)) if start + first + r < len(jobs)}
        running = {}
        for r, i in wave.items():
            job, clip = jobs[i], checked[i]
            size = clips.working_size(job, clip)
            kept = clips.kept_frames(job, clip, size)
            os.makedirs(video.frames_folder(job.output_video), exist_ok=True)
            reporter.note(f"Clip {i + 1} of {len(jobs)} on {local[r]}: {job.output_video}")
            running[r] = _Clip(job, clip, size, kept, video.frames(clip, job.max_pixels))
        stopped = _run_wave(strategy, running, local, first, styles, models, reporter, callback)
        for r, state in running.items():
            if state.kept == state.clip.count:
                _write(state, reporter)
                results[wave[r]] = state.result
        if stopped:
            reporter.note("Stopped: the finished frames are kept, and the same command continues.")
            break
    return results


def _run_wave(strategy, running, local, first, styles, models, reporter, callback) -> bool:
    """Frame k of every clip of the wave, for k = 1, 2, ...; True when `callback` stopped."""
    prepared, steps, durations = {}, {}, []
    count = max(s.clip.count for s in running.values())
    for k in range(1, count + 1):
        active, jobs, wave = {}, [], {}
        for r, state in running.items():
            if k > state.clip.count:
                continue
            content = preprocess.resize(next(state.frames), *state.size)
            if k <= state.kept:
                if k == state.kept:
                    state.result = image_io.read_image(
                        video.frame_path(state.config.output_video, k)
                    )
                state.previous = content
                continue
            job = clips.frame_config(state.config, k)
            init, temporal = clips.frame_start(job, state.previous, content, state.result)
            prepared[r] = _prepare(job, r, local, prepared.get(r), content, styles, models,
                                   init, temporal, reporter)  # fmt: skip
            active[r], wave[r] = prepared[r], len(jobs)
            jobs.append(job)
            state.previous = content
        if not active:
            continue
        started = time.perf_counter()
        stopped = distribute.optimize_wave(strategy, active, jobs, wave, first, callback, steps)
        if stopped:
            return True
        for r in active:
            state, job = running[r], jobs[wave[r]]
            loop.write_result(job, loop.result(job, active[r]), loop.metadata(job))
            state.result = image_io.read_image(job.output_image)
            state.kept = k
        durations.append(time.perf_counter() - started)
        left = (count - k) * sum(durations[1:] or durations) / len(durations[1:] or durations)
        reporter.frame(k, count, durations[-1], left, False)
    return False


def _prepare(job, r, local, earlier, content, styles, models, init, temporal, reporter):
    """Replica r's run of a frame: the earlier frame's network, objective and optimizer with
    this frame's targets (same size), or new ones."""
    images = load_images(job, content, styles, device=local[r])
    guidance = masks.load(job, *images)
    if earlier is not None and earlier.content.shape == images[0].shape:
        with tf.device(local[r]):
            x0 = prepare.capture(
                job, (earlier.objective, earlier.warmup), earlier.space,
                color.network_inputs(job, *images), reporter, init, guidance, temporal,
            )  # fmt: skip
            earlier.optimizer.reset(x0)
        return dataclasses.replace(earlier, content=images[0])
    key = (job.model_file, job.proto_file, local[r])
    if key not in models:
        with tf.device(local[r]):
            models[key] = prepare.load_model(job, reporter)
    return prepare.prepare(
        job, reporter, (local[r],), None, images, models[key], init, guidance, temporal
    )


def _write(state: _Clip, reporter: Reporter) -> None:
    job, count = state.config, state.clip.count
    paths = [video.frame_path(job.output_video, t) for t in range(1, count + 1)]
    fps = clips.output_fps(job, state.clip)
    audio = state.clip.source if state.clip.audio else None
    for note in video.write_video(job.output_video, paths, fps, audio):
        reporter.note(note)
    reporter.saved(job.output_video)
