"""The config file's schema: pydantic models that validate it.

Imported only when a config file must be validated (a new or changed file, or
`sollama config check`): `config.load_config()` keeps the validated result in
the state directory, and a call whose config is unchanged builds the plain
objects of `smartollama.config` from that without importing pydantic.

Each model here has a twin in `smartollama.config` with the same fields and
defaults (a test keeps them equal); the constraints, the validators and the
error messages live here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartollama.config import (
    BUILTIN_MODES,
    BUILTIN_URGENCY,
    parse_hours,
    resolve_tier,
)
from smartollama.hosts import parse_host, split_credentials
from smartollama.vocab import TIER_ALIASES

# the config's vocabulary (`smartollama.config`'s records name it for type checkers)
Hardware = Literal["nvidia", "amd", "igpu", "npu", "cpu", "auto"]
Policy = Literal["prefer_model", "prefer_mode", "substitute", "ask"]
UrgencyName = Literal["critical", "interactive", "background", "batch"]
TaskName = Literal["general", "code", "reasoning", "chat", "summarize"]
TelemetrySource = Literal[
    "nvml", "amdgpu", "intel-gpu", "intel-npu", "cpu", "prometheus", "static", "auto", "none"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModeLimits(_Strict):
    """What a backend's telemetry may read for it to comply with a mode."""

    max_fan_pct: float | None = Field(None, ge=0, le=100)
    max_temp_c: float | None = None
    max_power_w: float | None = Field(None, ge=0)
    max_util_pct: float | None = Field(None, ge=0, le=100)
    description: str | None = None


class Routing(_Strict):
    model_mode_conflict: Policy = "prefer_model"
    allow_model_substitution: bool = True
    substitution_quality_threshold: str = "medium"
    unknown_telemetry: Literal["allow", "deny"] = "allow"
    #: cloud models (prompts leave the machine): "never" (only when named),
    #: "fallback" (also after every local choice), "allow" (like any model)
    cloud: Literal["never", "fallback", "allow"] = "never"
    keep_alive_from_use: bool = True


class TelemetryConfig(_Strict):
    """A backend's `telemetry` table: where its readings come from."""

    source: TelemetrySource = "auto"
    # nvml
    index: int | None = None
    uuid: str | None = None
    # amdgpu / intel-gpu / intel-npu: card name ("card1", "accel0"), sysfs root for tests
    card: str | None = None
    root: str | None = None
    # prometheus
    url: str | None = None
    match: dict[str, str] = Field(default_factory=dict)
    #: "user:password" split off `url` (not a key of the file)
    auth: str | None = Field(None, repr=False, exclude=True)
    # probe budget
    timeout_s: float = Field(0.5, gt=0)
    # static values (also allowed as overrides on other sources: none)
    fan_pct: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    mem_total_gb: float | None = None
    mem_free_gb: float | None = None
    util_pct: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_auth(cls, data: Any) -> Any:
        return _split_auth(data, "url")

    @model_validator(mode="after")
    def _needs(self) -> TelemetryConfig:
        if self.source == "prometheus" and not self.url:
            raise ValueError("source = \"prometheus\" needs url = \"http://HOST:PORT/metrics\"")
        return self


class Backend(_Strict):
    id: str = Field(min_length=1)
    host: str
    hardware: Hardware = "auto"
    max_model_size_gb: float | None = Field(None, gt=0)
    offload: bool | None = None
    max_offload_gb: float | None = Field(None, gt=0)
    supported_models: list[str] = Field(default_factory=list)
    model_patterns: list[str] = Field(default_factory=list)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    num_parallel: int = Field(1, ge=1)
    #: the server's OLLAMA_CONTEXT_LENGTH; None: Ollama's default for the device's memory
    context_length: int | None = Field(None, ge=256)
    #: extra HTTP headers (e.g. Authorization) for this host; never recorded.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    #: "user:password" split off `host` (not a key of the file)
    auth: str | None = Field(None, repr=False, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _split_auth(cls, data: Any) -> Any:
        return _split_auth(data, "host")

    @field_validator("host", mode="before")
    @classmethod
    def _host(cls, v: Any) -> str:
        if not isinstance(v, str) or not v.strip():
            raise ValueError("expected a host such as \"http://127.0.0.1:11434\"")
        return parse_host(v)


def _split_auth(data: Any, key: str) -> Any:
    """A URL's `user:password@` moved to `auth`, so that the URL can be shown."""
    if not isinstance(data, dict):
        return data
    if "auth" in data:
        raise ValueError(f"auth: unknown key (credentials go in the {key}: "
                         "\"http://user:password@host\")")
    if not isinstance(data.get(key), str):
        return data
    clean, auth = split_credentials(data[key].strip())
    return {**data, key: clean, "auth": auth} if auth is not None else data


class ModelRoute(_Strict):
    force_backend: str | None = None
    prefer_backend: str | None = None
    ignore_efficiency_mode: bool = False
    respect_efficiency_mode: bool = False


class UrgencyLimits(_Strict):
    max_wait_s: float | None = Field(None, ge=0)
    warn_wait_s: float | None = Field(None, ge=0)
    min_tokens_per_s: float | None = Field(None, ge=0)


class PreloadRule(_Strict):
    hours: str
    models: list[str]

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: str) -> str:
        parse_hours(v)
        return v


class History(_Strict):
    enabled: bool = True              # false: decisions are not recorded (`sollama why` has none)
    store_prompts: bool = False
    size: int = Field(200, ge=1, le=100_000)


class Cache(_Strict):
    telemetry_ttl_s: float = Field(2.0, ge=0)
    tags_ttl_s: float = Field(30.0, ge=0)
    ps_ttl_s: float = Field(2.0, ge=0)
    show_ttl_s: float = Field(86_400.0, ge=0)
    lock_timeout_s: float = Field(5.0, gt=0)


class Timeouts(_Strict):
    connect_s: float = Field(2.0, gt=0)
    first_byte_min_s: float = Field(10.0, gt=0)
    first_byte_factor: float = Field(3.0, ge=0)
    idle_s: float = Field(60.0, gt=0)
    total_s: float | None = Field(None, gt=0)
    probe_s: float = Field(2.0, gt=0)


class Config(_Strict):
    default_mode: str = "balanced"
    routing: Routing = Field(default_factory=Routing)
    modes: dict[str, ModeLimits] = Field(default_factory=dict)
    backends: list[Backend] = Field(default_factory=list)
    model_equivalents: dict[str, list[str]] = Field(default_factory=dict)
    model_routing: dict[str, ModelRoute] = Field(default_factory=dict)
    urgency: dict[UrgencyName, UrgencyLimits] = Field(default_factory=dict)
    preload: list[PreloadRule] = Field(default_factory=list)
    history: History = Field(default_factory=History)
    cache: Cache = Field(default_factory=Cache)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    #: per-model quality overrides: {"llama3:8b": {"code": 0.7}}
    quality: dict[str, dict[TaskName, float]] = Field(default_factory=dict)
    #: context length planned for when neither the request nor the backend names one;
    #: None: Ollama's default for each backend's device memory
    num_ctx: int | None = Field(None, ge=256)
    #: where the config came from (not a TOML key)
    source: str = Field("<built-in defaults>", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _merge_builtins(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            modes: dict[str, Any] = {k: v.to_dict() for k, v in BUILTIN_MODES.items()}
            modes.update(data.get("modes") or {})
            data["modes"] = modes
            urg: dict[str, Any] = {k: v.to_dict() for k, v in BUILTIN_URGENCY.items()}
            urg.update(data.get("urgency") or {})
            data["urgency"] = urg
        return data

    @model_validator(mode="after")
    def _cross_refs(self) -> Config:
        if self.default_mode not in self.modes:
            raise _KeyError("default_mode", f"names no mode; modes are {', '.join(self.modes)}")
        seen: set[str] = set()
        for i, b in enumerate(self.backends):
            if b.id in seen:
                raise _KeyError(f"backends[{i}].id", f"duplicate backend id {b.id!r}")
            seen.add(b.id)
        for model, route in self.model_routing.items():
            for key in ("force_backend", "prefer_backend"):
                ref = getattr(route, key)
                if ref is not None and ref not in seen:
                    raise _KeyError(
                        f"model_routing.{_q(model)}.{key}",
                        f"names no backend {ref!r}; backends are {', '.join(sorted(seen)) or 'none'}",
                    )
        thr = self.routing.substitution_quality_threshold
        if resolve_tier(self.model_equivalents, thr) is None:
            names = ", ".join(list(self.model_equivalents) or list(TIER_ALIASES))
            raise _KeyError("routing.substitution_quality_threshold",
                            f"{thr!r} names no tier; expected one of {names}")
        return self


class _KeyError(ValueError):
    """A cross-reference error that already knows its key path."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _q(key: str) -> str:
    return f'"{key}"' if any(c in key for c in ".:/ ") else key


def validate(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Validate a parsed TOML document: the normalised config as JSON values
    (defaults filled in, built-in modes merged, hosts parsed), for
    `config.Config.from_dict`. Raises :class:`ValueError` with the one-line
    `key.path: message` (without the file) on the first error."""
    try:
        cfg = Config.model_validate({**data, "source": source})
    except ValidationError as e:
        raise ValueError(_describe(e, data)) from None
    except _KeyError as e:
        raise ValueError(f"{e.key}: {e.message}") from None
    out = cfg.model_dump(mode="json")
    for b, model in zip(out["backends"], cfg.backends, strict=True):   # not keys: not dumped
        b["auth"], b["telemetry"]["auth"] = model.auth, model.telemetry.auth
    return out


def _describe(e: ValidationError, data: dict[str, Any]) -> str:
    """The first validation error as `key.path: what was expected (got X)`."""
    err = e.errors()[0]
    loc = [p for p in err.get("loc", ()) if p != "source"]
    # cross-reference errors raised inside validators keep their own key
    ctx_err = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_err, _KeyError):
        return f"{ctx_err.key}: {ctx_err.message}"
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label += f" ({node['id']})"
            else:
                node = None
            parts.append(label)
        else:
            s = str(item)
            parts.append(("." if parts else "") + _q(s))
            node = node.get(s) if isinstance(node, dict) else None
    key = "".join(parts) or "(top level)"
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    if kind == "missing":
        return f"{key}: required key is missing"
    if "input" in err and kind not in ("model_type", "dict_type"):
        got = repr(err["input"])
        return f"{key}: {msg} (got {got if len(got) <= 80 else got[:77] + '...'})"
    return f"{key}: {msg}"
