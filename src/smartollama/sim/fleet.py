"""A fleet of simulated hosts, and the sollama config that points at it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smartollama.sim.host import SimHost
from smartollama.sim.spec import FleetSpec, HostSpec, load_fleet_spec

# Quality tiers, best first (DESIGN.md `model_equivalents`); filtered to the fleet's models.
MODEL_TIERS: dict[str, list[str]] = {
    "high_quality": ["llama3:70b", "mixtral:8x7b", "qwen2.5:32b", "qwen2.5-coder:32b", "qwen3:32b"],
    "medium_quality": ["llama3:8b", "llama3.1:8b", "mistral:7b", "qwen2.5:7b", "qwen2.5-coder:7b",
                       "deepseek-coder:6.7b", "qwen3:8b", "deepseek-r1:7b", "deepseek-r1:8b"],
    "low_quality": ["qwen2.5:1.5b", "llama3.2:3b", "qwen2.5:3b", "llama3.2:1b", "phi3:mini",
                    "gemma2:2b"],
    "ultra_efficient": ["qwen2.5:0.5b", "tinyllama:1b", "qwen3:0.6b"],
}

BASE_CONFIG: dict[str, Any] = {
    "default_mode": "balanced",
    "routing": {
        "model_mode_conflict": "prefer_model",
        "allow_model_substitution": True,
        "substitution_quality_threshold": "medium",
        "unknown_telemetry": "allow",
    },
    "modes": {
        "quiet": {"max_fan_pct": 40, "max_temp_c": 80},
        "balanced": {"max_fan_pct": 70},
        "performance": {},
        "efficiency": {"max_power_w": 30},
    },
    "urgency": {
        "critical": {"max_wait_s": 2, "min_tokens_per_s": 10},
        "interactive": {"max_wait_s": 15, "warn_wait_s": 5, "min_tokens_per_s": 10},
        "background": {"max_wait_s": 120},
        "batch": {},
    },
}

_STATIC_KEYS = ("fan_pct", "temp_c", "power_w")


def backend_entry(host: SimHost) -> dict[str, Any]:
    """One `[[backends]]` table for a running host."""
    return spec_backend_entry(host.spec, host.url, host.metrics_url, host.readings)


def spec_backend_entry(spec: HostSpec, url: str, metrics_url: str,
                       readings: dict[str, float]) -> dict[str, Any]:
    """One `[[backends]]` table for a host at ``url`` (its exporter at ``metrics_url``)."""
    entry: dict[str, Any] = {
        "id": spec.name,
        "host": url,
        "hardware": spec.hardware,
        "max_model_size_gb": spec.ram_gb if spec.on_cpu else spec.vram_gb,
    }
    offload = not spec.on_cpu and spec.ram_gb > 0
    entry["offload"] = offload
    if offload:
        entry["max_offload_gb"] = spec.vram_gb + spec.ram_gb
    entry["supported_models"] = ["*"]
    if spec.context_length:      # OLLAMA_CONTEXT_LENGTH, as the server has it
        entry["context_length"] = spec.context_length
    if spec.num_parallel > 1:    # OLLAMA_NUM_PARALLEL
        entry["num_parallel"] = spec.num_parallel
    if spec.metrics_style != "none":
        entry["telemetry"] = {"source": "prometheus", "url": metrics_url}
    else:
        entry["telemetry"] = {"source": "static",
                              **{k: readings[k] for k in _STATIC_KEYS if k in readings}}
    return entry


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: dicts merge, None deletes, anything else replaces."""
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def spec_config(spec: FleetSpec, backends: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The sollama config (as a dict) for a fleet: the built-in modes, urgencies and
    routing, the tiers filtered to the fleet's models, and ``backends`` (default:
    one per host at its port on 127.0.0.1, 11434 upwards where it has none, with
    the telemetry a running fleet would give it)."""
    present = {m.name for h in spec.hosts for m in h.models}
    data = copy.deepcopy(BASE_CONFIG)
    if backends is None:
        backends = []
        for i, h in enumerate(spec.hosts):
            url = f"http://127.0.0.1:{h.port or 11434 + i}"
            backends.append(spec_backend_entry(h, url, url + "/metrics", h.readings))
    data["backends"] = backends
    data["model_equivalents"] = {
        tier: [n for n in names if n in present] for tier, names in MODEL_TIERS.items()
    }
    return data


class Fleet:
    """Simulated Ollama hosts, one port each on 127.0.0.1.

    >>> with Fleet("demo", time_scale=0.001) as fleet:
    ...     fleet.hosts["ollama-nvidia"].url
    """

    def __init__(self, spec: FleetSpec | str | Path | dict[str, Any] = "demo", *,
                 time_scale: float | None = None) -> None:
        self.spec = copy.deepcopy(load_fleet_spec(spec))
        if time_scale is not None:
            self.spec.time_scale = float(time_scale)
        self.hosts: dict[str, SimHost] = {
            h.name: SimHost(h, self.spec.time_scale) for h in self.spec.hosts
        }

    def __repr__(self) -> str:
        return f"<Fleet {self.spec.name} {list(self.hosts)}>"

    def __iter__(self) -> Iterator[SimHost]:
        return iter(self.hosts.values())

    def __getitem__(self, name: str) -> SimHost:
        return self.hosts[name]

    @property
    def time_scale(self) -> float:
        return self.spec.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self.spec.time_scale = float(value)
        for host in self.hosts.values():
            host.time_scale = value

    @property
    def urls(self) -> dict[str, str]:
        return {name: host.url for name, host in self.hosts.items()}

    def start(self) -> Fleet:
        try:
            for host in self.hosts.values():
                host.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stop()

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> list[dict[str, Any]]:
        """What `python -m smartollama.sim` prints, one dict per host."""
        return [{"name": h.name, "url": h.url, "port": h.port} for h in self.hosts.values()]

    def config(self, **overrides: Any) -> dict[str, Any]:
        """The sollama config (as a dict) for this fleet; see `config_toml`."""
        data = spec_config(self.spec, [backend_entry(h) for h in self.hosts.values()])
        backend_changes = overrides.pop("backends", None)
        data = _merge(data, overrides)
        if isinstance(backend_changes, list):
            data["backends"] = copy.deepcopy(backend_changes)
        elif isinstance(backend_changes, dict):
            merged = []
            for entry in data["backends"]:
                change = backend_changes.get(entry["id"], {})
                if change is not None:
                    merged.append(_merge(entry, change))
            data["backends"] = merged
        return data

    def config_toml(self, **overrides: Any) -> str:
        """A sollama config whose backends are this fleet's running hosts.

        Keyword arguments change top-level keys: dicts merge into the defaults
        (`routing={"model_mode_conflict": "prefer_mode"}`), None removes a key,
        other values replace. `backends` may be a dict of per-backend changes keyed
        by id (None drops that backend) or a list that replaces them all.
        `model_routing={...}` and `preload=[...]` are only written when given.
        """
        return dumps_toml(self.config(**overrides))


def dumps_toml(data: dict[str, Any]) -> str:
    """TOML text for a config dict (tomli-w: the stdlib only reads TOML)."""
    import tomli_w

    return tomli_w.dumps(data)
