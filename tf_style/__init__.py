"""tf_style: neural style transfer in TensorFlow 2 / Keras 3.

Example:
    >>> import tf_style
    >>> image = tf_style.stylize("photo.jpg", "starry.jpg", image_size=256)  # float RGB array
    >>> tf_style.run(tf_style.StyleConfig(content_image="photo.jpg", style_image="starry.jpg"))

The heavy parts (TensorFlow) load on first use, so `import tf_style` is instant and the
command line can quieten TensorFlow before it starts.
"""

from tf_style.config import StyleConfig
from tf_style.errors import TfStyleError

__version__ = "0.1.0"

# Public names that need TensorFlow, imported when first used.
_LAZY = {
    "run": "tf_style.stylizer",
    "stylize": "tf_style.stylizer",
    "Stylizer": "tf_style.stylizer",
    "stylize_video": "tf_style.clips",
    "Progress": "tf_style.loop",
    "load_model": "tf_style.caffe",
}

__all__ = ["StyleConfig", "TfStyleError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tf_style' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
