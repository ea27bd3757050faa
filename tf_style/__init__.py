"""tf_style: neural style transfer in TensorFlow 2 / Keras 3.

Example:
    >>> import tf_style
    >>> image = tf_style.stylize("photo.jpg", "starry.jpg", image_size=256)  # float RGB array
    >>> tf_style.run(tf_style.StyleConfig(content_image="photo.jpg", style_image="starry.jpg"))

The heavy parts (TensorFlow) load on first use, so `import tf_style` is instant and the
command line can quieten TensorFlow before it starts.
"""

from tf_style.config import ConfigError, StyleConfig

_LAZY = {
    "run": ("tf_style.engine", "run"),
    "stylize": ("tf_style.engine", "stylize"),
    "Stylizer": ("tf_style.engine", "Stylizer"),
    "load_model": ("tf_style.caffe", "load_model"),
}

__all__ = ["ConfigError", "StyleConfig", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'tf_style' has no attribute {name!r}")
