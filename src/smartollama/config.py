"""The config file: TOML → plain config objects, defaults, errors naming file + key.

Schema: DESIGN.md, "Config file". Unknown keys are errors. Every error is one
line naming the file, the key path (``backends[1] (ollama-igpu).hardware``) and
what was expected.

Pydantic validates the file (`smartollama.config_schema`), but only when the
file is new or has changed: the classes here are plain frozen records
(`smartollama.record`: dataclass-like, without generated code),
built from the validated, normalised config that `load_config()` keeps in the
state directory. Measured on a warm `sollama route` before this split (195 ms
wall, against 11.6 ms for `python -c pass`): importing this module with its
pydantic models took ~96 ms (`-X importtime`: pydantic's own import ~23 ms,
building the models most of the rest); rebuilding these objects from the kept
JSON takes ~0.4 ms. Without pydantic on its path a warm route takes ~62 ms.
"""

from __future__ import annotations

from collections.abc import Mapping

from smartollama.errors import SollamaError
from smartollama.paths import config_file_name as config_file_name
from smartollama.paths import config_path as config_path
from smartollama.record import field, fields_of, is_record, record
from smartollama.vocab import TIER_ALIASES, TIERS

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any, Literal

    # the config's vocabulary, validated by the schema (which defines it)
    from smartollama.config_schema import Hardware, Policy, TelemetrySource

OFFLOAD_BY_DEFAULT = {"nvidia", "amd", "auto"}
#: the file in the state directory that keeps the last validated config
CACHE_FILE = "config-cache.json"


def _dump(obj: Any) -> dict[str, Any]:
    """A config object as JSON values (every field, None included)."""
    out: dict[str, Any] = {}
    for f in fields_of(obj):
        v = getattr(obj, f.name)
        if isinstance(v, list):
            v = [_dump(x) if is_record(x) else x for x in v]
        elif isinstance(v, dict):
            v = {k: _dump(x) if is_record(x) else
                 (dict(x) if isinstance(x, dict) else list(x) if isinstance(x, list) else x)
                 for k, x in v.items()}
        elif is_record(v):
            v = _dump(v)
        out[f.name] = v
    return out


@record(frozen=True)
class ModeLimits:
    """What a backend's telemetry may read for it to comply with a mode."""

    max_fan_pct: float | None = None
    max_temp_c: float | None = None
    max_power_w: float | None = None
    max_util_pct: float | None = None
    description: str | None = None

    def limits(self) -> dict[str, float]:
        """Reading field → limit, for the limits that are set."""
        pairs = {
            "fan_pct": self.max_fan_pct,
            "temp_c": self.max_temp_c,
            "power_w": self.max_power_w,
            "util_pct": self.max_util_pct,
        }
        return {k: v for k, v in pairs.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return _dump(self)


@record(frozen=True)
class Routing:
    model_mode_conflict: Policy = "prefer_model"
    allow_model_substitution: bool = True
    substitution_quality_threshold: str = "medium"
    unknown_telemetry: Literal["allow", "deny"] = "allow"
    #: cloud models (prompts leave the machine): "never" (only when named),
    #: "fallback" (also after every local choice), "allow" (like any model)
    cloud: Literal["never", "fallback", "allow"] = "never"
    #: a model run every few minutes is kept loaded until its next run is due
    #: (schedule.use_keep_alive_s), not for Ollama's 5 minutes
    keep_alive_from_use: bool = True


@record(frozen=True)
class TelemetryConfig:
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
    match: dict[str, str] = field(default_factory=dict)
    #: "user:password" from the url (never shown or recorded; the url goes without it)
    auth: str | None = field(default=None, repr=False)
    # probe budget
    timeout_s: float = 0.5
    # static values (also allowed as overrides on other sources: none)
    fan_pct: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    mem_total_gb: float | None = None
    mem_free_gb: float | None = None
    util_pct: float | None = None


@record(frozen=True)
class Backend:
    id: str
    host: str
    hardware: Hardware = "auto"
    max_model_size_gb: float | None = None
    offload: bool | None = None
    max_offload_gb: float | None = None
    supported_models: list[str] = field(default_factory=list)
    model_patterns: list[str] = field(default_factory=list)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    num_parallel: int = 1
    #: the server's OLLAMA_CONTEXT_LENGTH; None: Ollama's default for the device's memory
    context_length: int | None = None
    #: extra HTTP headers (e.g. Authorization) for this host; never recorded.
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: "user:password" from the host URL: only the HTTP client sees it; `host`
    #: goes without it everywhere (verdicts, state, messages)
    auth: str | None = field(default=None, repr=False)

    @property
    def offloads(self) -> bool:
        """Whether a model larger than the device may run partly in system RAM."""
        if self.offload is not None:
            return self.offload
        return self.hardware in OFFLOAD_BY_DEFAULT

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Backend:
        return cls(**{**d, "telemetry": TelemetryConfig(**d.get("telemetry") or {})})


@record(frozen=True)
class ModelRoute:
    force_backend: str | None = None
    prefer_backend: str | None = None
    ignore_efficiency_mode: bool = False
    respect_efficiency_mode: bool = False


@record(frozen=True)
class UrgencyLimits:
    max_wait_s: float | None = None
    warn_wait_s: float | None = None
    min_tokens_per_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return _dump(self)


@record(frozen=True)
class PreloadRule:
    hours: str
    models: list[str]


@record(frozen=True)
class History:
    enabled: bool = True
    store_prompts: bool = False
    size: int = 200


@record(frozen=True)
class Cache:
    telemetry_ttl_s: float = 2.0
    tags_ttl_s: float = 30.0
    ps_ttl_s: float = 2.0
    show_ttl_s: float = 86_400.0
    lock_timeout_s: float = 5.0


@record(frozen=True)
class Timeouts:
    """How long a host may take (DESIGN.md, "Time-outs"), in seconds."""

    connect_s: float = 2.0
    #: the first byte of an answer, the model's load included, may take
    #: max(first_byte_min_s, first_byte_factor x the expected wait)
    first_byte_min_s: float = 10.0
    first_byte_factor: float = 3.0
    #: silence between two chunks of an answer
    idle_s: float = 60.0
    #: the whole answer; None: no limit (a big model on a CPU is slow, not hung)
    total_s: float | None = None
    #: probes and `/api/*` look-ups (tags, ps, show, version)
    probe_s: float = 2.0

    def first_byte_s(self, expected_wait_s: float | None) -> float:
        """How long to wait for the first byte when the wait is expected to take this."""
        return max(self.first_byte_min_s, self.first_byte_factor * (expected_wait_s or 0.0))


BUILTIN_MODES: dict[str, ModeLimits] = {
    "quiet": ModeLimits(max_fan_pct=40.0, max_temp_c=80.0),
    "balanced": ModeLimits(max_fan_pct=70.0),
    "performance": ModeLimits(),
    "efficiency": ModeLimits(max_power_w=30.0),
}
BUILTIN_URGENCY: dict[str, UrgencyLimits] = {
    "critical": UrgencyLimits(max_wait_s=2.0, min_tokens_per_s=10.0),
    "interactive": UrgencyLimits(max_wait_s=15.0, warn_wait_s=5.0, min_tokens_per_s=10.0),
    "background": UrgencyLimits(max_wait_s=120.0),
    "batch": UrgencyLimits(),
}


@record(frozen=True)
class Config:
    default_mode: str = "balanced"
    routing: Routing = field(default_factory=Routing)
    modes: dict[str, ModeLimits] = field(default_factory=lambda: dict(BUILTIN_MODES))
    backends: list[Backend] = field(default_factory=list)
    model_equivalents: dict[str, list[str]] = field(default_factory=dict)
    model_routing: dict[str, ModelRoute] = field(default_factory=dict)
    urgency: dict[str, UrgencyLimits] = field(default_factory=lambda: dict(BUILTIN_URGENCY))
    preload: list[PreloadRule] = field(default_factory=list)
    history: History = field(default_factory=History)
    cache: Cache = field(default_factory=Cache)
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: per-model quality overrides: {"llama3:8b": {"code": 0.7}}
    quality: dict[str, dict[str, float]] = field(default_factory=dict)
    #: context length planned for when neither the request nor the backend names one;
    #: None: Ollama's default for each backend's device memory
    num_ctx: int | None = None
    #: where the config came from (not a TOML key)
    source: str = field(default="<built-in defaults>", compare=False)

    # -- lookups -----------------------------------------------------------
    def backend(self, backend_id: str) -> Backend | None:
        return next((b for b in self.backends if b.id == backend_id), None)

    def tier_name(self, name: str) -> str | None:
        """Resolve "medium" or "medium_quality" to a tier key; None when unknown."""
        return resolve_tier(self.model_equivalents, name)

    def tiers(self) -> list[str]:
        """Tier names, best first (the file's order; built-in order when absent)."""
        return _tiers(self.model_equivalents)

    def unknown_mode(self, name: str, where: str = "") -> SollamaError:
        """The error for a mode this config does not define: the closest one, then every
        configured mode in the config's order (the one wording for --mode, SOLLAMA_MODE,
        `sollama mode`). A usage error (exit 2), as a bad --urgency is."""
        import difflib

        from smartollama.errors import UsageError

        modes = list(self.modes)
        close = difflib.get_close_matches(name, modes, n=1)
        prefix = f"{where}: " if where else ""
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        return UsageError(f"{prefix}unknown mode {name!r}{guess}; "
                          f"configured modes: {', '.join(modes)}")

    # -- JSON ----------------------------------------------------------------
    def to_dict(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The config as JSON values, every key filled in (without `source`);
        with ``exclude_none``, keys whose value is None are left out."""
        d = _dump(self)
        del d["source"]
        return _without_none(d) if exclude_none else d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<built-in defaults>") -> Config:
        """The objects for a normalised config (what `to_dict()` gives, or
        `config_schema.validate()`); no validation."""
        return cls(
            default_mode=d["default_mode"],
            routing=Routing(**d["routing"]),
            modes={k: ModeLimits(**v) for k, v in d["modes"].items()},
            backends=[Backend.from_dict(b) for b in d["backends"]],
            model_equivalents={k: list(v) for k, v in d["model_equivalents"].items()},
            model_routing={k: ModelRoute(**v) for k, v in d["model_routing"].items()},
            urgency={k: UrgencyLimits(**v) for k, v in d["urgency"].items()},
            preload=[PreloadRule(**p) for p in d["preload"]],
            history=History(**d["history"]),
            cache=Cache(**d["cache"]),
            timeouts=Timeouts(**d["timeouts"]),
            quality={k: dict(v) for k, v in d["quality"].items()},
            num_ctx=d["num_ctx"],
            source=source,
        )


def _without_none(d: dict[str, Any]) -> dict[str, Any]:
    """`to_dict()`'s values with None-valued keys of config objects left out
    (pydantic's exclude_none: the keys of free-form tables stay)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if v is None:
            continue
        if k in ("modes", "model_routing", "urgency"):
            v = {name: _without_none(x) for name, x in v.items()}
        elif k in ("backends", "preload"):
            v = [_without_none(x) for x in v]
        elif k in ("routing", "telemetry", "history", "cache", "timeouts"):
            v = _without_none(v)
        out[k] = v
    return out


def resolve_tier(model_equivalents: Mapping[str, list[str]], name: str) -> str | None:
    """Resolve "medium" or "medium_quality" to a tier key of `model_equivalents`
    (the built-in tiers when it is empty); None when unknown."""
    tiers = _tiers(model_equivalents)
    if name in tiers:
        return name
    alias = TIER_ALIASES.get(name)
    if alias is not None and (alias in tiers or not model_equivalents):
        return alias
    return None


def _tiers(model_equivalents: Mapping[str, list[str]]) -> list[str]:
    return list(model_equivalents) or list(TIERS)


# -- hours ---------------------------------------------------------------------------


def parse_hours(spec: str) -> tuple[int, int]:
    """"09-17" → (9, 17); wraps past midnight when start > end ("22-09")."""
    try:
        a, b = spec.split("-")
        start, end = int(a), int(b)
    except ValueError:
        raise ValueError(f"expected hours as \"HH-HH\" (e.g. \"09-17\"), got {spec!r}") from None
    if not (0 <= start <= 24 and 0 <= end <= 24):
        raise ValueError(f"hours must be within 00-24, got {spec!r}")
    return start, end


def rules_for_hour(rules: list[PreloadRule], hour: int) -> list[PreloadRule]:
    """The `[[preload]]` rules whose hours cover `hour` ("22-09" wraps past midnight)."""
    out = []
    for r in rules:
        start, end = parse_hours(r.hours)
        inside = start <= hour < end if start <= end else (hour >= start or hour < end)
        if inside:
            out.append(r)
    return out


# -- loading: in config_load.py (kept apart: the records above are what every call builds) --

_LOADERS = ("load_config", "parse_config", "default_config")


def __getattr__(name: str) -> Any:
    """`from smartollama.config import load_config` keeps working (PEP 562)."""
    if name in _LOADERS:
        from smartollama import config_load

        return getattr(config_load, name)
    raise AttributeError(f"module 'smartollama.config' has no attribute {name!r}")
