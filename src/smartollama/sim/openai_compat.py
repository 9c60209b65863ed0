"""The OpenAI-compatible endpoints, built as Ollama builds them (openai/openai.go,
middleware/openai.go): a request is translated into Ollama's own, Ollama's handler
answers, and a sink translates each answer back: a whole JSON object, or
server-sent events (`data: {...}` then `data: [DONE]`). Errors keep Ollama's status
and text, in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import base64
import json
import random
import re
import struct
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smartollama.sim import inference, native
from smartollama.sim.server import RouteTable, Sink, dumps
from smartollama.sim.wire import EMPTY_BODY, SimError

if TYPE_CHECKING:
    from smartollama.sim.host import SimHost
    from smartollama.sim.server import _Handler

FINGERPRINT = "fp_ollama"
_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _unix(rfc: str | None) -> int:
    """Go's time.Time.Unix() of an RFC 3339 time (the seconds; now when there is none)."""
    m = _RFC3339.match(rfc or "")
    if m is None:
        return int(time.time())
    return int(datetime.fromisoformat(m.group(1) + m.group(2).replace("Z", "+00:00")).timestamp())


class OpenAISink(Sink):
    """Errors in OpenAI's shape; the rest is up to each endpoint's sink."""

    stream_type = "text/event-stream"

    def __init__(self, out: _Handler, body: Any = None) -> None:
        super().__init__(out, body)
        self.req = body if isinstance(body, dict) else {}

    def error(self, exc: SimError) -> None:
        kind = _ERROR_TYPES.get(exc.status, "api_error")
        self.out.whole(exc.status, "application/json",
                       dumps({"error": {"message": exc.message, "type": kind, "param": None,
                                        "code": None}}) + b"\n")

    def whole(self, obj: Any) -> None:
        self.out.whole(200, "application/json", dumps(obj) + b"\n")

    def event(self, obj: Any) -> None:
        self.out.stream_write(b"data: " + (obj if isinstance(obj, bytes) else dumps(obj)) + b"\n\n")

    def json(self, status: int, obj: Any) -> None:
        if status != 200:
            self.error(SimError(status, str(obj.get("error", ""))))
        else:
            self.whole(self.convert(obj))

    def convert(self, obj: Any) -> Any:
        return obj

    def usage_wanted(self) -> bool:
        opts = self.req.get("stream_options")
        return isinstance(opts, dict) and bool(opts.get("include_usage"))


def _usage(r: dict[str, Any]) -> dict[str, int]:
    p, c = int(r.get("prompt_eval_count") or 0), int(r.get("eval_count") or 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _tool_calls(calls: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{"id": c.get("id", ""), "index": c["function"].get("index", 0), "type": "function",
             "function": {"name": c["function"]["name"],
                          "arguments": dumps(c["function"].get("arguments") or {}).decode()}}
            for c in calls or []]


# --- chat ------------------------------------------------------------------------------------


class ChatSink(OpenAISink):
    def __init__(self, out: _Handler, body: Any = None) -> None:
        super().__init__(out, body)
        self.id = f"chatcmpl-{random.randrange(999)}"
        self.first_sent = False
        self.tool_call_sent = False
        self.created: int | None = None

    def convert(self, r: Any) -> Any:
        msg = r.get("message") or {}
        calls = _tool_calls(msg.get("tool_calls"))
        reason = r.get("done_reason") or None
        if reason == "stop" and calls:
            reason = "tool_calls"
        message: dict[str, Any] = {"role": msg.get("role", "assistant"),
                                   "content": msg.get("content", "")}
        if msg.get("thinking"):
            message["reasoning"] = msg["thinking"]
        if calls:
            message["tool_calls"] = calls
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": reason}
        if r.get("logprobs"):
            choice["logprobs"] = {"content": r["logprobs"]}
        return {"id": self.id, "object": "chat.completion", "created": _unix(r.get("created_at")),
                "model": r.get("model", ""), "system_fingerprint": FINGERPRINT,
                "choices": [choice], "usage": _usage(r)}

    def _chunk(self, r: dict[str, Any], delta: dict[str, Any], **choice: Any) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": r.get("model", ""), "system_fingerprint": FINGERPRINT,
                "choices": [{"index": 0, "delta": delta, "finish_reason": None, **choice}]}

    def line(self, r: Any) -> None:
        if self.created is None:
            self.created = _unix(r.get("created_at"))
        msg = r.get("message") or {}
        content, thinking = msg.get("content", ""), msg.get("thinking", "")
        calls = _tool_calls(msg.get("tool_calls"))
        trailer = r.get("done") and self.first_sent and not (content or thinking or calls
                                                                 or r.get("logprobs"))
        if not trailer:
            role = {} if self.first_sent else {"role": "assistant"}
            lp = {"logprobs": {"content": r["logprobs"]}} if r.get("logprobs") else {}
            if thinking and (content or calls):  # one chunk for reasoning, one for the rest
                self.event(self._chunk(r, {**role, "reasoning": thinking}, **lp))
                rest: dict[str, Any] = {"content": content}
                self.event(self._chunk(r, rest | ({"tool_calls": calls} if calls else {})))
            else:
                delta: dict[str, Any] = {**role, "content": content}
                if thinking:
                    delta["reasoning"] = thinking
                if calls:
                    delta["tool_calls"] = calls
                self.event(self._chunk(r, delta, **lp))
            self.tool_call_sent = self.tool_call_sent or bool(calls)
            self.first_sent = True
        if r.get("done"):
            reason = r.get("done_reason") or "stop"
            if reason == "stop" and self.tool_call_sent:
                reason = "tool_calls"
            finish = self._chunk(r, {}, finish_reason=reason)
            self.event(finish)
            if self.usage_wanted():
                self.event(finish | {"choices": [], "usage": _usage(r)})
            self.event(b"[DONE]")


def chat_completions(host: SimHost, body: Any, sink: Sink) -> None:
    req = _object(body, "ChatCompletionRequest")
    if not req.get("messages"):
        raise SimError(400, "[] is too short - 'messages'")
    messages = [_message(m) for m in req["messages"]]
    options = _sampling(req)
    native_req: dict[str, Any] = {"model": req.get("model") or "", "messages": messages,
                                  "options": options, "stream": bool(req.get("stream"))}
    fmt = req.get("response_format")
    if isinstance(fmt, dict):
        kind = str(fmt.get("type") or "").strip().lower()
        if kind == "json_object":
            native_req["format"] = "json"
        elif kind == "json_schema" and isinstance(fmt.get("json_schema"), dict):
            native_req["format"] = fmt["json_schema"].get("schema")
    effort = (req.get("reasoning") or {}).get("effort") or req.get("reasoning_effort") or ""
    if effort:
        native_req["think"] = _think(effort)
    for key in ("tools", "top_logprobs"):
        if req.get(key):
            native_req[key] = req[key]
    if req.get("logprobs"):
        native_req["logprobs"] = True
    inference.chat(host, native_req, sink)


def _think(effort: str) -> bool | str:
    levels: dict[str, bool | str] = {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high",
              "max": "max", "xhigh": "max", "ultra": "max"}
    if effort not in levels:
        raise SimError(400, f'invalid reasoning value: "{effort}" (must be "minimal", "low", '
                            '"medium", "high", "xhigh", "ultra", "max", or "none")')
    return levels[effort]


def _message(m: Any) -> dict[str, Any]:
    if not isinstance(m, dict):
        raise SimError(400, "invalid message format")
    content = m.get("content")
    out: dict[str, Any] = {"role": m.get("role", "")}
    if isinstance(content, list):  # text and image parts
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        out["content"] = "".join(texts)
        images = [_image(p) for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
        if images:
            out["images"] = images
    elif isinstance(content, str) or m.get("tool_calls"):
        out["content"] = content or ""
    else:
        raise SimError(400, f"invalid message content type: {'<nil>' if content is None else 'any'}")
    if m.get("tool_calls"):
        out["tool_calls"] = [{"id": c.get("id", ""), "function": {
            "name": c["function"]["name"], "arguments": _arguments(c["function"].get("arguments"))}}
            for c in m["tool_calls"]]
    return out


def _arguments(text: Any) -> Any:
    try:
        return json.loads(text or "{}")
    except (TypeError, ValueError):
        raise SimError(400, "invalid tool call arguments") from None


def _image(part: dict[str, Any]) -> str:
    url = part.get("image_url")
    url = url.get("url") if isinstance(url, dict) else url
    if not isinstance(url, str):
        raise SimError(400, "invalid message format")
    if url.startswith(("http://", "https://")):
        raise SimError(400, "image URLs are not currently supported, please use base64 encoded data instead")
    _, sep, data = url.partition(";base64,")
    if not sep:
        raise SimError(400, "invalid image input")
    return data


def _sampling(req: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0}
    stop = req.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list):
        options["stop"] = [s for s in stop if isinstance(s, str)]
    names = {"max_tokens": "num_predict", "temperature": "temperature", "seed": "seed",
             "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
             "top_p": "top_p"}
    for key, option in names.items():
        if req.get(key) is not None:
            options[option] = req[key]
    return options


_NUMBER = (int, float)
# the OpenAI request fields Go binds with a type: name -> (Python types, Go type)
_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "string"), "stream": (bool, "bool"), "max_tokens": (int, "int"),
    "seed": (int, "int"), "temperature": (_NUMBER, "float64"), "top_p": (_NUMBER, "float64"),
    "frequency_penalty": (_NUMBER, "float64"), "presence_penalty": (_NUMBER, "float64"),
    "messages": (list, "[]openai.Message"), "tools": (list, "[]api.Tool"),
    "top_logprobs": (int, "int"), "dimensions": (int, "int"), "suffix": (str, "string"),
}


def _object(body: Any, struct: str) -> dict[str, Any]:
    """The request as gin's ShouldBindJSON leaves it, or its error (400)."""
    if body is EMPTY_BODY or body is None:
        raise SimError(400, "EOF")
    if not isinstance(body, dict):
        raise SimError(400, f"json: cannot unmarshal {type(body).__name__} into Go value of type "
                            f"openai.{struct}")
    for key, value in body.items():
        rule = _TYPES.get(key)
        if rule is None or value is None:
            continue
        if not isinstance(value, rule[0]) or (isinstance(value, bool) and rule[1] != "bool"):
            kind = "string" if isinstance(value, str) else type(value).__name__
            kind = {"int": "number", "float": "number", "list": "array", "dict": "object"}.get(kind, kind)
            raise SimError(400, f"json: cannot unmarshal {kind} into Go struct field "
                                f"{struct}.{key} of type {rule[1]}")
    return body


# --- completions -------------------------------------------------------------------------------


class CompletionSink(OpenAISink):
    def __init__(self, out: _Handler, body: Any = None) -> None:
        super().__init__(out, body)
        self.id = f"cmpl-{random.randrange(999)}"

    def _base(self, r: dict[str, Any], created: int) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": created,
                "model": r.get("model", ""), "system_fingerprint": FINGERPRINT,
                "choices": [{"text": r.get("response", ""), "index": 0,
                             "finish_reason": r.get("done_reason") or None}]}

    def convert(self, r: Any) -> Any:
        return self._base(r, _unix(r.get("created_at"))) | {"usage": _usage(r)}

    def line(self, r: Any) -> None:
        chunk = self._base(r, int(time.time()))
        if self.usage_wanted():
            chunk["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self.event(chunk)
        if r.get("done"):
            if self.usage_wanted():
                self.event(chunk | {"usage": _usage(r), "choices": []})
            self.event(b"[DONE]")


def completions(host: SimHost, body: Any, sink: Sink) -> None:
    req = _object(body, "CompletionRequest")
    if req.get("prompt") is not None and not isinstance(req["prompt"], str):
        raise SimError(400, "json: cannot unmarshal array into Go struct field "
                            "CompletionRequest.prompt of type string")
    stop = req.get("stop")
    if isinstance(stop, list) and not all(isinstance(s, str) for s in stop):
        raise SimError(400, "invalid type for 'stop' field: float64")
    options = _sampling(req)
    options.setdefault("frequency_penalty", 0.0)
    options.setdefault("presence_penalty", 0.0)
    native_req: dict[str, Any] = {"model": req.get("model") or "", "prompt": req.get("prompt") or "",
                                  "options": options, "stream": bool(req.get("stream"))}
    if req.get("suffix"):
        native_req["suffix"] = req["suffix"]
    if isinstance(req.get("logprobs"), int) and req["logprobs"] > 0:
        native_req.update(logprobs=True, top_logprobs=req["logprobs"])
    inference.generate(host, native_req, sink)


# --- embeddings and models -----------------------------------------------------------------------


class EmbedSink(OpenAISink):
    def convert(self, r: Any) -> Any:
        b64 = str(self.req.get("encoding_format") or "").lower() == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(struct.pack(f"<{len(e)}f", *e)).decode() if b64 else e}
                for i, e in enumerate(r.get("embeddings") or [])]
        tokens = int(r.get("prompt_eval_count") or 0)
        return {"object": "list", "data": data, "model": self.req.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def embeddings(host: SimHost, body: Any, sink: Sink) -> None:
    req = _object(body, "EmbedRequest")
    fmt = req.get("encoding_format")
    if fmt and str(fmt).lower() not in ("float", "base64"):
        raise SimError(400, f"Invalid value for 'encoding_format' = {fmt}. "
                            "Supported values: ['float', 'base64'].")
    value = req.get("input")
    if value == "":
        value = [""]
    if value is None or value == []:
        raise SimError(400, "invalid input")
    native.embed(host, {"model": req.get("model") or "", "input": value,
                        "dimensions": req.get("dimensions") or 0}, sink)


def _model(name: str, created: int) -> dict[str, Any]:
    parts = name.split(":")[0].split("/")
    owner = parts[-2] if len(parts) > 1 else "library"
    return {"id": name, "object": "model", "created": created, "owned_by": owner}


class ListSink(OpenAISink):
    def convert(self, r: Any) -> Any:
        data = [_model(m["model"], _unix(m["modified_at"])) for m in r.get("models", [])]
        return {"object": "list", "data": data or None}


class RetrieveSink(OpenAISink):
    def convert(self, r: Any) -> Any:
        return _model(self.req.get("model", ""), _unix(r.get("modified_at")))


ROUTES: RouteTable = {
    "/v1/chat/completions": {"POST": (chat_completions, ChatSink)},
    "/v1/completions": {"POST": (completions, CompletionSink)},
    "/v1/embeddings": {"POST": (embeddings, EmbedSink)},
    "/v1/models": {"GET": (native.tags, ListSink)},
}
PREFIX_ROUTES: RouteTable = {"/v1/models/": {"GET": (native.show, RetrieveSink)}}
