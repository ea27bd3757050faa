"""The one atomic write: a file appears under its name whole, or not at all.

Every file tf_style writes (images, converted models, checkpoint pointers, downloads, the test
models) goes through here, so that a kill, a full disk or a power cut never leaves a partial file
under the final name, and an existing file is replaced only by a complete one. The bytes go to a
temporary file in the same folder (a rename is atomic only within one file system), are flushed
and fsynced, the file is renamed over the target, and the folder is fsynced so that the rename
itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from typing import BinaryIO


def temporary_path(path: str | os.PathLike) -> str:
    """A fresh hidden name beside `path`: `dir/.name.<random>.tmp`."""
    directory, name = os.path.split(os.fspath(path))
    return os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")


def sync_directory(directory: str | os.PathLike) -> None:
    """fsyncs a folder, so that a rename in it is durable; skipped where the system cannot.

    Windows cannot open a folder, and some file systems refuse to fsync one (EINVAL): there the
    rename is as durable as the system makes it.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        descriptor = os.open(os.fspath(directory) or ".", flags)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(descriptor)


def replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Gives the finished file `source` the name `target`: fsync, os.replace, fsync of the folder.

    For files that are written under a name of their own first (a download's resumable `.part`)
    and only renamed once they were verified.

    Raises:
        OSError: the fsync or the rename failed; `source` is left where it is.
    """
    with open(source, "rb") as file:
        os.fsync(file.fileno())
    os.replace(source, target)
    sync_directory(os.path.dirname(os.fspath(target)))


class AtomicFile:
    """A binary file that gets the name `path` only when its `with` block ends without an error.

    Creating the object creates the temporary file (so a caller can tell "cannot create" from
    "writing failed"); the `with` block writes to it. On success the data are flushed, fsynced and
    renamed over `path`, then the folder is fsynced; on any exception (KeyboardInterrupt too) the
    temporary file is removed, an existing `path` is left untouched and the exception propagates.

    Example:
        >>> with AtomicFile("out.bin") as file:  # doctest: +SKIP
        ...     file.write(b"all or nothing")

    Raises:
        OSError: from the constructor when the temporary file cannot be created; from the end of
            the `with` block when flushing, fsyncing or renaming failed.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.temporary = temporary_path(self.path)
        # os.open with 0o666 lets the umask decide the permissions, as for a plain open().
        descriptor = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self.file: BinaryIO = os.fdopen(descriptor, "wb")

    def __enter__(self) -> BinaryIO:
        return self.file

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is not None:
            self._discard()
            return False
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.temporary, self.path)
        except BaseException:
            self._discard()
            raise
        sync_directory(os.path.dirname(self.path))
        return False

    def _discard(self) -> None:
        # Errors while cleaning up must not hide the one that made us clean up.
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.temporary)


def write_atomically(path: str | os.PathLike, data: bytes | str) -> None:
    """Writes `data` (str as UTF-8) to `path` through `AtomicFile`.

    Raises:
        OSError: the file could not be created or written; `path` is unchanged.
    """
    with AtomicFile(path) as file:
        file.write(data.encode() if isinstance(data, str) else data)


__all__ = ["AtomicFile", "replace", "sync_directory", "temporary_path", "write_atomically"]
