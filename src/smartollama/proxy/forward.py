"""One routed request to its host: fallback before the first byte, then pass-through.

The verdict's choices are tried in order, as `sollama run` does
(`smartollama.run.execute`): a host that cannot be reached, times out, answers
5xx or 404 (the model is gone), or whose stream opens with an error line, is
skipped for the next choice. Once the first byte of an answer is had, the
response is committed: its status and headers go out, and every chunk is sent
on as it arrives (NDJSON or server-sent events, never buffered). A stream cut
off later ends the response there (nothing is ever sent twice); one that ends
without Ollama's final `done: true` object (or OpenAI's `[DONE]`) is recorded
as an error. Every way out records the decision, with its outcome, once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from starlette.responses import Response, StreamingResponse

from smartollama.run.execute import answered, fill_outcome
from smartollama.run.stream import RunOutcome
from smartollama.verdict import Choice, Outcome

if TYPE_CHECKING:
    from smartollama.config import Backend, Config
    from smartollama.proxy.fleet import ProxyEnvironment
    from smartollama.proxy.metrics import Metrics
    from smartollama.verdict import Verdict

#: how much of a stream's end is kept to read its final object
_TAIL = 16384
#: what a host can do wrong on the wire: refuse, time out, drop the connection
HostError = (aiohttp.ClientError, asyncio.TimeoutError)


class Upstreams:
    """One pooled aiohttp session per backend (its headers and credentials), made on
    first use inside the serving loop, closed when the proxy stops."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def session(self, b: Backend) -> aiohttp.ClientSession:
        s = self._sessions.get(b.id)
        if s is None:
            user, _, password = (b.auth or "").partition(":")
            s = self._sessions[b.id] = aiohttp.ClientSession(
                base_url=b.host.rstrip("/") + "/",
                headers={"User-Agent": "sollama-proxy", **(b.headers or {})},
                auth=aiohttp.BasicAuth(user, password) if b.auth else None,
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=self.lookup_timeout(), trust_env=False)
        return s

    def lookup_timeout(self) -> aiohttp.ClientTimeout:
        """Look-ups (tags, ps, show, version) within `probe_s`, as the CLI's."""
        t = self.config.timeouts
        return aiohttp.ClientTimeout(total=t.probe_s, connect=min(t.connect_s, t.probe_s))

    async def aclose(self) -> None:
        for s in self._sessions.values():
            await s.close()
        self._sessions.clear()


def decision_headers(verdict: Verdict, choice: Choice | None = None) -> dict[str, str]:
    """`X-Sollama-Decision` (the id `sollama why` takes), `-Action`, and, when it runs,
    `-Backend` and `-Model`: where the answer comes from."""
    h = {"X-Sollama-Decision": verdict.id, "X-Sollama-Action": verdict.action}
    backend = choice.backend if choice else verdict.backend_used
    model = choice.model if choice else verdict.model_used
    if backend:
        h["X-Sollama-Backend"] = backend
    if model:
        h["X-Sollama-Model"] = model
    return h


class Forward:
    """What one routed request needs to reach its host."""

    def __init__(self, env: ProxyEnvironment, upstreams: Upstreams, metrics: Metrics,
                 endpoint: str, error: Callable[[int, str], Response]) -> None:
        self.env = env
        self.upstreams = upstreams
        self.metrics = metrics
        self.endpoint = endpoint
        #: an error response in the shape the endpoint's clients expect
        self.error = error

    async def run(self, verdict: Verdict, path: str, body: dict[str, Any], raw: bytes, *,
                  stream: bool, sse: bool) -> Response:
        """Try the verdict's choices in order; the first to answer is passed through."""
        config = self.env.config
        choices = list(verdict.choices) or [Choice(backend=verdict.backend_used or "",
                                                   host=verdict.host or "",
                                                   model=verdict.model_used or "")]
        outcome = verdict.outcome = Outcome(status="error")
        unreachable = 0
        last = "no backend to run on"
        for choice in choices:
            b = config.backend(choice.backend)
            if b is None:
                continue
            keep = _keep_alive(config, path, body, choice, verdict, self.env.now())
            payload = raw if body.get("model") == choice.model and keep is None else json.dumps(
                {**body, "model": choice.model, **(keep or {})}, ensure_ascii=False).encode()
            t = config.timeouts
            # the first byte may take the model's load; then the silence between chunks
            timeout = aiohttp.ClientTimeout(total=t.total_s, connect=t.connect_s,
                                            sock_read=max(t.first_byte_s(choice.wait_s),
                                                          t.idle_s))
            self._enter(b.id)
            t0 = time.monotonic()
            try:
                resp = await self.upstreams.session(b).post(
                    path.lstrip("/"), data=payload, timeout=timeout,
                    headers={"Content-Type": "application/json"})
            except HostError as e:
                last, unreachable = _failed(outcome, choice, e), unreachable + 1
                self._failed_attempt(b.id)
                continue
            except BaseException:       # the client went away (cancelled) while connecting
                self._leave(b.id)
                raise
            try:
                if resp.status >= 400:
                    text = (await resp.read()).decode("utf-8", "replace")
                    resp.release()
                    message = _error_text(text, resp.status)
                    if resp.status >= 500 or resp.status == 404:
                        outcome.attempts.append({"backend": choice.backend, "model": choice.model,
                                                 "error": message})
                        last = message
                        self._failed_attempt(b.id)
                        continue
                    # the request itself was refused: another host would refuse it too
                    outcome.error = message
                    self._done(verdict, choice, b.id)
                    self.env.recorder.add(verdict)
                    return Response(text, resp.status, headers=decision_headers(verdict),
                                    media_type=resp.content_type)
                if not stream:
                    content = await resp.read()
                    resp.release()
                    self._answered(verdict, choice)
                    # no time to the first token: the whole answer came at once
                    self._finish(verdict, choice, content, None, sse=False, whole=True,
                                 ttft_s=None)
                    self._done(verdict, choice, b.id)
                    return Response(content, resp.status,
                                    headers=decision_headers(verdict, choice),
                                    media_type=resp.content_type)
                first = await resp.content.readany()
                if not sse and first.lstrip().startswith(b'{"error"'):
                    message = _error_text(first.decode("utf-8", "replace"), None)
                    outcome.attempts.append({"backend": choice.backend, "model": choice.model,
                                             "error": message})
                    last = message
                    self._failed_attempt(b.id)
                    resp.close()
                    continue
            except HostError as e:
                last = _failed(outcome, choice, e)
                self._failed_attempt(b.id)
                resp.close()
                continue
            except BaseException:
                resp.close()
                self._leave(b.id)
                raise
            self._answered(verdict, choice)
            ttft = time.monotonic() - t0
            return StreamingResponse(
                self._relay(verdict, choice, b.id, resp, first, sse=sse, ttft_s=ttft),
                resp.status, headers=decision_headers(verdict, choice),
                media_type=resp.headers.get("Content-Type"))
        outcome.error = last
        self.env.recorder.add(verdict)
        if unreachable and unreachable == len(outcome.attempts):
            self.metrics.unreachable.inc()
            return self.error(503, f"no backend reachable: {last}")
        return self.error(502, f"{verdict.model_used}: every backend failed; last: {last}")

    async def _relay(self, verdict: Verdict, choice: Choice, backend: str,
                     resp: aiohttp.ClientResponse, first: bytes, *,
                     sse: bool, ttft_s: float) -> AsyncIterator[bytes]:
        tail = first[-_TAIL:]
        broke: str | None = "interrupted"
        try:
            if first:
                yield first
            async for chunk in resp.content.iter_any():
                yield chunk
                tail = (tail + chunk)[-_TAIL:] if len(chunk) < _TAIL else chunk[-_TAIL:]
            broke = None
        except HostError as e:
            broke = f"{choice.backend} broke off the answer: {_describe(e)}"
        finally:
            # recorded before the response's last (empty) chunk goes out: a client
            # that has the whole answer can ask `sollama why` about it at once
            self._finish(verdict, choice, tail, broke, sse=sse, whole=False, ttft_s=ttft_s)
            self._done(verdict, choice, backend)
            if broke is None:
                resp.release()
            else:
                resp.close()

    # -- bookkeeping ------------------------------------------------------------------------
    def _enter(self, backend: str) -> None:
        self.env.in_flight[backend] += 1
        self.metrics.in_flight.labels(backend).inc()

    def _leave(self, backend: str) -> None:
        self.env.in_flight[backend] -= 1
        self.metrics.in_flight.labels(backend).dec()

    def _failed_attempt(self, backend: str) -> None:
        self._leave(backend)
        self.metrics.fallbacks.labels(backend).inc()

    def _answered(self, verdict: Verdict, choice: Choice) -> None:
        """The verdict names where the answer comes from (a fallback's host and model)."""
        answered(verdict, choice, RunOutcome(choice=choice))

    def _finish(self, verdict: Verdict, choice: Choice, data: bytes, broke: str | None, *,
                sse: bool, whole: bool, ttft_s: float | None) -> None:
        """The outcome from the answer's end (Ollama's final object), then recorded."""
        outcome = verdict.outcome
        assert outcome is not None
        final = _final(data, sse=sse, whole=whole)
        if broke is not None:
            outcome.status = "interrupted" if broke == "interrupted" else "error"
            outcome.error = None if broke == "interrupted" else broke
        elif final is None:
            outcome.status, outcome.error = "error", "the answer ended without its final object"
        else:
            outcome.status = "ok"
            if not sse:
                fill_outcome(outcome, RunOutcome(final=final))
                verdict.__dict__["_final"] = final
                verdict.__dict__["_ttft_s"] = ttft_s
        self.env.recorder.add(verdict)

    def _done(self, verdict: Verdict, choice: Choice, backend: str) -> None:
        self._leave(backend)
        self.metrics.requests.labels(self.endpoint, verdict.action, choice.backend).inc()


def _final(data: bytes, *, sse: bool, whole: bool) -> dict[str, Any] | None:
    """The answer's final object: Ollama's `done: true` (the whole body, or a stream's
    last line); for server-sent events, `{}` once `data: [DONE]` came."""
    if sse:
        return {} if b"data: [DONE]" in data else None
    text = data.decode("utf-8", "replace").strip()
    line = text if whole else text.rpartition("\n")[2]
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if whole and ("done" not in obj):    # /api/embed and OpenAI's JSON: no `done` field
        return obj
    return obj if obj.get("done") is True else None


def _failed(outcome: Outcome, choice: Choice, e: BaseException) -> str:
    message = f"{choice.host}: {_describe(e)}"
    outcome.attempts.append({"backend": choice.backend, "model": choice.model, "error": message})
    return message


def _describe(e: BaseException) -> str:
    kind = ("timed out" if isinstance(e, asyncio.TimeoutError) else
            "cannot connect" if isinstance(e, aiohttp.ClientConnectorError) else
            "connection failed")
    detail = str(e) or type(e).__name__
    return f"{kind} ({detail})"


def _error_text(text: str, status: int | None) -> str:
    """Ollama's `{"error": ...}` (or OpenAI's `{"error": {"message": ...}}`) as one line."""
    try:
        data = json.loads(text.strip().splitlines()[0] if text.strip() else "")
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if err:
            return str(err)
    return text.strip() or f"HTTP {status}"


def _keep_alive(config: Config, path: str, body: dict[str, Any], choice: Choice,
                verdict: Verdict, now: float) -> dict[str, str] | None:
    """The `keep_alive` a request to Ollama's own API gets when it names none: the
    `[[preload]]` schedule's or the model's use's, as `sollama run` sends it
    (docs/decisions.md, "Keep-alive"); None: the body goes as it came."""
    if "keep_alive" in body or not path.startswith("/api/"):
        return None
    from smartollama.api import snapshot_of
    from smartollama.schedule import keep_alive_now

    keep = keep_alive_now(config, choice.model, now, snapshot_of(verdict), choice.backend)
    return None if keep is None else {"keep_alive": keep}

