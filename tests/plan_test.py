"""-scales: a coarse-to-fine chain in one process."""

import numpy as np
import pytest

from tf_style import image_io, models, plan, preprocess, stylizer


def test_stages_chain_sizes_names_and_overrides(tiny_run, tmp_path):
    config = tiny_run.replace(
        scales=(16, 24, 32),
        scale_iterations=(5, 4, 3),
        scale_style_weight=(1.0, 2.0, 3.0),
        scale_lbfgs_num_correction=(10, 5, 2),
    )
    chain = plan.stages(config)
    assert [s.image_size for s in chain] == [16, 24, 32]
    assert [s.num_iterations for s in chain] == [5, 4, 3]
    assert [s.style_weight for s in chain] == [1.0, 2.0, 3.0]
    assert [s.lbfgs_num_correction for s in chain] == [10, 5, 2]
    assert [s.content_weight for s in chain] == [tiny_run.content_weight] * 3
    names = [s.output_image for s in chain]
    assert names == [
        str(tmp_path / "out_16px.png"),
        str(tmp_path / "out_24px.png"),
        str(tmp_path / "out.png"),
    ]
    assert chain[0].init == tiny_run.init and not chain[0].init_image
    assert [(s.init, s.init_image) for s in chain[1:]] == [("image", names[0]), ("image", names[1])]
    assert all(not s.scales and not s.scale_iterations for s in chain)


@pytest.mark.slow
def test_three_scales_reuse_the_model_and_start_from_the_previous_stage(
    tiny_run, tmp_path, monkeypatch
):
    loads = []
    original = models.load
    monkeypatch.setattr(models, "load", lambda *a, **k: loads.append(a) or original(*a, **k))
    # One evaluation at the last scale: its result is its initial image, the previous stage's
    # saved image enlarged (the original's upscale rule).
    config = tiny_run.replace(scales=(16, 24, 32), scale_iterations=(6, 4, 1), save_iter=0)
    final = stylizer.run(config)
    assert len(loads) == 1  # the network is loaded once for the whole chain
    sizes = {p.name: image_io.read_image(p).shape[:2] for p in tmp_path.glob("*.png")}
    assert sizes == {"out_16px.png": (11, 16), "out_24px.png": (17, 24), "out.png": (22, 32)}
    previous = image_io.read_image(tmp_path / "out_24px.png")
    np.testing.assert_allclose(final, preprocess.resize(previous, 22, 32), atol=1e-5)
    # The first stage is a plain run at its size.
    first = stylizer.run(
        config.replace(
            scales=(),
            scale_iterations=(),
            image_size=16,
            num_iterations=6,
            output_image=str(tmp_path / "a.png"),
        )
    )
    np.testing.assert_array_equal(
        image_io.read_image(tmp_path / "a.png"), image_io.read_image(tmp_path / "out_16px.png")
    )
    assert first.shape == (11, 16, 3)


@pytest.mark.slow
def test_colour_transfer_composes_with_scales(tiny_run, images):
    two = f"{images['style1']},{images['style2']}"
    for optimizer in ("lbfgs", "adam"):
        config = tiny_run.replace(
            scales=(16, 32), scale_iterations=(4, 3), style_image=two,
            color_transfer="luminance", optimizer=optimizer,
        )  # fmt: skip
        final = stylizer.run(config)
        content = preprocess.resize(image_io.read_image(images["content"]), *final.shape[:2])
        yuv = preprocess.RGB_TO_YUV
        np.testing.assert_allclose((final @ yuv.T)[..., 1:], (content @ yuv.T)[..., 1:], atol=1e-4)
    matched = stylizer.run(tiny_run.replace(scales=(16, 32), color_transfer="match"))
    assert np.isfinite(matched).all()


def test_every_scale_records_the_whole_chain(tiny_run, tmp_path):
    from tf_style import provenance

    config = tiny_run.replace(scales=(16, 24), scale_iterations=(2, 1), save_iter=0)
    stylizer.run(config)
    for name in ("out_16px.png", "out.png"):
        flags = provenance.show_config(tmp_path / name)
        assert "--scales=16,24" in flags and "--scale_iterations=2,1" in flags


@pytest.mark.slow
def test_the_library_runs_a_chain_as_the_command_does(tiny_run, tmp_path):
    import tf_style

    config = tiny_run.replace(scales=(16, 40), save_iter=0)
    final = tf_style.run(config)
    assert final.shape == (28, 40, 3)  # the last scale's size, not -image_size's 32
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["out.png", "out_16px.png"]
    # Without files, each stage starts from the previous result in memory: the same image as
    # the chain through files, up to the files' 8-bit rounding of the first stage's result.
    options = {
        k: getattr(config, k)
        for k in ("model_file", "proto_file", "num_iterations", "gpu", "seed", "scales")
    }
    kept = tf_style.stylize(tiny_run.content_image, tiny_run.style_image, **options)
    assert kept.shape == (28, 40, 3)
    assert np.abs(kept - np.clip(final, 0, 1)).mean() < 0.02
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["out.png", "out_16px.png"]
