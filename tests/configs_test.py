"""Every preset in configs/ parses with the real flags and builds a valid config."""

from pathlib import Path

import pytest
from absl import flags

from tf_style import cli, models

PRESETS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.flags"))


def test_there_are_presets_for_each_zoo_caffe_model():
    used = {p.read_text().split("-model_file=")[1].split()[0] for p in PRESETS}
    assert {"vgg19", "vgg16", "vgg19_normalized", "nin", "open_nsfw"} <= used


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_preset_parses(preset):
    lines = preset.read_text().splitlines()
    assert lines[0].startswith("# ")  # opens with what it makes
    assert any(f"-flagfile configs/{preset.name}" in line for line in lines if line[0] == "#")
    values = flags.FlagValues()
    cli.define_flags(values)
    values(["tf-style", f"--flagfile={preset}"])
    config, _ = models.apply_zoo_defaults(cli.config_from_flags(values))  # as a run takes it
    assert config.model_file in models.ZOO
    entry = models.ZOO[config.model_file]
    assert set(config.content_layers) | set(config.style_layers)
    if entry.content_layers and config.model_file in ("nin", "open_nsfw"):
        assert config.content_layers == entry.content_layers
        assert config.style_layers == entry.style_layers
    root = preset.parents[1]
    for image in (config.content_image, *config.style_image):
        assert (root / image).is_file(), image
