"""node_exporter's page for real sysfs dumps, written by node_exporter's own rules.

No capture of node_exporter's drm collector on a host with several cards is
public, so this renders one from the real `/sys/class/drm/cardN` dumps under
tests/fixtures/telemetry/lact, the way node_exporter does
(collector/hwmon_linux.go, collector/drm_linux.go, procfs' ClassDRMCardAMDGPUStats):

- hwmon: each `<type><N>_<item>` file becomes `node_hwmon_<type>[_<item>]_<unit>`
  with labels {chip, sensor}: temp m°C → `_celsius`, power µW → `_watt`
  (`powerN_input` → `node_hwmon_power_watt`), energy µJ → `node_hwmon_energy_joule_total`,
  fan RPM → `_rpm`, pwm as is; `<sensor>_label` → `node_hwmon_sensor_label`; the
  hwmon `name` → `node_hwmon_chip_names{chip, chip_name}`. The chip label is
  the device's path: `<parent>_<device>` cleaned (`[^a-z0-9:_]` → `_`).
- drm: every cardN gets `node_drm_card_info` (with `chip` on node_exporter
  1.7+, the same string as hwmon's chip) and `node_drm_*` gauges; a card amdgpu
  does not drive, or a file that is missing, reads 0.
"""

from __future__ import annotations

import re
from pathlib import Path

_FILE = re.compile(r"^(temp|fan|pwm|power|energy)(\d+)(?:_(.+))?$")


def _clean(s: str) -> str:
    return re.sub(r"[^a-z0-9:_]", "_", s.lower()).strip("_")


def chip_label(card: Path) -> str:
    """node_exporter's chip label for the card's PCI device (parent `pci0000:00`)."""
    uevent = (card / "device" / "uevent").read_text()
    slot = re.search(r"PCI_SLOT_NAME=(\S+)", uevent).group(1)  # type: ignore[union-attr]
    return f"pci0000:00_{_clean(slot)}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().split("\x00", 1)[0].strip()
    except OSError:
        return None


def hwmon_lines(card: Path) -> list[str]:
    chip = chip_label(card)
    lines: list[str] = []
    for hw in sorted((card / "device" / "hwmon").glob("hwmon*")):
        lines.append(f'node_hwmon_chip_names{{chip="{chip}",chip_name="{_read(hw / "name")}"}} 1')
        for f in sorted(p.name for p in hw.iterdir()):
            m = _FILE.match(f)
            if not m:
                continue
            kind, num, item = m.group(1), m.group(2), m.group(3) or ""
            raw = _read(hw / f) or ""
            sensor = f"{kind}{num}"
            labels = f'chip="{chip}",sensor="{sensor}"'
            if item == "label":
                lines.append(f'node_hwmon_sensor_label{{chip="{chip}",label="{raw}",sensor="{sensor}"}} 1')
                continue
            value = float(raw)
            if kind == "temp":
                name, value = "node_hwmon_temp" + ("" if item == "input" else f"_{item}") + "_celsius", value / 1000
            elif kind == "power":
                name, value = "node_hwmon_power" + ("" if item == "input" else f"_{item}") + "_watt", value / 1e6
            elif kind == "energy":
                name, value = "node_hwmon_energy_joule_total", value / 1e6
            elif kind == "fan":
                name = "node_hwmon_fan" + ("" if item == "input" else f"_{item}") + "_rpm"
            else:
                name = "node_hwmon_pwm" + (f"_{item}" if item else "")
            lines.append(f"{name}{{{labels}}} {value!r}")
    return lines


def drm_lines(name: str, card: Path, *, with_chip: bool) -> list[str]:
    dev = card / "device"
    amd = "DRIVER=amdgpu" in (_read(dev / "uevent") or "")

    def field(f: str) -> int:
        v = _read(dev / f) if amd else None
        return int(v) if v and v.isdigit() else 0

    chip = f',chip="{chip_label(card)}"' if with_chip and amd else ""
    lines = [f'node_drm_card_info{{card="{name}"{chip},memory_vendor="",power_performance_level="",'
             f'unique_id="",vendor="amd"}} 1']
    for series, f in (("gpu_busy_percent", "gpu_busy_percent"),
                      ("memory_gtt_size_bytes", "mem_info_gtt_total"),
                      ("memory_gtt_used_bytes", "mem_info_gtt_used"),
                      ("memory_vram_size_bytes", "mem_info_vram_total"),
                      ("memory_vram_used_bytes", "mem_info_vram_used")):
        lines.append(f'node_drm_{series}{{card="{name}"}} {field(f)}')
    return lines


def page(cards: dict[str, Path], *, with_chip: bool = True, drm: bool = True) -> str:
    """The page for a host whose /sys/class/drm has these cards (name → dumped card dir)."""
    lines: list[str] = []
    for name, card in cards.items():
        lines += hwmon_lines(card)
        if drm:
            lines += drm_lines(name, card, with_chip=with_chip)
    return "\n".join(lines) + "\n"
