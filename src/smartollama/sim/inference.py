"""`/api/generate` and `/api/chat`: Ollama's checks, in Ollama's order, then an answer.

The order and wording follow server/routes.go (GenerateHandler, ChatHandler,
scheduleRunner, handleScheduleError): the body's types, `top_logprobs`, the model
reference, the unload request, `raw` with a system prompt or template, thinking,
capabilities (completion, insert for `suffix`, tools), the options' types, then
the scheduler (load, out of memory). A cloud model is answered here too, without
local memory, and every chunk says where it ran (`remote_model`, `remote_host`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartollama.sim.answers import Plan, context_ids, logprobs_for, plan_answer
from smartollama.sim.engine import PROMPT_SPEEDUP
from smartollama.sim.payloads import remote_of
from smartollama.sim.spec import ModelSpec
from smartollama.sim.wire import (
    SimError,
    check_options,
    full_name,
    parse_keep_alive,
    parse_ref,
    parse_think,
    require_object,
    rfc3339,
)

if TYPE_CHECKING:
    from smartollama.sim.host import Failure, SimHost
    from smartollama.sim.server import Sink

CLOUD_TOKENS_PER_S = 120.0  # a cloud model's generation speed (simulated)
CLOUD_FIRST_TOKEN_S = 0.4  # the round trip to the cloud before the first token
CLOUD_ERRORS = {"inference": "remote model is unavailable",
                "details": "remote model details are unavailable"}


@dataclass
class Ask:
    """One generate/chat request after Ollama's checks: what to answer and how."""

    req: dict[str, Any]
    model: ModelSpec
    name: str  # as the client wrote it (echoed in every chunk)
    chat: bool
    prompt: str
    extra: str  # system prompt and earlier messages (they count as prompt tokens)
    think: bool
    keep_alive: float
    options: dict[str, Any]
    tools: list[Any] = field(default_factory=list)

    @property
    def stream(self) -> bool:
        return self.req.get("stream") is not False

    def head(self) -> dict[str, Any]:
        return head_of(self.name, self.model)


def head_of(name: str, model: ModelSpec) -> dict[str, Any]:
    """What every answer starts with: the model as asked for, where it ran, the time."""
    return {"model": name, **remote_of(model), "created_at": rfc3339(time.time(), utc=True)}


# --- checks ---------------------------------------------------------------------------------


def cloud_gate(host: SimHost, model: ModelSpec, what: str = "inference") -> None:
    """A cloud model on a host with cloud disabled (403) or not signed in (401)."""
    if not model.remote:
        return
    if host.spec.cloud == "disabled":
        raise SimError(403, f"ollama cloud is disabled: {CLOUD_ERRORS[what]}")
    if host.spec.cloud == "signed_out":
        raise SimError(401, "unauthorized", signin_url=f"https://ollama.com/connect?name={host.name}"
                                                       "&key=c2ltdWxhdGVkLWtleQ")


def find_model(host: SimHost, raw: str, *, missing: SimError, not_found: int = 404) -> ModelSpec:
    """The host's model for a reference (`x`, `x:local`, `x:cloud`, `x:tag-cloud`), or 404."""
    ref = parse_ref(raw, missing=missing)
    model = host.spec.model(ref.base)
    if ref.source == "cloud":
        model = next((m for m in host.spec.models if m.remote and (
            m.remote_model == ref.base or host.spec.model(ref.original) is m)), None)
    if model is None or (ref.source == "local" and model.remote):
        raise SimError(not_found, f"model '{raw}' not found")
    return model


def _common(req: dict[str, Any], host: SimHost) -> tuple[float, bool | str | None]:
    keep_alive = parse_keep_alive(req.get("keep_alive"), host.spec.default_keep_alive_s)
    think = parse_think(req.get("think"))
    top = req.get("top_logprobs") or 0
    if top < 0 or top > 20:
        raise SimError(400, "top_logprobs must be between 0 and 20")
    return keep_alive, think


def _thinking(model: ModelSpec, think: bool | str | None, name: str) -> bool:
    """Thinking models think unless told not to; asking one that cannot is a 400."""
    if model.thinking:
        return think is None or think is True or isinstance(think, str)
    if think is True or isinstance(think, str):
        raise SimError(400, f'"{name}" does not support thinking')
    return False


def _capabilities(model: ModelSpec, wanted: list[str], name: str, verb: str) -> None:
    """Model.CheckCapabilities, worded as the handlers word it."""
    missing = [c for c in wanted if not model.has(c)]
    if "completion" in missing:
        raise SimError(400, f'"{name}" does not support {verb}')
    if missing:
        raise SimError(400, f"{full_name(model.name)} does not support " + "\n".join(missing))


def _unloaded(head: dict[str, Any], chat: bool, reason: str, sink: Sink) -> None:
    """The empty, final answer to a load (empty prompt) or unload (and keep_alive 0)."""
    out = dict(head)
    if chat:
        out["message"] = {"role": "assistant", "content": ""}
    else:
        out["response"] = ""
    out.update(done=True, done_reason=reason)
    sink.json(200, out)


def generate(host: SimHost, body: Any, sink: Sink) -> None:
    req = require_object(body, "GenerateRequest")
    keep_alive, think = _common(req, host)
    name = req.get("model") or ""
    model = find_model(host, name, missing=SimError(404, f"model '{name}' not found"))
    cloud_gate(host, model)
    prompt = req.get("prompt") or ""
    if prompt == "" and keep_alive == 0 and not model.remote:
        host.engine.unload(model.name)
        return _unloaded(head_of(name, model), False, "unload", sink)
    if req.get("raw") and (req.get("template") or req.get("system") or req.get("context")):
        raise SimError(400, "raw mode does not support template, system, or context")
    thinks = _thinking(model, think, name)
    _capabilities(model, ["completion"] + (["insert"] if req.get("suffix") else []), name, "generate")
    options = check_options(req.get("options") or {})
    ask = Ask(req, model, name, False, prompt, str(req.get("system") or ""), thinks, keep_alive,
              options)
    run(host, ask, sink)


def chat(host: SimHost, body: Any, sink: Sink) -> None:
    req = require_object(body, "ChatRequest")
    keep_alive, think = _common(req, host)
    name = req.get("model") or ""
    model = find_model(host, name, missing=SimError(400, "model is required"))
    messages = [m for m in req.get("messages") or [] if isinstance(m, dict)]
    if not messages and keep_alive == 0 and not model.remote:
        host.engine.unload(model.name)
        return _unloaded(head_of(name, model), True, "unload", sink)
    cloud_gate(host, model)
    tools = req.get("tools") or []
    thinks = _thinking(model, think, name)
    _capabilities(model, ["completion"] + (["tools"] if tools else []), name, "chat")
    options = check_options(req.get("options") or {})
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    extra = "".join(str(m.get("content") or "") for m in messages[:-1])
    answered = bool(messages) and messages[-1].get("role") == "tool"  # a tool result: answer in text
    ask = Ask(req, model, name, True, users[-1] if users else "", extra, thinks, keep_alive,
              options, [] if answered else tools)
    run(host, ask, sink)


# --- running ----------------------------------------------------------------------------------


def run(host: SimHost, ask: Ask, sink: Sink) -> None:
    """Load (or queue for) the model, then answer; a cloud model skips the local part."""
    empty = (not ask.req.get("messages")) if ask.chat else ask.prompt == ""
    with holding(host, ask.model, ask.options, ask.keep_alive, ask.stream) as held:
        if empty:
            return _unloaded(ask.head(), ask.chat, "load", sink)
        if ask.model.remote:
            host.engine.sleep(CLOUD_FIRST_TOKEN_S)
        answer(host, ask, _plan(host, ask), *held, sink)


def take_failure(host: SimHost, stream: bool) -> Failure | None:
    """The next planned failure: raised now if it strikes before the answer starts."""
    failure = host._take_failure()
    if failure is not None and (failure.after_chunks is None or not stream):
        raise SimError(failure.status, failure.error)
    return failure


@contextmanager
def holding(host: SimHost, model: ModelSpec, options: dict[str, Any], keep_alive: float,
            stream: bool = False) -> Iterator[tuple[float, float, float, Failure | None]]:
    """Queue for a request slot, load the model (or wait for its load) and hold it:
    yields (tokens/s, simulated load seconds, simulated queued seconds, a failure planned
    for mid-stream); releases the model with the request's keep_alive afterwards."""
    engine = host.engine
    if model.remote:  # the cloud serves it: no slot, no load, no local memory
        yield CLOUD_TOKENS_PER_S, 0.0, 0.0, take_failure(host, stream)
        return
    slot, queued_real = engine.enter()
    try:
        failure = take_failure(host, stream)
        requested = options.get("num_ctx")
        runner, load_s = engine.acquire(model, host.spec.num_ctx_for(model, requested),
                                        options.get("num_gpu"), auto_ctx=requested is None)
        try:
            load_s = _wait_loaded(engine, runner, load_s)
            queued_s = queued_real / engine.time_scale if engine.time_scale > 0 else 0.0
            yield engine.tokens_per_s(runner), load_s, queued_s, failure
        finally:
            engine.release(runner, keep_alive)
    finally:
        engine.leave(slot)


def _wait_loaded(engine: Any, runner: Any, load_s: float) -> float:
    if load_s > 0:
        engine.sleep(load_s)
        engine.loaded(runner)
    elif not runner.ready.is_set():  # another request is loading it
        start = time.monotonic()
        runner.ready.wait(600)
        waited = time.monotonic() - start
        load_s = waited / engine.time_scale if engine.time_scale > 0 else 0.0
    return load_s


def _plan(host: SimHost, ask: Ask) -> Plan:
    num_predict = ask.options.get("num_predict")
    return plan_answer(ask.model.name, host.name, ask.prompt, prompt_extra=ask.extra,
                       fmt=ask.req.get("format"), think=ask.think,
                       num_predict=None if num_predict is None else int(num_predict),
                       tools=ask.tools)


def _chunk(ask: Ask, kind: str, text: str, calls: list[Any] | None = None) -> dict[str, Any]:
    out = ask.head()
    if ask.chat:
        msg: dict[str, Any] = {"role": "assistant", "content": text if kind == "response" else ""}
        if kind == "thinking" and text:
            msg["thinking"] = text
        if calls:
            msg["tool_calls"] = calls
        out["message"] = msg
    else:
        out["response"] = text if kind == "response" else ""
        if kind == "thinking" and text:
            out["thinking"] = text
    return out


def answer(host: SimHost, ask: Ask, plan: Plan, tps: float, load_s: float, queued_s: float,
           failure: Failure | None, sink: Sink) -> None:
    """Stream (or return whole) the planned answer, with Ollama's final statistics."""
    engine = host.engine
    _check_format(ask.req.get("format"))
    prompt_s = plan.prompt_tokens / (tps * PROMPT_SPEEDUP)
    eval_s = plan.eval_count / tps
    want_lp = bool(ask.req.get("logprobs"))
    top = int(ask.req.get("top_logprobs") or 0)
    engine.sleep(prompt_s)
    if ask.stream:
        sink.start()
        for i, (kind, text) in enumerate(plan.chunks()):
            if failure is not None and i == failure.after_chunks:
                return _fail_stream(sink, failure)
            engine.sleep(1.0 / tps)
            line = _chunk(ask, kind, text) | {"done": False}
            if want_lp:
                line["logprobs"] = logprobs_for([text], top)
            sink.line(line)
        if failure is not None:  # asked to fail after more chunks than there were
            return _fail_stream(sink, failure)
        if plan.tool_calls:
            sink.line(_chunk(ask, "response", "", plan.tool_calls) | {"done": False})
        final = _chunk(ask, "response", "")
    else:
        engine.sleep(eval_s)
        sink.check()
        final = _chunk(ask, "response", "".join(plan.response), plan.tool_calls)
        thinking = "".join(plan.thinking)
        if thinking:
            (final["message"] if ask.chat else final)["thinking"] = thinking
        if want_lp:
            final["logprobs"] = logprobs_for(plan.thinking + plan.response, top)
    final.update(done=True, done_reason=plan.done_reason)
    if not ask.chat and not ask.req.get("raw"):
        tokens = [str(i) for i in range(plan.prompt_tokens)] + plan.thinking + plan.response
        final["context"] = context_ids(tokens)
    total_s = queued_s + load_s + prompt_s + eval_s + 0.001
    final.update(total_duration=int(total_s * 1e9), load_duration=int(load_s * 1e9),
                 prompt_eval_count=plan.prompt_tokens, prompt_eval_duration=int(prompt_s * 1e9),
                 eval_count=plan.eval_count, eval_duration=int(eval_s * 1e9))
    if ask.stream:
        sink.line(final)
        sink.end()
    else:
        sink.json(200, final)


def _check_format(fmt: Any) -> None:
    """The runner takes "json" or a JSON schema object; anything else fails (after the load)."""
    if fmt is None or fmt in ("", "json") or isinstance(fmt, dict):
        return
    raw = json.dumps(fmt, separators=(",", ":"))
    raise SimError(500, f"invalid format: {json.dumps(raw)}; expected \"json\" or a valid JSON "
                        "Schema object")


def _fail_stream(sink: Sink, failure: Failure) -> None:
    sink.line({"error": failure.error})
    sink.end()
