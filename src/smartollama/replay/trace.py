"""Traces: JSONL, one request a line (docs/replay.md, "Trace format").

    {"t": 3605.2, "model": "qwen2.5-coder:7b", "task": "code", "urgency": "interactive",
     "prompt_tokens": 512, "answer_tokens": 200, "min_quality": 0.6, "mode": "quiet",
     "policy": "prefer_model"}

``t`` is seconds from the trace's start (00:00 of the simulated day); only
``t`` and ``model`` are required. A malformed line is an error naming the
file and the line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smartollama.errors import SollamaError
from smartollama.record import record
from smartollama.vocab import POLICIES, TASKS, URGENCIES

KEYS = ("t", "model", "task", "urgency", "prompt_tokens", "answer_tokens", "min_quality",
        "mode", "policy")
DEFAULT_PROMPT_TOKENS = 256
DEFAULT_ANSWER_TOKENS = 256


class TraceError(SollamaError):
    """A trace that cannot be read; the message names the file and line."""


@record(frozen=True)
class TraceRequest:
    t: float
    model: str
    task: str = "general"
    urgency: str = "interactive"
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    answer_tokens: int = DEFAULT_ANSWER_TOKENS
    min_quality: float | None = None
    mode: str | None = None
    policy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t": self.t, "model": self.model}
        for k in KEYS[2:]:
            v = getattr(self, k)
            if v is not None and not (k == "task" and v == "general") \
                    and not (k == "urgency" and v == "interactive"):
                d[k] = v
        return d


def read_trace(path: str | Path, modes: Iterable[str] | None = None) -> list[TraceRequest]:
    """The requests of a trace file, in time order (stable for equal times).
    ``modes``: the config's modes, which a `mode` key must name."""
    shown = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise TraceError(f"{shown}: trace file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TraceError(f"{shown}: cannot read the trace: {getattr(e, 'strerror', None) or e}") from None
    known_modes = set(modes) if modes is not None else None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        out.append(parse_line(line, f"{shown}:{n}", known_modes))
    if not out:
        raise TraceError(f"{shown}: the trace has no requests")
    out.sort(key=lambda r: r.t)
    return out


def parse_line(line: str, where: str, modes: set[str] | None = None) -> TraceRequest:
    try:
        d = json.loads(line)
    except ValueError as e:
        raise TraceError(f"{where}: not a JSON object: {e}") from None
    if not isinstance(d, dict):
        raise TraceError(f"{where}: a request is a JSON object, not {type(d).__name__}")
    unknown = sorted(set(d) - set(KEYS))
    if unknown:
        raise TraceError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(KEYS)}")
    for k in ("t", "model"):
        if k not in d:
            raise TraceError(f"{where}: missing {k!r}")
    t = d["t"]
    if not _number(t) or t < 0:
        raise TraceError(f"{where}: 't' must be seconds from the start (a number >= 0), not {t!r}")
    model = d["model"]
    if not isinstance(model, str) or not model.strip():
        raise TraceError(f"{where}: 'model' must be a model name or \"auto\"")
    choices = {"task": TASKS, "urgency": URGENCIES, "policy": POLICIES}
    for k, allowed in choices.items():
        if k in d and d[k] not in allowed:
            raise TraceError(f"{where}: {k} {d[k]!r} is not one of {', '.join(allowed)}")
    if "mode" in d and (not isinstance(d["mode"], str)
                        or (modes is not None and d["mode"] not in modes)):
        shown = f"; configured modes: {', '.join(sorted(modes))}" if modes else ""
        raise TraceError(f"{where}: unknown mode {d['mode']!r}{shown}")
    for k in ("prompt_tokens", "answer_tokens"):
        if k in d and (not isinstance(d[k], int) or isinstance(d[k], bool) or d[k] < 0):
            raise TraceError(f"{where}: {k} must be a whole number >= 0, not {d[k]!r}")
    q = d.get("min_quality")
    if q is not None and (not _number(q) or not 0 <= q <= 1):
        raise TraceError(f"{where}: min_quality must be between 0 and 1, not {q!r}")
    return TraceRequest(
        t=float(t), model=model.strip(), task=d.get("task", "general"),
        urgency=d.get("urgency", "interactive"),
        prompt_tokens=d.get("prompt_tokens", DEFAULT_PROMPT_TOKENS),
        answer_tokens=d.get("answer_tokens", DEFAULT_ANSWER_TOKENS),
        min_quality=float(q) if q is not None else None, mode=d.get("mode"),
        policy=d.get("policy"))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def write_trace(path: str | Path, requests: Iterable[TraceRequest]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in requests:
            f.write(json.dumps(r.to_dict(), separators=(", ", ": ")) + "\n")
            n += 1
    return n


def from_history(entries: list[dict[str, Any]]) -> list[TraceRequest]:
    """A trace from recorded verdicts (oldest first): each decision's time,
    requested model, urgency, task, quality, policy and answer length; a mode
    only where it changed."""
    from datetime import datetime

    rows = []
    for e in entries:
        try:
            when = datetime.fromisoformat(str(e["time"]).replace("Z", "+00:00")).timestamp()
        except (KeyError, ValueError):
            continue
        model = e.get("model_requested")
        if not isinstance(model, str) or not model:
            continue
        rows.append((when, e))
    rows.sort(key=lambda p: p[0])
    if not rows:
        return []
    start = rows[0][0] - rows[0][0] % 86400     # the trace starts at 00:00 UTC of the first day
    out, mode = [], None
    for when, e in rows:
        outcome = e.get("outcome") or {}
        tokens = outcome.get("eval_tokens")
        m = e.get("mode") if e.get("mode") != mode else None
        mode = e.get("mode") or mode
        out.append(TraceRequest(
            t=round(when - start, 3), model=str(e["model_requested"]),
            task=str(e["task"]) if e.get("task") in TASKS else "general",
            urgency=str(e["urgency"]) if e.get("urgency") in URGENCIES else "interactive",
            answer_tokens=int(tokens) if isinstance(tokens, int) and tokens >= 0
            else DEFAULT_ANSWER_TOKENS,
            min_quality=e.get("min_quality") if _number(e.get("min_quality")) else None,
            mode=m if isinstance(m, str) else None,
            policy=e.get("policy") if e.get("policy") in POLICIES else None))
    return out
