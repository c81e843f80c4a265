"""Answers a Cairn server would never give, from a stand-in HTTP server:
they become ProtocolError or TransportError, never a raw httpx or JSON error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import cairn
from cairn import SharedContext


class Handler(BaseHTTPRequestHandler):
    """Answers by path: /v1/contexts/plain-500, /v1/contexts/not-json, /v1/contexts/hang-up."""

    def do_GET(self) -> None:
        if self.path.startswith("/v1/contexts/hang-up"):
            self.connection.close()  # no answer at all
            return
        if self.path.startswith("/v1/contexts/plain-500"):
            status, body, kind = 502, b"Bad Gateway from a proxy", "text/plain"
        elif self.path.startswith("/v1/contexts/wrong-shape"):
            status, body, kind = 200, b'{"key": 42}', "application/json"
        else:
            status, body, kind = 200, b"<html>not json</html>", "text/html"
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def stand_in() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_odd_answers(stand_in: str) -> None:
    with SharedContext(stand_in, retry=cairn.Retry(attempts=1)) as ctx:
        with pytest.raises(cairn.ProtocolError) as caught:
            ctx.get_view("plain-500")
        assert caught.value.status == 502 and "Bad Gateway" in caught.value.message
        with pytest.raises(cairn.ProtocolError):
            ctx.get_view("not-json")
        with pytest.raises(cairn.ProtocolError) as shape:
            ctx.get_view("wrong-shape")
        assert "'key'" in shape.value.message
        with pytest.raises(cairn.TransportError):
            ctx.get_view("hang-up")
