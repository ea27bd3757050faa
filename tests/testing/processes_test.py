"""Tests for tf_style.testing.processes: fresh interpreters with arguments, variables, timeouts."""

import subprocess

import pytest

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
