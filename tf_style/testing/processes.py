"""Running tf-style, a tool or a Python snippet in a fresh interpreter, as a user would.

Only a fresh process shows what a user sees: the exit code, the one line on stderr, what importing
costs, how a signal ends a run, a memory peak of its own. Every child runs `sys.executable` with
this process's environment (so PYTHONPATH, which points at the tree under test, carries over)
plus the variables a caller adds, and its output is captured as text.

Example:
    >>> result = run(cli("-help"))  # doctest: +SKIP
    >>> result.returncode, result.stdout[:6]  # doctest: +SKIP
    (0, 'Usage:')
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence


def cli(*args) -> list[str]:
    """The command line of `tf-style *args` (as `python -m tf_style`)."""
    return [sys.executable, "-m", "tf_style", *map(str, args)]


def script(path: str | os.PathLike, *args) -> list[str]:
    """The command line of a Python file (a tool) with its arguments."""
    return [sys.executable, os.fspath(path), *map(str, args)]


def snippet(code: str, *args) -> list[str]:
    """The command line of `python -c code *args`; `code` may be indented (it is dedented)."""
    return [sys.executable, "-c", textwrap.dedent(code), *map(str, args)]


def cli_for(config, **changes) -> list[str]:
    """The command line of `tf-style` that makes the run `config` (a StyleConfig), with `changes`.

    One `-name=value` per option that differs from its default, then per change; lists are
    comma-separated.
    """
    values = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != f.default
    }
    values.update(changes)
    return cli(*(f"-{name}={_flag_value(value)}" for name, value in values.items()))


def _flag_value(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    return {**os.environ, **(env or {})}


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 600,
    cwd: str | os.PathLike | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """Runs `command` to its end; stdout and stderr are captured as text.

    Args:
        command: from `cli`, `script` or `snippet`.
        env: variables set on top of this process's environment.
        timeout: seconds before the child is killed and `subprocess.TimeoutExpired` raised.
        cwd: the child's working folder.
        check: raise `subprocess.CalledProcessError` on a non-zero exit.
    """
    return subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        env=_environment(env),
        timeout=timeout,
        cwd=cwd,
        check=check,
    )


def start(command: Sequence[str], *, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Starts `command` with text pipes for stdout and stderr (for signals, or several at once)."""
    return subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(env),
    )


def run_all(commands: Sequence[Sequence[str]]) -> list[tuple[int, str, str]]:
    """Runs several commands at once: (exit code, stdout, stderr) of each, in their order."""
    started = [start(command) for command in commands]
    return [finish(process) for process in started]


def assert_one_line(code: int, err: str, want_code: int, *needles: str, program="tf-style") -> str:
    """What a user sees of a failure: exit `want_code` and one line `program: ...` on stderr,
    without a traceback, naming every needle. Returns the line."""
    lines = err.strip().splitlines()
    assert code == want_code, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{program}: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    """Waits for a started process: (exit code, stdout, stderr); killed when it takes too long.

    Raises:
        subprocess.TimeoutExpired: after `timeout` seconds (the process is killed first).
    """
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()  # reaps it and closes the pipes
        raise
    return process.returncode, out, err


__all__ = [
    "assert_one_line",
    "cli",
    "cli_for",
    "finish",
    "run",
    "run_all",
    "script",
    "snippet",
    "start",
]
