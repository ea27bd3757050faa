"""The synthetic clip of the video tests: a textured square moving a known number of pixels
per frame over a textured background, written with PyAV, and its true flows. Golden values come
from that known motion, never from tf_style's own warp."""

import io
from fractions import Fraction

import numpy as np

from tf_style import preprocess

# The clip: H x W frames, an S x S square at row Y0 moving D pixels right per frame from X0.
H, W, S, D = 72, 96, 24, 2
Y0, X0 = 24, 16
FRAMES = 4  # of the clips run whole


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
    import av

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


def stylise(config, callback=None, stylizer=None):
    """Runs `config` (a clip) with a Stylizer (a new one by default); returns its log."""
    from tf_style import stylizer as stylizer_module
    from tf_style.report import Reporter

    stream = io.StringIO()
    kept = stylizer or stylizer_module.Stylizer(Reporter(stream))
    kept.run(config, callback)
    return stream.getvalue()
