"""What a simulated model says: deterministic text, thinking, JSON, tool calls, log
probabilities and embedding vectors, all derived from (model, host, prompt).

No HTTP and no clock here: the server turns a Plan into Ollama's chunks.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


def tokens_of(text: str) -> list[str]:
    """Word-sized tokens with their leading whitespace; joined they give back the text."""
    return re.findall(r"\s*\S+", text) or ([text] if text else [])


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _snippet(prompt: str, words: int = 12) -> str:
    parts = prompt.split()
    text = " ".join(parts[:words])
    return text + (" ..." if len(parts) > words else "")


def answer_text(model: str, host: str, prompt: str) -> str:
    return f"Hello from {model} on {host}. You said: {_snippet(prompt)}"


def thinking_text(model: str, host: str, prompt: str) -> str:
    return f"The user wrote: {_snippet(prompt, 6)}. I am {model} on {host}; a short greeting will do."


def value_for(schema: Any, text: str, depth: int = 0) -> Any:
    """A value that satisfies a (simple) JSON schema: enums, objects, arrays, scalars."""
    if not isinstance(schema, dict) or depth > 4:
        return text
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: value_for(v, text, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [value_for(schema.get("items") or {}, text, depth + 1)]
    scalars = {"integer": 42, "number": 4.2, "boolean": True, "null": None}
    return scalars.get(kind, text) if isinstance(kind, str) else text


def json_answer(fmt: Any, model: str, host: str, prompt: str) -> str:
    text = answer_text(model, host, prompt)
    if isinstance(fmt, dict) and fmt:
        value = value_for(fmt, text)
        if not isinstance(value, dict):
            value = {"value": value}
    else:
        value = {"model": model, "host": host, "answer": text}
    return json.dumps(value, ensure_ascii=False, indent=2)


def context_ids(tokens: list[str]) -> list[int]:
    return [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=4).digest()) % 128000 for t in tokens]


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8])


def tool_calls_for(tools: list[Any], model: str, prompt: str) -> list[dict[str, Any]]:
    """One call of the first function tool, its arguments filled from its parameter schema.

    Ids are `call_` + 8 lower-case letters and digits, as Ollama's toolCallId makes them
    (here derived from the prompt, so a run can be repeated).
    """
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            args = value_for(fn.get("parameters") or {"type": "object"}, _snippet(prompt, 4))
            rng = random.Random(_seed(model, prompt, str(fn["name"])))
            ident = "call_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                      for _ in range(8))
            return [{"id": ident, "function": {"index": 0, "name": fn["name"],
                                               "arguments": args if isinstance(args, dict) else {}}}]
    return []


def logprobs_for(tokens: list[str], top: int) -> list[dict[str, Any]]:
    """api.Logprob per token: the token, its log probability, its UTF-8 bytes, and `top` alternatives."""
    out = []
    for i, tok in enumerate(tokens):
        lp = -round(0.05 + 0.37 * ((_seed(tok, str(i)) % 1000) / 1000), 6)
        entry: dict[str, Any] = {"token": tok, "logprob": lp, "bytes": list(tok.encode())}
        if top > 0:
            alts = [entry["token"]] + [f"{tok.strip() or tok}_{k}" for k in range(1, top)]
            entry["top_logprobs"] = [
                {"token": t, "logprob": round(lp - 1.5 * k, 6), "bytes": list(t.encode())}
                for k, t in enumerate(alts)
            ]
        out.append(entry)
    return out


def embedding_for(model: str, text: str, length: int) -> list[float]:
    """A unit vector of `length` floats, the same for the same (model, text)."""
    rng = random.Random(_seed(model, text))
    vec = [rng.gauss(0.0, 1.0) for _ in range(max(1, length))]
    return normalize(vec)


def normalize(vec: list[float]) -> list[float]:
    norm = 1.0 / max(math.sqrt(sum(v * v for v in vec)), 1e-12)
    return [v * norm for v in vec]


@dataclass
class Plan:
    """What one request will produce: thinking tokens, answer tokens, tool calls, why it stops."""

    thinking: list[str]
    response: list[str]
    done_reason: str
    prompt_tokens: int
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def eval_count(self) -> int:
        return len(self.thinking) + len(self.response) + 8 * len(self.tool_calls)

    def chunks(self) -> Iterator[tuple[str, str]]:
        for t in self.thinking:
            yield "thinking", t
        for t in self.response:
            yield "response", t


def plan_answer(model: str, host: str, prompt: str, *, prompt_extra: str = "",
                fmt: Any = None, think: bool = False, num_predict: int | None = None,
                tools: list[Any] | None = None) -> Plan:
    """Deterministic output for (model, host, prompt, options). With tools, the model calls one."""
    calls = tool_calls_for(tools or [], model, prompt)
    if calls:
        body = ""
    elif fmt == "json" or (isinstance(fmt, dict) and fmt):
        body = json_answer(fmt, model, host, prompt)
    else:
        body = answer_text(model, host, prompt)
    thinking = tokens_of(thinking_text(model, host, prompt)) if think else []
    response = tokens_of(body)
    reason = "stop"
    if num_predict is not None and num_predict >= 0 and len(thinking) + len(response) > num_predict:
        reason = "length"
        thinking = thinking[:num_predict]
        response = response[: max(0, num_predict - len(thinking))]
        calls = []
    prompt_tokens = count_tokens(prompt_extra + prompt) + 10  # + the chat template's tokens
    return Plan(thinking, response, reason, prompt_tokens, calls)
