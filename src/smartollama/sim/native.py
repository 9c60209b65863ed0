"""Ollama's own routes besides generate and chat: version, status, tags, ps, show, embed,
embeddings; and the simulator's `/metrics` and `/sim/*`.

`/api/embed` follows EmbedHandler: input is a string or a list of strings
("invalid input type" otherwise), every vector is normalized, `dimensions`
truncates (and normalizes again), `truncate: false` refuses an input longer than
the context. The legacy `/api/embeddings` returns one raw vector.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from smartollama.sim import metrics
from smartollama.sim.answers import count_tokens, embedding_for, normalize
from smartollama.sim.engine import PROMPT_SPEEDUP
from smartollama.sim.inference import cloud_gate, find_model, holding
from smartollama.sim.payloads import show_of, tags_entry
from smartollama.sim.wire import (
    SimError,
    check_options,
    parse_keep_alive,
    parse_ref,
    require_object,
)

if TYPE_CHECKING:
    from smartollama.sim.host import SimHost
    from smartollama.sim.server import Sink


def root(host: SimHost, body: Any, sink: Sink) -> None:
    sink.out.whole(200, "text/plain; charset=utf-8", b"Ollama is running")


def version(host: SimHost, body: Any, sink: Sink) -> None:
    sink.json(200, {"version": host.spec.version})


def status(host: SimHost, body: Any, sink: Sink) -> None:
    """api.StatusResponse: whether cloud models are disabled, and by what."""
    disabled = host.spec.cloud == "disabled"
    sink.json(200, {"cloud": {"disabled": disabled, "source": "env" if disabled else "none"}})


def tags(host: SimHost, body: Any, sink: Sink) -> None:
    sink.json(200, {"models": [tags_entry(m) for m in host.spec.models]})


def ps(host: SimHost, body: Any, sink: Sink) -> None:
    sink.json(200, {"models": host.ps()})


def show(host: SimHost, body: Any, sink: Sink) -> None:
    req = require_object(body, "ShowRequest")
    name = req.get("model") or req.get("name") or ""
    if not name:
        raise SimError(400, "model is required")
    model = find_model(host, name, missing=SimError(400, "model is required"))
    cloud_gate(host, model, "details")
    sink.json(200, show_of(model))


def metrics_route(host: SimHost, body: Any, sink: Sink) -> None:
    if host.metrics_delay_s > 0:
        time.sleep(host.metrics_delay_s)
    text = metrics.render(host.engine)
    if text is None:
        sink.out.whole(404, "text/plain; charset=utf-8", b"404 page not found")
        return
    sink.out.whole(200, metrics.CONTENT_TYPE, text.encode())


def control(host: SimHost, body: Any, sink: Sink) -> None:
    sink.json(200, host.control(body if isinstance(body, dict) else {}))


def state(host: SimHost, body: Any, sink: Sink) -> None:
    sink.json(200, host.state())


# --- embeddings ---------------------------------------------------------------------------


def _inputs(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise SimError(400, "invalid input type")


def embed(host: SimHost, body: Any, sink: Sink) -> None:
    req = require_object(body, "EmbedRequest")
    keep_alive = parse_keep_alive(req.get("keep_alive"), host.spec.default_keep_alive_s)
    name = req.get("model") or ""
    missing = SimError(404, f"model '{name}' not found")
    parse_ref(name, missing=missing)
    inputs = _inputs(req.get("input"))
    model = find_model(host, name, missing=missing)
    cloud_gate(host, model)
    options = check_options(req.get("options") or {})
    with holding(host, model, options, keep_alive) as (tps, load_s, queued_s, _):
        if not inputs:
            sink.json(200, {"model": name, "embeddings": []})
            return
        limit = host.spec.num_ctx_for(model, options.get("num_ctx"))
        counts = [count_tokens(text) for text in inputs]
        if req.get("truncate") is False and max(counts) > limit:
            raise SimError(400, "the input length exceeds the context length")
        dims = int(req.get("dimensions") or 0)
        vectors = []
        for text in inputs:
            vec = embedding_for(model.name, text, int(model.embedding_length or 768))
            vectors.append(normalize(vec[:dims]) if 0 < dims < len(vec) else vec)
        tokens = sum(min(c, limit) for c in counts)
        prompt_s = tokens / (tps * PROMPT_SPEEDUP)
        host.engine.sleep(prompt_s)
        sink.check()
    total_s = queued_s + load_s + prompt_s + 0.001
    sink.json(200, {"model": name, "embeddings": vectors, "total_duration": int(total_s * 1e9),
                    "load_duration": int(load_s * 1e9), "prompt_eval_count": tokens})


def embeddings(host: SimHost, body: Any, sink: Sink) -> None:
    """The legacy endpoint: `prompt` in, one vector out (not normalized)."""
    req = require_object(body, "EmbeddingRequest")
    keep_alive = parse_keep_alive(req.get("keep_alive"), host.spec.default_keep_alive_s)
    name = req.get("model") or ""
    try:
        model = find_model(host, name, missing=SimError(400, "model is required"))
    except SimError as exc:
        if exc.status != 404:
            raise
        raise SimError(404, f'model "{name}" not found, try pulling it first') from None
    cloud_gate(host, model)
    options = check_options(req.get("options") or {})
    with holding(host, model, options, keep_alive):
        prompt = req.get("prompt") or ""
        if not prompt:
            sink.json(200, {"embedding": []})
            return
        vec = embedding_for(model.name, prompt, int(model.embedding_length or 768))
    sink.json(200, {"embedding": [v * 8.0 for v in vec]})
