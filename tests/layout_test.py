"""Tests mirror modules: every module of tf_style has its test file, every test file its module.

`tf_style/a/b.py` is tested in `tests/a/b_test.py`, a package's `__init__.py` in its folder's
`init_test.py` (`tf_style/__init__.py` in `tests/init_test.py`); `tools/x.py` in
`tests/tools/x_test.py`. A few files check the repository as a whole, or a real model, instead
of one module.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

# Modules without a test file of their own, and why.
UNTESTED = {
    "tf_style/__main__.py": "calls cli.run; every test that runs the command runs it",
    "tf_style/batch/__init__.py": "re-exports jobs and distribute",
    "tf_style/testing/__init__.py": "a docstring only",
}
# Test files about the repository, or a real model, rather than one module.
WHOLE = {
    "tests/caffe/open_nsfw_test.py": "the real open_nsfw ResNet (caffe.load_model) vs OpenCV",
    "tests/caffe/fuzz_test.py": "the Caffe readers (wire, prototxt, converted, builder) fuzzed",
    "tests/architecture_test.py": "docs/architecture.md names every module; module sizes",
    "tests/configs_test.py": "every preset in configs/ parses",
    "tests/docs_test.py": "the docs' option list, links and citations",
    "tests/layout_test.py": "this file",
    "tests/readme_test.py": "the README's quickstart and test commands",
}


def mirror(module: str) -> str:
    """The test file of `module` (a path from the repository root): its mirror in tests/."""
    package, _, name = module.removeprefix("tf_style/").rpartition("/")
    stem = "init" if name == "__init__.py" else name.removesuffix(".py")
    return "/".join(part for part in ("tests", package, f"{stem}_test.py") if part)


def module_of(test: str) -> str:
    """The module that the test file `test` (a path from the repository root) is about."""
    path = test.removeprefix("tests/").removesuffix("_test.py")
    folder, _, stem = path.rpartition("/")
    name = "__init__" if stem == "init" else stem
    if path.startswith("tools/"):
        return f"{folder}/{name}.py"
    return "/".join(part for part in ("tf_style", folder, f"{name}.py") if part)


def relative(paths) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in paths)


def test_the_rule_by_example():
    assert mirror("tf_style/loop.py") == "tests/loop_test.py"
    assert mirror("tf_style/__init__.py") == "tests/init_test.py"
    assert mirror("tf_style/optimizers/lbfgs.py") == "tests/optimizers/lbfgs_test.py"
    assert mirror("tf_style/caffe/__init__.py") == "tests/caffe/init_test.py"
    assert module_of("tests/caffe/init_test.py") == "tf_style/caffe/__init__.py"
    assert module_of("tests/report_test.py") == "tf_style/report.py"
    assert module_of("tests/tools/benchmark/stats_test.py") == "tools/benchmark/stats.py"


def test_every_module_has_a_test_file():
    modules = relative((ROOT / "tf_style").rglob("*.py"))
    missing = [m for m in modules if m not in UNTESTED and not (ROOT / mirror(m)).is_file()]
    assert not missing, {m: mirror(m) for m in missing}
    # The exceptions stay true: each is a module, and none has a test file after all.
    assert all(m in modules and not (ROOT / mirror(m)).exists() for m in UNTESTED)


def test_every_test_file_is_about_one_module():
    tests = relative(TESTS.rglob("*_test.py"))
    strays = [t for t in tests if t not in WHOLE and not (ROOT / module_of(t)).is_file()]
    assert not strays, {t: module_of(t) for t in strays}
    assert set(WHOLE) <= set(tests)
    # Every test folder is a package, so that files of the same name in two folders can be.
    for folder in {p.parent for p in TESTS.rglob("*_test.py")}:
        assert (folder / "__init__.py").is_file(), folder
