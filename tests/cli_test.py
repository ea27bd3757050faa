"""The `tf-style` command: flags, help, usage errors, exit codes and signals.

Most cases go through the real command in fresh processes. Errors found before TensorFlow loads
(options, image files, the output path) cost a fraction of a second each; the few that need
TensorFlow run concurrently (`processes.run_all`).
"""

import dataclasses
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from absl import flags

from tf_style import cli, errors, image_io, stylizer
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


def test_help_wraps_to_the_terminal_and_names_empty_defaults():
    out = processes.run(processes.cli("-help"), env={"COLUMNS": "72"})
    assert out.returncode == 0, out.stderr
    usage, *rest = out.stdout.splitlines()  # the usage line is one command, never broken
    assert usage.startswith("Usage: tf-style") and max(map(len, rest)) <= 72
    assert "Default: none" in out.stdout and "Default: ." not in out.stdout
    # The content image has a default, the init image none.
    init = out.stdout.split("  -init_image:")[1].split("\n  -")[0]
    assert "Default: none" in init


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


def test_bad_image_files_through_the_cli(quiet_run, bad_images):
    # Found by the command's early look at the files, before TensorFlow loads.
    cases = [(role, case) for case in bad_images for role in ("content_image", "style_image")]
    cases.append(("init_image", "empty"))
    results = processes.run_all(
        [processes.cli_for(quiet_run, **{role: bad_images[case][0]}) for role, case in cases]
    )
    for (_, case), (code, out, err) in zip(cases, results):
        path, message = bad_images[case]
        processes.assert_one_line(code, err, 2, str(path), message)
        assert out == ""
    assert os.listdir(os.path.dirname(quiet_run.output_image)) == []


def test_bad_options_through_the_cli(quiet_run, images, tmp_path):
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
    results = processes.run_all([processes.cli_for(quiet_run, **change) for change, _ in cases])
    for (_, needle), (code, out, err) in zip(cases, results):
        processes.assert_one_line(code, err, 2, needle)
        assert out == ""
    assert os.listdir(out_dir) == []


def test_debug_shows_the_traceback(quiet_run):
    code, _, err = processes.run_all([[*processes.cli_for(quiet_run, image_size=0), "-debug"]])[0]
    assert code == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("tf-style: -image_size")


def test_errors_found_with_tensorflow(quiet_run, images):
    # Through the CLI: found after TensorFlow and the model have loaded, still one line.
    code, _, err = processes.run_all([processes.cli_for(quiet_run, image_size=12, pooling="avg")])[
        0
    ]
    line = processes.assert_one_line(code, err, 2, str(images["content"]), "12x8", "16x16")
    assert "-image_size" in line
    # ValueErrors (exit 2 in the CLI) from the library, before any file is written.
    with pytest.raises(ValueError, match="relu9_9"):
        stylizer.run(quiet_run.replace(style_layers=("relu1_1", "relu9_9")))
    with pytest.raises(errors.DeviceError, match="-gpu 3"):
        stylizer.run(quiet_run.replace(gpu=3))
    assert os.listdir(os.path.dirname(quiet_run.output_image)) == []


def interrupted(config, signum, *extra):
    """Runs the CLI, sends `signum` once the optimization runs; returns (code, stderr)."""
    command = processes.cli_for(config, num_iterations=100_000, optimizer="adam", learning_rate=1)
    process = processes.start([*command, *extra])
    for line in process.stdout:
        if line.startswith("Running optimization"):
            process.send_signal(signum)
            break
    code, _, err = processes.finish(process)
    return code, err


def stop_iteration(line):
    return int(line.split(" at iteration ")[1].split()[0])


@pytest.mark.slow
def test_sigint_saves_the_current_image(quiet_run):
    code, err = interrupted(quiet_run, signal.SIGINT)
    line = processes.assert_one_line(code, err, 130, "SIGINT", quiet_run.output_image)
    assert 0 < stop_iteration(line) < 100_000
    assert image_io.read_image(quiet_run.output_image).shape == (22, 32, 3)
    assert os.listdir(os.path.dirname(quiet_run.output_image)) == ["out.png"]  # no temporary file


@pytest.mark.slow
def test_sigterm_checkpoint_and_resume_equal_an_uninterrupted_run(quiet_run):
    code, err = interrupted(quiet_run, signal.SIGTERM, "-checkpoint_iter", "5")
    line = processes.assert_one_line(code, err, 143, "SIGTERM", "out.ckpt", "-resume")
    stopped = stop_iteration(line)
    assert sorted(os.listdir(os.path.dirname(quiet_run.output_image))) == ["out.ckpt", "out.png"]
    adam = quiet_run.replace(optimizer="adam", learning_rate=1.0, num_iterations=stopped + 7)
    stylizer.run(adam.replace(resume=True))
    resumed = Path(quiet_run.output_image).read_bytes()
    stylizer.run(adam)
    assert Path(quiet_run.output_image).read_bytes() == resumed


@pytest.mark.slow
def test_cli_end_to_end(tiny_run, tmp_path):
    out = tmp_path / "cli.png"
    args = [
        "-content_image", tiny_run.content_image,
        "-style_image", tiny_run.style_image[0],
        "-model_file", tiny_run.model_file,
        "-proto_file", tiny_run.proto_file,
        "-image_size", "32",
        "-num_iterations", "4",
        "-print_iter", "2",
        "-save_iter", "0",
        "-output_image", str(out),
        "-gpu", "-1",
        "-backend", "cudnn",
        "-cudnn_autotune",
    ]  # fmt: skip
    result = processes.run(processes.cli(*args), timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "Iteration 4 / 4" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.png"]


def test_a_second_run_loads_its_xla_functions_from_the_cache(quiet_run, tmp_path):
    # L-BFGS's history writes are compiled with XLA; the second run finds them in the cache
    # folder (no entry added or written again) and makes the same pixels.
    home = tmp_path / "home"
    env = {"TF_STYLE_HOME": str(home), "TF_STYLE_XLA_CACHE": "1", "TF_XLA_FLAGS": ""}
    images = []
    for name in ("first.png", "second.png"):
        out = tmp_path / name
        result = processes.run(processes.cli_for(quiet_run, output_image=str(out)), env=env)
        assert result.returncode == 0, result.stderr
        images.append(image_io.read_image(out))
        cache = home.glob("xla-tensorflow-*-cpu-*/*")
        entries = sorted((p.name, p.stat().st_mtime_ns) for p in cache)
        if name == "first.png":
            assert entries, "the first run cached no XLA function"
            cached = entries
    assert entries == cached
    assert np.array_equal(images[0], images[1])


def test_the_xla_cache_is_kept_per_cpu():
    # Cores repeat their lines; another instruction set or model is another folder.
    xeon = "processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx512f amx_tile\n\n"
    both = xeon + xeon.replace(": 0", ": 1")
    tag = cli.cpu_tag(xeon)
    assert len(tag) == 12 and int(tag, 16) >= 0
    assert cli.cpu_tag(both) == tag
    assert cli.cpu_tag(xeon.replace(" amx_tile", "")) != tag
    assert cli.cpu_tag(xeon.replace("Xeon", "EPYC")) != tag
    arm = "processor\t: 0\nFeatures\t: fp asimd sve\nCPU part\t: 0xd40\n"
    assert cli.cpu_tag(arm) != cli.cpu_tag(arm.replace(" sve", ""))


def limited(config, max_bytes, *extra):
    """The command for `config` in a process that may write files of at most `max_bytes` (a
    full disk, as the kernel reports it: EFBIG; SIGXFSZ ignored so the write fails instead)."""
    code = (
        "import resource, runpy, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({max_bytes}, {max_bytes}))\n"
        "sys.argv[0] = 'tf-style'\n"
        "runpy.run_module('tf_style', run_name='__main__')\n"
    )
    command = processes.cli_for(config)
    return processes.snippet(code, *command[command.index("tf_style") + 1 :], *extra)


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_saves_the_image_and_exits_1(quiet_run):
    # The image (2 KB) fits, the checkpoint (L-BFGS's 100 pairs: 1.7 MB) does not.
    result = processes.run(limited(quiet_run, 200_000, "-checkpoint_iter", "5"))
    line = processes.assert_one_line(
        result.returncode, result.stderr, 1, "could not write a checkpoint into", "out.ckpt"
    )
    assert "free some space, or run without -checkpoint_iter" in line
    assert image_io.read_image(quiet_run.output_image).shape == (22, 32, 3)
    folder = Path(quiet_run.output_image).parent
    # Nothing half-written is left: the checkpoint folder is empty (no ckpt-*_temp in it).
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == ["out.ckpt", "out.png"]


@pytest.mark.slow
def test_a_full_disk_at_the_final_write_exits_1_and_leaves_nothing(quiet_run):
    result = processes.run(limited(quiet_run, 500))
    processes.assert_one_line(result.returncode, result.stderr, 1, quiet_run.output_image)
    assert list(Path(quiet_run.output_image).parent.iterdir()) == []


def test_a_size_that_cannot_fit_is_refused_before_the_model_loads(quiet_run):
    result = processes.run(processes.cli_for(quiet_run, image_size=100_000_000), timeout=120)
    processes.assert_one_line(result.returncode, result.stderr, 2, "-image_size")
    assert "Successfully loaded" not in result.stdout


@pytest.mark.slow
def test_ctrl_c_during_jobs_saves_the_running_jobs_images(quiet_run, images, tmp_path):
    contents = tmp_path / "contents"
    contents.mkdir()
    for name in ("a.png", "b.png"):
        (contents / name).write_bytes(images["content"].read_bytes())
    config = quiet_run.replace(jobs=str(contents), num_iterations=100_000, optimizer="adam")
    process = processes.start(processes.cli_for(config, learning_rate=1))
    out = []
    for line in process.stdout:
        out.append(line)
        if line.startswith("Running optimization"):
            process.send_signal(signal.SIGINT)
            break
    code, rest, err = processes.finish(process)
    line = processes.assert_one_line(code, err, 130, "interrupted by SIGINT", "images are saved")
    assert "no final image" not in line
    assert "the current images of jobs 1 are saved; 1 later job(s) did not start." in rest
    saved = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert saved == ["a_out.png"]
    assert image_io.read_image(str(tmp_path / "out" / "a_out.png")).shape == (22, 32, 3)
