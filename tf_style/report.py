"""The console output: the original neural-style's lines, word for word, and our own notes.

The library calls a `Reporter`; `Reporter(stream=None)` is silent, so library users get no
output unless they ask for it. The CLI passes `sys.stdout`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO


class Reporter:
    """Writes the original's log lines to `stream` (nothing when `stream` is None)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self._bar = ""  # the live progress line on screen: cleared before a line, then redrawn

    def _print(self, *parts) -> None:
        # Lua's print separates its arguments with a TAB; the original's lines rely on that.
        if self.stream is not None:
            clear = "\r\033[K" if self._bar else ""
            line = "\t".join(str(p) for p in parts)
            self.stream.write(f"{clear}{line}\n{self._bar}")
            self.stream.flush()

    def note(self, message: str) -> None:
        """One line of our own (a deviation, a fallback, where a file went)."""
        self._print(message)

    def loaded(self, model_file: str, model) -> None:
        """loadcaffe's lines: the file, then `name: nOut nIn kW kH` per weighted layer of the
        Keras `model` (`weighted_layers`)."""
        self._print(f"Successfully loaded {model_file}")
        for name, dims in weighted_layers(model):
            self._print(f"{name}: " + " ".join(str(d) for d in dims))

    def zoo_defaults(self, model: str, taken: dict) -> None:
        """The options a zoo model brought for those left at their defaults (an addition)."""
        flags = " ".join(f"-{k} {_flag_text(v)}" for k, v in taken.items())
        self._print(f"Using {model}'s defaults: {flags}")

    def setup_layer(self, kind: str, index: int, name: str) -> None:
        # The original pads "style" with two spaces so both kinds line up.
        label = "Setting up content layer" if kind == "content" else "Setting up style layer  "
        self._print(label, index, ":", name)

    def replacing_pooling(self, index: int) -> None:
        self._print(f"Replacing max pooling at layer {index} with average pooling")

    def capturing_content(self) -> None:
        self._print("Capturing content targets")

    def capturing_style(self, i: int) -> None:
        self._print(f"Capturing style target {i}")

    def running(self, title: str) -> None:
        self._print(f"Running optimization with {title}")

    def progress(self, done: int, total: int, rate: float, loss: float | None = None) -> None:
        """One live line on a terminal only: a bar, the iteration, `rate` (iterations per
        second), the time left and the current loss; redrawn under every other line."""
        if self.stream is None or not self.stream.isatty() or rate <= 0:
            return
        left = int((total - done) / rate)
        bar = "#" * (30 * done // total)
        line = f"\r[{bar:<30}] {done}/{total}  {rate:.2f} it/s  {left // 60}:{left % 60:02d} left"
        self._bar = line + ("" if loss is None else f"  loss {loss:.6g}")
        self.stream.write("\033[K" + self._bar)
        self.stream.flush()

    def saved(self, path: str) -> None:
        """The run's last line: where its image went (an addition); the live line ends."""
        if self._bar and self.stream is not None:
            self.stream.write("\r\033[K")
        self._bar = ""
        self._print(f"Saved {path}")

    def iteration(
        self,
        t: int,
        num_iterations: int,
        content_losses: Sequence[float],
        style_losses: Sequence[float],
        evaluations: int | None = None,
    ) -> None:
        """The original's loss block; `evaluations` is added when it differs from `t`."""
        head = f"Iteration {t} / {num_iterations}"
        if evaluations is not None and evaluations != t:
            head += f" ({evaluations} evaluations)"
        self._print(head)
        for i, loss in enumerate(content_losses, 1):
            self._print(f"  Content {i} loss: {loss:f}")
        for i, loss in enumerate(style_losses, 1):
            self._print(f"  Style {i} loss: {loss:f}")
        self._print(f"  Total loss: {sum(content_losses) + sum(style_losses):f}")

    def temporal(self, loss: float) -> None:
        """A video frame's temporal loss, after the original's block (docs/video.md)."""
        self._print(f"  Temporal loss: {loss:f}")

    def frame(self, t: int, total: int, seconds: float, left: float | None, kept: bool) -> None:
        """One line per frame of a clip: how long it took and the time left (docs/video.md)."""
        what = "kept from an earlier run" if kept else f"done in {seconds:.1f} s"
        line = f"Frame {t} / {total} {what}"
        if left is not None:
            line += f"; about {int(left) // 60}:{int(left) % 60:02d} left"
        self._print(line)


def _flag_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def weighted_layers(model) -> list[tuple[str, tuple[int, ...]]]:
    """loadcaffe's summary of a model: convolutions `nOut nIn kW kH`, fully connected
    `1 1 nIn nOut`, in network order (layers without a kernel are left out)."""
    lines = []
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        shape = () if kernel is None else tuple(kernel.shape)
        if len(shape) == 4:
            kh, kw, cin, cout = shape
            lines.append((layer.name, (cout, cin, kw, kh)))
        elif len(shape) == 2:
            lines.append((layer.name, (1, 1, shape[0], shape[1])))
    return lines


def text_progress(stream: TextIO | None, label: str = "") -> Callable[[int, int | None], None]:
    """A progress callback that redraws one line on `stream` when it is a terminal.

    On anything else (a log file, a pipe, no stream) it writes nothing, so logs stay clean.
    It is the `progress` callback of `models.fetch` for downloads.
    """
    if stream is None or not stream.isatty():
        return lambda done, total: None
    last = [-1]

    def draw(done: int, total: int | None) -> None:
        mib = done / (1 << 20)
        if total:
            permille = done * 1000 // total
            if permille == last[0]:
                return
            last[0] = permille
            bar = "#" * (permille * 30 // 1000)
            line = f"{label} [{bar:<30}] {permille / 10:5.1f}% {mib:8.1f} MiB"
        else:
            line = f"{label} {mib:8.1f} MiB"
        stream.write("\r" + line + ("\n" if total and done >= total else ""))
        stream.flush()

    return draw


class TensorBoardLog:
    """`-log_dir`: every loss term per printed iteration, and the image at every save.

    Written with TensorFlow's own `tf.summary.write` and the scalar/image plugin metadata, so
    the `tensorboard` package is needed only to view the logs, not to write them.
    """

    def __init__(self, log_dir: str):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self._tf = tf
        self._writer = tf.summary.create_file_writer(log_dir)
        self._meta = {
            plugin: summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin)
            )
            for plugin in ("scalars", "images")
        }

    def losses(
        self,
        step: int,
        content: Sequence[float],
        style: Sequence[float],
        temporal: float | None = None,
    ) -> None:
        tf = self._tf
        terms = [(f"content_{i}", v) for i, v in enumerate(content, 1)]
        terms += [(f"style_{i}", v) for i, v in enumerate(style, 1)]
        terms.append(("total", sum(content) + sum(style)))
        if temporal is not None:
            terms.append(("temporal", temporal))
        with self._writer.as_default():
            for tag, value in terms:
                tf.summary.write(tag, tf.constant(float(value)), step, self._meta["scalars"])
        self._writer.flush()

    def image(self, step: int, rgb) -> None:
        tf = self._tf
        pixels = tf.cast(tf.clip_by_value(rgb, 0.0, 1.0) * 255.0, tf.uint8)
        # The images plugin's format: width, height, then the encoded images.
        value = tf.stack([str(rgb.shape[1]), str(rgb.shape[0]), tf.io.encode_png(pixels)])
        with self._writer.as_default():
            tf.summary.write("image", value, step, self._meta["images"])
        self._writer.flush()
