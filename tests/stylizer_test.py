"""End-to-end runs on a tiny model: each flag does what the original's does."""

import io

import numpy as np
import pytest
import tensorflow as tf

from tf_style import errors, image_io, preprocess, stylizer
from tf_style.report import Reporter

DEFAULT_INDICES = "2 7 12 21 23 30"


@pytest.fixture
def base(tiny_run):
    return tiny_run


def run(config, callback=None):
    stream = io.StringIO()
    final = stylizer.run(config, Reporter(stream), callback=callback)
    return final, stream.getvalue()


def pixels(path):
    return np.asarray(image_io.read_image(path))


def test_log_and_files_are_the_originals(base, tmp_path):
    final, log = run(base)
    lines = log.splitlines()
    assert lines[0] == f"Successfully loaded {base.model_file}"
    assert "conv1_1: 4 3 3 3" in lines
    setup = [line for line in lines if line.startswith("Setting up")]
    assert setup[0] == "Setting up style layer  \t2\t:\trelu1_1"
    assert setup[4] == "Setting up content layer\t23\t:\trelu4_2"
    assert " ".join(s.split("\t")[1] for s in setup) == DEFAULT_INDICES
    start = lines.index("Capturing content targets")
    assert lines[start : start + 3] == [
        "Capturing content targets",
        "Capturing style target 1",
        "Running optimization with L-BFGS",
    ]
    iterations = [line for line in lines if line.startswith("Iteration")]
    assert iterations == ["Iteration 2 / 6", "Iteration 4 / 6", "Iteration 6 / 6"]
    block = lines[lines.index("Iteration 2 / 6") + 1 : lines.index("Iteration 4 / 6")]
    assert [b.split(" loss:")[0] for b in block] == [
        "  Content 1",
        *[f"  Style {i}" for i in range(1, 6)],
        "  Total",
    ]
    values = [float(b.split(": ")[1]) for b in block]
    assert values[-1] == pytest.approx(sum(values[:-1]), rel=1e-5)
    assert all(f"{v:f}" == b.split(": ")[1] for v, b in zip(values, block))
    # Intermediates at multiples of save_iter (not at the last iteration), then the final image.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "out_3.png"]
    assert pixels(tmp_path / "out.png").shape == (22, 32, 3)  # 40x56 content -> 32 long side
    # The returned image is what was saved (clamped, truncated to 8 bits).
    saved = pixels(tmp_path / "out.png")
    np.testing.assert_array_equal(saved, np.floor(np.clip(final, 0, 1) * 255) / 255)


def test_loss_goes_down(base):
    _, log = run(base.replace(num_iterations=20, print_iter=1, save_iter=0))
    totals = [float(line.split(": ")[1]) for line in log.splitlines() if "Total loss" in line]
    assert len(totals) == 20
    assert totals[-1] < 0.5 * totals[0]


def test_same_seed_same_bytes_other_seed_other_image(base, tmp_path):
    run(base)
    first = (tmp_path / "out.png").read_bytes()
    run(base)
    assert (tmp_path / "out.png").read_bytes() == first
    run(base.replace(seed=2))
    assert (tmp_path / "out.png").read_bytes() != first


def test_init_image_starts_from_the_content(base, images):
    # One evaluation and no update: the output is the initial image.
    final, _ = run(base.replace(init="image", num_iterations=1))
    content = image_io.read_image(images["content"])
    want = preprocess.resize(content, *final.shape[:2])
    np.testing.assert_allclose(final, want, atol=1e-5)
    final, log = run(base.replace(init_image=str(images["style2"]), num_iterations=1))
    want = preprocess.resize(image_io.read_image(images["style2"]), *final.shape[:2])
    np.testing.assert_allclose(final, want, atol=1e-5)
    assert "implies -init image" in log


def test_random_init_is_the_mean_colour(base):
    final, _ = run(base.replace(num_iterations=1))
    mean_rgb = np.array(preprocess.VGG_MEAN_BGR[::-1]) / 256
    np.testing.assert_allclose(final.mean(axis=(0, 1)), mean_rgb, atol=1e-4)


@pytest.mark.parametrize(
    "change",
    [
        {"content_weight": 50.0},
        {"style_weight": 1000.0},
        {"tv_weight": 10.0},
        {"normalize_gradients": True},
        {"style_scale": 2.0},
        {"pooling": "avg"},
        {"lbfgs_num_correction": 2},
        {"style_image": "STYLES", "style_blend_weights": (1.0, 3.0)},
        {"content_layers": ("relu3_1",)},
        {"style_loss": "mean_cov"},
        {"style_loss": "w2", "style_weight": 1e4},
        {"style_layer_weights": (1.0, 0.5, 2.0, 1.0, 4.0)},
        {"average_decay": 0.5},
        {"padding": "replicate"},
        {"padding": "reflect"},
    ],
    ids=lambda c: ",".join(c),
)
def test_each_option_changes_the_result(base, images, change):
    if change.get("style_image") == "STYLES":
        change["style_image"] = f"{images['style1']},{images['style2']}"
    # The original's first L-BFGS steps are tiny (the first is 1/sum|g|): run long enough for
    # every option to show.
    reference, _ = run(base.replace(num_iterations=16))
    changed, _ = run(base.replace(num_iterations=16, **change))
    assert np.abs(changed - reference).max() > 1e-3


def test_blend_weights_are_normalised(base, images):
    two = f"{images['style1']},{images['style2']}"
    a, _ = run(base.replace(style_image=two, style_blend_weights=(1.0, 3.0)))
    b, _ = run(base.replace(style_image=two, style_blend_weights=(2.5, 7.5)))
    np.testing.assert_array_equal(a, b)


def test_zero_content_weight_prints_zero(base):
    _, log = run(base.replace(content_weight=0.0))
    assert "  Content 1 loss: 0.000000" in log


def test_pooling_avg_is_reported(base):
    _, log = run(base.replace(pooling="avg"))
    replaced = [line for line in log.splitlines() if line.startswith("Replacing")]
    assert replaced == [
        f"Replacing max pooling at layer {i} with average pooling" for i in (5, 10, 19, 28)
    ]


def test_original_colors_keep_the_contents_chroma(base, images):
    final, _ = run(base.replace(original_colors=1))
    content = preprocess.resize(image_io.read_image(images["content"]), *final.shape[:2])
    yuv = preprocess.RGB_TO_YUV
    np.testing.assert_allclose((final @ yuv.T)[..., 1:], (content @ yuv.T)[..., 1:], atol=1e-4)


# tfp_lbfgs runs end to end in test_colour_match_with_several_styles_and_every_optimizer, which
# checks its title and a finite result too (its trace takes about 10 s on 2 cores).
@pytest.mark.parametrize("optimizer,title", [("adam", "ADAM")])
def test_other_optimizers(base, optimizer, title):
    final, log = run(base.replace(optimizer=optimizer, num_iterations=4, learning_rate=1.0))
    assert f"Running optimization with {title}" in log
    assert np.isfinite(final).all()


def test_learning_rate_changes_adam(base):
    a, _ = run(base.replace(optimizer="adam", learning_rate=1.0))
    b, _ = run(base.replace(optimizer="adam", learning_rate=20.0))
    assert np.abs(a - b).max() > 1e-3


def test_callback_stops_and_the_image_is_saved(base, tmp_path):
    seen = []

    def stop_after_first(progress):
        seen.append(progress.iteration)
        return True

    final, log = run(base.replace(num_iterations=50, print_iter=5), stop_after_first)
    assert seen == [3]  # the first print or save mark
    assert "Stopped at iteration 3" in log
    np.testing.assert_array_equal(
        pixels(tmp_path / "out.png"), np.floor(np.clip(final, 0, 1) * 255) / 255
    )


def test_unknown_layer_is_a_clear_error(base):
    with pytest.raises(errors.LayerError, match="-style_layers: .*'relu9_9'; did you mean relu"):
        run(base.replace(style_layers=("relu1_1", "relu9_9")))


def test_missing_gpu_is_an_error(base):
    with pytest.raises(errors.DeviceError, match="-gpu 3"):
        run(base.replace(gpu=3))


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_luminance_transfer_keeps_the_contents_chroma(base, images, optimizer):
    two = f"{images['style1']},{images['style2']}"
    config = base.replace(color_transfer="luminance", style_image=two, optimizer=optimizer)
    final, _ = run(config)
    content = preprocess.resize(image_io.read_image(images["content"]), *final.shape[:2])
    yuv = preprocess.RGB_TO_YUV
    np.testing.assert_allclose((final @ yuv.T)[..., 1:], (content @ yuv.T)[..., 1:], atol=1e-4)
    # The network saw gray images: the optimised luminance differs from the content's.
    assert np.abs((final @ yuv.T)[..., 0] - (content @ yuv.T)[..., 0]).max() > 1e-3


@pytest.mark.parametrize(
    "optimizer,title",
    [("lbfgs", "L-BFGS"), ("adam", "ADAM"),
     pytest.param("tfp_lbfgs", "TFP L-BFGS", marks=pytest.mark.slow)],
)  # fmt: skip
def test_colour_match_with_several_styles_and_every_optimizer(base, images, optimizer, title):
    two = f"{images['style1']},{images['style2']}"
    cfg = base.replace(color_transfer="match", style_image=two, optimizer=optimizer)
    # TFP's line search traces slowly: a few of its iterations (across print marks 2 and 3, so
    # both its first and its resumed chunk) show it composes and runs end to end.
    iterations = 3 if optimizer == "tfp_lbfgs" else 10
    matched, log = run(cfg.replace(num_iterations=iterations))
    assert f"Running optimization with {title}\n" in log
    assert np.isfinite(matched).all()
    if optimizer != "tfp_lbfgs":
        plain, _ = run(cfg.replace(color_transfer="none", num_iterations=iterations))
        assert np.abs(matched - plain).max() > 1e-3


@pytest.mark.slow
def test_stylizer_reuses_the_trace_for_a_second_run(base, images, tmp_path, traces):
    kept = stylizer.Stylizer()
    first = kept.run(base)
    traced = len(traces)
    assert traced >= 1
    again = kept.run(base)
    assert len(traces) == traced  # same settings and sizes: no retrace
    np.testing.assert_array_equal(first, again)  # and the state was reset
    other = kept.run(base.replace(seed=5))
    assert len(traces) == traced  # another start: no retrace
    assert np.abs(other - first).max() > 1e-3
    content = image_io.read_image(images["content"])[:, ::-1]
    flipped = kept.run(base, content=content)
    assert len(traces) == traced  # another image of the same size: no retrace either
    assert np.abs(flipped - first).max() > 1e-5  # six iterations from noise move little
    kept.run(base.replace(image_size=24))
    assert len(traces) > traced  # a new size traces anew
    # A reused run equals a fresh one.
    np.testing.assert_array_equal(other, kept.run(base.replace(seed=5)))


@pytest.mark.slow
def test_stylize_takes_paths_pil_and_arrays(base, images, tmp_path):
    from PIL import Image

    options = {
        k: getattr(base, k)
        for k in ("model_file", "proto_file", "image_size", "num_iterations", "gpu", "seed")
    }
    kept = stylizer.Stylizer()
    from_paths = stylizer.stylize(images["content"], images["style1"], stylizer=kept, **options)
    pil = Image.open(images["content"])
    array = np.asarray(Image.open(images["style1"]))
    from_objects = stylizer.stylize(pil, [array], stylizer=kept, **options)
    np.testing.assert_array_equal(from_paths, from_objects)
    assert from_paths.min() >= 0 and from_paths.max() <= 1
    assert list(tmp_path.iterdir()) == []  # no output_image: nothing written
    want, _ = run(base.replace(save_iter=0))
    np.testing.assert_allclose(from_paths, np.clip(want, 0, 1), atol=1e-6)
    out = tmp_path / "x.png"
    stylizer.stylize(pil, array, output_image=str(out), **options)
    assert out.is_file()


def test_log_dir_writes_every_loss_term_and_the_saved_images(base, tmp_path):
    import tensorflow as tf

    run(base.replace(log_dir=str(tmp_path / "tb")))
    scalars, images = {}, []
    for event_file in (tmp_path / "tb").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag == "image":
                    images.append(event.step)
                else:
                    scalars.setdefault(value.tag, []).append(event.step)
    assert sorted(scalars) == ["content_1", *[f"style_{i}" for i in range(1, 6)], "total"]
    assert scalars["total"] == [2, 3, 4, 6]  # every printed or saved iteration
    assert images == [3]  # the intermediate save


def test_progress_bar_on_a_terminal_only(base):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    stylizer.run(base, Reporter(tty))
    text = tty.getvalue()
    assert "it/s" in text and " left" in text and "6/6" in text
    # The bar is cleared before each of the original's lines, which stay intact.
    assert "\r\033[KIteration 2 / 6\n" in text
    _, plain = run(base)
    assert "it/s" not in plain


def test_recompute_gives_the_same_run(base):
    plain, _ = run(base)
    lean, _ = run(base.replace(recompute=True))
    np.testing.assert_allclose(lean, plain, atol=1e-5)


def losses_by_iteration(log):
    return [float(line.split(": ")[1]) for line in log.splitlines() if "Total loss" in line]


@pytest.mark.slow
def test_bfloat16_lbfgs_starts_with_float32_evaluations(base, images, monkeypatch):
    from tf_style import memory, optimizers

    k = optimizers.WARMUP_EVALUATIONS
    every = base.replace(num_iterations=k + 3, print_iter=1, save_iter=0)
    _, log32 = run(every)
    _, log16 = run(every.replace(precision="bfloat16"))
    assert "L-BFGS's first 5 evaluations run in float32" in log16
    assert "float32 (" not in log32
    float32, bfloat16 = losses_by_iteration(log32), losses_by_iteration(log16)
    # Iterations 1-5 are float32's (printed with 6 decimals), then bfloat16's own.
    np.testing.assert_allclose(bfloat16[:k], float32[:k], rtol=1e-6)
    assert all(abs(b / f - 1) > 1e-5 for b, f in zip(bfloat16[k:], float32[k:]))
    # A Stylizer's next run captures the warm-up's targets again: it equals a fresh run.
    other = every.replace(precision="bfloat16", style_image=str(images["style2"]))
    kept = stylizer.Stylizer()
    kept.run(every.replace(precision="bfloat16"))
    np.testing.assert_array_equal(kept.run(other), kept.run(other))
    # Not with Adam, nor when float32 would not fit (bfloat16 then runs from the start).
    assert "float32 (" not in run(every.replace(precision="bfloat16", optimizer="adam"))[1]
    estimate = memory.estimate_peak_bytes
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": 1 << 40)
    monkeypatch.setattr(
        memory,
        "estimate_peak_bytes",
        lambda *a, precision="float32", **k: (
            estimate(*a, precision=precision, **k) * (1 << 20 if precision == "float32" else 1)
        ),
    )
    _, lean = run(every.replace(precision="bfloat16"))
    assert "float32 (" not in lean
    assert abs(losses_by_iteration(lean)[1] / float32[1] - 1) > 1e-5


@pytest.mark.slow
def test_layer_weights_scale_exactly_the_printed_losses(base):
    weights = (2.0, 0.5, 4.0, 1.0, 0.25)  # powers of two: the products are exact
    seen = {}

    def first(progress):
        seen.setdefault(len(seen), (progress.content_losses, progress.style_losses))
        return True  # stop after the first print: both runs at the same image

    config = base.replace(init="image", print_iter=1)
    run(config, first)
    run(config.replace(style_layer_weights=weights, content_layer_weights=(8.0,)), first)
    (content, style), (weighted_content, weighted_style) = seen[0], seen[1]
    assert weighted_content == (8.0 * content[0],)
    assert weighted_style == tuple(w * s for w, s in zip(weights, style))
    # Given in another order than the network's, each weight stays with its layer.
    reordered = base.replace(style_layers=tuple(reversed(base.style_layers)))
    seen.clear()
    run(reordered.replace(init="image", print_iter=1), first)
    run(reordered.replace(init="image", print_iter=1, style_layer_weights=weights[::-1]), first)
    assert seen[1][1] == tuple(w * s for w, s in zip(weights, seen[0][1]))


def test_a_chain_lets_go_of_its_earlier_stages(tiny_run, monkeypatch):
    # Each stage's optimizer (its history, its targets) is released once the next stage is
    # prepared, so a -scales chain's fit check at the top sees the memory the lower ones held.
    import weakref

    from tf_style import prepare

    made = []
    original = prepare.prepare

    def recording(*args, **kwargs):
        prepared = original(*args, **kwargs)
        made.append(weakref.ref(prepared.optimizer))
        return prepared

    monkeypatch.setattr(prepare, "prepare", recording)
    kept = stylizer.Stylizer()
    kept.run(tiny_run.replace(scales=(16, 24, 32), scale_iterations=(3, 3, 3), save_iter=0))
    assert len(made) == 3
    assert [ref() is None for ref in made] == [True, True, False]


def test_a_chain_keeps_no_earlier_network_or_graph(tiny_run, monkeypatch):
    # What each stage leaves behind, counted once the next one is prepared. -padding replicate
    # makes new convolutions with their own weights: every build of the network calls the
    # model's shared layers again and Keras keeps each call on them, so a network rebuilt per
    # stage stayed in memory. And each traced chunk registered its custom gradients in
    # TensorFlow's global registry, which kept every earlier stage's graphs.
    import gc

    from tf_style import prepare

    live = []
    original = prepare.prepare

    def counting(*args, **kwargs):
        prepared = original(*args, **kwargs)
        gc.collect()
        objects = gc.get_objects()
        live.append(
            (sum(isinstance(o, tf.Variable) for o in objects),
             sum(isinstance(o, tf.Graph) for o in objects))
        )  # fmt: skip
        return prepared

    monkeypatch.setattr(prepare, "prepare", counting)
    config = tiny_run.replace(scales=(16, 24, 32), scale_iterations=(2, 2, 2), padding="replicate")
    stylizer.Stylizer().run(config.replace(save_iter=0))
    assert len(live) == 3 and live[0][0] > 0
    assert live[1:] == live[:1] * 2
