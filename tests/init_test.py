"""Tests for tf_style/__init__.py: the public API, imported lazily so that `import tf_style` is
instant."""

import pytest

import tf_style
from tf_style.testing import processes


def test_the_public_names_are_the_modules_own():
    from tf_style import caffe, config, errors, loop, stylizer

    assert tf_style.run is stylizer.run and tf_style.stylize is stylizer.stylize
    assert tf_style.Stylizer is stylizer.Stylizer and tf_style.Progress is loop.Progress
    assert tf_style.load_model is caffe.load_model
    assert tf_style.StyleConfig is config.StyleConfig
    assert tf_style.TfStyleError is errors.TfStyleError
    assert dir(tf_style) == sorted(tf_style.__all__)
    assert {"run", "stylize", "Stylizer", "StyleConfig", "Progress", "load_model"} <= set(
        tf_style.__all__
    )
    assert all(hasattr(tf_style, name) for name in tf_style.__all__)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'tf_style' has no attribute 'runn'"):
        tf_style.runn  # noqa: B018


def test_the_version_is_a_release_number():
    major, minor, patch = tf_style.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def test_importing_tf_style_starts_no_tensorflow_until_a_lazy_name_is_used():
    code = """
        import sys
        import tf_style
        print("tensorflow" in sys.modules, "numpy" in sys.modules)
        tf_style.Progress
        print("tensorflow" in sys.modules, "tf_style.loop" in sys.modules)
    """
    result = processes.run(processes.snippet(code), check=True)
    assert result.stdout.split() == ["False", "False", "True", "True"]
