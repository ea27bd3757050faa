"""Tests for tf_style.testing.httpserver: it serves, resumes and fails as the download tests need,
seen through urllib."""

import http.client
import urllib.error
import urllib.request

import pytest

from tf_style.testing import httpserver

BODY = bytes(range(256)) * 4


def get(url, start=None):
    request = urllib.request.Request(url)
    if start is not None:
        request.add_header("Range", f"bytes={start}-")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def test_files_whole_and_from_an_offset(server):
    server.files["/m.bin"] = BODY
    status, _, body = get(server.url("/m.bin"))
    assert (status, body) == (200, BODY)
    status, headers, body = get(server.url("/m.bin"), start=1000)
    assert (status, body) == (206, BODY[1000:])
    assert headers["Content-Range"] == "bytes 1000-1023/1024"
    assert server.log == [("/m.bin", None), ("/m.bin", "bytes=1000-")]


def test_missing_files_and_ranges_past_the_end_fail(server):
    server.files["/m.bin"] = BODY
    for url, start, code in ((server.url("/none"), None, 404), (server.url("/m.bin"), 1024, 416)):
        with pytest.raises(urllib.error.HTTPError) as info:
            get(url, start)
        assert info.value.code == code
        info.value.close()  # the error holds the response open


def test_a_dropped_connection_and_a_server_that_ignores_range(server):
    server.files["/m.bin"] = BODY
    server.drop_after["/m.bin"] = 100
    with pytest.raises(http.client.IncompleteRead) as info:
        get(server.url("/m.bin"))
    assert info.value.partial == BODY[:100]
    assert get(server.url("/m.bin"))[2] == BODY  # once only
    server.ignore_range.add("/m.bin")
    status, _, body = get(server.url("/m.bin"), start=500)
    assert (status, body) == (200, BODY)


def test_a_dead_url_refuses_the_connection():
    with pytest.raises(urllib.error.URLError) as info:
        get(httpserver.dead_url())
    assert isinstance(info.value.reason, ConnectionRefusedError)
