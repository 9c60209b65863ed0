"""A small typed client for one Ollama host, over `http1` (the standard library's
socket: importing httpx cost a routed run ~120 ms, see `http1`'s docstring).

Field names and units follow Ollama's API reference (`docs/api.md`):
durations are nanoseconds, sizes bytes. Errors keep Ollama's `error` text and
the HTTP status: a refused connection is `UnreachableError` (exit 4), an
HTTP error `BackendError` (404 on a model: `ModelNotFoundError`). A host that
connects but answers nothing in time, drops the connection, sends a line that
is not a JSON object or ends a stream without Ollama's final `done: true` is a
`BackendError` without a status (worth trying another host).

Time-outs (DESIGN.md, "Time-outs"): the client's own are the look-ups' budget;
a stream gets a `StreamBudget`: the first byte (the model's load included),
then the silence between chunks, and the whole answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from smartollama import http1
from smartollama.errors import BackendError, ModelNotFoundError, UnreachableError
from smartollama.record import record

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

    from smartollama.config import Backend, Timeouts

DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_READ_TIMEOUT_S = 600.0   # a big model can take minutes to load
#: the fields of a model in `/api/tags` and `/api/ps` that must be numbers
_NUMBERS = ("size", "size_vram", "context_length")
#: the statistics of a stream's final object (nanoseconds and token counts)
_DONE_NUMBERS = ("total_duration", "load_duration", "prompt_eval_count",
                 "prompt_eval_duration", "eval_count", "eval_duration")


#: a stream's final object: (key, value, how an error names it)
_DONE = ("done", True, '"done": true')
_PULLED = ("status", "success", '"status": "success"')


@record(frozen=True)
class StreamBudget:
    """How long one answer may take, in seconds (None: no limit)."""

    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    first_byte_s: float | None = DEFAULT_READ_TIMEOUT_S
    idle_s: float | None = DEFAULT_READ_TIMEOUT_S
    total_s: float | None = None

    @classmethod
    def of(cls, t: Timeouts, expected_wait_s: float | None) -> StreamBudget:
        return cls(connect_s=t.connect_s, first_byte_s=t.first_byte_s(expected_wait_s),
                   idle_s=t.idle_s, total_s=t.total_s)


class OllamaClient:
    """One host. Use as a context manager, or call `close()`.

    ``auth``: "user:password" for HTTP basic authentication (a host URL's
    credentials, kept apart from the URL so that no message shows them)."""

    def __init__(self, host: str, *, headers: dict[str, str] | None = None,
                 auth: str | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
                 read_timeout: float | None = DEFAULT_READ_TIMEOUT_S) -> None:
        self.host = host.rstrip("/")
        user, _, password = (auth or "").partition(":")
        try:
            self._http = http1.Transport(
                self.host, headers={"User-Agent": "sollama", **(headers or {})},
                auth=(user, password) if auth else None,
                connect_timeout=connect_timeout, read_timeout=read_timeout)
        except ValueError as e:
            raise UnreachableError(f"{self.host}: not a usable host URL ({e})",
                                   host=self.host) from None

    @classmethod
    def for_backend(cls, b: Backend, timeouts: Timeouts, *, host: str | None = None
                    ) -> OllamaClient:
        """A configured backend's client: its headers and credentials; look-ups
        (tags, ps, show) within `probe_s`, a stream within its `StreamBudget`."""
        return cls(host or b.host, headers=b.headers, auth=b.auth,
                   connect_timeout=min(timeouts.connect_s, timeouts.probe_s),
                   read_timeout=timeouts.probe_s)

    def __enter__(self) -> OllamaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing is held between requests (each has its own connection)."""

    # -- plain requests ------------------------------------------------------

    def version(self) -> str:
        return str(self._json("GET", "/api/version").get("version", ""))

    def tags(self) -> list[dict[str, Any]]:
        return self._models("/api/tags")

    def ps(self) -> list[dict[str, Any]]:
        return self._models("/api/ps")

    def show(self, model: str) -> dict[str, Any]:
        return self._json("POST", "/api/show", {"model": model}, model=model)

    def embed(self, model: str, text: str, budget: StreamBudget | None = None,
              **fields: Any) -> dict[str, Any]:
        """POST /api/embed (one input): `{"embeddings": [[...]], ...}`; the wait
        for a model to load is the budget's first byte."""
        b = budget or StreamBudget()
        return self._json("POST", "/api/embed", {"model": model, "input": text, **_clean(fields)},
                          model=model, timeout=(b.connect_s, b.first_byte_s))

    # -- streaming -----------------------------------------------------------

    def generate(self, model: str, prompt: str, budget: StreamBudget | None = None,
                 **fields: Any) -> Iterator[dict[str, Any]]:
        """POST /api/generate, yielding each NDJSON chunk (one when stream=False),
        the last one Ollama's `done: true` (what follows it is not read)."""
        body = {"model": model, "prompt": prompt, **_clean(fields)}
        return self._stream("/api/generate", body, model, budget or StreamBudget())

    def chat(self, model: str, messages: list[dict[str, Any]],
             budget: StreamBudget | None = None, **fields: Any) -> Iterator[dict[str, Any]]:
        body = {"model": model, "messages": messages, **_clean(fields)}
        return self._stream("/api/chat", body, model, budget or StreamBudget())

    def pull(self, model: str, budget: StreamBudget | None = None) -> Iterator[dict[str, Any]]:
        """POST /api/pull, yielding Ollama's progress objects (`status`, and `digest`,
        `total`, `completed` while a layer downloads), the last one `success`."""
        return self._stream("/api/pull", {"model": model}, model, budget or StreamBudget(),
                            final=_PULLED)

    def create(self, model: str, **fields: Any) -> dict[str, Any]:
        """POST /api/create without streaming (`from`, `system`, `parameters`,
        `messages`: what `/save` sends)."""
        return self._json("POST", "/api/create",
                          {"model": model, "stream": False, **_clean(fields)})

    # -- internals -----------------------------------------------------------

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None,
              model: str | None = None,
              timeout: tuple[float | None, float | None] | None = None) -> dict[str, Any]:
        try:
            with self._http.request(method, path, json_body=body, timeout=timeout) as r:
                status, text = r.status, r.text()
        except http1.TransportError as e:
            raise self._unreachable(e) from None
        if status >= 400:
            raise self._http_error(status, text, model)
        try:
            data = json.loads(text)
        except ValueError:
            raise BackendError(f"{self.host}{path}: answer is not JSON",
                               status=status, host=self.host) from None
        return data if isinstance(data, dict) else {}

    def _models(self, path: str) -> list[dict[str, Any]]:
        """`/api/tags` or `/api/ps`: the models, each an object; a size that is not
        a number (`"size": "huge"`) is left out, as unknown."""
        models = self._json("GET", path).get("models")
        if models is None:
            return []
        where = f"{self.host}{path}"
        if not isinstance(models, list):
            raise BackendError(f"{where}: \"models\" is not a list", host=self.host)
        out = []
        for i, m in enumerate(models):
            if not isinstance(m, dict) or not isinstance(m.get("details") or {}, dict):
                raise BackendError(f"{where}: models[{i}] is not a model object", host=self.host)
            out.append({k: v for k, v in m.items() if k not in _NUMBERS or _is_number(v)})
        return out

    def _stream(self, path: str, body: dict[str, Any], model: str, budget: StreamBudget,
                final: tuple[str, Any, str] | None = None) -> Iterator[dict[str, Any]]:
        """The NDJSON chunks up to the final one: ``final`` (key, value, what it is
        called) names it, Ollama's `done: true` by default."""
        key, value, called = final or _DONE
        start = time.monotonic()
        first = _within(budget.first_byte_s, budget.total_s)
        phase = "connect"
        try:
            with self._http.request("POST", path, json_body=body,
                                    timeout=(budget.connect_s, first)) as r:
                phase = "answer"
                if r.status >= 400:
                    raise self._http_error(r.status, r.text(), model)
                # from here on, each read waits for the next chunk: the idle budget
                left = None if budget.total_s is None else budget.total_s - (time.monotonic() - start)
                r.set_read_timeout(_within(budget.idle_s, left))
                for line in r.iter_lines():
                    if budget.total_s is not None and time.monotonic() - start > budget.total_s:
                        raise BackendError(f"{self.host}: no complete answer in "
                                           f"{budget.total_s:g} s ([timeouts] total_s)",
                                           host=self.host)
                    chunk = self._chunk(path, line)
                    if chunk is None:
                        continue
                    yield chunk
                    if chunk.get(key) == value:
                        return      # what a host sends after its final object is not read
        except http1.TimeoutException as e:
            raise self._timed_out(e, phase, first, budget, time.monotonic() - start) from None
        except http1.TransportError as e:
            if phase == "connect" and isinstance(e, http1.ConnectError):
                raise self._unreachable(e) from None
            raise BackendError(f"{self.host}: the connection broke "
                               f"{'mid-answer' if phase == 'answer' else 'before an answer'} "
                               f"({str(e) or type(e).__name__})", host=self.host) from None
        raise BackendError(f"{self.host}: the answer ended without Ollama's final "
                           f"{called} (cut short?)", host=self.host)

    def _chunk(self, path: str, line: str) -> dict[str, Any] | None:
        """One NDJSON line of a stream; None for a blank one."""
        if not line.strip():
            return None
        try:
            chunk = json.loads(line)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            raise BackendError(f"{self.host}{path}: a stream line is not a JSON object: "
                               f"{line[:80]!r}", host=self.host)
        if chunk.get("done"):
            # the final object's statistics: numbers, or left out
            for key in _DONE_NUMBERS:
                if key in chunk and not _is_number(chunk[key]):
                    del chunk[key]
        if chunk.get("error"):
            # an error inside a 200 stream is the host's trouble (the runner
            # died, out of memory), not a refused request: no HTTP status
            raise BackendError(f"{self.host}: {chunk['error']}", host=self.host)
        return chunk

    def _timed_out(self, e: Exception, phase: str, first: float | None, budget: StreamBudget,
                   elapsed: float) -> Exception:
        if isinstance(e, http1.ConnectTimeout):
            return self._unreachable(e)
        if budget.total_s is not None and elapsed >= budget.total_s:
            return BackendError(f"{self.host}: no complete answer in {budget.total_s:g} s "
                                f"([timeouts] total_s)", host=self.host)
        if isinstance(e, http1.ReadTimeout) and phase == "connect":
            return BackendError(f"{self.host}: no answer in {first:g} s, the model's load "
                                f"included ([timeouts] first_byte_min_s, first_byte_factor)",
                                host=self.host)
        if isinstance(e, http1.ReadTimeout):
            return BackendError(f"{self.host}: silent for {budget.idle_s:g} s mid-answer "
                                f"([timeouts] idle_s)", host=self.host)
        return BackendError(f"{self.host}: timed out ({str(e) or type(e).__name__})",
                            host=self.host)

    def _unreachable(self, e: Exception) -> UnreachableError:
        kind = "timed out" if isinstance(e, http1.TimeoutException) else "cannot connect"
        detail = str(e) or type(e).__name__
        return UnreachableError(f"{self.host}: {kind} ({detail})", host=self.host,
                                hint="is `ollama serve` running there?")

    def _http_error(self, status: int, text: str, model: str | None) -> BackendError:
        message = text.strip()
        try:
            data = json.loads(text)
            if isinstance(data, dict) and data.get("error"):
                message = str(data["error"])
                if data.get("signin_url"):      # a cloud model, this host not signed in
                    message += f"; sign in at {data['signin_url']}"
        except ValueError:
            pass
        message = message or f"HTTP {status}"
        if status == 404 and model is not None:
            return ModelNotFoundError(f"{self.host}: {message}", status=status, host=self.host)
        return BackendError(f"{self.host}: {message}", status=status, host=self.host)


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool))


def _within(limit: float | None, left: float | None) -> float | None:
    """The smaller of a limit and what is left of the whole (None: no limit)."""
    if left is None:
        return limit
    return max(0.001, left if limit is None else min(limit, left))


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def go_duration(ns: int | float) -> str:
    """Format nanoseconds as Go's time.Duration.String() does ("1.5s", "12.3ms", "1m2s").

    `ollama run --verbose` prints its durations this way.
    """
    n = int(ns)
    if n == 0:
        return "0s"
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1_000:
        return f"{sign}{n}ns"
    if n < 1_000_000:
        return sign + _frac(n, 1_000) + "µs"
    if n < 1_000_000_000:
        return sign + _frac(n, 1_000_000) + "ms"
    hours, rem = divmod(n, 3_600_000_000_000)
    minutes, rem = divmod(rem, 60_000_000_000)
    secs = _frac(rem, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    if minutes:
        return f"{sign}{minutes}m{secs}"
    return sign + secs


def _frac(n: int, unit: int) -> str:
    whole, rest = divmod(n, unit)
    if not rest:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{rest:0{digits}d}".rstrip("0")
