"""`amdgpu`: an AMD GPU from the amdgpu driver's sysfs files.

Read under `<root>/class/drm/<card>/device/` (root defaults to /sys), as the
kernel documents them (Documentation/gpu/amdgpu/driver-misc.rst, thermal.rst
"HWMON Interfaces", and the hwmon sysfs ABI):

- `mem_info_vram_total`, `mem_info_vram_used`: bytes; `mem_info_gtt_total`,
  `mem_info_gtt_used`: bytes of system memory the GPU maps (GTT).
- `gpu_metrics`: a binary table whose header (`struct metrics_table_header`,
  kgd_pp_interface.h: u16 structure_size, u8 format_revision, u8
  content_revision) says the kind of chip: format 1 is a discrete GPU, 2 and 3
  an APU (gpu_metrics_v2_x, v3_x). On an APU the VRAM is only the BIOS
  carve-out (0.5 GB on a Strix Point laptop): the memory the GPU can use is
  the carve-out plus GTT, so memory total/free are VRAM + GTT there.
- `gpu_busy_percent`: %
- `hwmon/hwmonN/tempK_input`: m°C, named by `tempK_label` (edge, junction, mem;
  APUs have only edge). Routing uses junction (hotspot) where present.
- `fan1_input` / `fan1_max`: RPM; else `pwm1` (0-255). APUs have no fan files.
- `power1_average`, else `power1_input` (newer SMUs): µW. On APUs this is the
  whole SoC, CPU included.
- `power1_cap`: µW, the power limit in force.
- `energy1_input`: µJ, where the driver has it.

The hwmon rules (`hwmon_values`) are shared with node_exporter's copy of the
same files (telemetry/_node.py), so both read a card the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartollama.telemetry import _hwmon, _zeros
from smartollama.telemetry._sysfs import (
    driver_name,
    drm_cards,
    hwmon_named,
    hwmons,
    not_found,
    read_value,
    root_of,
)
from smartollama.telemetry.base import NA, Reading, Value

if TYPE_CHECKING:
    from smartollama.config import TelemetryConfig

DRIVER = "amdgpu"
#: gpu_metrics format_revision of an APU (gpu_metrics_v2_x, v3_x); 1 is a discrete GPU
APU_FORMATS = (2, 3)


def find_card(cfg: TelemetryConfig) -> Path | None:
    """cfg.card (e.g. "card1"), else the first DRM card driven by amdgpu."""
    root = root_of(cfg.root)
    if cfg.card:
        card = root / "class" / "drm" / cfg.card
        return card if (card / "device").exists() else None
    for card in drm_cards(root):
        device = card / "device"
        if driver_name(device) == DRIVER or hwmon_named(device, (DRIVER,)) is not None:
            return card
    return None


def read(cfg: TelemetryConfig, prev: dict[str, Any], now: float) -> tuple[Reading, dict[str, Any]]:
    card = find_card(cfg)
    if card is None:
        return not_found("amdgpu", cfg.card, cfg.root, "drm", "amdgpu card", now), {}
    device = card / "device"
    r = Reading(source="amdgpu", time=now)
    r.detail["card"] = card.name
    hw = hwmon_named(device, (DRIVER,)) or next(iter(hwmons(device)), None)
    chip = _hwmon.from_sysfs(hw) if hw is not None else None
    _memory(r, device, card.name, chip)
    r.put("util_pct", read_value(device / "gpu_busy_percent"), "sysfs",
          f"{card.name}/device/gpu_busy_percent")
    if chip is None:
        for f in ("fan_pct", "temp_c", "power_w", "power_limit_w", "energy_j"):
            setattr(r, f, NA("no hwmon for this card"))
    else:
        hwmon_values(chip, r)
    return _zeros.apply(r), {}


def is_apu(device: Path) -> bool | None:
    """From gpu_metrics' header: True for an APU, False for a dGPU, None when unreadable."""
    try:
        with open(device / "gpu_metrics", "rb") as fh:
            header = fh.read(4)
    except OSError:
        return None
    if len(header) < 4:
        return None
    return header[2] in APU_FORMATS


def looks_like_apu(chip: _hwmon.Chip, vram_total: float, gtt_total: float) -> bool:
    """Where gpu_metrics cannot be read (node_exporter does not export it): an APU is
    what has no fan and a GTT pool larger than its VRAM (a dGPU has a fan, or, on a
    fanless datacenter board, far more VRAM than GTT)."""
    has_fan = any(a.startswith(("fan", "pwm")) for a in chip.values)
    return not has_fan and gtt_total > vram_total


def memory(vram: tuple[Value, Value], gtt: tuple[Value, Value], apu: bool | None
           ) -> tuple[Value, Value]:
    """(total, free) GB: the VRAM, or on an APU the VRAM carve-out plus GTT."""
    (total, used), (gtt_total, gtt_used) = vram, gtt
    if isinstance(total, NA) or isinstance(used, NA):
        why = total if isinstance(total, NA) else used
        return total, why
    free = max(0.0, total - used)
    if not apu or isinstance(gtt_total, NA) or isinstance(gtt_used, NA):
        return total, free
    return total + gtt_total, free + max(0.0, gtt_total - gtt_used)


def _memory(r: Reading, device: Path, card: str, chip: _hwmon.Chip | None) -> None:
    """VRAM, or VRAM + GTT on an APU (see the module's docstring); bytes → GB."""
    vram = (read_value(device / "mem_info_vram_total", 1e-9), read_value(device / "mem_info_vram_used", 1e-9))
    gtt = (read_value(device / "mem_info_gtt_total", 1e-9), read_value(device / "mem_info_gtt_used", 1e-9))
    apu = is_apu(device)
    if apu is None and chip is not None and not any(isinstance(v, NA) for v in (vram[0], gtt[0])):
        apu = looks_like_apu(chip, float(vram[0]), float(gtt[0]))  # type: ignore[arg-type]
    total, free = memory(vram, gtt, apu)
    where = f"{card}/device/mem_info_vram"
    if apu and total != vram[0]:
        r.detail["vram_total_gb"] = round(float(vram[0]), 3)  # type: ignore[arg-type]
        r.detail["memory"] = "APU: VRAM carve-out + GTT"
        r.put("mem_total_gb", total, "sysfs", f"{where}_total + {card}/device/mem_info_gtt_total")
        r.put("mem_free_gb", free, "sysfs", f"{where}_total - vram_used + gtt_total - gtt_used")
    else:
        r.put("mem_total_gb", total, "sysfs", f"{where}_total")
        r.put("mem_free_gb", free, "sysfs", f"{where}_total - {card}/device/mem_info_vram_used")
    if not isinstance(gtt[0], NA):
        r.detail["gtt_total_gb"] = round(gtt[0], 3)
    if apu is not None:
        r.detail["apu"] = apu


def hwmon_values(chip: _hwmon.Chip, r: Reading) -> None:
    """Fan, temperature, power, limit and energy from an amdgpu hwmon chip (sysfs or node_exporter)."""
    d = r.detail
    _hwmon.put_temperature(chip, r, ("junction", "edge"))
    fan, attr = _hwmon.fan_pct(chip, d)
    if attr and "fans_rpm" in d and len(d["fans_rpm"]) == 1:
        d["fan_rpm"] = d.pop("fans_rpm")[0]
    r.put("fan_pct", fan, chip.source, chip.origin(attr) if attr else "")
    power = next((a for a in ("power1_average", "power1_input") if chip.get(a) is not None), None)
    if power:
        d["power_sensor"] = power
        r.put("power_w", chip.values[power], chip.source, chip.origin(power))
    else:
        # a file that is there but failed (EINVAL while the GPU sleeps) says more than "no ..."
        why = chip.errors.get("power1_average") or chip.errors.get("power1_input")
        r.power_w = NA(why or "no power1_average or power1_input")
    r.put("power_limit_w", chip.value("power1_cap"), chip.source, chip.origin("power1_cap"))
    r.put("energy_j", chip.value("energy1_input"), chip.source, chip.origin("energy1_input"))
