"""Shared pieces of the exporter adapters: devices, matchers, and reading series.

An adapter (`_nvidia_exporters`, `_amd_exporter`, `_node`) finds the devices
on a parsed page, picks one by the backend's `match` table, and returns a
`Found`: the values it read and, per value, the series it came from (shown
by `sollama status --json` so a user can check it against the exporter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from smartollama.record import field, record
from smartollama.telemetry.base import NA, Value

MIB = 1024 * 1024
NOT_EXPORTED = "not exported"
NO_VALUE = "the exporter has no value (NaN or a DCGM blank)"

Samples = dict[str, list[tuple[dict[str, str], float]]]

#: matcher keys that mean the same thing across exporters
_ALIASES: tuple[tuple[str, ...], ...] = (
    ("gpu", "index", "gpu_id", "gpu_index", "minor_number"),
    ("uuid", "gpu_uuid"),
    ("chip", "chip_name"),
    ("name", "modelname", "card_model", "model"),
    ("card",),
    ("gpu_i_id", "mig", "instance"),
)


@record(kw_only=False)
class Device:
    key: str  # value of the exporter's device label
    labels: dict[str, str] = field(default_factory=dict)  # every label seen on it


@record(kw_only=False)
class Found:
    """What one exporter adapter read for the chosen device."""

    exporter: str
    device: Device
    count: int
    values: dict[str, Value]
    detail: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # field → series it was read from
    #: the adapter's own memo (node_exporter's xe/i915 power from energy); None: the generic one
    state: dict[str, Any] | None = None


def canon(key: str) -> tuple[str, ...]:
    k = key.lower()
    for group in _ALIASES:
        if k in group:
            return group
    return (k,)


def _norm(key: str, value: str) -> str:
    v = value.strip().lower()
    if "uuid" in key.lower() and v.startswith("gpu-"):
        v = v[4:]
    return v


def matches(labels: dict[str, str], match: dict[str, str]) -> bool:
    """Each matcher key (or an alias of it) has the wanted value on this device."""
    lower = {k.lower(): v for k, v in labels.items()}
    for key, want in match.items():
        names = canon(key)
        if not any(n in lower and _norm(n, lower[n]) == _norm(n, want) for n in names):
            return False
    return True


def _natural(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


def pick(devices: dict[str, Device], match: dict[str, str], what: str) -> tuple[Device | None, str | None]:
    """(device, None), or (None, why not); several without a matcher → the first, noted."""
    ordered = [devices[k] for k in sorted(devices, key=_natural)]
    if match:
        chosen = [d for d in ordered if matches(d.labels, match)]
        if not chosen:
            have = ", ".join(d.key for d in ordered) or "none"
            return None, f"no {what} matches {show(match)} (exporter has: {have})"
        return chosen[0], None
    if not ordered:
        return None, f"no {what} in the exporter's output"
    return ordered[0], None


def show(match: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in match.items()) + "}"


def devices_by(samples: Samples, names: Iterable[str], keys: tuple[str, ...]) -> dict[str, Device]:
    devices: dict[str, Device] = {}
    for name in names:
        for labels, _ in samples.get(name, ()):
            key = next((labels[k] for k in keys if k in labels), None)
            if key is None:
                continue
            dev = devices.setdefault(key, Device(key))
            dev.labels.update(labels)
    return devices


def series(name: str, labels: dict[str, str], keys: Iterable[str]) -> str:
    """`name{k="v",...}` with only the identifying labels (the page's own spelling)."""
    inner = ",".join(f'{k}="{labels[k]}"' for k in keys if k in labels)
    return f"{name}{{{inner}}}" if inner else name


class Reader:
    """Values of one device's series: `get(name)` and, after it, where it was read."""

    def __init__(self, samples: Samples, key_labels: tuple[str, ...], key: str,
                 show_labels: tuple[str, ...] | None = None, prefix: str = "") -> None:
        self.samples, self.key_labels, self.key, self.prefix = samples, key_labels, key, prefix
        self.show_labels = show_labels or key_labels
        self.where: dict[str, str] = {}

    def _mine(self, labels: dict[str, str]) -> bool:
        return next((labels[k] for k in self.key_labels if k in labels), None) == self.key

    def get(self, name: str) -> float | None:
        full = self.prefix + name
        for labels, value in self.samples.get(full, ()):
            if self._mine(labels):
                self.where[name] = series(full, labels, self.show_labels)
                return value
        return None

    def first(self, *names: str) -> tuple[float | None, str | None]:
        """The first of several series that has a number (NaN only if all are NaN)."""
        nan: tuple[float | None, str | None] = (None, None)
        for n in names:
            v = self.get(n)
            if v is not None and not math.isnan(v):
                return v, n
            if v is not None:
                nan = (v, n)
        return nan


def val(x: float | None, scale: float = 1.0) -> Value:
    """A series' value in our unit; absent → NA("not exported"); NaN → NA(no value)."""
    if x is None:
        return NA(NOT_EXPORTED)
    if math.isnan(x):
        return NA(NO_VALUE)
    return x * scale
