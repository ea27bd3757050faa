"""Reliability: every bad input ends in one line and no file; interrupts, NaN and -resume.

Most cases go through the real command in subprocesses. Errors found before TensorFlow loads
(options, image files, the output path) cost a fraction of a second each; the few that need
TensorFlow run concurrently.
"""

import io
import os
import signal
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tf_style import checkpoint, errors, image_io, models, stylizer
from tf_style import config as config_module
from tf_style.config import StyleConfig
from tf_style.features import build_extractor, minimum_input_size
from tf_style.report import Reporter
from tf_style.testing import processes

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def run_all(argvs):
    """Runs several commands at once; returns (returncode, stdout, stderr) for each."""
    started = [processes.start(processes.cli(*a)) for a in argvs]
    return [processes.finish(p) for p in started]


def assert_one_line(code, err, want_code, *needles):
    lines = err.strip().splitlines()
    assert code == want_code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("tf-style: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def png_header_only(path, width, height):
    """A PNG that claims width x height pixels: a decompression bomb's header."""

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    )


@pytest.fixture
def base(tiny_run, tmp_path):
    (tmp_path / "out").mkdir()
    output = str(tmp_path / "out" / "out.png")
    return tiny_run.replace(num_iterations=12, print_iter=0, save_iter=0, output_image=output)


def base_args(base, **changes):
    values = {
        "content_image": base.content_image,
        "style_image": ",".join(base.style_image),
        "model_file": base.model_file,
        "proto_file": base.proto_file,
        "image_size": base.image_size,
        "num_iterations": base.num_iterations,
        "print_iter": 0,
        "save_iter": 0,
        "output_image": base.output_image,
        "gpu": -1,
        "seed": 1,
    }
    values.update(changes)
    return [part for k, v in values.items() for part in (f"-{k}", str(v))]


@pytest.fixture
def bad_files(images, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    png = images["content"].read_bytes()
    jpeg = io.BytesIO()
    Image.open(images["content"]).save(jpeg, format="JPEG")
    files = {
        "missing": folder / "no_such.png",
        "directory": folder,
        "empty": folder / "empty.png",
        "truncated_png": folder / "cut.png",
        "truncated_jpeg": folder / "cut.jpg",
        "not_an_image": folder / "notes.jpg",
        "bomb": folder / "bomb.png",
    }
    files["empty"].write_bytes(b"")
    files["truncated_png"].write_bytes(png[: len(png) // 2])
    files["truncated_jpeg"].write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    files["not_an_image"].write_text("not a picture\n")
    png_header_only(files["bomb"], 20_000, 20_000)  # 4e8 pixels: above the default limit
    return files


IMAGE_ERRORS = {
    "missing": "no such file",
    "directory": "is a directory",
    "empty": "empty",
    "truncated_png": "truncated or corrupt",
    "truncated_jpeg": "truncated or corrupt",
    "not_an_image": "not an image",
    "bomb": "-max_pixels",
}


def test_bad_image_files_through_the_cli(base, bad_files):
    cases = [(role, case) for case in IMAGE_ERRORS for role in ("content_image", "style_image")]
    cases.append(("init_image", "empty"))
    results = run_all([base_args(base, **{role: bad_files[case]}) for role, case in cases])
    for (_, case), (code, out, err) in zip(cases, results):
        assert_one_line(code, err, 2, str(bad_files[case]), IMAGE_ERRORS[case])
        assert out == ""
    assert os.listdir(os.path.dirname(base.output_image)) == []


def test_bad_image_files_in_the_library(base, bad_files):
    # The same checks without the CLI's early look at the files.
    for case, needle in IMAGE_ERRORS.items():
        for role in ("content_image", "style_image"):
            with pytest.raises(image_io.ImageError, match=needle):
                stylizer.run(base.replace(**{role: str(bad_files[case])}))
    assert os.listdir(os.path.dirname(base.output_image)) == []


def test_pixel_limit_is_a_flag(base, images):
    # The 40x56 content has 2240 pixels.
    code, _, err = run_all([base_args(base, max_pixels=2000)])[0]
    assert_one_line(code, err, 2, "40", "2240 pixels", "-max_pixels")
    assert os.listdir(os.path.dirname(base.output_image)) == []
    with pytest.raises(image_io.ImageError, match="2240 pixels"):
        stylizer.run(base.replace(max_pixels=2000))
    # Raised above the file's size, the same image is accepted (read_image is what run uses).
    assert image_io.read_image(images["content"], max_pixels=2240).shape == (40, 56, 3)
    assert StyleConfig.max_pixels == image_io.DEFAULT_MAX_PIXELS
    assert config_module.DEFAULT_MAX_PIXELS == image_io.DEFAULT_MAX_PIXELS


def test_bad_options_through_the_cli(base, images, tmp_path):
    out_dir = tmp_path / "out"
    two = f"{images['style1']},{images['style2']}"
    if os.geteuid() == 0:
        read_only = "/proc/sys"  # root may write anywhere else
    else:
        read_only = tmp_path / "locked"
        read_only.mkdir(mode=0o500)
    (tmp_path / "folder.png").mkdir()
    cases = [
        ({"image_size": 0}, "-image_size"),
        ({"image_size": -5}, "-image_size"),
        ({"num_iterations": 0}, "-num_iterations"),
        ({"num_iterations": -3}, "-num_iterations"),
        ({"style_scale": 0}, "-style_scale"),
        ({"max_pixels": 0}, "-max_pixels"),
        ({"checkpoint_iter": -1}, "-checkpoint_iter"),
        ({"content_weight": -1}, "-content_weight"),
        ({"style_weight": -1e3}, "-style_weight"),
        ({"tv_weight": -0.1}, "-tv_weight"),
        ({"learning_rate": 0}, "-learning_rate"),
        ({"style_blend_weights": "1,2"}, "one weight per style image"),
        ({"style_image": two, "style_blend_weights": "0,0"}, "sum to zero"),
        ({"optimizer": "sgd"}, "-optimizer"),
        ({"pooling": "median"}, "-pooling"),
        ({"init": "noise"}, "-init"),
        ({"gpu": -2}, "-gpu"),
        ({"output_image": out_dir / "out"}, "no extension"),
        ({"output_image": out_dir / "out.xyz"}, "unknown image file extension"),
        ({"output_image": tmp_path / "nowhere" / "out.png"}, "does not exist"),
        ({"output_image": tmp_path / "folder.png"}, "is a directory"),
        ({"output_image": f"{read_only}/out.png"}, "not writable"),
    ]
    results = run_all([base_args(base, **change) for change, _ in cases])
    for (_, needle), (code, out, err) in zip(cases, results):
        assert_one_line(code, err, 2, needle)
        assert out == ""
    assert os.listdir(out_dir) == []


def test_debug_shows_the_traceback(base):
    code, _, err = run_all([[*base_args(base, image_size=0), "-debug"]])[0]
    assert code == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("tf-style: -image_size")


def test_errors_found_with_tensorflow(base, images):
    # Through the CLI: found after TensorFlow and the model have loaded, still one line.
    code, _, err = run_all([base_args(base, image_size=12, pooling="avg")])[0]
    line = assert_one_line(code, err, 2, str(images["content"]), "12x8", "16x16")
    assert "-image_size" in line
    # ValueErrors (exit 2 in the CLI) from the library, before any file is written.
    with pytest.raises(ValueError, match="relu9_9"):
        stylizer.run(base.replace(style_layers=("relu1_1", "relu9_9")))
    with pytest.raises(errors.DeviceError, match="-gpu 3"):
        stylizer.run(base.replace(gpu=3))
    assert os.listdir(os.path.dirname(base.output_image)) == []


def test_every_kind_of_image_file_runs(base, images, tmp_path):
    pixels = np.asarray(Image.open(images["content"]))  # 40 x 56
    folder = tmp_path / "odd"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed portrait: rotate 90 degrees clockwise
    Image.fromarray(pixels).save(folder / "rotated.jpg", exif=exif)
    Image.fromarray(np.dstack([pixels, pixels[..., 0]])).save(folder / "alpha.png")
    Image.fromarray(pixels[..., 1]).save(folder / "gray.png")
    image_io.write_image(folder / "deep.png", pixels / 255.0, bit_depth=16)
    Image.fromarray(pixels).convert("CMYK").save(folder / "cmyk.jpg")
    styles = [str(folder / n) for n in ("alpha.png", "gray.png", "deep.png", "cmyk.jpg")]
    # In the library: the CLI only passes the paths on (its early look uses the same reader).
    log = io.StringIO()
    config = base.replace(content_image=str(folder / "rotated.jpg"), style_image=styles)
    stylizer.run(config.replace(num_iterations=2), Reporter(log))
    assert "Capturing style target 4" in log.getvalue()
    # The EXIF rotation is honoured: the output is portrait, 32 high and int(40*32/56) wide.
    assert image_io.read_image(base.output_image).shape == (32, 22, 3)


def test_minimum_size_from_the_pooling(tiny_vgg):
    proto, model_file = tiny_vgg
    model, _ = models.load(str(model_file), str(proto))

    def floor_pools(size, pools):
        for _ in range(pools):
            size //= 2
        return size

    # Max pooling rounds up (Caffe): any size keeps at least 1x1. Average pooling rounds down;
    # relu5_1 sits after 4 pools and 3x3 convolutions with padding 1.
    want_avg = min(s for s in range(1, 100) if floor_pools(s, 4) >= 1)
    for pooling, want in (("max", 1), ("avg", want_avg)):
        extractor = build_extractor(model, ("relu4_2",), STYLE_LAYERS, pooling)
        assert minimum_input_size(extractor) == (want, want)
    extractor = build_extractor(model, (), ("relu1_1", "relu3_1"), "avg")
    assert minimum_input_size(extractor) == (4, 4)  # two pools: floor(floor(s/2)/2) >= 1


def test_too_small_images_name_the_image_and_the_fix(base, images):
    avg = base.replace(pooling="avg")
    # The 40x56 content at -image_size 20 is 14x20: too low for the 16x16 minimum.
    with pytest.raises(errors.ImageError, match=r"content.png: resized to 20x14.*16x16"):
        stylizer.run(avg.replace(image_size=20))
    # The 50x50 style at ceil(0.5 * 24) = 12 pixels.
    with pytest.raises(errors.ImageError, match=r"style1.png: resized to 12x12.*-style_scale"):
        stylizer.run(avg.replace(image_size=24, style_scale=0.5))
    assert os.listdir(os.path.dirname(base.output_image)) == []


def test_nan_loss_stops_with_the_last_finite_image(base):
    args = base_args(base, optimizer="adam", learning_rate=1e30)
    code, _, err = run_all([args])[0]
    assert_one_line(code, err, 1, "NaN or infinite after iteration 1", base.output_image)
    assert image_io.read_image(base.output_image).shape == (22, 32, 3)
    # The kept image is the first (finite) one: the random initial image, whose mean is the
    # model's mean colour (VGG's, in RGB, over 256).
    mean = image_io.read_image(base.output_image).mean(axis=(0, 1))
    np.testing.assert_allclose(mean, np.array([123.68, 116.779, 103.939]) / 256, atol=0.01)


def interrupted(base, signum, *extra):
    """Runs the CLI, sends `signum` once the optimization runs; returns (code, stderr)."""
    args = base_args(base, num_iterations=100_000, optimizer="adam", learning_rate=1)
    process = processes.start(processes.cli(*args, *extra))
    for line in process.stdout:
        if line.startswith("Running optimization"):
            process.send_signal(signum)
            break
    code, _, err = processes.finish(process)
    return code, err


def stop_iteration(line):
    return int(line.split(" at iteration ")[1].split()[0])


def test_sigint_saves_the_current_image(base):
    code, err = interrupted(base, signal.SIGINT)
    line = assert_one_line(code, err, 130, "SIGINT", base.output_image)
    assert 0 < stop_iteration(line) < 100_000
    assert image_io.read_image(base.output_image).shape == (22, 32, 3)
    assert os.listdir(os.path.dirname(base.output_image)) == ["out.png"]  # no temporary file


@pytest.mark.slow
def test_sigterm_checkpoint_and_resume_equal_an_uninterrupted_run(base):
    code, err = interrupted(base, signal.SIGTERM, "-checkpoint_iter", "5")
    line = assert_one_line(code, err, 143, "SIGTERM", "out.ckpt", "-resume")
    stopped = stop_iteration(line)
    assert sorted(os.listdir(os.path.dirname(base.output_image))) == ["out.ckpt", "out.png"]
    adam = base.replace(optimizer="adam", learning_rate=1.0, num_iterations=stopped + 7)
    stylizer.run(adam.replace(resume=True))
    resumed = open(base.output_image, "rb").read()
    stylizer.run(adam)
    assert open(base.output_image, "rb").read() == resumed


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_resume_is_byte_identical(base, optimizer):
    config = base.replace(optimizer=optimizer, learning_rate=1.0)
    stylizer.run(config)
    whole = open(base.output_image, "rb").read()
    os.unlink(base.output_image)
    log = io.StringIO()
    # Checkpoints at 4 and, on the stop, at 6; the run ends at 6 of 12.
    stylizer.run(
        config.replace(checkpoint_iter=4, print_iter=3),
        Reporter(log),
        callback=lambda p: p.iteration >= 6,
    )
    assert "Stopped at iteration 6" in log.getvalue()
    ckpt = checkpoint.checkpoint_dir(base.output_image)
    # A checkpoint cut short by a kill: files that latest.json does not name are ignored.
    open(os.path.join(ckpt, "ckpt-9-00000000.index"), "wb").write(b"half")
    log = io.StringIO()
    stylizer.run(config.replace(resume=True), Reporter(log))
    assert "Resuming from iteration 6" in log.getvalue()
    assert open(base.output_image, "rb").read() == whole


def test_resume_refuses_a_missing_or_foreign_checkpoint(base):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint in .*out.ckpt"):
        stylizer.run(base.replace(resume=True))
    stylizer.run(base.replace(num_iterations=2, checkpoint_iter=2))
    for change, needle in (
        ({"image_size": 24}, "-image_size was 32 and is now 24"),
        ({"optimizer": "adam"}, "-optimizer was lbfgs"),
        ({"style_layers": ("relu1_1",)}, "-style_layers"),
    ):
        with pytest.raises(checkpoint.CheckpointError, match=needle):
            stylizer.run(base.replace(resume=True, **change))
    # -num_iterations may grow: the run goes on from iteration 2.
    log = io.StringIO()
    stylizer.run(base.replace(resume=True, num_iterations=3, print_iter=1), Reporter(log))
    assert "Resuming from iteration 2" in log.getvalue()
    assert "Iteration 3 / 3" in log.getvalue()
