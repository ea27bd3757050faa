"""Makes a clip of a camera move over a still image: a folder of frames for -content_video.

    python tools/camera_move.py -image examples/inputs/tubingen.jpg -output tubingen_move
    tf-style -flagfile configs/open_nsfw.flags -content_video tubingen_move \\
        -output_video tubingen_move.mp4 -image_size 192 -video_iterations 200,80

The window starts on the image's left part and pans right while it zooms in (a window
`1 / zoom` of the start's at the end), so every frame has new content at one edge and the
rest moves: what the README's video example is made of. Exit code 0, or 2 for bad flags.
"""

from __future__ import annotations

import os

from absl import app, flags

from tf_style import apps, image_io, preprocess

FLAGS = flags.FLAGS


def _define_flags() -> None:
    flags.DEFINE_string("image", "examples/inputs/tubingen.jpg", "The still image.")
    flags.DEFINE_string("output", "camera_move", "The folder the frames go to (made if missing).")
    flags.DEFINE_integer("frames", 20, "Number of frames.")
    flags.DEFINE_integer("size", 256, "Long side of the frames, in pixels.")
    flags.DEFINE_float("window", 0.7, "The first window's width as a fraction of the image's.")
    flags.DEFINE_float("pan", 0.25, "How far the window moves right, as a fraction of the width.")
    flags.DEFINE_float(
        "zoom", 1.15, "How much the window zooms in from the first frame to the last."
    )


def frame_windows(height, width, frames, window, pan, zoom):
    """(top, left, window height, window width) of each frame, in pixels of the image."""
    result = []
    for t in range(frames):
        f = t / max(frames - 1, 1)
        w = width * window / (1 + (zoom - 1) * f)
        h = w * 0.75 if w * 0.75 <= height else height
        left = width * pan * f + (width * window - w) / 2
        top = (height - h) / 2
        result.append((int(top), int(left), int(h), int(w)))
    return result


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}", exitcode=2)
    if FLAGS.frames < 2 or FLAGS.size < 16 or not 0 < FLAGS.window <= 1 or FLAGS.zoom < 1:
        raise app.UsageError(
            "-frames >= 2, -size >= 16, 0 < -window <= 1 and -zoom >= 1", exitcode=2
        )
    if FLAGS.window + FLAGS.pan > 1:
        raise app.UsageError("-window + -pan must be at most 1: the window leaves the image", 2)
    image = image_io.read_image(FLAGS.image)
    height, width = image.shape[:2]
    os.makedirs(FLAGS.output, exist_ok=True)
    windows = frame_windows(height, width, FLAGS.frames, FLAGS.window, FLAGS.pan, FLAGS.zoom)
    out_h, out_w = preprocess.scaled_size(*windows[0][2:], FLAGS.size)  # one size for all
    for t, (top, left, h, w) in enumerate(windows, 1):
        crop = image[top : top + h, left : left + w]
        image_io.write_image(
            os.path.join(FLAGS.output, f"{t:04d}.png"), preprocess.resize(crop, out_h, out_w)
        )
    print(f"{FLAGS.frames} frames in {FLAGS.output}")


if __name__ == "__main__":
    _define_flags()
    apps.run(main)
