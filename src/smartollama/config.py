"""The config file: TOML → plain config objects, defaults, errors naming file + key.

Schema: DESIGN.md, "Config file". Unknown keys are errors. Every error is one
line naming the file, the key path (``backends[1] (ollama-igpu).hardware``) and
what was expected.

Pydantic validates the file (`smartollama.config_schema`), but only when the
file is new or has changed: the classes here are plain frozen records
(`smartollama.record`: dataclasses without per-class generated code),
built from the validated, normalised config that `load_config()` keeps in the
state directory. Measured on a warm `sollama route` before this split (195 ms
wall, against 11.6 ms for `python -c pass`): importing this module with its
pydantic models took ~96 ms (`-X importtime`: pydantic's own import ~23 ms,
building the models most of the rest); rebuilding these objects from the kept
JSON takes ~0.4 ms. Without pydantic on its path a warm route takes ~62 ms.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Literal

from smartollama.errors import ConfigError, SollamaError
from smartollama.hosts import DEFAULT_PORT, parse_host, redact, split_credentials
from smartollama.paths import config_file_name as config_file_name
from smartollama.paths import config_path as config_path
from smartollama.paths import state_dir_name
from smartollama.record import field, record
from smartollama.vocab import TIER_ALIASES, TIERS

if TYPE_CHECKING:
    from pathlib import Path

Hardware = Literal["nvidia", "amd", "igpu", "npu", "cpu", "auto"]
Policy = Literal["prefer_model", "prefer_mode", "substitute", "ask"]
UrgencyName = Literal["critical", "interactive", "background", "batch"]
TaskName = Literal["general", "code", "reasoning", "chat", "summarize"]
TelemetrySource = Literal[
    "nvml", "amdgpu", "intel-gpu", "intel-npu", "cpu", "prometheus", "static", "auto", "none"
]

OFFLOAD_BY_DEFAULT = {"nvidia", "amd", "auto"}
#: the file in the state directory that keeps the last validated config
CACHE_FILE = "config-cache.json"


def _dump(obj: Any) -> dict[str, Any]:
    """A config object as JSON values (every field, None included)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, list):
            v = [_dump(x) if hasattr(x, "__dataclass_fields__") else x for x in v]
        elif isinstance(v, dict):
            v = {k: _dump(x) if hasattr(x, "__dataclass_fields__") else
                 (dict(x) if isinstance(x, dict) else list(x) if isinstance(x, list) else x)
                 for k, x in v.items()}
        elif hasattr(v, "__dataclass_fields__"):
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
    #: context length assumed when a request names none (Ollama's default)
    num_ctx: int = 4096
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


# -- loading ----------------------------------------------------------------------


def _shown(name: str) -> str:
    """A path as `str(Path(name))` shows it (the file named in messages)."""
    body = name[1:] if name.startswith("/") else name
    if body and all(part not in ("", ".") for part in body.split("/")):
        return name     # already in pathlib's form
    from pathlib import Path

    return str(Path(name))


def _ollama_host() -> str:
    return os.environ.get("OLLAMA_HOST") or f"127.0.0.1:{DEFAULT_PORT}"


def default_config() -> Config:
    """No config file: one backend at OLLAMA_HOST, auto-detected telemetry."""
    host = _ollama_host()
    try:
        url = parse_host(host)
    except ValueError as e:
        raise ConfigError(f"OLLAMA_HOST: {e}") from None
    return Config(backends=[Backend(id="ollama", host=url, auth=split_credentials(host)[1])],
                  source="<built-in defaults>")


def load_config(path: Path | str | None = None, *, state_dir: str | None = None) -> Config:
    """Load the config file; the built-in default when there is none.

    A file named explicitly (argument or SOLLAMA_CONFIG) must exist. A file
    validated before and unchanged since (see `_key`) is read back from the
    state directory (``state_dir``, else SOLLAMA_STATE_DIR's) without
    validating it again.
    """
    explicit = path is not None or bool(os.environ.get("SOLLAMA_CONFIG"))
    name = os.path.expanduser(os.fspath(path)) if path is not None else config_file_name()
    source = _shown(name)
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{source}: config file not found",
                              hint="create one with `sollama init`") from None
        return default_config()
    except OSError as e:
        raise ConfigError(f"{source}: cannot read config file: {e.strerror or e}") from None
    text = raw.decode("utf-8", errors="replace")
    key = _key(name, source, raw)
    kept = _read_kept(key, state_dir)
    if kept is not None:
        try:
            return Config.from_dict(_with_secrets(kept, text), source)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError):
            pass    # kept by another version of these classes: validate again
    normalised = _validate(text, source)
    _keep(key, normalised, state_dir)
    return Config.from_dict(normalised, source)


def parse_config(raw: bytes | str, source: str = "<string>") -> Config:
    """Validate a config file's contents (always: nothing kept)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return Config.from_dict(_validate(text, source), source)


def _validate(text: str, source: str) -> dict[str, Any]:
    """TOML text → the normalised config (JSON values); ConfigError naming the
    file and key on the first problem."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: invalid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None
    if not data.get("backends"):
        # A file that only tunes modes/routing still gets the OLLAMA_HOST backend.
        default_config()    # OLLAMA_HOST is valid
        data.setdefault("backends", [{"id": "ollama", "host": _ollama_host()}])
    from smartollama import config_schema

    try:
        return config_schema.validate(data, source)
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None


# -- the validated config, kept in the state directory --------------------------------


def _key(name: str, source: str, raw: bytes) -> dict[str, str]:
    """What a kept config must match: the file (its path, size, mtime and
    CRC-32: a stale hit needs an edit that keeps all three), OLLAMA_HOST (the
    backend of a file without any) and this sollama. zlib, not hashlib: hashlib's
    import costs more than the rest of this function."""
    import zlib

    try:
        mtime = str(os.stat(name).st_mtime_ns)
    except OSError:
        mtime = "-"
    return {"source": source, "file": f"{len(raw)}:{mtime}:{zlib.crc32(raw):08x}",
            "ollama_host": redact(_ollama_host()), "code": _code_stamp()}


def _code_stamp() -> str:
    """What the normalised form depends on besides the file: this version of
    sollama (and, for a checkout being edited, these two modules)."""
    from smartollama import __version__

    here = os.path.dirname(__file__)
    stamps = []
    for name in ("config.py", "config_schema.py"):
        try:
            stamps.append(str(os.stat(os.path.join(here, name)).st_mtime_ns))
        except OSError:
            stamps.append("-")
    return f"{__version__}:{':'.join(stamps)}"


def _cache_path(state_dir: str | None = None) -> str:
    return os.path.join(state_dir or state_dir_name(), CACHE_FILE)


def _read_kept(key: dict[str, str], state_dir: str | None = None) -> dict[str, Any] | None:
    """The normalised config kept for exactly this key, else None."""
    import json

    try:
        fd = os.open(_cache_path(state_dir), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            kept = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("key") != key:
        return None
    config = kept.get("config")
    return config if isinstance(config, dict) else None


def _keep(key: dict[str, str], normalised: dict[str, Any], state_dir: str | None = None) -> None:
    """Keep the normalised config for the next call; best effort (a read-only
    state directory only costs the next call a validation). Credentials (backends'
    headers, a URL's user:password) are not kept: a call reads them from the file
    (or OLLAMA_HOST) again."""
    import json

    backends = [_without_secrets(b) for b in normalised["backends"]]
    data = json.dumps({"key": key, "config": {**normalised, "backends": backends}},
                      ensure_ascii=False).encode("utf-8")
    from smartollama.state.files import unsafe_directory

    path = _cache_path(state_dir)
    tmp = os.path.join(os.path.dirname(path), f".{CACHE_FILE}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if unsafe_directory(os.path.dirname(path)):
            return      # the state store says so, once
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _without_secrets(backend: dict[str, Any]) -> dict[str, Any]:
    b: dict[str, Any] = {**backend, "telemetry": dict(backend["telemetry"])}
    for table, key in ((b, "headers"), (b, "auth"), (b["telemetry"], "auth")):
        if table.get(key):
            table[key] = _FROM_FILE
    return b


#: a kept backend's credentials (headers, a URL's user:password), left in the file
_FROM_FILE = "<in the config file>"


def _with_secrets(kept: dict[str, Any], text: str) -> dict[str, Any]:
    """A kept config with its backends' credentials read back from the file's
    text (unchanged since it was validated: the key holds its hash), or from
    OLLAMA_HOST for the backend of a file without any."""
    def marked(b: dict[str, Any]) -> bool:
        return _FROM_FILE in (b.get("headers"), b.get("auth"), b["telemetry"].get("auth"))

    if not any(marked(b) for b in kept["backends"]):
        return kept
    import tomllib

    listed = tomllib.loads(text).get("backends") or [{"host": _ollama_host()}]
    backends = []
    for i, b in enumerate(kept["backends"]):
        if marked(b):
            raw = listed[i]
            url = (raw.get("telemetry") or {}).get("url") or ""
            b = {**b, "headers": dict(raw.get("headers") or {}),
                 "auth": split_credentials(str(raw["host"]).strip())[1],
                 "telemetry": {**b["telemetry"], "auth": split_credentials(url)[1]}}
        backends.append(b)
    return {**kept, "backends": backends}
