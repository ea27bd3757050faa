"""Tests for tf_style.report: the original's lines word for word, tabs included; our notes.

The oracle is the original's console output as docs/semantics.md#console-output writes it out
(Lua's `print` separates its arguments by tabs; the losses are C's "%f").
"""

import io

import keras
import numpy as np
import pytest

from tf_style import report
from tf_style.report import Reporter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(write) -> list[str]:
    """What `write(reporter)` prints, line by line (to a log, not a terminal)."""
    stream = io.StringIO()
    write(Reporter(stream))
    text = stream.getvalue()
    assert text.endswith("\n")
    return text[:-1].split("\n")


def test_the_loss_block():
    block = lines(lambda r: r.iteration(50, 1000, [2091176.875], [30034.04541, 0.5, 1e-7]))
    assert block == [
        "Iteration 50 / 1000",
        "  Content 1 loss: 2091176.875000",
        "  Style 1 loss: 30034.045410",
        "  Style 2 loss: 0.500000",
        "  Style 3 loss: 0.000000",
        "  Total loss: %f" % (2091176.875 + 30034.04541 + 0.5 + 1e-7),
    ]
    assert block[-1] == "  Total loss: 2121211.420410"


def test_the_loss_block_adds_the_evaluations_only_when_they_differ():
    assert lines(lambda r: r.iteration(3, 9, [1.0], [], evaluations=3))[0] == "Iteration 3 / 9"
    head = lines(lambda r: r.iteration(3, 9, [1.0], [], evaluations=7))[0]
    assert head == "Iteration 3 / 9 (7 evaluations)"
    assert lines(lambda r: r.iteration(2, 2, [], [0.25])) == [
        "Iteration 2 / 2",
        "  Style 1 loss: 0.250000",
        "  Total loss: 0.250000",
    ]


def test_setup_lines_pad_style_to_line_up_with_content():
    def write(r):
        r.setup_layer("style", 2, "relu1_1")
        r.setup_layer("content", 23, "relu4_2")
        r.setup_layer("style", 30, "relu5_1")

    assert lines(write) == [
        "Setting up style layer  \t2\t:\trelu1_1",
        "Setting up content layer\t23\t:\trelu4_2",
        "Setting up style layer  \t30\t:\trelu5_1",
    ]
    assert len("Setting up style layer  ") == len("Setting up content layer")


def test_capturing_running_and_pooling_lines():
    def write(r):
        r.replacing_pooling(5)
        r.capturing_content()
        r.capturing_style(1)
        r.capturing_style(2)
        r.running("L-BFGS")
        r.running("ADAM")
        r.note("A note of our own.")
        r.saved("out.png")

    assert lines(write) == [
        "Replacing max pooling at layer 5 with average pooling",
        "Capturing content targets",
        "Capturing style target 1",
        "Capturing style target 2",
        "Running optimization with L-BFGS",
        "Running optimization with ADAM",
        "A note of our own.",
        "Saved out.png",
    ]


def small_net():
    """Convolutions with kernels that are not square (kW != kH), a pool, fully connected."""
    x = keras.Input((12, 10, 3))
    y = keras.layers.Conv2D(5, (3, 2), name="conv1")(x)  # kH 3, kW 2
    y = keras.layers.ReLU(name="relu1")(y)
    y = keras.layers.MaxPooling2D(name="pool1")(y)
    y = keras.layers.Conv2D(4, (1, 3), name="cccp1")(y)
    y = keras.layers.Flatten(name="flatten")(y)
    y = keras.layers.Dense(7, name="fc6")(y)
    return keras.Model(x, y)


def test_weighted_layers_are_loadcaffes_nout_nin_kw_kh():
    # loadcaffe: "conv1_1: 64 3 3 3" (nOut nIn kW kH); fully connected "fc6: 1 1 25088 4096".
    # cccp1 sees a 5x4 map after the pool, (5 - 1) x (4 - 3 + 1) = 5x2 out: 40 inputs to fc6.
    assert report.weighted_layers(small_net()) == [
        ("conv1", (5, 3, 2, 3)),
        ("cccp1", (4, 5, 3, 1)),
        ("fc6", (1, 1, 40, 7)),
    ]


def test_loaded_prints_the_file_then_each_weighted_layer():
    assert lines(lambda r: r.loaded("models/tiny.caffemodel", small_net())) == [
        "Successfully loaded models/tiny.caffemodel",
        "conv1: 5 3 2 3",
        "cccp1: 4 5 3 1",
        "fc6: 1 1 40 7",
    ]


def test_zoo_defaults_names_each_option_as_a_flag():
    taken = {"content_layers": ("relu3",), "style_layers": ("relu0", "relu3"), "pooling": "avg"}
    assert lines(lambda r: r.zoo_defaults("nin", taken)) == [
        "Using nin's defaults: -content_layers relu3 -style_layers relu0,relu3 -pooling avg"
    ]


def test_a_reporter_without_a_stream_is_silent(capsys):
    quiet = Reporter(None)
    quiet.loaded("m.caffemodel", small_net())
    quiet.zoo_defaults("nin", {"pooling": "avg"})
    quiet.setup_layer("style", 2, "relu1_1")
    quiet.replacing_pooling(5)
    quiet.capturing_content()
    quiet.capturing_style(1)
    quiet.running("L-BFGS")
    quiet.progress(3, 6, 1.5)
    quiet.iteration(1, 2, [1.0], [2.0])
    quiet.note("nothing")
    quiet.saved("out.png")
    assert capsys.readouterr() == ("", "")
    assert Reporter().stream is None


def test_the_live_line_only_on_a_terminal_cleared_and_redrawn_around_each_line():
    log = io.StringIO()
    Reporter(log).progress(3, 6, 1.5, loss=2.5)
    assert log.getvalue() == ""
    tty = Terminal()
    reporter = Reporter(tty)
    reporter.progress(0, 6, 0.0)  # no rate yet: nothing to show
    assert tty.getvalue() == ""
    reporter.progress(3, 6, 1.5, loss=1234.5678)  # half done, 3 left at 1.5/s: 2 s
    live = "\r[" + "#" * 15 + " " * 15 + "] 3/6  1.50 it/s  0:02 left  loss 1234.57"
    assert tty.getvalue() == "\033[K" + live
    # Each of the original's lines clears the live line, which comes back under it.
    reporter.iteration(3, 6, [1.0], [])
    block = ["Iteration 3 / 6", "  Content 1 loss: 1.000000", "  Total loss: 1.000000"]
    assert tty.getvalue() == "\033[K" + live + "".join(f"\r\033[K{b}\n{live}" for b in block)
    # The last line ends it.
    reporter.saved("out.png")
    assert tty.getvalue().endswith(live + "\r\033[KSaved out.png\n")
    reporter.note("after")
    assert tty.getvalue().endswith("Saved out.png\nafter\n")
    tty.truncate(0)
    tty.seek(0)
    reporter.progress(6, 6, 0.01)  # no loss given
    assert tty.getvalue() == "\033[K\r[" + "#" * 30 + "] 6/6  0.01 it/s  0:00 left"


def test_text_progress_draws_only_on_a_terminal():
    log, tty = io.StringIO(), Terminal()
    for done in (0, 500, 1000):
        report.text_progress(log, "vgg19")(done, 1000)
        report.text_progress(tty, "vgg19")(done, 1000)
    assert log.getvalue() == ""
    lines = tty.getvalue().split("\r")
    assert lines[-1].startswith("vgg19 [" + "#" * 30 + "] 100.0%") and lines[-1].endswith("\n")
    assert " 50.0%" in lines[-2]


def test_tensorboard_log_writes_each_loss_term_and_the_image(tmp_path):
    import tensorflow as tf

    log = report.TensorBoardLog(str(tmp_path))
    log.losses(4, [1.5], [0.25, 2.0])
    rgb = np.random.default_rng(0).uniform(-0.2, 1.2, (5, 7, 3)).astype(np.float32)
    log.image(4, rgb)
    scalars, images = {}, []
    for event_file in tmp_path.glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                assert event.step == 4
                if value.tag == "image":
                    images.append(tf.make_ndarray(value.tensor))
                else:
                    scalars[value.tag] = float(tf.make_ndarray(value.tensor))
    assert scalars == {"content_1": 1.5, "style_1": 0.25, "style_2": 2.0, "total": 3.75}
    assert len(images) == 1
    width, height, png = images[0]
    assert (width, height) == (b"7", b"5")
    pixels = tf.io.decode_png(png).numpy()
    np.testing.assert_array_equal(pixels, (np.clip(rgb, 0, 1) * 255).astype(np.uint8))


@pytest.mark.parametrize("value, text", [((1, 2), "1,2"), (["a"], "a"), (0.5, "0.5")])
def test_zoo_defaults_writes_lists_comma_separated(value, text):
    assert lines(lambda r: r.zoo_defaults("m", {"x": value})) == [f"Using m's defaults: -x {text}"]
