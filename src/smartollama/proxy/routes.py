"""The proxy's endpoints: Ollama's API and its OpenAI-compatible API.

Routed (decided by `api.route`, answered by the chosen host): `/api/generate`,
`/api/chat`, `/api/embed`, `/api/embeddings`, `/v1/chat/completions`,
`/v1/completions`, `/v1/embeddings`. The union over hosts: `/api/tags`,
`/api/ps`, `/v1/models` (each model once, with `x_sollama_backends`).
`/api/version`; `/api/show` from a host that holds the model. Model
management (`/api/pull`, `/api/delete`, `/api/create`, `/api/copy`,
`/api/push`) goes to the host `X-Sollama-Backend` names.

Routing headers in: `X-Sollama-Urgency`, `-Task`, `-Mode`, `-Policy` (and
`-Backend` to pin one). Decision headers out: see `forward.decision_headers`.
A refusal is 409, no backend reachable 503, each in the shape the API's
clients expect: Ollama's `{"error": "..."}`, OpenAI's `{"error": {"message": ...}}`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from smartollama import api, names
from smartollama.errors import ModelNotFoundError, SollamaError, UnreachableError
from smartollama.proxy.forward import Forward, HostError, Upstreams, decision_headers
from smartollama.vocab import POLICIES, TASKS, URGENCIES

if TYPE_CHECKING:
    from smartollama.proxy.fleet import ProxyEnvironment
    from smartollama.proxy.metrics import Metrics
    from smartollama.verdict import Verdict

#: routed endpoints: path → (API, streams unless the body says otherwise, an embedding)
ROUTED: dict[str, tuple[str, bool, bool]] = {
    "/api/generate": ("ollama", True, False),
    "/api/chat": ("ollama", True, False),
    "/api/embed": ("ollama", False, True),
    "/api/embeddings": ("ollama", False, True),
    "/v1/chat/completions": ("openai", False, False),
    "/v1/completions": ("openai", False, False),
    "/v1/embeddings": ("openai", False, True),
}
#: model management, sent to the host X-Sollama-Backend names: path → method
MANAGED: dict[str, str] = {"/api/pull": "POST", "/api/delete": "DELETE", "/api/create": "POST",
                           "/api/copy": "POST", "/api/push": "POST"}


def error_response(flavour: str, status: int, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """An error as the API's clients read it."""
    if flavour == "openai":
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                409: "refused", 503: "service_unavailable"}.get(status, "api_error")
        body: dict[str, Any] = {"error": {"message": message, "type": kind, "param": None,
                                          "code": None}}
    else:
        body = {"error": message}
    return JSONResponse(body, status, headers=headers)


def flavour_of(path: str) -> str:
    return "openai" if path.startswith("/v1/") else "ollama"


class BadRequest(Exception):
    """A request the proxy cannot route (the message names the field or header)."""


class Handlers:
    """The endpoints over one ProxyEnvironment (a Starlette route each)."""

    def __init__(self, env: ProxyEnvironment, metrics: Metrics) -> None:
        self.env = env
        self.metrics = metrics
        self.upstreams = Upstreams(env.config)

    # -- routed ------------------------------------------------------------------------------
    async def routed(self, request: Request) -> Response:
        path = request.url.path
        flavour, streams, embedding = ROUTED[path]
        raw = await request.body()
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise BadRequest("the request body must be a JSON object")
            model = body.get("model")
            if not isinstance(model, str) or not model:
                raise BadRequest("model is required")
            routing = _routing(request)
        except (ValueError, BadRequest) as e:
            msg = str(e) if isinstance(e, BadRequest) else f"invalid JSON body: {e}"
            return error_response(flavour, 400, msg)
        stream = bool(body.get("stream", streams)) and not embedding
        env = self.env
        t0 = time.perf_counter()
        try:
            request_ = _request(model, body, path, embedding, routing, env)
            prompt = _prompt(body, path)
            if env.warm_for(model):
                verdict = api.route(request_, env, prompt=prompt)
            else:       # a model not seen yet: its figures are gathered first, off the loop
                verdict = await asyncio.to_thread(api.route, request_, env, prompt=prompt)
        except UnreachableError as e:
            self.metrics.unreachable.inc()
            return error_response(flavour, 503, e.message)
        except ModelNotFoundError as e:     # no host holds it: as Ollama answers, 404
            return error_response(flavour, 404, e.message)
        except SollamaError as e:
            return error_response(flavour, 400, e.message)
        self.metrics.decision.observe(time.perf_counter() - t0)
        if verdict.action == "refuse":
            return self._refused(verdict, flavour, path)
        forward = Forward(env, self.upstreams, self.metrics, path,
                          lambda status, msg: error_response(flavour, status, msg,
                                                             decision_headers(verdict)))
        return await forward.run(verdict, path, body, raw, stream=stream,
                                 sse=flavour == "openai" and stream)

    def _refused(self, verdict: Verdict, flavour: str, path: str) -> Response:
        self.env.recorder.add(verdict)
        self.metrics.refusals.labels(verdict.mode).inc()
        self.metrics.requests.labels(path, "refuse", "none").inc()
        return error_response(flavour, 409, refusal_text(verdict), decision_headers(verdict))

    # -- the union over hosts ----------------------------------------------------------------
    async def _each(self, method: str, path: str) -> list[tuple[str, Any]]:
        """(backend id, JSON answer) from every host that answers, in config order."""
        backends = self.env.config.backends

        async def one(b: Any) -> Any:
            try:
                async with self.upstreams.session(b).request(method, path.lstrip("/")) as r:
                    return await r.json(content_type=None) if r.status == 200 else None
            except (*HostError, ValueError):
                return None

        got = await asyncio.gather(*(one(b) for b in backends))
        return [(b.id, g) for b, g in zip(backends, got, strict=True) if isinstance(g, dict)]

    async def tags(self, request: Request) -> Response:
        return await self._union(request.url.path, "models", "name")

    async def models(self, request: Request) -> Response:
        return await self._union("/v1/models", "data", "id", extra={"object": "list"})

    async def _union(self, path: str, field: str, key: str,
                     extra: dict[str, Any] | None = None) -> Response:
        answers = await self._each("GET", path)
        if not answers:
            self.metrics.unreachable.inc()
            return error_response(flavour_of(path), 503, "no backend reachable")
        seen: dict[str, dict[str, Any]] = {}
        for backend, data in answers:
            for m in data.get(field) or []:
                if not isinstance(m, dict):
                    continue
                name = str(m.get(key) or m.get("model") or "")
                entry = seen.get(name)
                if entry is None:
                    entry = seen[name] = {**m, "x_sollama_backends": []}
                entry["x_sollama_backends"].append(backend)
        return JSONResponse({**(extra or {}), field: list(seen.values())})

    async def version(self, request: Request) -> Response:
        answers = await self._each("GET", "/api/version")
        if not answers:
            self.metrics.unreachable.inc()
            return error_response("ollama", 503, "no backend reachable")
        # the oldest version among the hosts: what a client may rely on everywhere
        versions = [str(d.get("version") or "") for _, d in answers]
        return JSONResponse({"version": min(versions, key=_version_key)})

    async def show(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
            model = body.get("model") or body.get("name")
        except (ValueError, AttributeError):
            return error_response("ollama", 400, "invalid JSON body")
        if not isinstance(model, str) or not model:
            return error_response("ollama", 400, "model is required")
        snap = self.env.gather()
        key = names.canonical(model).lower()
        holders = [b for b in self.env.config.backends
                   if key in getattr(snap.backends.get(b.id), "models", {})]
        for b in holders:
            try:
                async with self.upstreams.session(b).post(
                        "api/show", data=raw, headers={"Content-Type": "application/json"}) as r:
                    if r.status < 500:
                        return Response(await r.read(), r.status,
                                        headers={"X-Sollama-Backend": b.id},
                                        media_type=r.content_type)
            except HostError:
                continue
        return error_response("ollama", 404, f"model '{model}' not found")

    # -- model management --------------------------------------------------------------------
    async def managed(self, request: Request) -> Response:
        path = request.url.path
        backend_id = request.headers.get("x-sollama-backend")
        if not backend_id:
            return error_response("ollama", 400, f"{path} changes one host's models: name it "
                                  "with the X-Sollama-Backend header (one of "
                                  f"{', '.join(b.id for b in self.env.config.backends)})")
        b = self.env.config.backend(backend_id)
        if b is None:
            return error_response("ollama", 400, f"X-Sollama-Backend: no backend {backend_id!r}; "
                                  "backends are " +
                                  ", ".join(x.id for x in self.env.config.backends))
        t = self.env.config.timeouts
        try:        # a pull may take hours: no limit but the connection's
            resp = await self.upstreams.session(b).request(
                request.method, path.lstrip("/"), data=await request.body(),
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=None, connect=t.connect_s))
        except HostError as e:
            return error_response("ollama", 503, f"{b.id} ({b.host}): {e or type(e).__name__}")

        async def relay() -> Any:
            try:
                async for chunk in resp.content.iter_any():
                    yield chunk
            finally:
                resp.close()

        return StreamingResponse(relay(), resp.status, headers={"X-Sollama-Backend": b.id},
                                 media_type=resp.headers.get("Content-Type"))

    # -- the rest ----------------------------------------------------------------------------
    async def root(self, request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def metrics_page(self, request: Request) -> Response:
        from smartollama.proxy.metrics import CONTENT_TYPE_LATEST

        return Response(self.metrics.page(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def refusal_text(verdict: Verdict) -> str:
    """A refusal as one message: the reason, then each suggestion as what to send."""
    parts = [f"sollama refused {verdict.model_requested}: {verdict.reason}"]
    tips = []
    for s in verdict.suggestions:     # each `why` names its backend
        what = f"X-Sollama-Mode: {s.mode}" if s.mode and not s.model else f"model {s.model}"
        if s.policy:
            what += f" with X-Sollama-Policy: {s.policy}"
        tips.append(what + (f" ({s.why})" if s.why else f" on {s.backend}" if s.backend else ""))
    if tips:
        parts.append("suggestions: " + "; ".join(tips))
    parts.append(f"decision {verdict.id} (`sollama why {verdict.id}`)")
    return ". ".join(parts)


def _routing(request: Request) -> dict[str, str | None]:
    """The X-Sollama-* routing headers, checked against their names."""
    h = request.headers
    out: dict[str, str | None] = {}
    for header, key, allowed in (("x-sollama-urgency", "urgency", URGENCIES),
                                 ("x-sollama-task", "task", TASKS),
                                 ("x-sollama-policy", "policy", POLICIES)):
        value = h.get(header)
        if value is not None and value not in allowed:
            raise BadRequest(f"{_title(header)}: unknown value {value!r}; expected one of "
                             + ", ".join(allowed))
        out[key] = value
    out["mode"] = h.get("x-sollama-mode") or None
    out["backend_id"] = h.get("x-sollama-backend") or None
    return out


def _title(header: str) -> str:
    return "-".join(p.capitalize() for p in header.split("-"))


def _request(model: str, body: dict[str, Any], path: str, embedding: bool,
             routing: dict[str, str | None], env: ProxyEnvironment) -> Any:
    from smartollama.commands.routed import build_request

    options = body.get("options")
    num_ctx = options.get("num_ctx") if isinstance(options, dict) else None
    if not isinstance(num_ctx, int) or isinstance(num_ctx, bool) or num_ctx < 256:
        num_ctx = None
    try:
        return build_request(model, env, mode=routing["mode"], urgency=routing["urgency"],
                             task=routing["task"], min_quality=None, policy=routing["policy"],
                             backend_id=routing["backend_id"], num_ctx=num_ctx,
                             interactive=False, needs=needs(body, path, embedding),
                             prompt_chars=_prompt_chars(body))
    except SollamaError as e:       # an unknown mode: name the header it came from
        raise SollamaError(f"X-Sollama-Mode: {e.message}") from None


def _prompt_chars(body: dict[str, Any]) -> int:
    """The length of a request's text: its prompt (and system), or its messages'."""
    texts = [body.get("prompt"), body.get("system"), body.get("input")]
    texts += [m.get("content") for m in body.get("messages") or [] if isinstance(m, dict)]
    return sum(len(t) for t in texts if isinstance(t, str))


def needs(body: dict[str, Any], path: str, embedding: bool) -> tuple[str, ...]:
    """The capabilities a request needs, from its body: tools, images, thinking, embedding."""
    if embedding:
        return ("embedding",)
    out: list[str] = []
    if body.get("tools"):
        out.append("tools")
    if body.get("images") or any(_has_image(m) for m in body.get("messages") or []):
        out.append("vision")
    think = body.get("think")
    reasoning = body.get("reasoning")
    effort = body.get("reasoning_effort") or (
        reasoning.get("effort") if isinstance(reasoning, dict) else None)
    if (think not in (None, False, "false")) or (effort not in (None, "none")):
        out.append("thinking")
    return tuple(out)


def _has_image(message: Any) -> bool:
    if not isinstance(message, dict):
        return False
    if message.get("images"):
        return True
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") in ("image_url", "input_image") for p in content)


def _prompt(body: dict[str, Any], path: str) -> str:
    """The text whose length and hash the verdict records (the text itself only with
    `history.store_prompts`)."""
    if "messages" in body and isinstance(body["messages"], list):
        parts = []
        for m in body["messages"]:
            c = m.get("content") if isinstance(m, dict) else None
            if isinstance(c, str):
                parts.append(c)
            elif isinstance(c, list):
                parts += [str(p.get("text")) for p in c if isinstance(p, dict) and p.get("text")]
        return "\n".join(parts)
    for key in ("prompt", "input"):
        value = body.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
    return ""


def _version_key(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("-")[0].split("."):
        out.append(int(part) if part.isdigit() else 0)
    return tuple(out)
