"""Clips stylised frame by frame (docs/video.md) on the tiny model: the clip's size, rate and
log, the temporal loss against independent frames, resume, bad input, the other options.
"""

import dataclasses
import os

import numpy as np
import pytest

from tests.clipdata import FRAMES, X0, Y0, D, H, S, W, square_frame, stylise, write_clip
from tf_style import image_io, video

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")


def stylised_frames(config):
    return [
        image_io.read_image(video.frame_path(config.output_video, t)) for t in range(1, FRAMES + 1)
    ]


def temporal_error(frames):
    """mean |frame_t - warp(frame_t-1)| where the known motion is reliable: the square moved D
    pixels right, the background stayed; the strip it uncovered and a pixel around its edges
    are left out."""
    errors = []
    for t in range(1, len(frames)):
        previous, current = frames[t - 1], frames[t]
        warped = previous.copy()
        x0, x1 = X0 + D * (t - 1), X0 + D * t
        warped[Y0 : Y0 + S, x1 : x1 + S] = previous[Y0 : Y0 + S, x0 : x0 + S]
        reliable = np.ones((H, W), bool)
        reliable[Y0 - 1 : Y0 + S + 1, x0 - 1 : x1 + 1] = False  # the uncovered strip
        reliable[Y0 - 1 : Y0 + S + 1, x1 + S - 1 : x1 + S + 1] = False  # the right edge
        reliable[Y0 - 1 : Y0 + 1, x1 : x1 + S] = False
        reliable[Y0 + S - 1 : Y0 + S + 1, x1 : x1 + S] = False
        errors.append(np.abs(current - warped).mean(axis=-1)[reliable].mean())
    return float(np.mean(errors))


@pytest.mark.slow
def test_the_clip_has_the_inputs_frames_size_and_rate_and_the_log_its_losses(clip_run):
    log = stylise(clip_run)
    with av.open(clip_run.output_video) as clip:
        stream = clip.streams.video[0]
        assert stream.average_rate == 12
        assert (stream.codec_context.width, stream.codec_context.height) == (W, H)
        assert sum(1 for _ in clip.decode(stream)) == FRAMES
    folder = video.frames_folder(clip_run.output_video)
    assert sorted(os.listdir(folder)) == [f"frame_{t:05d}.png" for t in range(1, FRAMES + 1)]
    assert all(f.shape == (H, W, 3) for f in stylised_frames(clip_run))
    lines = log.splitlines()
    # The temporal loss follows the original's block at every printed iteration: 10 for the
    # first frame (its mask is 0, so is the loss), 3 for each later one.
    temporal = [i for i, line in enumerate(lines) if line.startswith("  Temporal loss: ")]
    assert len(temporal) == 10 + 3 * (FRAMES - 1)
    assert all(lines[i - 1].startswith("  Total loss: ") for i in temporal)
    assert float(lines[temporal[0]].split(": ")[1]) == 0
    assert float(lines[temporal[-1]].split(": ")[1]) > 0
    done = [line for line in lines if line.startswith("Frame ")]
    assert [d.split(" done")[0] for d in done] == [f"Frame {t} / {FRAMES}" for t in range(1, 5)]
    assert done[0].endswith("left") and lines[-1] == f"Saved {clip_run.output_video}"


@pytest.mark.slow
def test_the_temporal_loss_halves_the_temporal_error(clip_run, tmp_path):
    independent = clip_run.replace(
        temporal_weight=0.0, output_video=str(tmp_path / "independent.mp4"), print_iter=0
    )
    log = stylise(independent)
    assert "Temporal loss" not in log
    stylise(clip_run.replace(print_iter=0))
    ratio = temporal_error(stylised_frames(clip_run)) / temporal_error(stylised_frames(independent))
    print(f"temporal error ratio {ratio:.3f}")  # 0.23 when written
    assert ratio <= 0.5


@pytest.mark.slow
def test_an_interrupted_clip_continues_without_redoing_frames(clip_run, tmp_path, traces):
    seen = []  # [frame, its latest iteration, traces at its first callback]

    def stop_in_frame_3(progress):
        if not seen or progress.iteration < seen[-1][1]:
            seen.append([len(seen) + 1, progress.iteration, len(traces)])
        seen[-1][1] = progress.iteration
        return len(seen) == 3

    log = stylise(clip_run, stop_in_frame_3)
    # Frames after the first reuse the first's network and traced optimisation.
    assert seen[1][2] == seen[2][2] == seen[0][2] > 0
    assert "Stopped in frame 3 of 4" in log
    folder = video.frames_folder(clip_run.output_video)
    assert sorted(os.listdir(folder)) == ["frame_00001.png", "frame_00002.png"]
    assert not os.path.exists(clip_run.output_video)
    before = {name: os.stat(os.path.join(folder, name)).st_mtime_ns for name in os.listdir(folder)}
    log = stylise(clip_run)
    assert "Frames 1-2 of 4 kept from an earlier run." in log
    assert [line.split(" done")[0] for line in log.splitlines() if line.startswith("Frame ")] == [
        "Frame 3 / 4",
        "Frame 4 / 4",
    ]
    assert all(os.stat(os.path.join(folder, n)).st_mtime_ns == t for n, t in before.items())
    # The same frames as a run never interrupted.
    whole = clip_run.replace(output_video=str(tmp_path / "whole.mp4"))
    stylise(whole)
    for ours, theirs in zip(stylised_frames(clip_run), stylised_frames(whole)):
        np.testing.assert_array_equal(ours, theirs)


# --- the command's bad input ----------------------------------------------------------------


def test_bad_video_input_ends_in_one_line_and_writes_nothing(tmp_path, images):
    from tf_style.testing import processes

    (tmp_path / "text.mp4").write_text("not a video")
    (tmp_path / "none").mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    image_io.write_image(mixed / "1.png", np.zeros((8, 8, 3)))
    image_io.write_image(mixed / "2.png", np.zeros((9, 8, 3)))
    write_clip(tmp_path / "in.mp4", [square_frame(0), square_frame(1)])
    (tmp_path / "file").write_text("")
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "dir.mp4").mkdir()
    cases = [
        (tmp_path / "text.mp4", out / "a.mp4", "not a video FFmpeg can read"),
        (tmp_path / "none", out / "a.mp4", "no frames"),
        (mixed, out / "a.mp4", "frames of different sizes"),
        (tmp_path / "in.mp4", tmp_path / "file" / "a.mp4", "does not exist"),
        (tmp_path / "in.mp4", tmp_path / "dir.mp4", "is a folder"),
        (tmp_path / "in.mp4", out / "a.png", "-output_video"),
    ]
    started = [
        processes.start(
            processes.cli(
                "-content_video", clip, "-output_video", output, "-style_image", images["style1"]
            )  # fmt: skip
        )
        for clip, output, _ in cases
    ]
    for process, (_, _, needle) in zip(started, cases):
        code, stdout, err = processes.finish(process)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        assert lines[0].startswith("tf-style: ") and needle in lines[0], lines[0]
        assert "Traceback" not in err and stdout == ""
    assert os.listdir(out) == []  # nothing half-written


# --- with the other options, from Python, over replicas -------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {"scales": (48, 96)},
        {"original_colors": 1},
        {"color_transfer": "luminance"},
        {"optimizer": "adam", "learning_rate": 5.0},
        {"optimizer": "tfp_lbfgs"},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_clips_run_with_the_other_options(clip_run, options):
    config = clip_run.replace(video_iterations=(6, 4), num_iterations=6, print_iter=0, **options)
    stylise(config)
    frames = stylised_frames(config)
    assert all(f.shape == (H, W, 3) for f in frames)
    if options.get("scales"):  # the smaller scale's images are not left beside the frames
        assert len(os.listdir(video.frames_folder(config.output_video))) == FRAMES
    if options.get("color_transfer") == "luminance" or options.get("original_colors"):
        # The content's colours: the frames' chroma is the content frames'.
        from tf_style import color

        for t, frame in enumerate(frames):
            content = square_frame(t)
            chroma = lambda x: x - color.luminance(x)[..., None]  # noqa: E731
            assert np.abs(chroma(frame) - chroma(content)).mean() < 0.05


@pytest.mark.slow
def test_clips_run_with_masks_and_from_python(clip_run, images, tmp_path):
    import tf_style
    from tf_style.config import StyleConfig

    mask = np.zeros((H, W, 3))
    mask[:, : W // 2] = 1
    image_io.write_image(tmp_path / "left.png", mask)
    image_io.write_image(tmp_path / "right.png", 1 - mask)
    frames = tf_style.stylize_video(
        clip_run.content_video,
        [images["style1"], images["style2"]],
        output_video=str(tmp_path / "masked.mp4"),
        style_masks=(str(tmp_path / "left.png"), str(tmp_path / "right.png")),
        model_file=clip_run.model_file,
        proto_file=clip_run.proto_file,
        image_size=W,
        video_iterations=(6, 4),
        gpu=-1,
    )
    assert frames == [video.frame_path(str(tmp_path / "masked.mp4"), t) for t in range(1, 5)]
    assert os.path.isfile(tmp_path / "masked.mp4")
    last = tf_style.run(StyleConfig(**{**dataclasses.asdict(clip_run), "video_iterations": (6, 4)}))
    assert last.shape == (H, W, 3) and os.path.isfile(clip_run.output_video)


@pytest.mark.slow
def test_the_command_stopped_by_sigint_continues_when_run_again(clip_run):
    import signal

    from tf_style.testing import processes

    args = ["-content_video", clip_run.content_video, "-output_video", clip_run.output_video,
            "-style_image", clip_run.style_image[0], "-model_file", clip_run.model_file,
            "-proto_file", clip_run.proto_file, "-image_size", W, "-gpu", -1, "-seed", 1,
            "-video_iterations", "20,100000", "-optimizer", "adam"]  # fmt: skip
    process = processes.start(processes.cli(*args))
    runs = 0
    for line in process.stdout:
        runs += line.startswith("Running optimization")
        if runs == 2:  # frame 2 has started
            process.send_signal(signal.SIGINT)
            break
    code, _, err = processes.finish(process)
    lines = err.strip().splitlines()
    assert code == 130 and len(lines) == 1, err
    folder = video.frames_folder(clip_run.output_video)
    assert f"the finished frames are in {folder}, and the same command continues" in lines[0]
    assert os.listdir(folder) == ["frame_00001.png"]
    assert not os.path.exists(clip_run.output_video)
    args[args.index("20,100000")] = "20,5"
    done = processes.run(processes.cli(*args))
    assert done.returncode == 0, done.stderr
    assert "Frames 1-1 of 4 kept from an earlier run." in done.stdout
    assert len(os.listdir(folder)) == FRAMES and os.path.isfile(clip_run.output_video)
