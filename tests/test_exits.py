"""One message per failure and the exit codes DESIGN.md gives, for the listing commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import SOLLAMA, run_sollama

DOWN = '[[backends]]\nid = "gone"\nhost = "127.0.0.1:9"\ntelemetry = { source = "none" }\n'


@pytest.fixture
def hostile_host() -> Iterator[str]:
    """An Ollama-like host whose model names carry a newline, a NUL and an escape sequence,
    and whose sizes are not numbers."""
    models = [{"name": "evil\nmodel:latest", "digest": "abc\x00def", "size": "huge",
               "modified_at": "2026-11-01T00:00:00Z"},
              {"name": "\x1b[2Jclear:7b", "digest": "0123456789ab", "size": 4_700_000_000}]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"models": models}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_status_exits_4_when_no_backend_answers() -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(DOWN)
    r = run_sollama("status")
    assert r.returncode == 4
    assert "gone" in r.stdout                      # the table still shows what failed
    r = run_sollama("status", "--json")
    assert r.returncode == 4
    assert json.loads(r.stdout)["backends"][0]["reachable"] is False


@pytest.mark.parametrize("command", ["list", "ps"])
def test_listing_with_every_host_down_says_it_once(command: str) -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(DOWN)
    r = run_sollama(command)
    assert r.returncode == 4
    assert r.stderr.count("\n") == 1, r.stderr
    assert "no backend reachable: gone" in r.stderr


def test_list_escapes_what_a_server_names(hostile_host: str) -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(
        f'[[backends]]\nid = "odd"\nhost = "{hostile_host}"\ntelemetry = {{ source = "none" }}\n')
    r = run_sollama("list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3                          # header + two models, none split
    assert "\x00" not in r.stdout and "\x1b" not in r.stdout
    assert "evil\\nmodel:latest" in r.stdout and "\\x1b[2Jclear:7b" in r.stdout
    assert "abc\\x00def" in r.stdout
    assert " 0 B " in lines[2] or " 0 B " in lines[1]   # "huge" is no size


def test_status_watch_stops_on_ctrl_c_without_an_error() -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(DOWN)
    p = subprocess.Popen([SOLLAMA, "status", "--watch", "--interval", "0.2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "COLUMNS": "120"})
    try:
        assert p.stdout is not None
        seen = []
        while not any("gone" in line for line in seen) and len(seen) < 200:
            seen.append(p.stdout.readline())    # a table is out: the watch loop runs
        assert any("gone" in line for line in seen), seen
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0
    finally:
        if p.poll() is None:       # never left running by a failure
            p.kill()
            p.communicate(timeout=30)
    assert "error" not in err and "Traceback" not in err
