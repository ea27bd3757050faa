"""Spatial control: masks and region maps, against numpy on OpenCV's activations, finite
differences, and what a run paints where."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_style import caffe, errors, image_io, masks, preprocess, stylizer
from tf_style.config import StyleConfig
from tf_style.features import build_extractor
from tf_style.objective import Objective
from tf_style.report import Reporter
from tf_style.testing import processes
from tf_style.testing.oracles import opencv_outputs

STYLE = ["relu1_1", "relu2_1", "relu3_1"]


def save_gray(path, array):
    Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8), "L").save(path)
    return str(path)


def save_rgb(path, array, **options):
    Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8), "RGB").save(
        path, **options
    )
    return str(path)


def np_area(mask, h, w):
    """Area averaging to (h, w), written out: each output pixel averages the input pixels it
    covers, with fractional weights at the edges (docs/spatial-control.md)."""

    def weights(n_in, n_out):
        m = np.zeros((n_out, n_in))
        for i in range(n_out):
            lo, hi = i * n_in / n_out, (i + 1) * n_in / n_out
            for j in range(n_in):
                m[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
        return m / m.sum(axis=1, keepdims=True)

    return weights(mask.shape[0], h) @ mask @ weights(mask.shape[1], w).T


def np_guided_gram(f, m):
    """(F * m)^T (F * m) / (C * sum(m^2)) on a [1, H, W, C] activation and an [H, W] mask."""
    mat = f.reshape(-1, f.shape[-1]).astype(np.float64) * m.reshape(-1, 1)
    return mat.T @ mat / (f.shape[-1] * np.sum(m**2))


def run(config, **kwargs):
    stream = io.StringIO()
    return stylizer.Stylizer(Reporter(stream)).run(config, **kwargs), stream.getvalue()


@pytest.fixture
def halves(tmp_path, images):
    """Complementary left/right masks in the content's frame (40x56)."""
    left = np.zeros((40, 56))
    left[:, :28] = 1
    return save_gray(tmp_path / "left.png", left), save_gray(tmp_path / "right.png", 1 - left)


@pytest.mark.slow
def test_all_white_masks_change_nothing(tiny_run, images, tmp_path):
    white = save_gray(tmp_path / "white.png", np.ones((40, 56)))
    white1 = save_gray(tmp_path / "white1.png", np.ones((50, 50)))
    white2 = save_gray(tmp_path / "white2.png", np.ones((36, 60)))
    seen = []

    def first(progress):
        seen.append(progress.content_losses + progress.style_losses)
        return True  # the first printed iteration of each run: the same image in all

    config = tiny_run.replace(init="image", print_iter=1)
    # One style: its white output mask, white style-image mask and white content mask.
    runs = [config, config.replace(style_masks=white, style_image_masks=white1, content_mask=white)]
    # Two styles, white style-image masks only: blended as the original blends its styles.
    two = config.replace(style_image=f"{images['style1']},{images['style2']}")
    runs += [two, two.replace(style_image_masks=f"{white1},{white2}", content_mask=white)]
    finals = [run(c, callback=first)[0] for c in runs]
    for plain, masked in ((0, 1), (2, 3)):
        np.testing.assert_allclose(seen[masked], seen[plain], rtol=1e-6)
    # And whole runs make the same image, up to float32 rounding (the masked evaluation orders
    # its operations differently) that six L-BFGS steps amplify to about 6e-5.
    whole = [run(c.replace(print_iter=0))[0] for c in runs[:2]]
    np.testing.assert_allclose(whole[1], whole[0], atol=2e-4)
    assert finals[0].shape == finals[1].shape


def test_guided_grams_and_losses_at_iteration_one_match_numpy_on_opencv(tiny_vgg, images):
    proto, model_file = tiny_vgg
    content = preprocess.to_caffe(image_io.read_image(images["content"]))  # 40x56
    style = preprocess.to_caffe(image_io.read_image(images["style1"]))  # 50x50
    rng = np.random.default_rng(4)
    out_mask = np.clip(rng.uniform(-0.5, 1.5, (40, 56)), 0, 1)
    side_mask = np.clip(rng.uniform(-0.5, 1.5, (50, 50)), 0, 1)
    x = preprocess.random_init(40, 56, seed=2) * 5e4
    objective = Objective(
        build_extractor(caffe.load_model(proto, model_file), [], STYLE),
        content_weight=0.0,
        style_weight=100.0,
        tv_weight=0.0,
    )
    objective.capture_content(content)
    term = masks.StyleTerm(0, 0.75, out_mask, side_mask)
    objective.capture_styles([style], [1.0], [term])
    terms, _ = objective.terms(tf.constant(x))
    at_x = opencv_outputs(proto, model_file, x, STYLE)
    at_style = opencv_outputs(proto, model_file, style, STYLE)
    for j, name in enumerate(STYLE):
        f, s = at_x[name], at_style[name]
        m_out = np_area(out_mask, *f.shape[1:3])
        m_side = np_area(side_mask, *s.shape[1:3])
        got_gram = objective.style_targets[j][0][0].numpy()
        np.testing.assert_allclose(got_gram, np_guided_gram(s, m_side), rtol=1e-4, atol=1e-6)
        want = 0.75 * 100.0 * np.mean((np_guided_gram(f, m_out) - np_guided_gram(s, m_side)) ** 2)
        np.testing.assert_allclose(float(terms[j]), want, rtol=1e-4)


def test_guided_style_loss_gradient_matches_finite_differences(tiny_vgg, images):
    proto, model_file = tiny_vgg
    content = preprocess.to_caffe(image_io.read_image(images["content"]))
    style = preprocess.to_caffe(image_io.read_image(images["style2"]))
    rng = np.random.default_rng(5)
    left = np.zeros((40, 56))
    left[:, :30] = 1
    objective = Objective(
        build_extractor(caffe.load_model(proto, model_file), ["relu2_1"], ["relu1_1", "relu2_1"]),
        content_weight=1e-3,
        style_weight=1e-2,
        tv_weight=0.0,
    )
    objective.capture_content(content, mask=1 - 0.5 * left)
    terms = [masks.StyleTerm(0, 1.0, left), masks.StyleTerm(0, 2.0, 1 - left)]
    objective.capture_styles([style], [1.0], terms)
    x = content + rng.normal(0, 20, content.shape).astype(np.float32)
    _, grad, _ = objective(tf.constant(x))
    g = grad.numpy().astype(np.float64)

    def f(v):
        return float(objective(tf.constant(v.astype(np.float32)))[0])

    for _ in range(3):
        d = g / np.abs(g).max() + 0.5 * rng.normal(0, 1, x.shape)
        numeric = (f(x + 0.2 * d) - f(x - 0.2 * d)) / 0.4
        assert float(np.sum(g * d)) == pytest.approx(numeric, rel=1e-3)


def test_two_flat_styles_on_complementary_masks_colour_the_two_halves(tiny_run, tmp_path, halves):
    red = save_rgb(tmp_path / "red.png", np.ones((32, 32, 3)) * [0.9, 0.1, 0.1])
    blue = save_rgb(tmp_path / "blue.png", np.ones((32, 32, 3)) * [0.1, 0.1, 0.9])
    gray = save_rgb(tmp_path / "gray.png", np.full((40, 56, 3), 0.5))
    config = tiny_run.replace(
        content_image=gray,
        style_image=f"{red},{blue}",
        style_masks=",".join(halves),
        num_iterations=60,
        style_weight=1e4,
        content_weight=1.0,
        init="image",
        print_iter=0,
        save_iter=0,
    )
    final, _ = run(config)
    final = np.clip(final, 0, 1)
    left, right = final[:, :12].mean(axis=(0, 1)), final[:, -12:].mean(axis=(0, 1))
    # Each half moves from grey towards its own style's colour.
    assert left[0] - left[2] > 0.1 and right[2] - right[0] > 0.1, (left, right)
    # Swapping the masks swaps the halves.
    swapped, _ = run(config.replace(style_masks=",".join(halves[::-1])))
    swapped = np.clip(swapped, 0, 1)
    assert swapped[:, :12, 2].mean() > swapped[:, :12, 0].mean()


def test_region_maps_tie_colours_across_jpeg_noise_and_note_unmatched_ones(
    tiny_run, images, tmp_path
):
    content_map = np.zeros((40, 56, 3))
    content_map[:, :28] = [1, 0, 0]
    content_map[:, 28:] = [0, 1, 0]
    content_map[30:, :] = [0, 0, 1]  # blue: in no style map
    style_map = np.zeros((50, 50, 3))
    style_map[:25] = [1, 0, 0]
    style_map[25:] = [0, 1, 0]
    cmap = save_rgb(tmp_path / "content_map.jpg", content_map, quality=60)
    smap = save_rgb(tmp_path / "style_map.jpg", style_map, quality=60)
    config = tiny_run.replace(content_regions=cmap, style_regions=smap)
    content = preprocess.resize(image_io.read_image(images["content"]), 22, 32)
    style = preprocess.resize(image_io.read_image(images["style1"]), 32, 32)
    guidance = masks.load(config, content, [style])
    assert len(guidance.terms) == 2  # red and green, both from style 1
    red, green = sorted(guidance.terms, key=lambda t: -t.output_mask[0, 0])
    assert red.output_mask[:10, :10].min() == 1 and red.output_mask[:, 20:].max() == 0
    assert red.style_mask[:14].min() == 1 and red.style_mask[18:].max() == 0
    assert green.output_mask[:10, 20:].min() == 1
    (note,) = guidance.notes
    assert note.startswith("Region colour #0000ff") and "keeps the content only" in note
    final, log = run(config.replace(num_iterations=3))
    assert "Region colour #0000ff" in log and np.isfinite(final).all()


@pytest.mark.parametrize(
    "make,needles",
    [
        ("count", ["-style_masks has 2 images for 1 -style_image"]),
        ("unreadable", ["-style_masks: ", "bad.png"]),
        ("aspect", ["-style_masks ", "wide.png: the mask is 60x40", "aspect ratio"]),
        ("black", ["-style_masks ", "black.png: the mask is all black"]),
        ("regions", ["-content_regions ", "none of its colours", "-region_tolerance"]),
    ],
)
def test_bad_masks_stop_before_the_model_loads(tiny_run, tmp_path, make, needles):
    if make == "count":
        options = {"style_masks": f"{save_gray(tmp_path / 'a.png', np.ones((4, 4)))},x.png"}
    elif make == "unreadable":
        (tmp_path / "bad.png").write_bytes(b"not a png")
        options = {"style_masks": str(tmp_path / "bad.png")}
    elif make == "aspect":
        options = {"style_masks": save_gray(tmp_path / "wide.png", np.ones((40, 60)))}
    elif make == "black":
        options = {"style_masks": save_gray(tmp_path / "black.png", np.zeros((40, 56)))}
    else:
        red, green = np.zeros((40, 56, 3)), np.zeros((50, 50, 3))
        red[..., 0], green[..., 1] = 1, 1
        options = {
            "content_regions": save_rgb(tmp_path / "r.png", red),
            "style_regions": save_rgb(tmp_path / "g.png", green),
        }
    result = processes.run(processes.cli_for(tiny_run, **options), timeout=120)
    processes.assert_one_line(result.returncode, result.stderr, 2, *needles)
    assert "Successfully loaded" not in result.stdout  # refused before the model loads
    assert not os.path.exists(tiny_run.output_image)


def test_stylize_takes_masks_as_arrays_and_pil_images(tiny_run, images, tmp_path, halves):
    options = {
        k: getattr(tiny_run, k)
        for k in ("model_file", "proto_file", "image_size", "num_iterations", "gpu", "seed")
    }
    styles = [images["style1"], images["style2"]]
    from_files = stylizer.stylize(images["content"], styles, style_masks=list(halves), **options)
    as_arrays = [np.asarray(Image.open(p)) for p in halves]
    from_arrays = stylizer.stylize(
        images["content"], styles, style_masks=[as_arrays[0], Image.open(halves[1])], **options
    )
    np.testing.assert_array_equal(from_files, from_arrays)
    with pytest.raises(errors.ImageError, match="all black"):
        stylizer.stylize(images["content"], styles, style_masks=[as_arrays[0] * 0] * 2, **options)


# Two logical CPU devices stand in for two GPUs: the masked run split after relu2_1 against
# the same run on one device.
_SPLIT = """
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
cpus = [d.name for d in tf.config.list_logical_devices("CPU")]

from tf_style import stylizer
from tf_style.config import StyleConfig

config = StyleConfig(**json.loads(sys.argv[1]))
whole = stylizer.run(config)
split = stylizer.run(config.replace(gpu="0,1", multigpu_strategy="relu2_1"), devices=cpus)
print(float(np.abs(split - whole).max()))
"""


@pytest.mark.slow
def test_masks_through_a_two_device_split_equal_the_whole(tiny_run, tmp_path, halves, images):
    import json

    config = tiny_run.replace(
        style_image=f"{images['style1']},{images['style2']}",
        style_masks=",".join(halves),
        content_mask=halves[0],
        tv_weight=0.0,
    )
    keys = ("content_image", "style_image", "model_file", "proto_file", "image_size", "seed",
            "num_iterations", "style_masks", "content_mask", "tv_weight")  # fmt: skip
    settings = {k: getattr(config, k) for k in keys} | {"gpu": -1, "print_iter": 0}
    settings |= {"save_iter": 0, "output_image": config.output_image}
    result = processes.run(processes.snippet(_SPLIT, json.dumps(settings)), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.split()[-1]) < 1e-5


def test_masks_in_a_jobs_csv(tiny_run, images, tmp_path, halves):
    from tf_style import batch

    rows = [
        "content_image,style_image,output_image,style_masks",
        f'{images["content"]},"{images["style1"]},{images["style2"]}",a.png,"{",".join(halves)}"',
    ]
    (tmp_path / "jobs.csv").write_text("\n".join(rows) + "\n")
    (job,) = batch.read_jobs(tiny_run.replace(jobs=str(tmp_path / "jobs.csv")))
    assert job.style_masks == halves
    masked = StyleConfig(**{**tiny_run.__dict__, "jobs": ""}).replace(
        style_image=job.style_image, style_masks=job.style_masks
    )
    assert masks.guided(masked)
