"""`cpu`: the host CPU through psutil, plus RAPL energy where readable.

- temperature: `psutil.sensors_temperatures()`: coretemp's "Package id N",
  else k10temp's Tctl (Tdie), else the highest sensor. °C.
- fans: `psutil.sensors_fans()` gives RPM only, with no maximum, so fan % is
  NA("fan speed in RPM only") and the RPMs go to detail; no fans → NA("no fan").
- memory: `virtual_memory()`: total and available, bytes → GB.
- utilisation: busy share of `cpu_times()` since the previous probe (the
  memo); the first probe uses the 1-minute load average per CPU instead.
  (`cpu_percent(interval=None)` measures since its own previous call, which a
  one-shot command does not have.)
- power: RAPL package zones under `<root>/class/powercap` (energy_uj, µJ),
  Δenergy/Δt across probes; the counter is root-only on most kernels, then NA.
Whatever psutil lacks on this platform is NA, never an error.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from smartollama.telemetry._common import delta_rate
from smartollama.telemetry._sysfs import rapl_domains, read_value, root_of
from smartollama.telemetry.base import NA, Reading, Value

if TYPE_CHECKING:
    from smartollama.config import TelemetryConfig


def preload() -> None:
    with contextlib.suppress(ImportError):
        import psutil  # noqa: F401


def read(cfg: TelemetryConfig, prev: dict[str, Any], now: float) -> tuple[Reading, dict[str, Any]]:
    try:
        import psutil
    except ImportError:
        psutil = None
    r = Reading(source="cpu", time=now)
    d = r.detail
    state: dict[str, Any] = {"t": now}
    if psutil is None:
        na = NA("psutil is not installed")
        r.fan_pct = r.temp_c = r.mem_total_gb = r.mem_free_gb = r.util_pct = na
    else:
        r.temp_c = _temperature(psutil, d)
        r.fan_pct = _fans(psutil, d)
        vm = psutil.virtual_memory()
        r.mem_total_gb = vm.total / 1e9
        r.mem_free_gb = vm.available / 1e9
        r.util_pct = _util(psutil, prev, state, now, d)
    r.power_w, r.power_limit_w, r.energy_j = _rapl(cfg, prev, state, now, d)
    for f, where in _ORIGIN.items():
        if not isinstance(getattr(r, f), NA):
            r.origin[f] = {"source": "psutil" if f in _PSUTIL else "sysfs", "field": where}
    return r, state


_PSUTIL = ("temp_c", "mem_total_gb", "mem_free_gb", "util_pct")
#: field → where it is read (Reading.origin)
_ORIGIN = {
    "temp_c": "sensors_temperatures()",
    "mem_total_gb": "virtual_memory().total",
    "mem_free_gb": "virtual_memory().available",
    "util_pct": "cpu_times()",
    "power_w": "class/powercap/intel-rapl:N/energy_uj (Δ/Δt)",
    "power_limit_w": "class/powercap/intel-rapl:N/constraint_0_power_limit_uw",
    "energy_j": "class/powercap/intel-rapl:N/energy_uj",
}


def _temperature(psutil: Any, detail: dict[str, Any]) -> Value:
    sensors = getattr(psutil, "sensors_temperatures", None)
    if sensors is None:
        return NA("not supported on this platform")
    try:
        chips = sensors()
    except Exception as exc:  # psutil raises on odd hwmon trees
        return NA(f"sensors unreadable: {exc}")
    if not chips:
        return NA("no temperature sensors")
    packages = [t for t in chips.get("coretemp", []) if t.label.startswith("Package id")]
    if packages:
        best = max(packages, key=lambda t: t.current)
        detail["temp_sensor"] = f"coretemp {best.label}"
        return float(best.current)
    for chip in ("k10temp", "zenpower"):
        for label in ("Tctl", "Tdie"):
            for t in chips.get(chip, []):
                if t.label == label:
                    detail["temp_sensor"] = f"{chip} {label}"
                    return float(t.current)
    readings = [(t.current, f"{chip} {t.label or '?'}") for chip, ts in chips.items() for t in ts]
    if not readings:
        return NA("no temperature sensors")
    value, name = max(readings)
    detail["temp_sensor"] = name
    return float(value)


def _fans(psutil: Any, detail: dict[str, Any]) -> Value:
    sensors = getattr(psutil, "sensors_fans", None)
    if sensors is None:
        return NA("not supported on this platform")
    try:
        chips = sensors()
    except Exception as exc:
        return NA(f"fans unreadable: {exc}")
    rpms = {f"{chip} {f.label or i}": float(f.current) for chip, fs in chips.items() for i, f in enumerate(fs)}
    if not rpms:
        return NA("no fan")
    detail["fans_rpm"] = rpms
    return NA("fan speed in RPM only")


def _util(psutil: Any, prev: dict[str, Any], state: dict[str, Any], now: float, detail: dict[str, Any]) -> Value:
    times = psutil.cpu_times()
    total = float(sum(times))
    idle = float(times.idle) + float(getattr(times, "iowait", 0.0))
    # guest time is already counted in user time on Linux
    total -= float(getattr(times, "guest", 0.0)) + float(getattr(times, "guest_nice", 0.0))
    busy = total - idle
    state["cpu_busy_s"], state["cpu_total_s"] = busy, total
    b0, t0 = prev.get("cpu_busy_s"), prev.get("cpu_total_s")
    if isinstance(b0, int | float) and isinstance(t0, int | float) and total > t0:
        detail["util_basis"] = "cpu time since last probe"
        return max(0.0, min(100.0, (busy - b0) / (total - t0) * 100.0))
    try:
        load1 = os.getloadavg()[0]
    except (AttributeError, OSError):
        return NA("needs a second sample")
    detail["util_basis"] = "1-minute load average"
    return max(0.0, min(100.0, load1 / (psutil.cpu_count() or 1) * 100.0))


def _rapl(
    cfg: TelemetryConfig, prev: dict[str, Any], state: dict[str, Any], now: float,
    detail: dict[str, Any],
) -> tuple[Value, Value, Value]:
    """(power W, long-term limit W, energy J) summed over RAPL package zones."""
    zones = [z for name, z in rapl_domains(root_of(cfg.root)) if name.startswith("package")]
    if not zones:
        na = NA("no RAPL power counter")
        return na, na, na
    energy_uj = 0.0
    wrap = 0.0
    limit_w = 0.0
    for zone in zones:
        e = read_value(zone / "energy_uj")
        if isinstance(e, NA):
            why = NA("RAPL energy needs root") if "permission" in e.reason else e
            return why, why, why
        energy_uj += e
        w = read_value(zone / "max_energy_range_uj")
        wrap += 0.0 if isinstance(w, NA) else w
        lim = read_value(zone / "constraint_0_power_limit_uw", 1e-6)  # µW → W (long term)
        limit_w += 0.0 if isinstance(lim, NA) else lim
    state["rapl_uj"] = energy_uj
    detail["power_sensor"] = "rapl " + ",".join(z.name for z in zones)
    # one package's wrap is exact; several wrapping in the same window is left to NA
    power, _ = delta_rate(prev, "rapl_uj", energy_uj, now, scale=1e-6, wrap=wrap if len(zones) == 1 else None)
    return power, _limit(limit_w, len(zones)), energy_uj * 1e-6


#: RAPL's power-limit field is 15 bits in the package's power unit (1/8 W on most
#: parts: MSR_RAPL_POWER_UNIT), so the most it can hold is 4095.875 W. Firmware
#: that leaves the package unlimited writes a value at that ceiling (4090 W is
#: common); no real CPU package is limited anywhere near it.
RAPL_NO_LIMIT_W = 4000.0


def _limit(limit_w: float, zones: int) -> Value:
    """The summed long-term limit, or NA for none set or the firmware's "no limit"."""
    if limit_w <= 0:
        return NA("no RAPL limit")
    if limit_w / zones >= RAPL_NO_LIMIT_W:
        return NA(f"no limit set (firmware writes {limit_w / zones:.0f} W)")
    return limit_w
