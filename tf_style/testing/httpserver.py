"""A local HTTP server for download tests: files from memory, Range requests, dropped connections.

Real mirrors cannot be made to fail on purpose; this one can: a 404 for a file it does not
hold, a 416 for a Range past the end, a connection closed half-way (`drop_after`), a server
that ignores Range (`ignore_range`). It logs every request as (path, Range header).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.files` from memory; honours `Range: bytes=N-` unless told otherwise."""

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        server = self.server
        server.log.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start, status = 0, 200
        ranged = self.headers.get("Range")
        if ranged and self.path not in server.ignore_range:
            start = int(ranged.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                self.send_error(416)
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        drop = server.drop_after.pop(self.path, None)
        if drop is not None:
            # Sends `drop` bytes of the body, then closes the socket under the client's feet.
            self.wfile.write(body[start : start + drop])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve() -> Iterator[http.server.ThreadingHTTPServer]:
    """A threaded server on 127.0.0.1 while the block runs; `server.url(path)` gives a URL.

    Its attributes: `files` (path -> bytes), `log` (list of (path, Range header or None)),
    `drop_after` (path -> bytes sent before the connection is cut, once), `ignore_range` (paths
    served whole whatever the Range header says).
    """
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.log, httpd.drop_after, httpd.ignore_range = {}, [], {}, set()
    httpd.url = lambda path: f"http://127.0.0.1:{httpd.server_address[1]}{path}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def dead_url() -> str:
    """A URL on a port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/model.caffemodel"


__all__ = ["dead_url", "serve"]
