"""Request decoding the way Ollama's Go server decodes it, with its error texts.

Ollama binds a request body to a Go struct (`api/types.go`): a field of the
wrong JSON type fails the whole request with encoding/json's message (400), a
`keep_alive` goes through `time.ParseDuration` (so `"300"` is refused: Go
durations need a unit), `think` takes a bool or a level, and `options` go
through `Options.FromMap`, whose type errors reach the client as a 500 (they
surface from `scheduleRunner`). Model references follow `internal/modelref`:
a `:cloud`/`-cloud` suffix asks for the cloud, `:local` for a local model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

FOREVER = math.inf
DEFAULT_KEEP_ALIVE_S = 300.0  # OLLAMA_KEEP_ALIVE's default, 5m
THINK_LEVELS = ("high", "medium", "low", "max")


class SimError(Exception):
    """An error the API answers with: HTTP status + Ollama's `error` text (+ extra fields)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


# --- time ----------------------------------------------------------------------------


def rfc3339(seconds: float, *, utc: bool = False) -> str:
    """Go's RFC3339Nano: fractional seconds without trailing zeros, `Z` or a `±hh:mm` offset."""
    seconds = min(seconds, 253402300799)  # beyond year 9999
    dt = datetime.fromtimestamp(seconds, UTC)
    if not utc:
        dt = dt.astimezone()
    nanos = int(round((seconds - math.floor(seconds)) * 1e9)) % 1_000_000_000
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    offset = dt.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return text + "Z"
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def human_bytes2(n: float) -> str:
    """Ollama's format.HumanBytes2: binary units with one decimal."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
             "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([^\d.]*)")


def go_duration(text: str) -> float:
    """time.ParseDuration, in seconds; raises ValueError with Go's message."""
    quoted = json.dumps(text, ensure_ascii=False)
    body = text
    sign = 1.0
    if body[:1] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"time: invalid duration {quoted}")
    pos, total = 0, 0.0
    for m in _GO_PART.finditer(body):
        if m.start() != pos:
            break
        number, unit = m.groups()
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNITS:
            raise ValueError(f"time: unknown unit {json.dumps(unit, ensure_ascii=False)} in duration {quoted}")
        total += float(number) * _GO_UNITS[unit]
        pos = m.end()
    if pos != len(body):
        raise ValueError(f"time: invalid duration {quoted}")
    return sign * total


def parse_keep_alive(value: Any, default: float = DEFAULT_KEEP_ALIVE_S) -> float:
    """api.Duration: seconds as a JSON number, or a Go duration string ("5m", "1h30m").

    Returns seconds; `math.inf` (forever) for a negative value; 0 unloads after the
    request. A bare number in a string ("300") is refused, as Go refuses it.
    """
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        kind = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}.get(
            type(value), type(value).__name__)
        raise SimError(400, f"Unsupported type: '{kind}'")
    if isinstance(value, str):
        try:
            seconds = go_duration(value)
        except ValueError as exc:
            raise SimError(400, str(exc)) from None
    else:
        seconds = float(value)
    return FOREVER if seconds < 0 else seconds


# --- fields ----------------------------------------------------------------------------

_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
              dict: "object", type(None): "null"}


def _json_kind(value: Any) -> str:
    return _JSON_KIND.get(type(value), "value")


# Go type of each request field that clients get wrong in practice; a null is always fine.
_FIELD_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "string"), "prompt": (str, "string"), "suffix": (str, "string"),
    "system": (str, "string"), "template": (str, "string"), "raw": (bool, "bool"),
    "stream": (bool, "bool"), "logprobs": (bool, "bool"), "top_logprobs": (int, "int"),
    "messages": (list, "[]api.Message"), "tools": (list, "api.Tools"),
    "options": (dict, "map[string]interface {}"), "images": (list, "[]api.ImageData"),
    "context": (list, "[]int"), "truncate": (bool, "bool"), "shift": (bool, "bool"),
    "dimensions": (int, "int"), "name": (str, "string"),
}


def check_fields(req: dict[str, Any], struct: str) -> None:
    """Refuse a field of the wrong JSON type as encoding/json does (400)."""
    for key, value in req.items():
        rule = _FIELD_TYPES.get(key)
        if rule is None or value is None:
            continue
        py_type, go_type = rule
        ok = isinstance(value, py_type) and not (py_type is int and isinstance(value, bool))
        if py_type is int and isinstance(value, float) and value.is_integer():
            ok = True
        if not ok:
            kind = _json_kind(value)
            if py_type is int and isinstance(value, float):  # Go names the number that won't fit
                kind = f"number {value:g}"
            raise SimError(400, f"json: cannot unmarshal {kind} into Go struct "
                                f"field {struct}.{key} of type {go_type}")


def require_object(body: Any, struct: str) -> dict[str, Any]:
    """The request as a dict: an empty body is Ollama's "missing request body"; JSON null is {}."""
    if body is _EMPTY:
        raise SimError(400, "missing request body")
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise SimError(400, f"json: cannot unmarshal {_json_kind(body)} into Go value of type "
                            f"api.{struct}")
    check_fields(body, struct)
    return body


class _Empty:
    def __repr__(self) -> str:
        return "<empty body>"


_EMPTY: Any = _Empty()
EMPTY_BODY: Any = _EMPTY  # what the HTTP layer passes for a request without a body


def parse_think(value: Any) -> bool | str | None:
    """api.ThinkValue: a bool or one of the levels; None when absent."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value not in THINK_LEVELS:
            raise SimError(400, f"invalid think value: {json.dumps(value)} "
                                '(must be "high", "medium", "low", "max", true, or false)')
        return value
    raise SimError(400, 'think must be a boolean or string ("high", "medium", "low", "max", '
                        "true, or false)")


# --- options -------------------------------------------------------------------------------

# api.Options (with api.Runner embedded): JSON name -> Go kind.
OPTION_KINDS: dict[str, str] = {
    "num_keep": "int", "seed": "int", "num_predict": "int", "top_k": "int", "top_p": "float32",
    "min_p": "float32", "typical_p": "float32", "repeat_last_n": "int", "temperature": "float32",
    "repeat_penalty": "float32", "presence_penalty": "float32", "frequency_penalty": "float32",
    "stop": "[]string", "num_ctx": "int", "num_batch": "int", "num_gpu": "int", "main_gpu": "*int",
    "use_mmap": "*bool", "num_thread": "int", "draft_num_predict": "int",
}


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options.FromMap: unknown keys are ignored; a wrong type fails with Go's text (a 500)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        kind = OPTION_KINDS.get(key)
        if kind is None or value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind in ("int", "*int"):
            if not number:
                raise SimError(500, f"option {json.dumps(key)} must be of type integer")
            value = int(value)
        elif kind == "float32":
            if not number:
                raise SimError(500, f"option {json.dumps(key)} must be of type float32")
        elif kind == "*bool":
            if not isinstance(value, bool):
                raise SimError(500, f"option {json.dumps(key)} must be of type boolean")
        elif kind == "[]string":
            if not isinstance(value, list):
                raise SimError(500, f"option {json.dumps(key)} must be of type array")
            if not all(isinstance(s, str) for s in value):
                raise SimError(500, f"option {json.dumps(key)} must be of an array of strings")
        out[key] = value
    return out


# --- model references ----------------------------------------------------------------------

_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,79}$")


@dataclass(frozen=True)
class ModelRef:
    """A requested model: the name without its source suffix, and the source asked for."""

    original: str
    base: str
    source: str  # "", "local" or "cloud"


def _source_suffix(raw: str) -> tuple[str, str]:
    idx = raw.rfind(":")
    if idx >= 0:
        suffix_raw = raw[idx + 1:].strip()
        suffix = suffix_raw.lower()
        if suffix in ("cloud", "local"):
            return raw[:idx], suffix
        if "/" not in suffix_raw and suffix.endswith("-cloud"):
            return raw[:idx + 1] + suffix_raw[: -len("-cloud")], "cloud"
    return raw, ""


def valid_name(name: str) -> bool:
    """model.ParseName(...).IsValid() for the forms people type: [host/][namespace/]model[:tag]."""
    base, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        base, tag = name, "latest"
    parts = base.split("/")
    if len(parts) > 3 or not _PART.match(parts[-1]) or not _PART.match(tag):
        return False
    return len(parts) < 2 or bool(_NAMESPACE.match(parts[-2]))


def parse_ref(raw: str, *, missing: SimError) -> ModelRef:
    """modelref.ParseRef + name validation; `missing` is what this route says for no model."""
    raw = raw.strip()
    if not raw:
        raise missing
    base, source = _source_suffix(raw)
    if source and _source_suffix(base)[1]:
        raise SimError(400, f"use either :local or :cloud, not both: {json.dumps(raw)}")
    if not valid_name(base):
        raise SimError(400, "invalid model name")
    return ModelRef(raw, base, source)


def full_name(name: str) -> str:
    """The fully qualified name Ollama puts in capability errors: registry.ollama.ai/library/x:tag."""
    base, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        base, tag = name, "latest"
    parts = base.split("/")
    if len(parts) == 1:
        parts = ["registry.ollama.ai", "library", *parts]
    elif len(parts) == 2:
        parts = ["registry.ollama.ai", *parts]
    return "/".join(parts) + ":" + tag
