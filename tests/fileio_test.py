"""Tests for tf_style.fileio: a file appears whole under its name, or not at all."""

import os

import pytest

from tf_style import fileio


def test_writes_the_content_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.bin"
    fileio.write_atomically(path, b"\x00\x01binary")
    fileio.write_atomically(tmp_path / "text.json", '{"a": "\u00e9"}')
    assert path.read_bytes() == b"\x00\x01binary"
    assert (tmp_path / "text.json").read_bytes() == '{"a": "\u00e9"}'.encode()
    assert sorted(os.listdir(tmp_path)) == ["out.bin", "text.json"]


def test_replaces_an_existing_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old and longer")
    with fileio.AtomicFile(path) as file:
        file.write(b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failure_while_writing_leaves_the_target_and_no_temporary(tmp_path, error):
    path = tmp_path / "out.bin"
    path.write_bytes(b"previous")
    seen = []
    with pytest.raises(type(error)):
        with fileio.AtomicFile(path) as file:
            file.write(b"half of it")
            file.flush()
            seen.extend(os.listdir(tmp_path))
            raise error
    temporary = [name for name in seen if name != "out.bin"]
    assert len(temporary) == 1 and temporary[0].startswith(".out.bin.")
    assert temporary[0].endswith(".tmp")
    assert os.listdir(tmp_path) == ["out.bin"]
    assert path.read_bytes() == b"previous"


def test_a_failing_fsync_or_rename_propagates_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    path.write_bytes(b"previous")

    def failing(*args):
        raise OSError("no space left")

    for name in ("fsync", "replace"):
        with monkeypatch.context() as patch:
            patch.setattr(os, name, failing)
            with pytest.raises(OSError, match="no space left"):
                fileio.write_atomically(path, b"new")
        assert os.listdir(tmp_path) == ["out.bin"], name
        assert path.read_bytes() == b"previous"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="tells folders from files by /proc")
def test_the_file_is_synced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        events.append("folder" if os.path.isdir(f"/proc/self/fd/{descriptor}") else "file")
        real_fsync(descriptor)

    def replace(source, target):
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    fileio.write_atomically(tmp_path / "a.bin", b"x")
    (tmp_path / "b.part").write_bytes(b"y")
    fileio.replace(tmp_path / "b.part", tmp_path / "b.bin")  # a verified download
    assert events == ["file", "rename", "folder"] * 2
    assert (tmp_path / "b.bin").read_bytes() == b"y" and not (tmp_path / "b.part").exists()


def test_a_missing_folder_fails_before_anything_is_written(tmp_path):
    with pytest.raises(FileNotFoundError):
        fileio.AtomicFile(tmp_path / "missing" / "out.bin")
    assert os.listdir(tmp_path) == []


def test_permissions_follow_the_umask(tmp_path):
    umask = os.umask(0o027)
    try:
        fileio.write_atomically(tmp_path / "out.bin", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o640
