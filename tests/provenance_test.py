"""Every written PNG says what made it, and `-show_config` turns that back into a flagfile."""

import hashlib
import io
import json
import os

import numpy as np
import pytest
from absl import flags
from PIL import Image

from tf_style import cli, image_io, provenance, stylizer
from tf_style.config import StyleConfig
from tf_style.testing import processes


@pytest.fixture(scope="module")
def made(tiny_vgg, images, tmp_path_factory):
    """A 2-iteration run on the tiny model that saves an intermediate and a final 16-bit PNG."""
    proto, model = tiny_vgg
    folder = tmp_path_factory.mktemp("made")
    config = StyleConfig(
        content_image=str(images["content"]),
        style_image=f"{images['style1']},{images['style2']}",
        style_blend_weights="3,7",
        model_file=str(model),
        proto_file=str(proto),
        image_size=32,
        num_iterations=2,
        save_iter=1,
        print_iter=0,
        content_weight=2.5,
        tv_weight=0.0,
        normalize_gradients=True,
        output_image=str(folder / "out.png"),
        output_bit_depth=16,
        gpu=-1,
        seed=4,
    )
    final = stylizer.run(config)
    return config, folder, final


def test_every_png_carries_flags_versions_and_model_checksum(made, tiny_vgg):
    config, folder, _ = made
    _, model = tiny_vgg
    want_md5 = hashlib.md5(model.read_bytes()).hexdigest()
    for name in ("out.png", "out_1.png"):
        chunks = image_io.read_metadata(folder / name)
        assert f"--content_weight={config.content_weight!r}\n" in chunks["tf_style:flags"]
        assert f"--output_image={config.output_image}\n" in chunks["tf_style:flags"]
        assert chunks["tf_style:model"] == f"md5 {want_md5} {os.path.realpath(model)}"
        versions = json.loads(chunks["tf_style:versions"])
        assert versions["numpy"] == np.__version__
        assert set(versions) == {"tf_style", "tensorflow", "keras", "numpy"}
        assert chunks["tf_style:directory"] == os.getcwd()


def test_show_config_flagfile_gives_back_the_same_config(made, tmp_path):
    config, folder, _ = made
    result = processes.run(processes.cli("-show_config", folder / "out.png"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"# {folder / 'out.png'} was made by tf_style ")
    flagfile = tmp_path / "again.flags"
    flagfile.write_text(result.stdout)
    values = flags.FlagValues()
    cli.define_flags(values)
    values(["tf-style", f"--flagfile={flagfile}"])
    assert cli.config_from_flags(values) == config


def test_flagfile_round_trips_defaults_and_unset_values():
    config = StyleConfig(gpu=None, style_blend_weights=None, tv_weight=1e-7, init_image="")
    text = provenance.config_flagfile(config)
    assert "--gpu=nil\n" in text and "--tv_weight=1e-07\n" in text
    values = flags.FlagValues()
    cli.define_flags(values)
    values(["tf-style", *text.splitlines()])
    assert cli.config_from_flags(values) == config


def test_show_config_refuses_a_file_without_provenance(tmp_path):
    plain = tmp_path / "plain.png"
    image_io.write_image(plain, np.zeros((4, 4, 3)))
    result = processes.run(processes.cli("--show_config", plain), timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds no tf_style configuration" in lines[0]


def test_model_checksum_is_computed_once_per_file_version(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"first")
    before = provenance._md5.cache_info().misses
    assert provenance.model_md5(path) == hashlib.md5(b"first").hexdigest()
    assert provenance.model_md5(path) == hashlib.md5(b"first").hexdigest()
    assert provenance._md5.cache_info().misses == before + 1
    path.write_bytes(b"second!")  # another size (and mtime): hashed again
    assert provenance.model_md5(path) == hashlib.md5(b"second!").hexdigest()
    assert provenance._md5.cache_info().misses == before + 2


def test_16_bit_png(made):
    _, folder, final = made
    want = np.floor(np.clip(final, 0, 1) * 65535) / 65535
    np.testing.assert_allclose(image_io.read_image(folder / "out.png"), want, atol=1e-12)


def test_jpeg_quality(made, tmp_path):
    config, _, _ = made
    path = tmp_path / "out.jpg"
    changes = dict(num_iterations=1, save_iter=0, output_bit_depth=8, jpeg_quality=30)
    final = stylizer.run(config.replace(output_image=str(path), **changes))
    # The same pixels through PIL at the same quality give the same bytes.
    pixels = np.floor(np.clip(final, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=30)
    assert path.read_bytes() == buffer.getvalue()
