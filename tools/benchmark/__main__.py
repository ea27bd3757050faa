"""`python -m tools.benchmark`, from the repository root (its --help: the package docstring)."""

import os

# Before numpy loads OpenBLAS: the calibration SGEMM uses the same 2 threads as the runs.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

from absl import flags  # noqa: E402

import tools.benchmark  # noqa: E402
from tf_style import apps  # noqa: E402
from tools.benchmark import cli  # noqa: E402

__doc__ = tools.benchmark.__doc__  # what absl prints for --help
cli.define_flags()
flags.adopt_module_key_flags(cli)  # and --helpshort lists them, as the main module's
apps.run(cli.main)
