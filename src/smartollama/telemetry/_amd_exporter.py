"""ROCm device-metrics-exporter (and its `amd_`-prefixed form).

Series (docs/configuration/metricslist.md): `gpu_junction_temperature`,
`gpu_edge_temperature`, `gpu_memory_temperature` °C; `gpu_package_power`, else
`gpu_average_package_power`, else `gpu_power_usage` W; `gpu_{total,used,free}_vram`
MB as amd-smi counts them (MiB); `gpu_energy_consumed` µJ; `gpu_gfx_activity` %.
Labelled `gpu_id`, `gpu_uuid`, `serial_number`, `card_model`. The early
exporter's names are read too: `gpu_total_memory` (MiB), `gpu_usage` (%), and
the upper-case `GPU_UUID` label.

The exporter writes 0 where amd-smi has no value: `gpu_edge_temperature 0` on an
MI300X VF (which reports junction only), `gpu_package_power 0` and
`gpu_average_package_power 0` on a Ryzen AI Max APU. So of several sensors for
one reading the first that is not 0 is used, and a reading that is 0 on every
sensor is not available (telemetry/_zeros.py).
"""

from __future__ import annotations

from typing import Any

from smartollama.telemetry._exporter import MIB, Found, Reader, Samples, devices_by, pick, val
from smartollama.telemetry.base import NA, Value

NAMES = (
    "gpu_junction_temperature", "gpu_edge_temperature", "gpu_memory_temperature",
    "gpu_package_power", "gpu_average_package_power", "gpu_power_usage", "gpu_total_vram",
    "gpu_used_vram", "gpu_free_vram", "gpu_energy_consumed", "gpu_gfx_activity",
    "gpu_total_memory", "gpu_usage",
)
_KEYS = ("gpu_id", "gpu_uuid", "GPU_UUID", "serial_number")


def _nonzero(r: Reader, *names: str) -> tuple[float | None, str | None]:
    """The first series with a value other than 0; else the first that has one (0 or NaN)."""
    seen: tuple[float | None, str | None] = (None, None)
    for n in names:
        v = r.get(n)
        if v is None:
            continue
        if v == v and v != 0:
            return v, n
        if seen[0] is None:
            seen = (v, n)
    return seen


def device_metrics(samples: Samples, match: dict[str, str]) -> Found | str | None:
    prefix = next((p for p in ("", "amd_") if any(p + n in samples for n in NAMES)), None)
    if prefix is None:
        return None
    names = [n for n in samples if n.startswith(prefix + "gpu_")]
    devices = devices_by(samples, names, _KEYS)
    dev, why = pick(devices, match, "GPU")
    if dev is None:
        return why
    r = Reader(samples, _KEYS, dev.key, ("gpu_id", "gpu_uuid", "GPU_UUID"), prefix=prefix)
    temps = {k: v for k in ("junction", "edge", "memory")
             if (v := r.get(f"gpu_{k}_temperature")) is not None and v == v and v != 0}
    temp, temp_n = _nonzero(r, "gpu_junction_temperature", "gpu_edge_temperature")
    power, power_n = _nonzero(r, "gpu_package_power", "gpu_average_package_power", "gpu_power_usage")
    total, total_n = r.first("gpu_total_vram", "gpu_total_memory")
    used, free = r.get("gpu_used_vram"), r.get("gpu_free_vram")
    free_n = "gpu_free_vram"
    if free is None and total is not None and used is not None:
        free, free_n = total - used, "gpu_used_vram"
    util, util_n = r.first("gpu_gfx_activity", "gpu_usage")
    values: dict[str, Value] = {
        "fan_pct": NA("not exported"),
        "temp_c": val(temp),
        "power_w": val(power),
        "power_limit_w": NA("not exported"),
        "mem_total_gb": val(total, MIB / 1e9),  # amd-smi "MB" (MiB) → GB
        "mem_free_gb": val(free, MIB / 1e9),
        "util_pct": val(util),
        "energy_j": val(r.get("gpu_energy_consumed"), 1e-6),  # µJ → J
    }
    used_names = {"temp_c": temp_n, "power_w": power_n, "mem_total_gb": total_n,
                  "mem_free_gb": free_n, "util_pct": util_n, "energy_j": "gpu_energy_consumed"}
    origins = {f: r.where[n] for f, n in used_names.items() if n and n in r.where}
    if free_n == "gpu_used_vram" and total_n in r.where:
        origins["mem_free_gb"] = f"{r.where[total_n]} - {r.where['gpu_used_vram']}"
    detail: dict[str, Any] = {"temps_c": temps} if temps else {}
    if dev.labels.get("card_model"):
        detail["name"] = dev.labels["card_model"]
    elif dev.labels.get("card_series"):
        detail["name"] = dev.labels["card_series"]
    return Found("device-metrics-exporter", dev, len(devices), values, detail, origins)
