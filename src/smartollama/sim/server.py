"""The HTTP side of a simulated Ollama server on 127.0.0.1: plumbing, sinks, the route table.

A route is `handler(host, body, sink)`. Ollama's own routes answer through a
`Sink` that writes JSON or NDJSON (chunked); the OpenAI-compatible routes wrap
the same handlers with sinks that translate each object, as Ollama's
`middleware/openai.go` wraps its handlers with response writers. A `SimError`
raised before an answer starts becomes the sink's error response. Routes
(routes.go's list): `/`, `/api/version`, `/api/status`, `/api/tags`, `/api/ps`,
`/api/show`, `/api/generate`, `/api/chat`, `/api/embed`, `/api/embeddings`,
`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`,
`/v1/models/{model}`; and two of the simulator's own: `/metrics` (the host's
exporter) and `/sim/*` (test control).
"""

from __future__ import annotations

import contextlib
import json
import socketserver
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from smartollama.sim.wire import EMPTY_BODY, SimError

if TYPE_CHECKING:
    from smartollama.sim.host import SimHost

JSON_TYPE = "application/json; charset=utf-8"
_GO_JSON_CONTEXT = (("Expecting property name", "looking for beginning of object key string"),
                    ("Expecting ':'", "after object key"),
                    ("Expecting ',' delimiter", "after object key:value pair"))


class Closed(Exception):
    """The client or the simulated server went away mid-answer."""


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class Sink:
    """How a handler answers: Ollama's JSON, or NDJSON lines in a chunked stream."""

    stream_type = "application/x-ndjson"

    def __init__(self, out: _Handler, body: Any = None) -> None:
        self.out = out

    def json(self, status: int, obj: Any) -> None:
        self.out.whole(status, JSON_TYPE, dumps(obj))

    def error(self, exc: SimError) -> None:
        self.json(exc.status, exc.body())

    def start(self) -> None:
        self.out.stream_start(self.stream_type)

    def line(self, obj: Any) -> None:
        self.out.stream_write(dumps(obj) + b"\n")

    def end(self) -> None:
        self.out.stream_end()

    def check(self) -> None:
        """Raise Closed when the simulated server stopped since the request began."""
        self.out.check()


Handler = Callable[["SimHost", Any, Sink], None]


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of clients (a script starting
    # 32 `sollama run`s at once) would wait on SYN retransmits. Ollama's Go server uses
    # the kernel's somaxconn.
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, port: int, host: SimHost) -> None:
        self.sim = host
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        self.sim._track(request, True)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.sim._track(request, False)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away is not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small NDJSON writes must not wait for delayed ACKs
    server_version = "ollama"
    sys_version = ""
    server: SimServer
    epoch = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(length) if length > 0 else b""

    def _decode(self, raw: bytes) -> tuple[Any, SimError | None]:
        if not raw.strip():
            return EMPTY_BODY, None
        try:
            return json.loads(raw), None
        except json.JSONDecodeError as exc:  # worded as Go's encoding/json words it
            text = raw.decode("utf-8", "replace")
            if exc.pos >= len(text.rstrip()):
                return EMPTY_BODY, SimError(400, "unexpected EOF")
            where = next((go for py, go in _GO_JSON_CONTEXT if exc.msg.startswith(py)),
                         "looking for beginning of value")
            return EMPTY_BODY, SimError(400, f"invalid character '{text[exc.pos]}' {where}")
        except ValueError:
            return EMPTY_BODY, SimError(400, "invalid request body: not UTF-8")

    def _dispatch(self, method: str) -> None:
        host = self.server.sim
        self.epoch = host._epoch
        path = urlsplit(self.path).path
        body, bad = self._decode(self._read_body())
        if not path.startswith("/sim/"):
            host._log_request(method, path, None if body is EMPTY_BODY else body)
        found = find_route(path)
        if found is None:
            self.whole(404, "text/plain; charset=utf-8", b"404 page not found")
            return
        routes, param = found
        entry = routes.get("GET" if method == "HEAD" and "HEAD" in routes else method)
        if entry is None:
            self.whole(405, "text/plain; charset=utf-8", b"405 method not allowed")
            return
        handler, sink_type = entry
        if param is not None:
            body = {"model": param}
        sink = sink_type(self, None if bad else body)
        try:
            if bad is not None:
                raise bad
            handler(host, body, sink)
        except SimError as exc:
            with contextlib.suppress(OSError, Closed):
                sink.error(exc)
        except (OSError, Closed):
            self.close_connection = True

    # what sinks write with ----------------------------------------------------------------

    def check(self) -> None:
        if self.server.sim._epoch != self.epoch:
            raise Closed()

    def whole(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def stream_start(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def stream_write(self, data: bytes) -> None:
        self.check()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def stream_end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")


RouteTable = dict[str, dict[str, tuple[Handler, type[Sink]]]]
_ROUTES: RouteTable = {}
_PREFIXES: RouteTable = {}  # "/v1/models/" + a model name


def find_route(path: str) -> tuple[dict[str, tuple[Handler, type[Sink]]], str | None] | None:
    if not _ROUTES:
        _build_routes()
    if path in _ROUTES:
        return _ROUTES[path], None
    for prefix, routes in _PREFIXES.items():
        if path.startswith(prefix) and len(path) > len(prefix):
            return routes, unquote(path[len(prefix):])
    return None


def _build_routes() -> None:
    from smartollama.sim import inference, native, openai_compat, registry

    table: RouteTable = {
        "/": {"GET": (native.root, Sink), "HEAD": (native.root, Sink)},
        "/api/version": {"GET": (native.version, Sink), "HEAD": (native.version, Sink)},
        "/api/status": {"GET": (native.status, Sink)},
        "/api/tags": {"GET": (native.tags, Sink), "HEAD": (native.tags, Sink)},
        "/api/ps": {"GET": (native.ps, Sink)},
        "/api/show": {"POST": (native.show, Sink)},
        "/api/generate": {"POST": (inference.generate, Sink)},
        "/api/chat": {"POST": (inference.chat, Sink)},
        "/api/embed": {"POST": (native.embed, Sink)},
        "/api/embeddings": {"POST": (native.embeddings, Sink)},
        "/api/pull": {"POST": (registry.pull, Sink)},
        "/api/create": {"POST": (registry.create, Sink)},
        "/api/delete": {"DELETE": (registry.delete, Sink)},
        "/metrics": {"GET": (native.metrics_route, Sink)},
        "/sim/control": {"POST": (native.control, Sink)},
        "/sim/state": {"GET": (native.state, Sink)},
    }
    table.update(openai_compat.ROUTES)
    _PREFIXES.update(openai_compat.PREFIX_ROUTES)
    _ROUTES.update(table)
