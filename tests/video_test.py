"""Video (docs/video.md): frames in and out, the flow, the warp and the consistency mask against
the known motion of a synthetic clip, the temporal loss, resume, and bad input.

The clip is made here: a textured square moving a known number of pixels per frame over a
textured background, written with PyAV. Golden values come from that known motion (numpy
indexing) and from OpenCV's remap, never from tf_style's own warp.
"""

import io
import os
from fractions import Fraction

import numpy as np
import pytest

from tf_style import image_io, preprocess, video
from tf_style.errors import VideoError

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

# The clip: H x W frames, an S x S square at row Y0 moving D pixels right per frame from X0.
H, W, S, D = 72, 96, 24, 2
Y0, X0 = 24, 16


def texture(h, w, seed, block=4):
    """Smooth random colours: blocks of `block` pixels, bilinearly enlarged."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 1, (h // block + 1, w // block + 1, 3))
    big = preprocess.resize(small, (h // block + 1) * block, (w // block + 1) * block)
    return np.clip(big[:h, :w], 0, 1)


BACKGROUND = 0.2 + 0.6 * texture(H, W, 1)
SQUARE = texture(S, S, 2)


def square_frame(t):
    """Frame t (from 0): the square at column X0 + D t."""
    frame = BACKGROUND.copy()
    frame[Y0 : Y0 + S, X0 + D * t : X0 + D * t + S] = SQUARE
    return frame


def write_clip(path, frames, fps=Fraction(12), audio_seconds=0.0, codec="libx264"):
    """Writes float RGB frames with PyAV (H.264 4:4:4 at crf 0, or `codec`), with a sine tone
    of `audio_seconds` (AAC)."""
    with av.open(str(path), "w") as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv444p" if codec == "libx264" else "rgb24"
        if codec == "libx264":
            stream.options = {"crf": "0"}
        sound = output.add_stream("aac", rate=44100) if audio_seconds else None
        for frame in frames:
            pixels = (np.clip(frame, 0, 1) * 255).astype(np.uint8)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        output.mux(stream.encode(None))
        if sound is not None:
            samples = np.sin(np.arange(int(44100 * audio_seconds)) * 0.05).astype(np.float32)
            for i in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(samples[None, i : i + 1024], "fltp", "mono")
                chunk.sample_rate, chunk.pts = 44100, i
                output.mux(sound.encode(chunk))
            output.mux(sound.encode(None))


def known_backward_flow(t):
    """The true flow from frame t to t-1: -D on the square, 0 elsewhere."""
    flow = np.zeros((H, W, 2), np.float32)
    flow[Y0 : Y0 + S, X0 + D * t : X0 + D * t + S, 0] = -D
    return flow


def known_forward_flow(t):
    """The true flow from frame t-1 to t: +D on the square of frame t-1."""
    flow = np.zeros((H, W, 2), np.float32)
    flow[Y0 : Y0 + S, X0 + D * (t - 1) : X0 + D * (t - 1) + S, 0] = D
    return flow


def uncovered(t):
    """The pixels of frame t that frame t-1's square hid."""
    mask = np.zeros((H, W), bool)
    mask[Y0 : Y0 + S, X0 + D * (t - 1) : X0 + D * t] = True
    return mask


# --- the warp -------------------------------------------------------------------------------


def test_warp_against_numpy_with_the_known_motion():
    previous = np.random.default_rng(0).uniform(0, 1, (H, W, 3))
    warped = video.warp(previous, known_backward_flow(1))
    # On the square of frame 1 each pixel comes from D pixels to its left; elsewhere it stays.
    expected = previous.copy()
    expected[Y0 : Y0 + S, X0 + D : X0 + D + S] = previous[Y0 : Y0 + S, X0 : X0 + S]
    np.testing.assert_allclose(warped, expected, atol=1e-12)
    # A shift of half a pixel averages the two neighbours.
    half = np.zeros((H, W, 2), np.float32)
    half[..., 1] = 0.5
    expected = (previous[:-1] + previous[1:]) / 2
    np.testing.assert_allclose(video.warp(previous, half)[:-1], expected, atol=1e-7)


def test_warp_equals_opencvs_remap():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (H, W, 3)).astype(np.float32)
    flow = rng.uniform(-3, 3, (H, W, 2)).astype(np.float32)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    theirs = cv2.remap(
        image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    # OpenCV interpolates with weights in steps of 1/32.
    np.testing.assert_allclose(video.warp(image, flow), theirs, atol=1 / 32)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_optical_flow_finds_the_known_motion(method):
    before, after = square_frame(0), square_frame(1)
    backward = video.optical_flow(after, before, method)
    inner = backward[Y0 + 4 : Y0 + S - 4, X0 + D + 4 : X0 + D + S - 4]
    np.testing.assert_allclose(np.median(inner, axis=(0, 1)), [-D, 0], atol=0.5)
    far = backward[:, W // 2 + 16 :]  # background right of the square
    assert np.abs(np.median(far, axis=(0, 1))).max() < 0.2


# --- the consistency mask -------------------------------------------------------------------


def test_consistency_rule_on_the_true_flows():
    mask = video.consistency(known_forward_flow(1), known_backward_flow(1))
    assert mask[uncovered(1)].max() == 0  # disoccluded: the flows disagree
    # Motion boundaries: the square's left and right edges in frame 1.
    assert mask[Y0 + 4 : Y0 + S - 4, X0 + D + S - 1].max() == 0
    assert mask[Y0 + 4 : Y0 + S - 4, X0 + D + S].max() == 0
    np.testing.assert_array_equal(mask[Y0 + 2 : Y0 + S - 2, X0 + D + 2 : X0 + D + S - 2], 1)
    np.testing.assert_array_equal(mask[:, W // 2 + 16 :], 1)
    np.testing.assert_array_equal(mask[: Y0 - 2], 1)


def test_consistency_is_zero_where_the_flow_leaves_the_frame():
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = -3  # everything came from 3 pixels to the left
    mask = video.consistency(-flow, flow)
    np.testing.assert_array_equal(mask[:, :3], 0)
    np.testing.assert_array_equal(mask[:, 3:], 1)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_consistency_mask_is_zero_where_the_motion_uncovers(method):
    for t in (1, 2):
        before, after = square_frame(t - 1), square_frame(t)
        backward = video.optical_flow(after, before, method)
        forward = video.optical_flow(before, after, method)
        mask = video.consistency(forward, backward, before, after)
        assert mask[uncovered(t)].max() == 0, t
        away = np.ones((H, W), bool)
        away[Y0 - 4 : Y0 + S + 4, X0 - 4 : X0 + D * t + S + 4] = False
        assert mask[away].mean() > 0.75, (t, mask[away].mean())


# --- reading and writing clips --------------------------------------------------------------


def test_open_clip_reads_files_folders_and_patterns(tmp_path):
    frames = [square_frame(t) for t in range(3)]
    write_clip(tmp_path / "in.mp4", frames, fps=Fraction(30000, 1001))
    clip = video.open_clip(str(tmp_path / "in.mp4"))
    assert (clip.count, clip.size, clip.fps, clip.audio) == (
        3,
        (H, W),
        Fraction(30000, 1001),
        False,
    )
    decoded = list(video.frames(clip))
    assert len(decoded) == 3 and decoded[0].shape == (H, W, 3)
    assert np.abs(decoded[1] - frames[1]).mean() < 0.01  # H.264 at crf 0
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in (1, 2, 10):  # natural order: 2 before 10
        image_io.write_image(folder / f"f{t}.png", frames[0] * 0 + t / 10)
    clip = video.open_clip(str(folder))
    assert clip.count == 3 and clip.fps == video.DEFAULT_FPS
    assert [round(f[0, 0, 0] * 10) for f in video.frames(clip)] == [1, 2, 10]
    for t in (1, 2, 3):  # a pattern numbered from 1
        image_io.write_image(tmp_path / f"p{t:03d}.png", frames[t - 1])
    clip = video.open_clip(str(tmp_path / "p%03d.png"))
    assert clip.count == 3 and clip.paths[0].endswith("p001.png")


def test_bad_clips_are_refused_in_one_line(tmp_path):
    (tmp_path / "text.mp4").write_text("not a video")
    with av.open(str(tmp_path / "empty.mp4"), "w") as output:
        stream = output.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        output.start_encoding()  # a header and a video stream, and no frame
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    image_io.write_image(mixed / "1.png", np.zeros((8, 8, 3)))
    image_io.write_image(mixed / "2.png", np.zeros((8, 10, 3)))
    (tmp_path / "none").mkdir()
    cases = {
        "text.mp4": "not a video",
        "empty.mp4": "no frames",
        "mixed": "frames of different sizes",
        "none": "no frames",
        "missing.mp4": "no such file",
    }
    for name, needle in cases.items():
        with pytest.raises(VideoError, match=needle) as caught:
            video.open_clip(str(tmp_path / name))
        assert "\n" not in str(caught.value)


def test_missing_pyav_says_how_to_install(tmp_path):
    from tf_style.testing import processes

    write_clip(tmp_path / "in.mp4", [square_frame(0)])
    code = f"""
        import sys
        sys.modules["av"] = None  # as if PyAV were not installed
        from tf_style import video
        try:
            video.open_clip({str(tmp_path / "in.mp4")!r})
        except Exception as e:
            print(type(e).__name__, e)
    """
    out = processes.run(processes.snippet(code)).stdout
    assert out.startswith("VideoError") and "pip install 'tf-style[video]'" in out


def test_written_clip_has_the_frames_rate_and_audio(tmp_path):
    frames = [square_frame(t) for t in range(5)]
    write_clip(tmp_path / "in.mp4", frames, fps=Fraction(25, 2), audio_seconds=0.4)
    paths = []
    for t, frame in enumerate(frames, 1):
        paths.append(str(tmp_path / f"{t}.png"))
        image_io.write_image(paths[-1], frame[:, :-1])  # an odd width: cropped to even
    notes = video.write_video(
        str(tmp_path / "out.mp4"), paths, Fraction(25, 2), str(tmp_path / "in.mp4")
    )
    assert notes and "cropped" in notes[0]
    with av.open(str(tmp_path / "out.mp4")) as clip, av.open(str(tmp_path / "in.mp4")) as source:
        stream = clip.streams.video[0]
        assert stream.average_rate == Fraction(25, 2)
        assert sum(1 for _ in clip.decode(stream)) == 5
        assert (stream.codec_context.width, stream.codec_context.height) == (W - 2, H)
        ours, theirs = clip.streams.audio[0], source.streams.audio[0]
        assert ours.codec_context.name == theirs.codec_context.name == "aac"

    def packets(path):
        with av.open(str(path)) as clip:
            return [bytes(p) for p in clip.demux(clip.streams.audio[0]) if p.size]

    # The packets themselves: copied, not re-encoded.
    assert packets(tmp_path / "out.mp4") == packets(tmp_path / "in.mp4")
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["in.mp4", "out.mp4", *map(os.path.basename, paths)]
    )


# --- the temporal loss ----------------------------------------------------------------------


def test_temporal_loss_against_numpy():
    from tf_style import losses

    rng = np.random.default_rng(3)
    x, target = rng.normal(size=(2, 1, 5, 7, 3))
    mask = rng.uniform(size=(1, 5, 7, 1))
    expected = 30.0 * np.sum(mask * (x - target) ** 2) / x.size
    got = losses.temporal_loss(x, target, mask, 30.0).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_video_options_are_checked():
    from tf_style.config import StyleConfig
    from tf_style.errors import ConfigError

    bad = [
        {"temporal_weight": -1},
        {"video_iterations": (10,)},
        {"video_iterations": (10, 0)},
        {"optical_flow": "lucas"},
        {"video_fps": -2},
        {"content_video": "a.mp4", "output_video": "a.png"},
        {"content_video": "a.mp4", "resume": True},
        {"content_video": "a.mp4", "jobs": "clips"},
    ]
    for options in bad:
        with pytest.raises(ConfigError):
            StyleConfig(**options)
    assert StyleConfig(content_video="a.mp4", video_iterations="10,5").video_iterations == (10, 5)


# --- whole clips on the tiny model ----------------------------------------------------------

FRAMES = 4


@pytest.fixture
def clip_run(tiny_vgg, images, tmp_path):
    """A 4-frame clip of the moving square and its run on the tiny model (seconds)."""
    from tf_style.config import StyleConfig

    write_clip(tmp_path / "in.mp4", [square_frame(t) for t in range(FRAMES)])
    proto, model = tiny_vgg
    return StyleConfig(
        content_video=str(tmp_path / "in.mp4"),
        output_video=str(tmp_path / "out.mp4"),
        style_image=str(images["style1"]),
        model_file=str(model),
        proto_file=str(proto),
        image_size=W,
        num_iterations=100,
        video_iterations=(100, 30),
        print_iter=10,
        gpu=-1,
        seed=1,
    )


def stylise(config, callback=None, stylizer=None):
    from tf_style import stylizer as stylizer_module
    from tf_style.report import Reporter

    stream = io.StringIO()
    kept = stylizer or stylizer_module.Stylizer(Reporter(stream))
    kept.run(config, callback)
    return stream.getvalue()


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
    last = tf_style.run(StyleConfig(**{**vars_of(clip_run), "video_iterations": (6, 4)}))
    assert last.shape == (H, W, 3) and os.path.isfile(clip_run.output_video)


def vars_of(config):
    import dataclasses

    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


# Two logical CPU devices in a fresh process: three clips over two replicas.
_REPLICAS = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
cpus = [d.name for d in tf.config.list_logical_devices("CPU")]

from tf_style import batch
from tf_style.batch import clips
from tf_style.config import StyleConfig
from tf_style.report import Reporter

config = StyleConfig(**json.loads(sys.argv[1]))
strategy = batch.make_strategy(config, Reporter(), devices=cpus)
results = clips.run_clip_jobs(config, strategy=strategy)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "clips": sorted(results)}))
"""


@pytest.mark.slow
def test_a_folder_of_clips_runs_one_clip_per_replica(clip_run, tmp_path):
    import json

    from tf_style.batch import clips
    from tf_style.testing import processes

    folder = tmp_path / "clips"
    folder.mkdir()
    write_clip(folder / "a.mp4", [square_frame(t) for t in range(3)])
    write_clip(folder / "b.mp4", [square_frame(t)[::-1] for t in range(2)])
    write_clip(folder / "c.mp4", [square_frame(t)[:, ::-1] for t in range(2)])
    (tmp_path / "out").mkdir()
    batch = clip_run.replace(
        content_video="", jobs=str(folder), output_video=str(tmp_path / "out" / "s.mp4"),
        video_iterations=(12, 6), print_iter=0,
    )  # fmt: skip
    settings = {k: v for k, v in vars_of(batch).items() if v != getattr(type(batch)(), k, None)}
    process = processes.start(
        processes.snippet(_REPLICAS, json.dumps(settings)), env={"TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    code, out, err = processes.finish(process, timeout=300)
    assert code == 0, err[-3000:]
    found = json.loads(out.strip().splitlines()[-1])
    assert found == {"replicas": 2, "clips": [0, 1, 2]}
    # Each clip's frames equal its own run, one clip after another on one device.
    for job in clips.read_clips(batch):
        alone = job.replace(output_video=job.output_video.replace(".mp4", "_alone.mp4"))
        stylise(alone)
        count = video.open_clip(job.content_video).count
        for t in range(1, count + 1):
            ours = image_io.read_image(video.frame_path(job.output_video, t))
            theirs = image_io.read_image(video.frame_path(alone.output_video, t))
            assert np.abs(ours - theirs).max() <= 2 / 255, (job.content_video, t)
        with av.open(job.output_video) as clip:
            assert sum(1 for _ in clip.decode(clip.streams.video[0])) == count


def test_camera_move_makes_frames_of_one_size(tmp_path):
    from pathlib import Path

    from tf_style.testing import processes

    root = Path(__file__).resolve().parents[1]
    tool = processes.script(root / "tools" / "camera_move.py")
    out = tmp_path / "move"
    result = processes.run(
        [*tool, "-image", root / "examples/inputs/tubingen.jpg", "-output", out, "-frames", "3",
         "-size", "48"]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    clip = video.open_clip(str(out))
    assert clip.count == 3 and max(clip.size) == 48
    first, _, last = video.frames(clip)
    assert np.abs(first - last).mean() > 0.05  # the camera moved
    bad = processes.run([*tool, "-output", out, "-window", "0.9", "-pan", "0.3"])
    assert bad.returncode == 2


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
