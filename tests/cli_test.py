"""The `tf-style` command: flags, help, usage errors and a quiet terminal."""

import dataclasses

import pytest
from absl import flags

from tf_style import cli
from tf_style.config import GROUPS, StyleConfig
from tf_style.testing import processes


def run_cli(*args, cwd=None, timeout=300):
    return processes.run(processes.cli(*args), cwd=cwd, timeout=timeout)


def test_importing_tf_style_defines_no_flag_and_leaves_tfp_unimported():
    # TFP costs 1.7 s of start-up; only -optimizer tfp_lbfgs imports it.
    code = (
        "import importlib, pkgutil, sys, tf_style\n"
        "from absl import flags\n"
        "for m in pkgutil.walk_packages(tf_style.__path__, 'tf_style.'):\n"
        "    if m.name not in ('tf_style.__main__',):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(k for k in flags.FLAGS.flags_by_module_dict() if 'tf_style' in k))\n"
        "print('tensorflow_probability' in sys.modules)\n"
    )
    out = processes.run(processes.snippet(code), check=True)
    assert out.stdout.split() == ["[]", "False"]


def test_flags_take_their_defaults_from_the_config():
    values = flags.FlagValues()
    cli.define_flags(values)
    values(["tf-style"])
    assert cli.config_from_flags(values) == StyleConfig()


def test_one_and_two_dashes():
    values = flags.FlagValues()
    cli.define_flags(values)
    values(
        [
            "tf-style",
            "-style_image",
            "a.jpg,b.jpg",
            "--image_size=256",
            "-gpu",
            "-1",
            "-normalize_gradients",
            "-style_blend_weights",
            "3,7",
            "--content_layers",
            "relu1_1",
        ]
    )
    c = cli.config_from_flags(values)
    assert c.style_image == ("a.jpg", "b.jpg")
    assert c.image_size == 256
    assert c.gpu == (-1,)
    assert c.normalize_gradients is True
    assert c.style_blend_weights == (3.0, 7.0)
    assert c.content_layers == ("relu1_1",)


def test_help_lists_every_flag_in_the_original_groups():
    out = run_cli("-help")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    positions = [text.index(f"{g}:") for g in GROUPS]
    assert positions == sorted(positions)
    for f in dataclasses.fields(StyleConfig):
        assert f"  -{f.name}:" in text
        # Each flag sits under its group's heading.
        group_at = text.index(f"{f.metadata['group']}:")
        later = [p for p in positions if p > group_at]
        assert group_at < text.index(f"  -{f.name}:") < (later[0] if later else len(text))
    assert out.stderr == ""


@pytest.mark.parametrize(
    "args,needle",
    [
        (["-no_such_flag", "1"], "no_such_flag"),
        (["-image_size", "abc"], "image_size"),
        (["-image_size", "0"], "-image_size"),
        (["-optimizer", "sgd"], "-optimizer"),
        (["-style_blend_weights", "1,2"], "-style_blend_weights"),
        (["stray_positional"], "stray_positional"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, needle):
    out = run_cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
    assert "Traceback" not in out.stderr
    assert out.stdout == ""
