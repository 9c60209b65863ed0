"""The proxy's ASGI application: Starlette routes over `routes.Handlers`, and the token check."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.routing import Route

from smartollama.proxy.metrics import Metrics
from smartollama.proxy.routes import MANAGED, ROUTED, Handlers, error_response, flavour_of

if TYPE_CHECKING:
    from smartollama.proxy.fleet import ProxyEnvironment


def build_app(env: ProxyEnvironment, *, token: str | None = None,
              metrics: Metrics | None = None,
              on_start: Callable[[], None] | None = None) -> Any:
    """The ASGI app. ``token``: every request but `GET /` needs
    `Authorization: Bearer TOKEN` (401 otherwise). ``on_start``: called once the
    server is up (its signal handlers in place)."""
    h = Handlers(env, metrics or Metrics())
    routes = [Route(path, h.routed, methods=["POST"]) for path in ROUTED]
    routes += [Route(path, h.managed, methods=[method]) for path, method in MANAGED.items()]
    routes += [
        Route("/", h.root, methods=["GET", "HEAD"]),
        Route("/api/tags", h.tags, methods=["GET"]),
        Route("/api/ps", h.tags, methods=["GET"]),
        Route("/api/version", h.version, methods=["GET"]),
        Route("/api/show", h.show, methods=["POST"]),
        Route("/v1/models", h.models, methods=["GET"]),
        Route("/metrics", h.metrics_page, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if on_start is not None:
            on_start()
        yield
        await h.upstreams.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.handlers = h
    return app if token is None else BearerAuth(app, token)


class BearerAuth:
    """Pure ASGI (no per-request middleware objects): the token, compared in constant time."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != "/":
            got = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(got, self.expected):
                response = error_response(
                    flavour_of(scope["path"]), 401,
                    "unauthorized: send Authorization: Bearer <the proxy's --token>",
                    {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
