"""The `tf-style` command: the original's flags (one dash or two) -> StyleConfig -> stylize.

This is the only library module that defines absl flags, and it defines them inside
`define_flags`, called when the command runs, so importing tf_style defines none.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import traceback
import warnings

from tf_style.config import GROUPS, StyleConfig

USAGE = "Usage: tf-style -style_image <image.jpg> -content_image <image.jpg> [options]"
_HELP = ("-h", "-help", "--help", "-helpfull", "--helpfull", "-helpshort", "--helpshort")


def _flag_kind(f: dataclasses.Field) -> str:
    # The original parses list options as comma-separated strings; so do we.
    base = f.type.split(" ")[0]
    return "string" if base.startswith("tuple") or base == "str" else base


def _default_text(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def define_flags(flag_values) -> None:
    """Defines one absl flag per StyleConfig field, with the dataclass default."""
    from absl import flags

    define = {
        "string": flags.DEFINE_string,
        "int": flags.DEFINE_integer,
        "float": flags.DEFINE_float,
        "bool": flags.DEFINE_bool,
    }
    for f in dataclasses.fields(StyleConfig):
        if f.name in flag_values:
            continue
        kind = _flag_kind(f)
        default = f.default
        if kind == "string" and default is not None and not isinstance(default, str):
            default = _default_text(default)
        # absl wants an int default for DEFINE_integer; the dataclass already has one.
        define[kind](f.name, default, f.metadata["help"], flag_values=flag_values)


def config_from_flags(flag_values) -> StyleConfig:
    """Builds the validated StyleConfig from parsed flags."""
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(StyleConfig)}
    return StyleConfig(**values)


def usage_text() -> str:
    """`-help`: every flag, grouped as the original README groups them."""
    lines = [USAGE, ""]
    fields = dataclasses.fields(StyleConfig)
    for group in GROUPS:
        lines.append(f"{group}:")
        for f in fields:
            if f.metadata["group"] == group:
                default = _default_text(f.default)
                if f.name == "gpu":
                    default = "0 (the first GPU, else the CPU)"
                lines.append(f"  -{f.name}: {f.metadata['help']} Default: {default}.")
        lines.append("")
    lines.append(
        "Flags take one dash or two (-image_size 256, --image_size=256); "
        "-flagfile F reads flags from a file (see configs/)."
    )
    return "\n".join(lines)


def _silence_native_logs() -> None:
    """Keeps TensorFlow's start-up chatter out of the terminal.

    TF_CPP_MIN_LOG_LEVEL does not catch everything TF 2.21 prints from C++ (absl's
    'All log messages before absl::InitializeLog()' and cudart notes), so file descriptor 2 is
    pointed at /dev/null for the whole process, while Python's sys.stderr keeps writing to the
    real terminal through a duplicate of the original descriptor.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    real_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(real_stderr, "w", buffering=1)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"tf-style: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def _parse(argv: list[str]) -> list[str]:
    from absl import flags

    define_flags(flags.FLAGS)
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as e:
        _fail(f"{e}. Run tf-style -help for the list of options.", 2)
    if len(rest) > 1:
        _fail(
            f"unexpected argument {rest[1]!r}: every option is a flag such as "
            "-content_image photo.jpg",
            2,
        )
    return rest


class _Interrupt:
    """Turns SIGINT/SIGTERM into a polite stop: the run saves its current image and ends."""

    def __init__(self):
        self.signum = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.signum is not None:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.signum = signum

    def __call__(self, progress) -> bool:
        return self.signum is not None


def main(argv: list[str]) -> None:
    """Runs one stylisation from the parsed flags; exit codes: 2 usage, 1 runtime failure."""
    from absl import flags

    debug = flags.FLAGS.debug
    interrupt = _Interrupt()
    try:
        config = config_from_flags(flags.FLAGS)
        from tf_style import stylize
        from tf_style.report import Reporter

        stylize.run(config, reporter=Reporter(sys.stdout), callback=interrupt)
    except Exception as e:  # noqa: BLE001 - every failure becomes one line unless -debug
        if debug:
            traceback.print_exc()
        # Bad input (our ValueError subclasses) is a usage error; anything else a runtime one.
        if isinstance(e, ValueError):
            _fail(_one_line(e), 2)
        _fail(f"{_one_line(e)} ({type(e).__name__}; -debug shows the traceback)", 1)
    if interrupt.signum is not None:
        name = signal.Signals(interrupt.signum).name
        _fail(
            f"interrupted by {name}; the current image is in {config.output_image}",
            128 + interrupt.signum,
        )


def _one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def run(argv: list[str] | None = None) -> None:
    """Console entry point of `tf-style` and `python -m tf_style`."""
    argv = list(sys.argv if argv is None else argv)
    if not any(a in ("-debug", "--debug", "-debug=true", "--debug=true") for a in argv[1:]):
        _silence_native_logs()
    if any(a in _HELP for a in argv[1:]):
        print(usage_text())
        return
    from absl import app

    app.run(main, argv=argv, flags_parser=_parse)
