"""`intel-gpu` and `intel-npu`: Intel graphics (i915, xe) and the Intel NPU (intel_vpu).

intel-gpu reads the driver's hwmon under `<root>/class/drm/<card>/device/hwmon/`
(the one whose `name` is i915 or xe), per the kernel ABI documents
sysfs-driver-intel-i915-hwmon and sysfs-driver-intel-xe-hwmon. Both number
their channels by domain: channel 1 is the card (`energy1_label` "card"),
channel 2 the package ("pkg"); a board may have either or both (an A380 on xe
has only channel 2: `energy2_input`, `power2_max`).

- `energyN_input`: µJ. Neither driver reports power drawn now, so power is
  Δenergy/Δt between this probe and the previous one (the memo), as nvtop
  does; the first probe reads NA("needs a second sample"). The card channel
  is used where it counts, else the package: a counter that reads exactly 0
  is not counting (kernel 6.16 leaves the B580's `energy1_input` at 0).
- the power limit, channel by channel in the same order: `powerN_max` (PL1,
  the sustained limit; 0 = disabled), else `powerN_cap`, else
  `powerN_rated_max` (the board's TDP; 0 = unknown): µW. `powerN_crit` is the
  peak-current limit (I1, or a power in µW on some boards: 380 W on a B580
  whose sustained limit is 190 W), never the limit routing compares with.
- `tempN_input`: m°C; xe labels them (`temp2` pkg, `temp3` vram); i915 has
  `temp1` where present.
- `fanN_input`: RPM (xe, boards with fans), with `fanN_max` where the board has it.

These rules (`hwmon_values`) are shared with node_exporter's copy of the same
files (telemetry/_node.py), so both read a card the same way.

Integrated i915 GPUs have no hwmon; their energy is RAPL's `uncore` zone under
`<root>/class/powercap` where readable. Busy share comes from GT idle
residency (xe `tile0/gt0/gtidle/idle_residency_ms`, i915 `gt/gt0/rc6_residency_ms`)
across two probes.

intel-npu reads `<root>/class/accel/<accelN>/device/` (drivers/accel/ivpu/ivpu_sysfs.c):
`npu_busy_time_us` (busy share = Δbusy/Δwall across two probes),
`npu_current_frequency_mhz`, `npu_max_frequency_mhz`, `npu_memory_utilization`
(bytes of system memory the NPU holds).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartollama.telemetry import _hwmon, _zeros
from smartollama.telemetry._common import delta_rate
from smartollama.telemetry._sysfs import (
    driver_name,
    drm_cards,
    hwmon_named,
    not_found,
    rapl_domains,
    read_str,
    read_value,
    root_of,
)
from smartollama.telemetry.base import NA, Reading, Value

if TYPE_CHECKING:
    from smartollama.config import TelemetryConfig

GPU_DRIVERS = ("i915", "xe")
NPU_DRIVER = "intel_vpu"


def find_gpu(cfg: TelemetryConfig) -> Path | None:
    root = root_of(cfg.root)
    if cfg.card:
        card = root / "class" / "drm" / cfg.card
        return card if (card / "device").exists() else None
    for card in drm_cards(root):
        device = card / "device"
        if driver_name(device) in GPU_DRIVERS or hwmon_named(device, GPU_DRIVERS) is not None:
            return card
    return None


def read(cfg: TelemetryConfig, prev: dict[str, Any], now: float) -> tuple[Reading, dict[str, Any]]:
    """intel-gpu."""
    root = root_of(cfg.root)
    card = find_gpu(cfg)
    if card is None:
        return not_found("intel-gpu", cfg.card, cfg.root, "drm", "i915 or xe card", now), {}
    device = card / "device"
    hw = hwmon_named(device, GPU_DRIVERS)
    driver = driver_name(device) or (read_str(hw / "name") if hw else None)
    r = Reading(source="intel-gpu", time=now)
    d = r.detail
    d["card"] = card.name
    if driver:
        d["driver"] = driver
    state: dict[str, Any] = {"t": now, "card": card.name}
    if prev.get("card") != card.name:
        prev = {}

    if hw is not None:
        hwmon_values(_hwmon.from_sysfs(hw), r, prev, state, now)
    else:
        energy, wrap = _rapl_uncore(root, d)
        if isinstance(energy, NA):
            r.energy_j, r.power_w = energy, NA("no power sensor for this GPU")
        else:
            zone = "class/powercap/intel-rapl uncore/energy_uj"
            r.put("energy_j", energy * 1e-6, "sysfs", zone)  # µJ → J
            _power_from(r, prev, state, now, energy * 1e-6, "rapl uncore", wrap=(wrap or 0) * 1e-6 or None)
        no_hwmon = NA("no hwmon for this GPU")
        r.power_limit_w, r.temp_c, r.fan_pct = no_hwmon, no_hwmon, no_hwmon

    r.mem_total_gb = r.mem_free_gb = NA("not exposed in sysfs")
    r.util_pct = _busy_from_idle(card, device, prev, state, now, d)
    _zeros.apply(r)
    return r, state


def hwmon_values(chip: _hwmon.Chip, r: Reading, prev: dict[str, Any], state: dict[str, Any],
                 now: float) -> None:
    """Energy, power (from the energy's rate), limit, temperature and fan of an i915/xe chip."""
    d = r.detail
    counting = [n for n in _domains(chip, "energy") if chip.get(f"energy{n}_input")]
    if counting:
        attr = f"energy{counting[0]}_input"
        d["energy_sensor"] = attr
        r.put("energy_j", chip.values[attr], chip.source, chip.origin(attr))
        _power_from(r, prev, state, now, chip.values[attr], attr)
    else:
        zero = [f"energy{n}_input" for n in _domains(chip, "energy")]
        why = f"{zero[0]} reads 0: not counting" if zero else "no energy counter"
        r.energy_j = r.power_w = NA(why)
    r.put("power_limit_w", *_power_limit(chip, d, counting[0] if counting else None))
    _hwmon.put_temperature(chip, r, ("pkg", "temp2", "temp1"))
    fan, fan_attr = _hwmon.fan_pct(chip, d)
    r.put("fan_pct", fan, chip.source, chip.origin(fan_attr) if fan_attr else "")


def _domains(chip: _hwmon.Chip, kind: str) -> list[int]:
    """Channel numbers of `kind`, the card's ("card" label, else channel 1) before the package's."""
    nums = sorted({int(m) for a in chip.values if a.startswith(kind)
                   and (m := a[len(kind):].split("_")[0]).isdigit()})
    return sorted(nums, key=lambda n: (chip.labels.get(f"{kind}{n}", "card" if n == 1 else "pkg") != "card", n))


def _power_limit(chip: _hwmon.Chip, detail: dict[str, Any], first: int | None
                 ) -> tuple[Value, str, str]:
    """(W, source, attribute): the energy's domain first, then the others (see the docstring)."""
    nums = _domains(chip, "power")
    if first in nums:
        nums = [first] + [n for n in nums if n != first]
    for n in nums:
        for item in ("max", "cap", "rated_max"):
            attr = f"power{n}_{item}"
            v = chip.get(attr)
            if v:  # 0: PL1 disabled, TDP unknown
                detail["power_limit_sensor"] = attr
                return v, chip.source, chip.origin(attr)
    crit = next((f"power{n}_crit" for n in nums if chip.get(f"power{n}_crit")), None)
    return NA(f"no sustained power limit exposed ({crit} is the peak limit)" if crit
              else "no power limit exposed"), "", ""


def _power_from(r: Reading, prev: dict[str, Any], state: dict[str, Any], now: float,
                energy_j: float, sensor: str, wrap: float | None = None) -> None:
    """power = Δenergy/Δt against the memo, when the previous sample is of the same counter."""
    state["energy_j"], state["energy_sensor"] = energy_j, sensor
    if prev.get("energy_sensor") != sensor:
        prev = {}
    power, window = delta_rate(prev, "energy_j", energy_j, now, wrap=wrap)
    r.put("power_w", power, r.origin.get("energy_j", {}).get("source", "sysfs"),
          f"Δ {r.origin.get('energy_j', {}).get('field', sensor)} / Δt")
    if window:
        r.detail["power_window_s"] = round(window, 3)


def _rapl_uncore(root: Path, detail: dict[str, Any]) -> tuple[Value, float | None]:
    for name, zone in rapl_domains(root):
        if name == "uncore":
            detail["energy_sensor"] = "rapl uncore"
            wrap = read_value(zone / "max_energy_range_uj")
            return read_value(zone / "energy_uj"), (None if isinstance(wrap, NA) else wrap)
    return NA("no hwmon for this GPU"), None


def _busy_from_idle(
    card: Path, device: Path, prev: dict[str, Any], state: dict[str, Any], now: float,
    detail: dict[str, Any],
) -> Value:
    """Busy % = 100 − idle share of the render GT over the window since the last probe."""
    for path in (
        device / "tile0" / "gt0" / "gtidle" / "idle_residency_ms",  # xe
        card / "gt" / "gt0" / "rc6_residency_ms",  # i915
        card / "power" / "rc6_residency_ms",  # i915, older kernels
    ):
        idle = read_value(path)
        if isinstance(idle, NA):
            continue
        state["idle_ms"] = idle
        detail["util_basis"] = "render GT idle residency"
        share, _ = delta_rate(prev, "idle_ms", idle, now, scale=1e-3)  # ms per s → fraction
        if isinstance(share, NA):
            return share
        return max(0.0, min(100.0, 100.0 * (1.0 - share)))
    return NA("not exposed in sysfs")


# --- NPU ------------------------------------------------------------------------------


def find_npu(cfg: TelemetryConfig) -> Path | None:
    base = root_of(cfg.root) / "class" / "accel"
    if cfg.card:
        accel = base / cfg.card
        return accel if (accel / "device").exists() else None
    try:
        accels = sorted(p for p in base.iterdir() if p.name.startswith("accel"))
    except OSError:
        return None
    for accel in accels:
        device = accel / "device"
        if driver_name(device) == NPU_DRIVER or (device / "npu_busy_time_us").exists():
            return accel
    return None


def read_npu(cfg: TelemetryConfig, prev: dict[str, Any], now: float) -> tuple[Reading, dict[str, Any]]:
    """intel-npu."""
    accel = find_npu(cfg)
    if accel is None:
        return not_found("intel-npu", cfg.card, cfg.root, "accel", "Intel NPU", now), {}
    device = accel / "device"
    r = Reading(source="intel-npu", time=now)
    d = r.detail
    d["accel"] = accel.name
    state: dict[str, Any] = {"t": now, "accel": accel.name}
    if prev.get("accel") != accel.name:
        prev = {}

    busy = read_value(device / "npu_busy_time_us")
    if isinstance(busy, NA):
        r.util_pct = busy
    else:
        state["busy_us"] = busy
        share, window = delta_rate(prev, "busy_us", busy, now, scale=1e-6)  # µs per s → fraction
        r.util_pct = share if isinstance(share, NA) else max(0.0, min(100.0, share * 100.0))
        if window:
            d["util_window_s"] = round(window, 3)

    for key, name in (("freq_mhz", "npu_current_frequency_mhz"), ("max_freq_mhz", "npu_max_frequency_mhz")):
        v = read_value(device / name)
        if not isinstance(v, NA):
            d[key] = v
    held = read_value(device / "npu_memory_utilization", 1e-9)  # bytes → GB
    if not isinstance(held, NA):
        d["mem_used_gb"] = round(held, 4)

    r.fan_pct = NA("no fan")
    r.temp_c = r.power_w = r.power_limit_w = r.energy_j = NA("not exposed by the NPU driver")
    r.mem_total_gb = r.mem_free_gb = NA("shares system memory")
    return r, state
