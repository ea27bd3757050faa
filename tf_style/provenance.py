"""What made an image: the run's flags, package versions and the model's checksum.

Every PNG a run writes carries these as text chunks, so `tf-style -show_config out.png` can
print a flagfile that makes the same image again. An addition: the original stored nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os

from tf_style import image_io
from tf_style.config import StyleConfig
from tf_style.errors import ProvenanceError

# PNG text chunk keywords (Latin-1, at most 79 characters).
FLAGS_KEY = "tf_style:flags"
VERSIONS_KEY = "tf_style:versions"
MODEL_KEY = "tf_style:model"
DIRECTORY_KEY = "tf_style:directory"
KEYS = (FLAGS_KEY, VERSIONS_KEY, MODEL_KEY, DIRECTORY_KEY)


def _flag_value(value) -> str:
    if value is None:
        return "nil"  # the original's word for "unset"; StyleConfig reads it back as None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(_flag_value(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def config_flagfile(config: StyleConfig) -> str:
    """Every option of `config` as absl flagfile lines, one `--name=value` a line.

    Example:
        >>> print(config_flagfile(StyleConfig(image_size=256)).splitlines()[3])
        --image_size=256

    Returns:
        Text that `tf-style -flagfile F` turns back into an equal StyleConfig.
    """
    lines = [
        f"--{f.name}={_flag_value(getattr(config, f.name))}" for f in dataclasses.fields(config)
    ]
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=16)
def _md5(path: str, mtime_ns: int, size: int) -> str:
    del mtime_ns, size  # part of the cache key only: a changed file is hashed again
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_md5(path: str | os.PathLike) -> str:
    """The md5 of a model file, computed once per path, modification time and size.

    Example:
        >>> model_md5("vgg19.caffemodel")  # doctest: +SKIP
        'b5c644be...'
    """
    path = os.path.realpath(os.fspath(path))
    stat = os.stat(path)
    return _md5(path, stat.st_mtime_ns, stat.st_size)


def versions() -> dict[str, str]:
    """The versions of tf_style, TensorFlow, Keras and NumPy in this process.

    Example:
        >>> sorted(versions())
        ['keras', 'numpy', 'tensorflow', 'tf_style']
    """
    import keras
    import numpy
    import tensorflow

    try:
        own = importlib.metadata.version("tf-style")
    except importlib.metadata.PackageNotFoundError:
        own = "unknown"
    return {
        "tf_style": own,
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }


def image_metadata(config: StyleConfig) -> dict[str, str]:
    """The text chunks for the images of a run of `config` (after its model was loaded).

    Example:
        >>> meta = image_metadata(StyleConfig(model_file="tiny.caffemodel"))  # doctest: +SKIP
        >>> meta["tf_style:model"]
        'md5 0123... /abs/tiny.caffemodel'
    """
    from tf_style import models

    resolved = models.resolve(config.model_file, config.proto_file or None)
    if resolved.model_path is None:
        model = f"keras.applications weights for {config.model_file}"
    else:
        path = os.path.realpath(resolved.model_path)
        model = f"md5 {model_md5(path)} {path}"
    return {
        FLAGS_KEY: config_flagfile(config),
        VERSIONS_KEY: json.dumps(versions(), sort_keys=True),
        MODEL_KEY: model,
        DIRECTORY_KEY: os.getcwd(),
    }


def show_config(path: str | os.PathLike) -> str:
    """The flagfile that reproduces the run that wrote `path`, with its provenance as comments.

    Example:
        >>> print(show_config("out.png"))  # doctest: +SKIP
        # out.png was made by tf_style 0.1.0 (keras 3.15.0, numpy 2.4.0, tensorflow 2.21.0)
        ...

    Raises:
        ProvenanceError: the file holds no tf_style flags (not written by tf_style, or not a
            PNG).
        tf_style.image_io.ImageError: the file cannot be read as an image.
    """
    path = os.fspath(path)
    chunks = image_io.read_metadata(path)
    if FLAGS_KEY not in chunks:
        raise ProvenanceError(
            f"-show_config: {path} holds no tf_style configuration; give a PNG written by "
            "tf-style (JPEG and TIFF outputs carry none)"
        )
    try:
        found = json.loads(chunks.get(VERSIONS_KEY, "{}"))
    except ValueError:
        found = {}
    others = ", ".join(f"{k} {v}" for k, v in sorted(found.items()) if k != "tf_style")
    header = [
        f"# {path} was made by tf_style {found.get('tf_style', 'unknown')} ({others})",
        f"# Model file: {chunks.get(MODEL_KEY, 'unknown')}",
        f"# Run from the directory: {chunks.get(DIRECTORY_KEY, 'unknown')}",
        "# Reproduce it there with: tf-style -flagfile <this file>",
    ]
    return "\n".join(header) + "\n" + chunks[FLAGS_KEY]
