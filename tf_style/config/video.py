"""Video options: a clip stylised frame by frame with optical flow (Ruder et al. 2016;
docs/video.md)."""

from __future__ import annotations

from dataclasses import dataclass

from tf_style.config.fields import GRAPH, opt

GROUP = "Video options"
FLOW_METHODS = ("dis", "farneback")
# -output_video's extension -> the FFmpeg container it writes.
CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".gif": "gif",
}


@dataclass(frozen=True)
class VideoOptions:
    """-content_video, -output_video, the temporal loss and the optical flow."""

    content_video: str = opt(
        "",
        GROUP,
        "Stylise a clip instead of -content_image: a video file (any container FFmpeg reads), "
        "a folder of frames, or a printf pattern such as frames/%04d.png. Needs "
        "pip install 'tf-style[video]'.",
    )
    output_video: str = opt(
        "out.mp4",
        GROUP,
        "The stylised clip (its extension picks the container: .mp4, .mov, .mkv, .webm, .avi "
        "or .gif), at the input's frame rate with its audio copied; the frames go to the "
        "folder <stem>_frames beside it as PNGs. Frames already there are kept: the same "
        "command continues an interrupted run.",
    )
    temporal_weight: float = opt(
        1e3,
        GROUP,
        "Weight of the temporal loss: the mean squared difference to the previous stylised "
        "frame warped by the optical flow, where the flow is consistent (Ruder et al.'s 1e3 "
        "suits VGG-19's default weights). 0 stylises every frame independently.",
        GRAPH,
    )
    video_iterations: tuple[int, ...] = opt(
        (),
        GROUP,
        "Iterations for the first frame and for each later one, such as 1000,500 (later frames "
        "start from the warped previous result and need fewer); default: -num_iterations for "
        "every frame. With -scale_iterations, later frames run each scale's count times "
        "rest/first.",
    )
    optical_flow: str = opt(
        "dis",
        GROUP,
        "OpenCV's optical flow between consecutive content frames: dis (dense inverse search, "
        "medium preset) or farneback.",
    )
    video_fps: float = opt(
        0.0,
        GROUP,
        "Frame rate of the output; default (0): the input's, or 25 for a folder or pattern of "
        "frames.",
    )
