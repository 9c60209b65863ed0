"""Small misbehaving Ollama hosts on loopback, for the fault tests.

`BadHost(behaviour)` answers `/api/version`, `/api/tags` (one model, or the
JSON given), `/api/ps` and `/api/show` as Ollama does, and misbehaves on
`/api/generate` and `/api/chat`:

- ``ok``: two chunks, then the final `done: true` object;
- ``hang``: reads the request and never answers (until the host is closed);
- ``stall``: two chunks, then silence;
- ``drop``: two chunks, then the connection is cut mid-stream;
- ``nodone``: two chunks, then a clean end without the final object;
- ``junk_after_done``: the final object, then more text and another final object;
- ``not_object``: a stream line that is JSON but not an object;
- ``gated``: two chunks, then (once `gate` is set) forty more and the final object;
- ``tool_call``: two chunks, one with a tool call and no text, then the final object.

`/api/show` says what `capabilities` gives for the model (else `completion`);
`/api/tags` lists none, as a server older than capabilities in the list did.
`/metrics` answers an empty Prometheus page. With ``auth``, every request needs
that basic authentication (401 without it).

Nothing sleeps: a silent handler waits on an event that `close()` sets.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "llama3:8b"
BEHAVIOURS = ("ok", "hang", "stall", "drop", "nodone", "junk_after_done", "not_object", "gated",
              "tool_call")
#: the call ``tool_call`` makes (api.ToolCall)
TOOL_CALL = {"function": {"name": "get_weather", "arguments": {"unit": "C", "city": "Paris"}}}


def tags_of(model: str = MODEL) -> dict[str, Any]:
    return {"models": [{
        "name": model, "model": model, "size": 4_660_000_000, "digest": "0" * 64,
        "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B",
                    "quantization_level": "Q4_0"},
    }]}


def chunk(text: str, chat: bool, done: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"model": MODEL, "created_at": "2026-01-01T00:00:00Z"}
    if chat:
        out["message"] = {"role": "assistant", "content": text}
    else:
        out["response"] = text
    out["done"] = done
    if done:
        out.update(done_reason="stop", total_duration=2_000_000, load_duration=1_000,
                   eval_count=2, eval_duration=1_000_000)
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:   # quiet
        pass

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        host = self.server.host
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host.requests.append((self.command, self.path, dict(self.headers.items())))
        if host.auth is not None:
            want = "Basic " + base64.b64encode(host.auth.encode()).decode()
            if self.headers.get("Authorization") != want:
                return self._json(401, {"error": "unauthorized"})
        if self.path == "/metrics":
            return self._json(200, "")
        if self.path == "/api/version":
            return self._json(200, {"version": "0.33.0"})
        if self.path == "/api/tags":
            return self._json(200, host.tags)
        if self.path == "/api/ps":
            return self._json(200, {"models": []})
        if self.path == "/api/show":
            name = json.loads(body or b"{}").get("model", "")
            host.shown.append(name)
            caps = host.capabilities.get(name, ["completion"])
            return self._json(200, {"details": tags_of()["models"][0]["details"],
                                    "model_info": {}, "capabilities": caps})
        if self.path in ("/api/generate", "/api/chat"):
            del body
            return self._answer(self.path == "/api/chat")
        return self._json(404, {"error": "not found"})

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _line(self, obj: Any) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _answer(self, chat: bool) -> None:
        how = self.server.host.behaviour
        if how == "hang":
            self.server.host.released.wait()
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if how == "not_object":
            self._line([1, 2])
            self.wfile.write(b"0\r\n\r\n")
            return
        self._line(chunk("Hello ", chat))
        self._line(chunk("from the bad host", chat))
        if how == "stall":
            self.server.host.released.wait()
            self.close_connection = True
            return
        if how == "gated":
            self.server.host.gate.wait()
            for i in range(40):
                self._line(chunk(f" more text {i}", chat))
        if how == "tool_call":
            call = chunk("", chat)
            (call["message"] if chat else call)["tool_calls"] = [TOOL_CALL]
            self._line(call)
        if how == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if how != "nodone":
            self._line(chunk("", chat, done=True))
        if how == "junk_after_done":
            self._line(chunk(" JUNK AFTER DONE", chat))
            self._line(chunk("", chat, done=True))
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    host: BadHost


class BadHost:
    """One misbehaving host; use as a context manager."""

    def __init__(self, behaviour: str = "ok", *, tags: Any = None, auth: str | None = None,
                 capabilities: dict[str, list[str]] | None = None) -> None:
        assert behaviour in BEHAVIOURS, behaviour
        self.behaviour = behaviour
        self.tags = tags_of() if tags is None else tags
        self.auth = auth                   # "user:password": basic auth required
        # what `/api/show` says each model can do (else completion); `shown`: what was asked
        self.capabilities = capabilities or {}
        self.shown: list[str] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.released = threading.Event()
        self.gate = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.host = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> BadHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.released.set()
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def backend(host_url: str, backend_id: str = "bad") -> dict[str, Any]:
    """A config backend for a bad host: static telemetry, room for the model."""
    return {"id": backend_id, "host": host_url, "hardware": "nvidia", "max_model_size_gb": 24,
            "supported_models": ["*"],
            "telemetry": {"source": "static", "fan_pct": 10, "temp_c": 40, "power_w": 50}}
