"""What the tools in tools/ share: absl's `app.run`, with a help that exits 0.

absl answers -help, --help and -helpshort (and -helpfull) with the usage, then exits with
status 1, as it does for a mistake. A user who asks for help made none, and scripts that check
the status take it for a failure. `run` answers these requests itself, before absl parses the
flags (so required flags need not be given), with absl's own usage text, and exits 0; anything
else goes to `app.run` unchanged. `tf-style` has its own help (`tf_style.cli`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

SHORT_HELP = ("-h", "-?", "-help", "--help", "-helpshort", "--helpshort")
FULL_HELP = ("-helpfull", "--helpfull")


def help_wanted(args: Sequence[str]) -> str | None:
    """'short', 'full' or None: which help `args` (without the program) ask for.

    Arguments after `--` are positional, as absl reads them, and ask for nothing.
    """
    for arg in args:
        if arg == "--":
            return None
        if arg in SHORT_HELP:
            return "short"
        if arg in FULL_HELP:
            return "full"
    return None


def run(main: Callable[[list[str]], object], argv: Sequence[str] | None = None) -> None:
    """`absl.app.run(main)`, except that a help request prints the usage and exits 0.

    Args:
        main: the tool's main, called with the arguments absl did not consume.
        argv: the command line (default `sys.argv`); the flags must be defined already.
    """
    from absl import app

    argv = list(sys.argv if argv is None else argv)
    wanted = help_wanted(argv[1:])
    if wanted is None:
        app.run(main, argv=argv)
        return
    app.usage(shorthelp=wanted == "short", writeto_stdout=True)
    if wanted == "short":
        print("\nTry --helpfull to get a list of all flags.")
    sys.stdout.flush()
    sys.exit(0)


__all__ = ["FULL_HELP", "SHORT_HELP", "help_wanted", "run"]
