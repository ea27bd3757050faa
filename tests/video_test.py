"""Video (docs/video.md): frames in and out, the flow, the warp and the consistency mask against
the known motion of a synthetic clip, the temporal loss, resume, and bad input.

The clip is made here: a textured square moving a known number of pixels per frame over a
textured background, written with PyAV. Golden values come from that known motion (numpy
indexing) and from OpenCV's remap, never from tf_style's own warp.
"""

import os
from fractions import Fraction

import numpy as np
import pytest

from tests.clipdata import (
    X0,
    Y0,
    D,
    H,
    S,
    W,
    known_backward_flow,
    known_forward_flow,
    square_frame,
    uncovered,
    write_clip,
)
from tf_style import image_io, video
from tf_style.errors import VideoError

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

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
