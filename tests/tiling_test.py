"""-tile_size and -seamless: the tiled evaluation against the untiled one, the grid's geometry,
seams, resume, the memory it needs, and tileable textures."""

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tf_style import caffe, memory, prepare, stylizer, tiling
from tf_style.features import build_extractor
from tf_style.objective import Objective
from tf_style.report import Reporter
from tf_style.testing import processes, seams


def run(config, **kwargs):
    stream = io.StringIO()
    return stylizer.run(config, Reporter(stream), **kwargs), stream.getvalue()


@pytest.fixture
def model(tiny_vgg):
    return caffe.load_model(*tiny_vgg)


def objectives(model, layers, grid, content, style, together=1):
    ex = build_extractor(model, *layers)
    plain = Objective(ex, content_weight=5.0, style_weight=100.0, tv_weight=1e-3)
    tiled = tiling.TiledObjective(Objective(ex, content_weight=5.0, style_weight=100.0,
                                            tv_weight=1e-3), grid, together)  # fmt: skip
    for o in (plain, tiled):
        o.capture_content(content)
        o.capture_styles([style], [1.0])
    return plain, tiled


@pytest.mark.parametrize("size,tile,overlap", [((96, 128), 32, 16), ((100, 77), 40, 16)])
def test_the_cores_cover_the_image_and_the_weights_add_up_to_one(size, tile, overlap):
    grid = tiling.make_grid(*size, tile, overlap, 8)
    assert len(grid) > 1
    covered = np.zeros(size, int)
    total = np.zeros(size)
    ys, xs = np.arange(size[0]), np.arange(size[1])
    for k, ((y0, y1), (x0, x1)) in enumerate(grid.cores):
        covered[y0:y1, x0:x1] += 1
        oy, ox = grid.origins[k]
        # Every crop lies inside the image, starts on the stride and holds its core with the
        # overlap around it (less at the image's edges).
        assert 0 <= oy <= size[0] - grid.crop[0] and 0 <= ox <= size[1] - grid.crop[1]
        assert oy % 8 == 0 and ox % 8 == 0
        assert oy <= max(0, y0 - overlap) and oy + grid.crop[0] >= min(size[0], y1 + overlap / 2)
        weight = np.outer(grid.weights(k, 0, ys), grid.weights(k, 1, xs))
        # No weight outside the crop: the tile sees all it is weighted on.
        outside = np.ones(size, bool)
        outside[oy : oy + grid.crop[0], ox : ox + grid.crop[1]] = False
        assert weight[outside].max(initial=0) == 0
        total += weight
    assert (covered == 1).all()
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_one_tile_covering_the_image_is_the_untiled_run(tiny_run):
    plain, _ = run(tiny_run)
    one, log = run(tiny_run.replace(tile_size=512))
    np.testing.assert_array_equal(one, plain)
    assert "Tiles:" not in log


@pytest.mark.parametrize("together", [1, 2])
def test_the_tiled_content_gradient_is_the_untiled_one_within_the_margin(model, together):
    # relu1_2 sees 5 x 5 pixels; the tiles see 16 pixels around their cores. Two at a time,
    # 9 tiles leave the last one alone.
    rng = np.random.default_rng(0)
    content = rng.normal(0, 40, (1, 96, 128, 3)).astype(np.float32)
    x = rng.normal(0, 40, (1, 96, 128, 3)).astype(np.float32)
    for tile, count in ((32, 12), (44, 9), (48, 6)):
        grid = tiling.make_grid(96, 128, tile, 16, 1)
        assert len(grid) == count
        plain, tiled = objectives(
            model, (["relu1_2"], []), grid, content, content[:, :50], together
        )
        want_loss, want, _ = plain(tf.constant(x))
        loss, got, _ = tf.function(tiled, autograph=False)(tf.constant(x))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(np.abs(want).max()))
        np.testing.assert_allclose(float(loss), float(want_loss), rtol=1e-6)


def test_two_tiles_at_a_time_evaluate_as_one_at_a_time(model):
    # Content and style, 9 tiles: the last pair is one tile and nothing.
    rng = np.random.default_rng(2)
    content = rng.normal(0, 40, (1, 96, 128, 3)).astype(np.float32)
    x = tf.constant(rng.normal(0, 40, (1, 96, 128, 3)).astype(np.float32))
    grid = tiling.make_grid(96, 128, 44, 16, 1)
    layers = ["relu1_2"], ["relu1_1", "relu1_2"]
    _, one = objectives(model, layers, grid, content, content[:, :60])
    _, two = objectives(model, layers, grid, content, content[:, :60], together=2)
    (want_loss, want, want_terms), (loss, got, terms) = (
        tf.function(o, autograph=False)(x) for o in (one, two)
    )
    assert len(grid) == 9
    # The same tiles' gradients added in the same order; only the terms' sums are regrouped.
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(terms, want_terms, rtol=1e-6)
    np.testing.assert_allclose(float(loss), float(want_loss), rtol=1e-6)


def test_the_style_statistics_of_a_large_style_image_accumulate_over_its_tiles(model):
    rng = np.random.default_rng(1)
    content = rng.normal(0, 40, (1, 96, 128, 3)).astype(np.float32)
    style = rng.normal(0, 40, (1, 120, 90, 3)).astype(np.float32)  # larger than a crop
    grid = tiling.make_grid(96, 128, 32, 16, 1)
    for kind in ("gram", "mean_cov"):
        ex = build_extractor(model, ["relu1_1"], ["relu1_1", "relu1_2"])
        plain = Objective(ex, content_weight=1, style_weight=1, tv_weight=0, style_loss=kind)
        tiled = tiling.TiledObjective(
            Objective(ex, content_weight=1, style_weight=1, tv_weight=0, style_loss=kind), grid
        )
        for o in (plain, tiled):
            o.capture_content(content)
            o.capture_styles([style], [1.0])
        for want, got in zip(
            tf.nest.flatten(plain.style_targets), tf.nest.flatten(tiled.style_targets)
        ):
            scale = float(np.abs(want.numpy()).max())
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5 * scale)


@pytest.mark.slow
def test_a_tiled_run_leaves_no_seam(tiny_run):
    # A texture (no content) smoothed by TV: independent halves side by side jump visibly at
    # their border. The untiled run scores 1.05 on the grid's lines (nothing special there), two
    # independent halves 2.3 at theirs; the tiled run must stay below 1.25.
    texture = tiny_run.replace(
        content_image="examples/inputs/tubingen.jpg",
        style_image="examples/inputs/starry_night.jpg",
        image_size=256,
        num_iterations=60,
        content_weight=0.0,
        tv_weight=0.05,
        print_iter=0,
        save_iter=0,
    )
    grid = tiling.make_grid(192, 256, 96, 32, 16)
    lines = seams.grid_lines(grid)
    tiled, log = run(texture.replace(tile_size=96, tile_overlap=32))
    assert "Tiles: 6 of" in log
    assert seams.seam_score(np.clip(tiled, 0, 1), *lines) < 1.25
    one = np.clip(run(texture)[0], 0, 1)
    other = np.clip(run(texture.replace(seed=2))[0], 0, 1)
    stitched = np.concatenate([one[:, :128], other[:, 128:]], axis=1)
    assert seams.seam_score(stitched, cols=[128]) > 1.25  # the score sees a seam


@pytest.mark.slow
def test_a_seamless_texture_tiles_two_by_two_without_a_seam(tiny_run):
    texture = tiny_run.replace(
        content_image="examples/inputs/tubingen.jpg",
        style_image="examples/inputs/starry_night.jpg",
        image_size=128,
        num_iterations=60,
        content_weight=0.0,
        tv_weight=0.05,
        print_iter=0,
        save_iter=0,
    )

    def wrap_over_interior(seamless):
        image = np.clip(run(texture.replace(seamless=seamless))[0], 0, 1)
        h, w = image.shape[:2]
        mosaic = np.tile(image, (2, 2, 1))
        wrap = seams.seam_score(mosaic, rows=[h], cols=[w])
        return wrap / seams.seam_score(mosaic, rows=[h // 2], cols=[w // 2])

    # Measured: 1.01 with -seamless 1, 1.21 without; the wrap edges of a plain texture are seams.
    assert wrap_over_interior(1) < 1.1 < wrap_over_interior(0)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_tiled_run_resumes_byte_identically(tiny_run, optimizer):
    config = tiny_run.replace(
        optimizer=optimizer, learning_rate=1.0, image_size=64, tile_size=24, tile_overlap=8
    )
    run(config)
    whole = Path(config.output_image).read_bytes()
    os.unlink(config.output_image)
    run(config.replace(checkpoint_iter=2), callback=lambda p: p.iteration >= 4)
    _, log = run(config.replace(resume=True))
    assert "Resuming from iteration 4" in log and "Tiles:" in log
    assert Path(config.output_image).read_bytes() == whole


@pytest.mark.slow
def test_tile_size_auto_tiles_only_what_does_not_fit(tiny_run, monkeypatch):
    config = tiny_run.replace(tile_size="auto", optimizer="adam", image_size=64)
    _, log = run(config)
    assert "Tiles:" not in log  # it fits whole
    # Memory for the image's state and a 128-px tile's network, not for the whole network.
    from tf_style.prepare import load_model  # noqa: F401 - the model is loaded as a run loads it

    ex = build_extractor(caffe.load_model(config.proto_file, config.model_file),
                         config.content_layers, config.style_layers)  # fmt: skip
    big = 256
    h, w = big * 40 // 56, big
    whole = memory.estimate_peak_bytes(ex, h, w, optimizer="adam")
    tile = memory.estimate_peak_bytes(ex, h, w, optimizer="adam", tile=memory.tile_crop(h, w, 128))
    assert tile < whole
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": (tile + whole) // 2)
    with pytest.raises(memory.MemoryEstimateError, match=r"-tile_size \d+ \(or auto\)"):
        run(config.replace(tile_size=0, image_size=big))
    _, log = run(config.replace(image_size=big, num_iterations=2))
    assert "Tiles:" in log
    # In a chain, the tiles start at the scale that no longer fits whole.
    _, log = run(config.replace(scales=(64, big), num_iterations=2))
    first, second = log.split("Scale 2 / 2")
    assert "Tiles:" not in first and "Tiles:" in second


@pytest.mark.slow
def test_two_tiles_run_side_by_side_where_they_fit_and_hold_less_than_the_image(
    tiny_run, monkeypatch
):
    config = tiny_run.replace(optimizer="adam", image_size=256, num_iterations=2, tile_size=96)
    ex = build_extractor(caffe.load_model(config.proto_file, config.model_file),
                         config.content_layers, config.style_layers)  # fmt: skip
    h, w = 256 * 40 // 56, 256  # the tiny run's content is 56 x 40
    stride = tiling.network_stride(ex)
    grid = tiling.make_grid(h, w, 96, max(stride, 96 // 4 // stride * stride), stride)
    assert 2 * grid.crop[0] * grid.crop[1] < h * w
    one, two = (
        memory.estimate_peak_bytes(ex, h, w, optimizer="adam", tile=grid.crop, tiles_together=n)
        for n in (1, 2)
    )
    for have, together in ((two, 2), (two - 1, 1), (None, 1)):
        monkeypatch.setattr(memory, "available_bytes", lambda device="CPU", have=have: have)
        _, log = run(config)
        assert f"Tiles: {len(grid)} of" in log
        assert ("two at a time" in log) == (together == 2), (have, one, two)
    # Two crops of 128 px tiles hold more pixels than the image: one at a time, room or not.
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": 1 << 40)
    _, log = run(config.replace(tile_size=128))
    assert "Tiles: 4 of" in log and "two at a time" not in log
    # Under -jit XLA would run them in turn; the tiled run compiles whole and agrees.
    plain, _ = run(config)
    compiled, log = run(config.replace(jit=True))
    assert "Tiles:" in log and "two at a time" not in log
    np.testing.assert_allclose(compiled, plain, atol=1e-4)


# A tiled run's peak resident memory in a fresh process: content relu2_1 and style relu1_1 and
# relu2_1 of a VGG whose first blocks have 64 channels, 3 Adam steps.
_PEAK = """
import json, sys
from tf_style import stylizer
from tf_style.config import StyleConfig

stylizer.run(StyleConfig(**json.loads(sys.argv[1])))
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""


@pytest.mark.slow
def test_the_peak_memory_of_a_tiled_run_stays_flat_as_the_image_grows(tmp_path, images):
    from tf_style.testing import caffe_writer

    proto, weights = tmp_path / "wide.prototxt", tmp_path / "wide.caffemodel"
    caffe_writer.write_vgg(weights, widths=(64, 64, 8, 8, 8), fc=None, prototxt_path=proto)
    base = {
        "content_image": str(images["content"]),
        "style_image": str(images["style1"]),
        "model_file": str(weights),
        "proto_file": str(proto),
        "content_layers": "relu2_1",
        "style_layers": "relu1_1,relu2_1",
        "optimizer": "adam",
        "num_iterations": 3,
        "print_iter": 0,
        "save_iter": 0,
        "gpu": -1,
        "output_image": str(tmp_path / "out.png"),
    }

    def peaks(**changes):
        commands = [
            processes.snippet(_PEAK, json.dumps({**base, "image_size": size, **changes}))
            for size in (512, 1024)
        ]
        # One after the other: side by side they would share the two cores' memory bandwidth,
        # not their memory, but the page cache and the allocator are quieter alone.
        results = [processes.finish(processes.start(command)) for command in commands]
        for code, _, err in results:
            assert code == 0, err[-2000:]
        small, large = (int(out.split()[-1]) << 10 for _, out, _ in results)
        return large - small

    plain, tiled = peaks(), peaks(tile_size=128)
    # Going from 512x365 to 1024x731 adds 0.56 megapixels: about 1.2 kB each of activations
    # untiled, but only the image-sized buffers, the content's relu2_1 and the gradient tiled.
    assert tiled < 0.35 * plain, (tiled / 2**20, plain / 2**20)


@pytest.mark.slow
def test_masks_compose_with_tiles(tiny_run, tmp_path):
    from PIL import Image

    left = np.zeros((40, 56), np.uint8)
    left[:, :28] = 255
    white = tmp_path / "white.png"
    Image.fromarray(np.full((40, 56), 255, np.uint8)).save(white)
    Image.fromarray(left).save(tmp_path / "left.png")
    seen = []

    def first(progress):
        seen.append(progress.content_losses + progress.style_losses)
        return True

    tiled = tiny_run.replace(
        image_size=64, tile_size=24, tile_overlap=8, init="image", print_iter=1
    )
    run(tiled, callback=first)
    run(tiled.replace(style_masks=str(white), content_mask=str(white)), callback=first)
    np.testing.assert_allclose(seen[1], seen[0], rtol=1e-6)  # all white changes nothing
    run(tiled.replace(style_masks=str(tmp_path / "left.png")), callback=first)
    assert all(np.isfinite(seen[2])) and seen[2][1:] != seen[0][1:]


def _kernels(config, tmp_path) -> tuple[set[str], str]:
    """The kernels a run of `config` ran (from the profiler's record), and its log."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    folder = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    tf.profiler.experimental.start(str(folder))
    try:
        _, log = run(config)
    finally:
        tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(next(folder.rglob("*.xplane.pb")).read_bytes())
    return {e.name.rsplit(":", 1)[-1] for p in space.planes for e in p.event_metadata.values()}, log


@pytest.mark.parametrize("tile_size", [0, 48])
def test_every_max_pool_gradient_gets_onednns_kernel(tiny_run, tmp_path, tile_size):
    # Inside the optimizers' and the tiles' loops, oneDNN's graph pass used to leave max pool
    # gradients to TensorFlow's own kernel, 18x slower, in every tiled run seen and a sixth of
    # the plain ones.
    ran, log = _kernels(tiny_run.replace(image_size=96, tile_size=tile_size), tmp_path)
    if "_MklNativeMaxPool" not in ran:
        pytest.skip("oneDNN's kernels are off on this machine")
    assert ("Tiles:" in log) == bool(tile_size)
    assert "MaxPoolGrad" not in ran
    assert "_MklNativeMaxPoolGrad" in ran


@pytest.mark.parametrize("tile_size", [0, 128])
def test_no_sum_is_added_up_in_the_order_its_terms_arrive(
    tiny_run, tmp_path, tile_size, monkeypatch
):
    # Grappler's memory optimizer turns a sum of more than two tensors that it finds live at its
    # estimate of the peak into a temporary variable that each term is added to when it is
    # ready, in whatever order they come: runs with a fixed seed differed (by up to 14-18 of 255
    # after 20 quickstart iterations; L-BFGS's direction is such a sum), so every run turns that
    # pass off (prepare.sums_in_a_fixed_order). The estimate passes its threshold (80 % of the
    # 256 MiB TensorFlow assumes a CPU has) at 512 px here.
    from tensorflow.core.protobuf import rewriter_config_pb2
    from tensorflow.python.eager import context

    config = tiny_run.replace(image_size=512, tile_size=tile_size)
    ctx = context.context()
    with monkeypatch.context() as patched:  # first the same run with TensorFlow's default
        patched.setattr(ctx, "_config", ctx._config)  # restored on leaving
        patched.setattr(prepare, "sums_in_a_fixed_order", lambda: None)
        prepare.memory_optimization(rewriter_config_pb2.RewriterConfig.DEFAULT_MEM_OPT)
        ran, _ = _kernels(config, tmp_path)
    ctx.function_call_options = None
    if "TemporaryVariable" not in ran:
        pytest.skip("this TensorFlow no longer rewrites these sums; nothing to check")
    ran, log = _kernels(config, tmp_path)
    assert ("two at a time" in log) == bool(tile_size)
    assert "AssignAdd" not in ran and "TemporaryVariable" not in ran
