"""Tests for tf_style.errors: one base class, bad input apart from failures, nothing else raised
on purpose, and no dependency (importing it must stay instant)."""

import importlib
import inspect
import pkgutil

import pytest

import tf_style
from tf_style import errors
from tf_style.testing import processes

# What each error means for the command (docs/python.md#errors): exit 2, bad input; exit 1, a
# failure during the run.
INPUT = ["ConfigError", "ImageError", "LayerError", "DeviceError", "CaffeError", "ModelError",
         "JobError", "CheckpointError", "ProvenanceError", "MemoryEstimateError",
         "VideoError"]  # fmt: skip
RUN = ["DownloadError", "NonFiniteError", "WriteError"]


@pytest.mark.parametrize("name", INPUT)
def test_bad_input_is_an_input_error_and_a_value_error(name):
    error = getattr(errors, name)
    assert issubclass(error, errors.InputError) and not issubclass(error, errors.RunError)
    assert issubclass(error, ValueError) and issubclass(error, tf_style.TfStyleError)


@pytest.mark.parametrize("name", RUN)
def test_failures_are_run_errors_and_runtime_errors(name):
    error = getattr(errors, name)
    assert issubclass(error, errors.RunError) and not issubclass(error, errors.InputError)
    assert issubclass(error, RuntimeError) and issubclass(error, tf_style.TfStyleError)


def test_every_error_is_listed_and_the_base_is_public():
    assert sorted(errors.__all__) == sorted(
        [*INPUT, *RUN, "InputError", "RunError", "TfStyleError"]
    )
    assert issubclass(errors.NonFiniteError, FloatingPointError)
    assert tf_style.TfStyleError is errors.TfStyleError


def test_no_module_defines_an_error_of_its_own():
    # Every module of the package, imported: the public exceptions they define or re-export
    # are the ones of tf_style.errors (a module that wants its own would belong there). A
    # private one may carry control flow inside a module (models.download's _Incomplete).
    for info in pkgutil.walk_packages(tf_style.__path__, "tf_style."):
        if info.name == "tf_style.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, item in vars(module).items():
            if inspect.isclass(item) and issubclass(item, Exception) and name[0] != "_":
                assert item.__module__ != info.name or info.name == "tf_style.errors", name
                if item.__module__.startswith("tf_style"):
                    assert item is getattr(errors, item.__name__), f"{info.name}.{name}"


def test_importing_the_errors_imports_only_the_standard_library():
    code = """
        import sys
        before = set(sys.modules)
        import tf_style.errors
        new = {m.split(".")[0] for m in set(sys.modules) - before}
        print(sorted(new - set(sys.stdlib_module_names) - {"tf_style"}))
    """
    assert processes.run(processes.snippet(code), check=True).stdout == "[]\n"
