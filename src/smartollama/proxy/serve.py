"""Listening: the address, its socket, the token rule, uvicorn, and a clean stop.

The socket is bound here, before uvicorn starts, so that a port in use is one
line naming it (exit 1), not a traceback. On SIGTERM (or Ctrl-C) uvicorn stops
accepting, lets every answer being streamed finish, and returns; the queued
decisions are then recorded and the process exits 0 (130 for Ctrl-C).
"""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
import sys
from typing import TYPE_CHECKING

from smartollama.errors import SollamaError, UsageError

if TYPE_CHECKING:
    from smartollama.proxy.fleet import ProxyEnvironment

DEFAULT_LISTEN = "127.0.0.1:11400"


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (loopback), `[::1]:PORT` → (host, port)."""
    v = value.strip()
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, sep, port_text = v.rpartition(":")
        if not sep:
            host, port_text = v, ""
    host = host or "127.0.0.1"
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise UsageError(f"--listen {value!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}") from None
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth(host: str, port: int, token: str | None, no_auth: bool) -> None:
    """A non-loopback address needs a token, or --no-auth said out loud."""
    if token is not None and no_auth:
        raise UsageError("--token and --no-auth contradict each other; give one")
    if not is_loopback(host) and token is None and not no_auth:
        raise UsageError(f"--listen {_show(host, port)} is reachable from other machines: "
                         "give --token T (clients send Authorization: Bearer T), or --no-auth "
                         "to serve anyone who can reach it")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or one line saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise SollamaError(f"cannot listen on {_show(host, port)}: {e.strerror}") from None
    family, kind, proto, _, address = infos[0]
    # proto as getaddrinfo gives it (IPPROTO_TCP): asyncio sets TCP_NODELAY on accepted
    # connections only then, and without it a response waits ~40 ms for delayed acks
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise SollamaError(f"{_show(host, port)} is in use",
                               hint="stop what listens there, or give --listen another port"
                               ) from None
        raise SollamaError(f"cannot listen on {_show(host, port)}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve(env: ProxyEnvironment, sock: socket.socket, *, token: str | None,
          http: str = "auto", loop: str = "auto") -> None:
    """Serve until SIGTERM or Ctrl-C; streaming answers finish first."""
    import uvicorn

    from smartollama.proxy.app import build_app

    host, port = sock.getsockname()[:2]

    def listening() -> None:
        print(f"sollama proxy: listening on http://{_show(host, port)} "
              f"({len(env.config.backends)} backends; Ctrl-C or SIGTERM to stop)",
              file=sys.stderr, flush=True)

    app = build_app(env, token=token, on_start=listening)
    config = uvicorn.Config(app, http=http, loop=loop, log_level="warning", access_log=False,
                            lifespan="on",
                            timeout_graceful_shutdown=None, server_header=False,
                            date_header=False, proxy_headers=False)   # X-Forwarded-*: not trusted
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it is done; for SIGTERM that
    # is a finished job, not a death: the default handler would turn it into exit 143
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        env.start()
        server.run(sockets=[sock])
    finally:
        env.close()
        signal.signal(signal.SIGTERM, previous)
        sock.close()
