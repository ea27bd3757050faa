"""Tests for tf_style.testing.processes: fresh interpreters, command lines, one-line errors."""

import subprocess
import sys

import pytest

from tf_style.config import StyleConfig
from tf_style.testing import processes


def test_processes_run_snippets_with_arguments_and_extra_variables():
    code = """
        import os, sys
        print(sys.argv[1:], os.environ["TF_STYLE_PROBE"], "PATH" in os.environ)
        sys.exit(3)
    """
    result = processes.run(processes.snippet(code, 1, "b"), env={"TF_STYLE_PROBE": "seen"})
    assert (result.returncode, result.stdout) == (3, "['1', 'b'] seen True\n")


def test_finish_kills_a_process_that_takes_too_long():
    process = processes.start(processes.snippet("import time; time.sleep(60)"))
    with pytest.raises(subprocess.TimeoutExpired):
        processes.finish(process, timeout=0.5)
    assert process.returncode is not None  # killed and reaped, not left running


def test_cli_for_gives_the_flags_that_differ_from_the_defaults():
    config = StyleConfig(style_image="a.jpg,b.jpg", image_size=64, gpu=-1, normalize_gradients=True)
    command = processes.cli_for(config, seed=3, output_image="x.png")
    assert command[:3] == [sys.executable, "-m", "tf_style"]
    assert command[3:] == [
        "-style_image=a.jpg,b.jpg",
        "-image_size=64",
        "-gpu=-1",
        "-normalize_gradients=true",
        "-seed=3",
        "-output_image=x.png",
    ]
    assert processes.cli_for(StyleConfig()) == processes.cli()


def test_run_all_runs_at_once_and_keeps_the_order(tmp_path):
    # The first waits for a file that only the second makes: one after the other, it fails.
    wait = """
        import os, sys, time
        for _ in range(600):
            if os.path.exists(sys.argv[1]):
                print("seen")
                sys.exit(4)
            time.sleep(0.05)
    """
    make = "import sys; open(sys.argv[1], 'w').close()"
    flag = tmp_path / "flag"
    results = processes.run_all([processes.snippet(wait, flag), processes.snippet(make, flag)])
    assert results == [(4, "seen\n", ""), (0, "", "")]


def test_assert_one_line_names_what_is_wrong():
    line = processes.assert_one_line(2, "tf-style: -image_size is 0\n", 2, "-image_size", "0")
    assert line == "tf-style: -image_size is 0"
    for code, err, needle in (
        (1, "tf-style: -image_size is 0\n", "-image_size"),  # another exit code
        (2, "tf-style: a\ntf-style: b\n", "a"),  # two lines
        (2, "Traceback (most recent call last): ...\n", "Traceback"),  # not ours
        (2, "tf-style: -image_size is 0\n", "-style_scale"),  # names something else
    ):
        with pytest.raises(AssertionError):
            processes.assert_one_line(code, err, 2, needle)
    assert processes.assert_one_line(1, "export: bad\n", 1, program="export") == "export: bad"
