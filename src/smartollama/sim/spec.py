"""What a simulated fleet is made of: models, hosts, the fleet. Plain dataclasses.

A spec loads from a dict, a JSON or TOML file, or a built-in name (see
`fleets.py`). In a file a model may be a bare name (`"llama3:8b"`), which takes
its figures from the model library, or a table that overrides some of them.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from smartollama.sim import library

HARDWARE = ("nvidia", "amd", "igpu", "npu", "cpu")
METRICS_STYLES = ("nvidia_gpu_exporter", "dcgm", "amd", "node", "none")
READING_KEYS = ("fan_pct", "temp_c", "power_w", "power_limit_w", "util_pct", "energy_j")

GB = 1e9
GIB = 1024**3
KV_BYTES_PER_VALUE = 2  # f16 cache
OVERHEAD_BYTES = 256 * 1024 * 1024  # runner + compute graph, beyond weights and cache
DEFAULT_NUM_CTX = 4096
NUM_BATCH = 512  # Ollama's default num_batch: a sliding-window layer keeps this much more
GEMMA3_SLIDING_WINDOW = 1024  # gemma3.attention.sliding_window in the library's GGUFs
# The version of Ollama whose API the simulator follows (its source read at v0.33.0-rc2).
OLLAMA_VERSION = "0.33.0"
CLOUD_HOST = "https://ollama.com:443"
CLOUD_STUB_BYTES = 384  # what `/api/tags` reports for a pulled cloud model: a manifest, no weights
CLOUD_STATES = ("ok", "disabled", "signed_out")


_T = TypeVar("_T")


class SpecError(ValueError):
    """A fleet spec is malformed; the message names the host or model and the key."""


@dataclass
class ModelSpec:
    """One model present on a host. Omitted figures come from the library or the tag."""

    name: str
    size_gb: float | None = None  # file size, GB = 1e9 bytes
    parameter_size: str | None = None  # "8.0B", "494.03M"
    quantization: str | None = None  # "Q4_K_M"
    family: str | None = None  # "llama", "qwen2"
    block_count: int | None = None
    embedding_length: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    context_length: int | None = None
    capabilities: list[str] | None = None
    remote_host: str | None = None  # a cloud model: where it runs (names ending -cloud/:cloud)
    remote_model: str | None = None  # its name there
    # gemma3: the tokens each local layer keeps (five layers in six; every sixth is global)
    sliding_window: int | None = None

    def __post_init__(self) -> None:
        self.name = library.normalize_name(self.name)
        given_size = self.size_gb
        known = library.LIBRARY.get(self.name) or library.CLOUD.get(self.name)
        base, tag = library.split_name(self.name)
        if library.is_cloud_name(self.name):
            self.remote_host = self.remote_host or CLOUD_HOST
            self.remote_model = self.remote_model or library.cloud_base(self.name)
        if known:
            size, psize, quant, fam, blocks, emb, heads, kv, ctx = known
        else:
            params = (
                library.params_from_size_label(self.parameter_size or "")
                or library.params_from_tag(tag)
                or 7e9
            )
            quant = (self.quantization or "Q4_K_M").upper()
            size = library.guess_size_gb(params, quant)
            psize = library.size_label(params)
            fam = library.guess_family(base)
            blocks, emb, heads, kv = library.guess_shape(params)
            ctx = 8192
        self.size_gb = float(self.size_gb if self.size_gb is not None else size)
        self.parameter_size = self.parameter_size or psize
        self.quantization = self.quantization or quant
        self.family = self.family or fam
        self.block_count = int(self.block_count or blocks)
        self.embedding_length = int(self.embedding_length or emb)
        self.head_count = int(self.head_count or heads)
        self.head_count_kv = int(self.head_count_kv or kv)
        self.context_length = int(self.context_length or ctx)
        if self.capabilities is None:
            self.capabilities = library.guess_capabilities(base, self.family)
        if self.family == "gemma3" and self.sliding_window is None:
            self.sliding_window = GEMMA3_SLIDING_WINDOW
        if self.remote and given_size is None:
            self.size_gb = CLOUD_STUB_BYTES / GB
        if self.size_gb <= 0:
            raise SpecError(f"model {self.name}: size_gb must be positive")

    @property
    def size_bytes(self) -> int:
        return int(round(self.size_gb * GB))  # type: ignore[operator]

    @property
    def parameter_count(self) -> int:
        value = library.params_from_size_label(self.parameter_size or "")
        return int(value or 0)

    @property
    def head_dim(self) -> int:
        return max(1, int(self.embedding_length) // max(1, int(self.head_count)))  # type: ignore[arg-type]

    def kv_cache_bytes(self, num_ctx: int = DEFAULT_NUM_CTX) -> int:
        """2 (K and V) x layers x kv heads x head dim x context x 2 bytes (f16)."""
        return (
            2 * int(self.block_count) * int(self.head_count_kv)  # type: ignore[arg-type]
            * self.head_dim * int(num_ctx) * KV_BYTES_PER_VALUE
        )

    def memory_need(self, num_ctx: int = DEFAULT_NUM_CTX, parallel: int = 1) -> int:
        """Bytes a loaded runner holds: weights + KV cache (one context per parallel
        slot, as Ollama sizes it; a sliding-window layer keeps one window per slot
        and a batch) + a fixed overhead."""
        slots = max(1, parallel)
        tokens = num_ctx * slots
        kv = self.kv_cache_bytes(tokens)
        if self.sliding_window:
            window = min(tokens, slots * self.sliding_window + NUM_BATCH)
            local = int(self.block_count) - int(self.block_count) // 6  # type: ignore[arg-type]
            kv -= kv * local * (tokens - window) // (int(self.block_count) * tokens)  # type: ignore[arg-type]
        return self.size_bytes + kv + OVERHEAD_BYTES

    def has(self, capability: str) -> bool:
        return capability in (self.capabilities or [])

    @property
    def thinking(self) -> bool:
        return self.has("thinking")

    @property
    def embedding(self) -> bool:
        return self.has("embedding")

    @property
    def remote(self) -> bool:
        """A cloud model: listed and answered, never loaded here (no local memory)."""
        return bool(self.remote_host and self.remote_model)

    @classmethod
    def from_any(cls, value: Any, where: str = "") -> ModelSpec:
        if isinstance(value, ModelSpec):
            return value
        if isinstance(value, str):
            return cls(name=value)
        if isinstance(value, dict):
            return _build(cls, value, where or f"model {value.get('name', '?')}")
        raise SpecError(f"{where}: a model is a name or a table, not {type(value).__name__}")


@dataclass
class HostSpec:
    """One simulated Ollama server and the device it runs on."""

    name: str
    hardware: str = "nvidia"
    port: int = 0  # 0: any free port
    vram_gb: float = 0.0  # device memory; for hardware "cpu" leave 0 and set ram_gb
    ram_gb: float = 0.0  # system memory usable for (partial) offload; 0: none
    load_gb_per_s: float = 2.0
    tokens_per_s: float = 40.0  # generation speed with the whole model on the device
    models: list[ModelSpec] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)  # loaded at start, kept forever
    readings: dict[str, float] = field(default_factory=dict)  # a missing key: no sensor
    metrics_style: str = "none"
    num_parallel: int = 1  # OLLAMA_NUM_PARALLEL: request slots; each holds its own KV cache
    # OLLAMA_CONTEXT_LENGTH: the context a model loads with when a request sets no num_ctx;
    # 0 picks Ollama's default by device memory (4096 / 32768 / 262144), see default_num_ctx
    context_length: int = 0
    cloud: str = "ok"  # cloud models: "ok", "disabled" (OLLAMA_NO_CLOUD) or "signed_out"
    # OLLAMA_KEEP_ALIVE: how long a model stays loaded after a request that names no
    # keep_alive, seconds (Ollama's default 5 minutes; negative: forever)
    keep_alive_s: float = 300.0
    version: str = OLLAMA_VERSION
    device_name: str | None = None  # as the exporter reports it, e.g. "NVIDIA GeForce RTX 4090"
    # thermals (sim/model.py): None takes the idle figures from `readings` (power_w,
    # temp_c, fan_pct) and the rest from the hardware's defaults
    idle_w: float | None = None  # power drawn at rest
    full_w: float | None = None  # power drawn while computing (default: power_limit_w)
    full_temp_c: float | None = None  # the temperature full load settles at
    thermal_tau_s: float | None = None  # the time constant of temperature, seconds
    fan_curve: list[list[float]] | None = None  # [[°C, fan %], ...], temperature rising

    def __post_init__(self) -> None:
        where = f"host {self.name}"
        if self.hardware not in HARDWARE:
            raise SpecError(f"{where}: hardware {self.hardware!r} is not one of {', '.join(HARDWARE)}")
        if self.metrics_style not in METRICS_STYLES:
            raise SpecError(
                f"{where}: metrics_style {self.metrics_style!r} is not one of {', '.join(METRICS_STYLES)}"
            )
        self.models = [ModelSpec.from_any(m, f"{where}, models") for m in self.models]
        names = {m.name for m in self.models}
        self.loaded = [library.normalize_name(n) for n in self.loaded]
        for n in self.loaded:
            if n not in names:
                raise SpecError(f"{where}: loaded model {n!r} is not among its models")
        unknown = set(self.readings) - set(READING_KEYS)
        if unknown:
            raise SpecError(f"{where}: unknown readings {sorted(unknown)}; known: {', '.join(READING_KEYS)}")
        self.readings = {k: float(v) for k, v in self.readings.items() if v is not None}
        if self.num_parallel < 1:
            raise SpecError(f"{where}: num_parallel must be at least 1")
        if self.context_length < 0:
            raise SpecError(f"{where}: context_length must be 0 (automatic) or positive")
        if self.cloud not in CLOUD_STATES:
            raise SpecError(f"{where}: cloud {self.cloud!r} is not one of {', '.join(CLOUD_STATES)}")
        for n in self.loaded:
            if self.model(n).remote:  # type: ignore[union-attr]
                raise SpecError(f"{where}: cloud model {n!r} cannot be loaded locally")
        if self.load_gb_per_s <= 0 or self.tokens_per_s <= 0:
            raise SpecError(f"{where}: load_gb_per_s and tokens_per_s must be positive")
        if self.device_name is None:
            self.device_name = _DEVICE_NAMES[self.hardware]
        if not isinstance(self.keep_alive_s, int | float) or math.isnan(self.keep_alive_s):
            raise SpecError(f"{where}: keep_alive_s must be a number of seconds (negative: forever)")
        for key in ("idle_w", "full_w", "thermal_tau_s"):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value > (0 if key == "thermal_tau_s" else -1)):
                raise SpecError(f"{where}: {key} must be a non-negative number (tau: positive)")
        if self.fan_curve is not None:
            points = self.fan_curve
            ok = isinstance(points, list) and bool(points) and all(
                isinstance(p, list | tuple) and len(p) == 2
                and all(isinstance(x, int | float) and math.isfinite(x) for x in p) for p in points)
            if not ok or any(b[0] <= a[0] for a, b in zip(points, points[1:], strict=False)):
                raise SpecError(f"{where}: fan_curve is a list of [°C, fan %] pairs, temperature rising")

    @property
    def default_keep_alive_s(self) -> float:
        """OLLAMA_KEEP_ALIVE in seconds; math.inf for forever."""
        return math.inf if self.keep_alive_s < 0 else float(self.keep_alive_s)

    @property
    def on_cpu(self) -> bool:
        """True when the host has no device memory: everything runs from system RAM."""
        return self.hardware == "cpu" or self.vram_gb <= 0

    def default_num_ctx(self) -> int:
        """The context length a request without num_ctx gets: OLLAMA_CONTEXT_LENGTH when set,
        else Ollama's tier by total device memory (routes.go: >= 47 GiB 262144,
        >= 23 GiB 32768, else 4096; a CPU host has none). Capped per model by num_ctx_for."""
        if self.context_length:
            return self.context_length
        vram = 0.0 if self.on_cpu else self.vram_gb * GB
        if vram >= 47 * GIB:
            return 262144
        if vram >= 23 * GIB:
            return 32768
        return 4096

    def num_ctx_for(self, model: ModelSpec, requested: int | None = None) -> int:
        """The context a runner of `model` gets: the request's num_ctx or the default,
        at least 4, at most the model's trained context (sched.go, llm/server.go)."""
        wanted = max(4, int(requested) if requested is not None else self.default_num_ctx())
        return min(wanted, int(model.context_length or wanted))

    def parallel_for(self, model: ModelSpec) -> int:
        """Parallel slots a runner gets (and KV caches it holds): 1 for embedding models."""
        return 1 if model.embedding else self.num_parallel

    @property
    def memory_gb(self) -> float:
        """Memory a model may use in all: the device's, plus system RAM where offload is possible."""
        return self.vram_gb + self.ram_gb

    def model(self, name: str) -> ModelSpec | None:
        wanted = library.normalize_name(name)
        for m in self.models:
            if m.name == wanted:
                return m
        return None


_DEVICE_NAMES = {
    "nvidia": "NVIDIA GeForce RTX 4090",
    "amd": "AMD Radeon RX 9070 XT",
    "igpu": "Intel(R) Arc(TM) Graphics",
    "npu": "Intel(R) AI Boost",
    "cpu": "CPU",
}


@dataclass
class FleetSpec:
    """Hosts, and how fast simulated time runs: real sleep = simulated seconds x time_scale.

    Durations the API reports stay simulated (unscaled). Keep-alive expiry and
    the energy counter run on the real clock.
    """

    hosts: list[HostSpec] = field(default_factory=list)
    time_scale: float = 1.0
    name: str = "custom"

    def __post_init__(self) -> None:
        self.hosts = [
            h if isinstance(h, HostSpec) else _build(HostSpec, h, f"host {h.get('name', '?')}")
            for h in self.hosts
        ]
        seen: set[str] = set()
        for h in self.hosts:
            if h.name in seen:
                raise SpecError(f"host {h.name}: the name is used twice")
            seen.add(h.name)
        if not (self.time_scale >= 0 and math.isfinite(self.time_scale)):
            raise SpecError("time_scale must be a finite number >= 0")

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetSpec:
        return _build(cls, data, "fleet")


def _build(cls: type[_T], data: dict[str, Any], where: str) -> _T:
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def load_fleet_spec(source: str | Path | dict[str, Any] | FleetSpec) -> FleetSpec:
    """A FleetSpec from a spec, a dict, a built-in name, or a .json/.toml file path."""
    from smartollama.sim.fleets import BUILTIN_FLEETS, builtin_fleet

    if isinstance(source, FleetSpec):
        return source
    if isinstance(source, dict):
        return FleetSpec.from_dict(source)
    text = str(source)
    if text in BUILTIN_FLEETS:
        return builtin_fleet(text)
    path = Path(text)
    if not path.is_file():
        raise SpecError(
            f"{text}: neither a built-in fleet ({', '.join(BUILTIN_FLEETS)}) nor a spec file"
        )
    raw = path.read_bytes()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: the top level must be a table/object")
    data.setdefault("name", path.stem)
    try:
        return FleetSpec.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
