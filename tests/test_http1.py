"""`smartollama.http1`: the CLI's HTTP/1.1 client, against a real server on loopback.

The three ways a body ends (chunks, Content-Length, the close), headers and
basic authentication as sent, redirects for exporter pages, and the errors a
caller maps (nothing listening, a broken chunked body, silence).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from smartollama import http1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:   # noqa: N802
        self._record(b"")
        if self.path == "/length":
            self._send(200, b'{"a": 1}', {"Content-Length": "8"})
        elif self.path == "/close":
            self.protocol_version = "HTTP/1.0"
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"until\nthe close")
            self.close_connection = True
        elif self.path == "/moved":
            self._send(302, b"", {"Location": "/length", "Content-Length": "0"})
        elif self.path == "/broken":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhel")
            self.close_connection = True
        elif self.path == "/silent":
            self.server.release.wait(10)   # type: ignore[attr-defined]
        else:
            self._send(404, b'{"error": "not here"}', {"Content-Length": "21"})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._record(body)
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in (b'{"n": 1}\n', b'{"n": 2}\r\n{"n"', b': 3}\n'):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.write(b"0\r\n\r\n")

    def _record(self, body: bytes) -> None:
        self.server.seen.append({"path": self.path, "headers": dict(self.headers),  # type: ignore[attr-defined]
                                 "body": body})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[Any]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.seen = []               # type: ignore[attr-defined]
    srv.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"  # type: ignore[attr-defined]
    yield srv
    srv.release.set()           # type: ignore[attr-defined]
    srv.shutdown()
    srv.server_close()


def test_a_chunked_stream_comes_as_lines_and_the_request_as_sent(server: Any) -> None:
    t = http1.Transport(server.url + "/base/", headers={"X-Key": "v"}, auth=("me", "pw"))
    with t.request("POST", "/api/generate", json_body={"model": "m"}) as r:
        assert r.status == 200
        assert [json.loads(line) for line in r.iter_lines()] == [{"n": 1}, {"n": 2}, {"n": 3}]
    seen = server.seen[0]
    assert seen["path"] == "/base/api/generate"
    assert json.loads(seen["body"]) == {"model": "m"}
    assert seen["headers"]["X-Key"] == "v"
    assert seen["headers"]["Authorization"] == "Basic " + base64.b64encode(b"me:pw").decode()


def test_a_body_by_length_or_up_to_the_close(server: Any) -> None:
    t = http1.Transport(server.url)
    with t.request("GET", "/length") as r:
        assert r.json() == {"a": 1}
    with t.request("GET", "/close") as r:
        assert r.text() == "until\nthe close"
    with t.request("GET", "/nothing") as r:
        assert r.status == 404 and "not here" in r.text()


def test_get_text_follows_a_redirect(server: Any) -> None:
    assert http1.get_text(server.url + "/moved", timeout=5) == (200, '{"a": 1}')


def test_a_chunked_body_cut_short_is_a_protocol_error(server: Any) -> None:
    with http1.Transport(server.url).request("GET", "/broken") as r, \
            pytest.raises(http1.RemoteProtocolError):
        r.read()


def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(http1.ConnectError):
        http1.Transport(f"http://127.0.0.1:{port}").request("GET", "/")


def test_silence_past_the_read_timeout_is_a_read_timeout(server: Any) -> None:
    with pytest.raises(http1.ReadTimeout):
        http1.Transport(server.url, read_timeout=0.2).request("GET", "/silent")


@pytest.mark.parametrize("url", ["ftp://h", "http://", "http://h:99999", "http://[::1"])
def test_an_unusable_url_is_invalid(url: str) -> None:
    with pytest.raises(http1.InvalidURL):
        http1.Transport(url)
