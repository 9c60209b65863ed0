"""`static`: fixed values from the config table, for hardware with no sensors.

`telemetry = { source = "static", fan_pct = 0 }`: the fan reads 0 %, every
field left unset is NA("not configured").
"""

from __future__ import annotations

from smartollama.telemetry.base import NA, Reading

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.config import TelemetryConfig

#: config keys that are Reading fields (energy_j is a counter: no fixed value)
KEYS: tuple[str, ...] = (
    "fan_pct", "temp_c", "power_w", "power_limit_w", "mem_total_gb", "mem_free_gb", "util_pct",
)


def read(cfg: TelemetryConfig, now: float) -> Reading:
    reading = Reading(source="static", time=now)
    for key in KEYS:
        value = getattr(cfg, key, None)
        if value is None:
            setattr(reading, key, NA("not configured"))
        else:
            reading.put(key, float(value), "config", f"telemetry.{key}")
    reading.energy_j = NA("not configured")
    return reading
