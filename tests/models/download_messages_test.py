"""What a new user sees of a download: the fix first when it fails, pip's progress for open_nsfw.

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

import pytest

from tf_style import models
from tf_style.models import download
from tf_style.testing import httpserver

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
