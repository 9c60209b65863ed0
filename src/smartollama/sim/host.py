"""One simulated Ollama server as a test steers it: start, stop, fail, load, inspect.

`SimHost` owns the HTTP server (server.py) and the host's state (engine.py);
`/sim/control` and `/sim/state` expose the same steering over HTTP.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

from smartollama.sim.engine import HostEngine
from smartollama.sim.payloads import details_of, digest_of
from smartollama.sim.server import SimServer
from smartollama.sim.spec import CLOUD_STATES, HostSpec
from smartollama.sim.wire import FOREVER, SimError, parse_keep_alive, rfc3339

# what the current server says when llama-server dies while loading (llm/llama_server.go)
DEFAULT_FAILURE = "llama-server process has terminated: exit status 2"


class RequestRecord(NamedTuple):
    """One request a host received: method, path, and the JSON body (None without one)."""

    method: str
    path: str
    body: Any


@dataclass
class Failure:
    status: int = 500
    error: str = DEFAULT_FAILURE
    after_chunks: int | None = None  # None: fail before the answer starts


_CONTROL_KEYS = {"readings", "fail_next", "metrics_delay_s", "load", "unload", "clear_requests",
                 "time_scale", "restart_after_s", "cloud"}


class SimHost:
    """A simulated Ollama server: start/stop it, and steer it from a test.

    `requests` logs every API call it received (not `/sim/*`). `stop()` closes the
    port and drops open connections, as a crashed server would; `start()` binds the
    same port again with a fresh server (only the spec's preloaded models loaded).
    """

    def __init__(self, spec: HostSpec, time_scale: float = 1.0) -> None:
        self.spec = spec
        self.name = spec.name
        self.port = spec.port
        self.engine = HostEngine(spec, time_scale)
        self.requests: list[RequestRecord] = []
        self.metrics_delay_s = 0.0
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._epoch = 0
        self._started_before = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SimHost {self.name} {self.url} {state}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def time_scale(self) -> float:
        return self.engine.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self.engine.time_scale = float(value)

    # lifecycle ---------------------------------------------------------------------

    def start(self) -> SimHost:
        if self._server is not None:
            return self
        if self._started_before:
            self.engine.reset()
        server = SimServer(self.port, self)
        self.port = server.server_address[1]
        self._server = server
        self._started_before = True
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02},
            name=f"sim-{self.name}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._epoch += 1
        self.engine.halt()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def restart_after(self, seconds: float) -> None:
        """Stop now and start again (same port) after `seconds`, from another thread."""

        def run() -> None:
            self.stop()
            time.sleep(max(0.0, seconds))
            self.start()

        threading.Thread(target=run, name=f"sim-restart-{self.name}", daemon=True).start()

    def __enter__(self) -> SimHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _log_request(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append(RequestRecord(method, path, body))

    def _take_failure(self) -> Failure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    # steering ------------------------------------------------------------------------

    @property
    def readings(self) -> dict[str, float]:
        return self.engine.readings()

    def set_readings(self, **values: float | None) -> None:
        """Change sensor values; None removes a sensor (its series disappear)."""
        from smartollama.sim.spec import READING_KEYS

        unknown = set(values) - set(READING_KEYS)
        if unknown:
            raise ValueError(f"unknown readings {sorted(unknown)}; known: {', '.join(READING_KEYS)}")
        self.engine.set_readings(values)

    def fail_next(self, status: int = 500, error: str = DEFAULT_FAILURE, *,
                  after_chunks: int | None = None, times: int = 1) -> None:
        """The next `times` generate/chat requests fail: before the answer starts (HTTP
        `status` + `{"error": error}`), or after `after_chunks` streamed chunks (an
        `{"error": ...}` line, as Ollama reports a runner dying mid-stream)."""
        with self._lock:
            for _ in range(times):
                self._failures.append(Failure(int(status), str(error), after_chunks))

    def set_cloud(self, state: str) -> None:
        """Cloud models from now on: "ok", "disabled" (403) or "signed_out" (401)."""
        if state not in CLOUD_STATES:
            raise ValueError(f"cloud {state!r} is not one of {', '.join(CLOUD_STATES)}")
        self.spec.cloud = state

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def load(self, name: str, keep_alive: float | str = -1, num_ctx: int | None = None) -> None:
        """Load a model now, without the simulated load time (at the host's default context
        when num_ctx is None)."""
        self.engine.preload(name, parse_keep_alive(keep_alive), num_ctx)

    def unload(self, name: str | None = None) -> list[str]:
        """Unload a model, or all of them."""
        from smartollama.sim.library import normalize_name

        return self.engine.unload(None if name is None else normalize_name(name))

    @property
    def loaded(self) -> list[str]:
        return [r.model.name for r in self.engine.runners()]

    def ps(self) -> list[dict[str, Any]]:
        """The `/api/ps` models, longest-lived first."""
        rows = []
        for r in self.engine.runners():
            expires = r.expires_wall
            if expires == FOREVER:
                expires = time.time() + 2**63 / 1e9
            rows.append((expires, {
                "name": r.model.name,
                "model": r.model.name,
                "size": r.size,
                "digest": digest_of(r.model.name),
                "details": details_of(r.model),
                "expires_at": rfc3339(expires),
                "size_vram": r.size_vram,
                "context_length": r.num_ctx,
            }))
        rows.sort(key=lambda row: -row[0])
        return [row[1] for row in rows]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_to(self, path: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def control(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Apply settings given as JSON (what `POST /sim/control` takes); returns `state()`."""
        unknown = set(settings) - _CONTROL_KEYS
        if unknown:
            raise SimError(400, f"unknown control keys {sorted(unknown)}; known: {', '.join(sorted(_CONTROL_KEYS))}")
        try:
            if "readings" in settings:
                self.set_readings(**(settings["readings"] or {}))
            if "fail_next" in settings:
                spec = settings["fail_next"]
                if spec is None or spec is False:
                    self.clear_failures()
                else:
                    self.fail_next(**({} if spec is True else spec))
            if "metrics_delay_s" in settings:
                self.metrics_delay_s = float(settings["metrics_delay_s"] or 0)
            if "time_scale" in settings:
                self.time_scale = float(settings["time_scale"])
            if "cloud" in settings:
                self.set_cloud(str(settings["cloud"]))
            if settings.get("clear_requests"):
                self.clear_requests()
            unload = settings.get("unload")
            if unload is True or unload == "all":
                self.unload()
            elif unload:
                for n in [unload] if isinstance(unload, str) else unload:
                    self.unload(n)
            load = settings.get("load")
            if load:
                for n in [load] if isinstance(load, str) else load:
                    self.load(n)
        except (TypeError, ValueError) as exc:
            raise SimError(400, str(exc)) from None
        state = self.state()
        if settings.get("restart_after_s") is not None:
            self.restart_after(float(settings["restart_after_s"]))
        return state

    def state(self) -> dict[str, Any]:
        dev, ram = self.engine.memory_used()
        with self._lock:
            requests = [r._asdict() for r in self.requests]
            failures = len(self._failures)
        return {
            "name": self.name,
            "url": self.url,
            "port": self.port,
            "hardware": self.spec.hardware,
            "readings": self.readings,
            "loaded": self.ps(),
            "memory": {"device_used": dev, "device_total": self.engine.device_bytes,
                       "ram_used": ram, "ram_total": self.engine.ram_bytes},
            "queued": self.engine.queued,
            "active": self.engine.active,
            "pending_failures": failures,
            "metrics_delay_s": self.metrics_delay_s,
            "time_scale": self.time_scale,
            "cloud": self.spec.cloud,
            "requests": requests,
        }
