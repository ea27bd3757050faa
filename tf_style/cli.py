"""The `tf-style` command: the original's flags (one dash or two) -> StyleConfig -> stylize.

This is the only library module that defines absl flags, and it defines them inside
`define_flags`, called when the command runs, so importing tf_style defines none.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sys
import textwrap
import traceback
import warnings

from tf_style.config import GROUPS, StyleConfig
from tf_style.errors import InputError, TfStyleError

USAGE = "Usage: tf-style -style_image <image.jpg> -content_image <image.jpg> [options]"
_HELP = ("-h", "-help", "--help", "-helpfull", "--helpfull", "-helpshort", "--helpshort")
_SHOW_CONFIG = ("-show_config", "--show_config")


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


def _shown_default(f: dataclasses.Field) -> str:
    if f.name == "gpu":
        return "0 (the first GPU, else the CPU)"
    return _default_text(f.default)


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


def usage_text(width: int | None = None) -> str:
    """`-help`: every flag, grouped as the original README groups them, wrapped to `width`
    columns (the terminal's, at most 100)."""
    width = width or min(shutil.get_terminal_size((100, 24)).columns, 100)

    def wrap(text: str, indent: str = "") -> str:
        return textwrap.fill(
            text, width=width, subsequent_indent=indent, break_long_words=False,
            break_on_hyphens=False,
        )  # fmt: skip

    lines = [USAGE, ""]
    fields = dataclasses.fields(StyleConfig)
    for group in GROUPS:
        lines.append(f"{group}:")
        for f in fields:
            if f.metadata["group"] == group:
                default = _shown_default(f) or "none"
                item = f"  -{f.name}: {f.metadata['help']} Default: {default}."
                lines.append(wrap(item, "      "))
        lines.append("")
    lines.append(
        wrap(
            "Flags take one dash or two (-image_size 256, --image_size=256); "
            "-flagfile F reads flags from a file (see configs/); "
            "-show_config out.png prints the flags that made a PNG written by tf-style."
        )
    )
    return "\n".join(lines)


def options_markdown() -> str:
    """The option list of docs/options.md: every flag, its help and default, grouped as `-help`.

    docs/options.md holds this text between its `<!-- options -->` markers (tests/docs_test.py
    compares them; running it as a script rewrites them).

    Example:
        >>> print(options_markdown().splitlines()[0])
        **Options**:
    """
    lines = []
    for group in GROUPS:
        lines.append(f"**{group}**:")
        for f in dataclasses.fields(StyleConfig):
            if f.metadata["group"] == group:
                # A bare <name> would be read as an HTML tag.
                text = f.metadata["help"].replace("<", "\\<")
                default = _shown_default(f)
                default = f"`{default}`" if default else "empty"
                item = f"* `-{f.name}`: {text} Default: {default}."
                lines.append(
                    textwrap.fill(
                        item,
                        width=100,
                        subsequent_indent="  ",
                        break_long_words=False,
                        break_on_hyphens=False,
                    )
                )
        lines.append("")
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


def cache_compilations() -> None:
    """Lets XLA keep its compiled functions in the cache folder across runs.

    A run compiles a few small functions with XLA (VGG's pool gradients, L-BFGS's history
    writes), about 0.1 s each on the 2-core CPU; from the second run of the same sizes on, XLA
    loads them instead (docs/performance.md#the-first-evaluation). TensorFlow reads
    TF_XLA_FLAGS once, when it starts, so this runs before it is imported; a folder per
    TensorFlow version and CPU (`cpu_tag`) keeps one version, or one machine sharing the home
    folder, from loading another's executables. A user's own cache flag, or
    TF_STYLE_XLA_CACHE=0, wins; a folder that cannot be made means no cache.
    """
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if "persistent_cache_directory" in flags or os.environ.get("TF_STYLE_XLA_CACHE") == "0":
        return
    from importlib import metadata

    from tf_style.models.download import cache_dir

    try:
        with open("/proc/cpuinfo", errors="replace") as f:
            cpuinfo = f.read()
    except OSError:  # not Linux: the machine's name below is all there is
        cpuinfo = ""
    try:
        version = metadata.version("tensorflow")
        folder = cache_dir() / f"xla-tensorflow-{version}-cpu-{cpu_tag(cpuinfo)}"
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, metadata.PackageNotFoundError):
        return
    os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={folder}".strip()


def cpu_tag(cpuinfo: str) -> str:
    """A short hash of the CPU's kind, model and instruction sets (from /proc/cpuinfo's text).

    XLA compiles its CPU functions for the host's instruction sets, and on loading a cached one
    compiled elsewhere it only warns ("could lead to execution errors such as SIGILL") and runs
    it: machines that share a home folder (NFS on a cluster) must not share cache entries.
    """
    import hashlib
    import platform

    keys = ("model name", "flags", "Features", "CPU part")  # x86 and ARM
    lines = {line.strip() for line in cpuinfo.splitlines() if line.startswith(keys)}
    text = "\n".join([platform.machine(), platform.processor(), *sorted(lines)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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
    """Turns SIGINT/SIGTERM into a polite stop: the run saves its current image and ends.

    Before the optimization starts there is no image to save, and a signal stops at once.
    """

    def __init__(self):
        self.signum = None
        self.optimizing = False  # set by _Reporter.running
        self.iteration = None  # the latest iteration the run reported to the callback
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        stop_now = self.signum is not None or not self.optimizing  # a second Ctrl-C, too
        self.signum = self.signum or signum
        if stop_now:
            raise KeyboardInterrupt

    def __call__(self, progress) -> bool:
        self.iteration = progress.iteration
        return self.signum is not None


def main(argv: list[str]) -> None:
    """Runs one stylisation from the parsed flags; exit codes: 2 usage, 1 runtime failure."""
    from absl import flags
    from absl import logging as absl_logging

    debug = flags.FLAGS.debug
    if not debug:
        # TensorFlow's checkpoint saver logs INFO lines through absl (Python), not its C++ log.
        absl_logging.set_verbosity(absl_logging.ERROR)
    interrupt = _Interrupt()
    try:
        config = config_from_flags(flags.FLAGS)
        if not config.jobs:  # a batch checks every job's inputs before the first one runs
            # Before TensorFlow loads: a wrong path fails in a fraction of a second instead of
            # after the seconds that importing TensorFlow takes (the run checks again).
            from tf_style import clips, image_io, masks, models
            from tf_style.config import check_layer_weights

            if config.content_video:
                clips.check(config)
            else:
                image_io.check_files(config)
                masks.check(config)
            check_layer_weights(models.apply_zoo_defaults(config)[0])
        from tf_style import stylizer
        from tf_style.report import Reporter

        class _Reporter(Reporter):
            def running(self, title: str) -> None:
                interrupt.optimizing = True  # from here on a signal saves the image
                super().running(title)

        stylizer.run(config, reporter=_Reporter(sys.stdout), callback=interrupt)
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        signum = interrupt.signum or signal.SIGINT
        when = "during the optimization" if interrupt.optimizing else "before the optimization"
        _fail(
            f"stopped at once by {signal.Signals(signum).name} {when}; no final image was written",
            128 + signum,
        )
    except Exception as e:  # noqa: BLE001 - every failure becomes one line unless -debug
        if debug:
            traceback.print_exc()
        if isinstance(e, InputError):  # bad input: a usage error
            _fail(_ours(e), 2)
        if isinstance(e, TfStyleError):  # its message says what happened and what to do
            _fail(_ours(e), 1)
        hint = "" if debug else "; -debug shows the traceback"
        _fail(f"{_one_line(e)} ({type(e).__name__}{hint})", 1)
    if interrupt.signum is not None:
        name = signal.Signals(interrupt.signum).name
        saved = (
            "the running jobs' current images are saved (see the lines above)"
            if config.jobs
            else f"the current image is in {config.output_image}"
        )
        if config.content_video:
            from tf_style.video import frames_folder

            saved = (
                f"the finished frames are in {frames_folder(config.output_video)}, and the "
                "same command continues"
            )
        message = (
            f"interrupted by {name} at iteration {interrupt.iteration} of "
            f"{config.num_iterations}; {saved}"
        )
        if config.checkpoint_iter > 0 or config.resume:
            from tf_style.checkpoint import checkpoint_dir

            message += f" and the optimizer state in {checkpoint_dir(config.output_image)}"
            message += " (add -resume to continue)"
        _fail(message, 128 + interrupt.signum)


def _ours(error: Exception) -> str:
    """One of our messages as written: its first line says what to do, and any further lines
    (a download's sources) are indented under it."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "\n  ".join(lines) or type(error).__name__


def _one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _show_config(args: list[str]) -> None:
    """`-show_config out.png` (or `--show_config=out.png`): prints the flagfile that made it."""
    from tf_style import provenance

    if len(args) == 1 and "=" in args[0]:
        path = args[0].split("=", 1)[1]
    elif len(args) == 2 and args[0] in _SHOW_CONFIG:
        path = args[1]
    else:
        _fail("-show_config takes one image and no other flag: tf-style -show_config out.png", 2)
    try:
        text = provenance.show_config(path)
    except InputError as e:  # ProvenanceError, ImageError
        _fail(_one_line(e), 2)
    sys.stdout.write(text)


def run(argv: list[str] | None = None) -> None:
    """Console entry point of `tf-style` and `python -m tf_style`."""
    argv = list(sys.argv if argv is None else argv)
    if not any(a in ("-debug", "--debug", "-debug=true", "--debug=true") for a in argv[1:]):
        _silence_native_logs()
    cache_compilations()
    if any(a in _HELP for a in argv[1:]):
        print(usage_text())
        return
    if any(a.split("=")[0] in _SHOW_CONFIG for a in argv[1:]):
        _show_config(argv[1:])
        return
    from absl import app

    app.run(main, argv=argv, flags_parser=_parse)
