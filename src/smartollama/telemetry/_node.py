"""node_exporter: a GPU's hwmon chip, and its drm card for memory and busy %.

node_exporter's hwmon collector (collector/hwmon_linux.go) labels each chip
by its device path (`chip="0000:00:01_1_0000:03:00_0"`) and names it through
`node_hwmon_chip_names{chip, chip_name}` (amdgpu, i915, xe). Its drm collector
(collector/drm_linux.go, off by default) writes `node_drm_*{card}` for every
card: VRAM and GTT sizes, busy %. The two meet in `node_drm_card_info{card,
chip}`, whose `chip` is built the same way as hwmon's (device type + name), so
on a host with several cards each card's memory is tied to its own chip.

The drm collector reads an AMD card's files through procfs'
ClassDRMCardAMDGPUStats, which leaves a field at 0 when its file is missing
and writes all zeros for a card that amdgpu does not drive (an Intel iGPU
beside the AMD card): a card whose VRAM size reads 0 is left out.

`match` picks the device: `chip` / `chip_name` pick the hwmon chip, `card`
the drm card; either one finds the other through node_drm_card_info. On an
older node_exporter without that label, `card` names the card and the GPU
chip is the only (or first) one. The chip is read by the same rules as the
sysfs readers (amdgpu.hwmon_values, intel.hwmon_values).
"""

from __future__ import annotations

from typing import Any

from smartollama.telemetry import _hwmon, amdgpu
from smartollama.telemetry._exporter import Device, Found, Samples, canon, pick, show
from smartollama.telemetry.base import FIELDS, NA, Reading, Value

GPU_CHIPS = ("amdgpu", "i915", "xe", "nouveau")
CPU_CHIPS = ("coretemp", "k10temp", "zenpower")
_CPU_TEMPS = ("pkg", "package_id_0", "tctl", "tdie")


def _chips(samples: Samples) -> dict[str, Device]:
    names = {lab["chip"]: lab.get("chip_name", lab["chip"])
             for lab, _ in samples.get("node_hwmon_chip_names", ()) if "chip" in lab}
    cards = {lab["chip"]: lab["card"] for lab, _ in samples.get("node_drm_card_info", ())
             if lab.get("chip") and lab.get("card")}
    devices: dict[str, Device] = {}
    for name, rows in samples.items():
        if name.startswith("node_hwmon_") and name != "node_hwmon_sensor_label":
            for lab, _ in rows:
                chip = lab.get("chip")
                if chip and chip not in devices:
                    labels = {"chip": chip, "chip_name": names.get(chip, chip)}
                    if chip in cards:
                        labels["card"] = cards[chip]
                    devices[chip] = Device(chip, labels)
    return devices


ZERO_CARD = ("node_drm_memory_vram_size_bytes reads 0: a card amdgpu does not drive, "
             "or its mem_info files are missing")


def _drm_cards(samples: Samples) -> tuple[dict[str, dict[str, float]], set[str]]:
    """(card → {series: value} for the cards amdgpu drives, the cards whose VRAM size reads 0)."""
    cards: dict[str, dict[str, float]] = {}
    for name, rows in samples.items():
        if name.startswith("node_drm_") and name != "node_drm_card_info":
            for lab, v in rows:
                if "card" in lab:
                    cards.setdefault(lab["card"], {})[name] = v
    good = {c: s for c, s in cards.items() if s.get("node_drm_memory_vram_size_bytes")}
    return good, set(cards) - set(good)


def node_exporter(samples: Samples, match: dict[str, str], prev: dict[str, Any], now: float
                  ) -> Found | str | None:
    if not any(n.startswith("node_hwmon_") for n in samples):
        return None
    devices = _chips(samples)
    tied = any("card" in d.labels for d in devices.values())
    hw_match = {k: v for k, v in match.items() if tied or canon(k)[0] != "card"}
    gpu_chips = sorted(k for k, d in devices.items() if d.labels["chip_name"] in GPU_CHIPS)
    if not tied and len(gpu_chips) > 1 and len(hw_match) < len(match) and not hw_match:
        # a card named, but nothing says which chip is that card's
        return ("node_drm_card_info has no chip label (node_exporter before 1.7): with "
                f"several GPU chips, set match.chip as well as match.card (chips: {', '.join(gpu_chips)})")
    note = None
    if not hw_match:
        gpus = {k: d for k, d in devices.items() if d.labels["chip_name"] in GPU_CHIPS}
        cpus = {k: d for k, d in devices.items() if d.labels["chip_name"] in CPU_CHIPS}
        if gpus:
            devices = gpus
        elif cpus:
            devices = cpus
            note = "no GPU chip in node_exporter's hwmon; using the CPU package sensor"
    dev, why = pick(devices, hw_match, "hwmon chip")
    if dev is None:
        return why
    chip = _hwmon.from_node(samples, dev.key, dev.labels["chip_name"])
    r = Reading(source="prometheus")
    state: dict[str, Any] = {}
    kind = dev.labels["chip_name"]
    if kind == "amdgpu":
        amdgpu.hwmon_values(chip, r)
        _drm(samples, match, dev, chip, r, len(devices))
    elif kind in ("xe", "i915"):
        from smartollama.telemetry import intel

        state = {"t": now, "chip": dev.key}
        intel.hwmon_values(chip, r, prev if prev.get("chip") == dev.key else {}, state, now)
    else:
        _other_chip(chip, r)
    for f in ("mem_total_gb", "mem_free_gb", "util_pct"):
        if f not in r.origin and r.reason(f) in (None, "not read"):
            setattr(r, f, NA("not exported"))
    values = {f: getattr(r, f) for f in FIELDS}
    origins = {f: o["field"] for f, o in r.origin.items()}
    detail: dict[str, Any] = {"name": kind, **r.detail}
    if note:
        detail["note"] = note
    return Found("node_exporter", dev, len(devices), values, detail, origins, state)


def _other_chip(chip: _hwmon.Chip, r: Reading) -> None:
    """A CPU package sensor (or any other chip): temperature, fan, power where it has them."""
    _hwmon.put_temperature(chip, r, _CPU_TEMPS)
    if not chip.temperatures():
        r.temp_c = NA("not exported")
    fan, attr = _hwmon.fan_pct(chip, r.detail)
    r.put("fan_pct", fan if attr or "fans_rpm" in r.detail else NA("not exported"), chip.source,
          chip.origin(attr) if attr else "")
    for f, attrs in (("power_w", ("power1_average", "power1_input")), ("power_limit_w", ("power1_cap", "power1_max")),
                     ("energy_j", ("energy1_input",))):
        a = next((a for a in attrs if chip.get(a) is not None), None)
        r.put(f, chip.values[a] if a else NA("not exported"), chip.source, chip.origin(a) if a else "")


def _drm(samples: Samples, match: dict[str, str], dev: Device, chip: _hwmon.Chip, r: Reading,
         chips: int) -> None:
    """VRAM and busy % from the drm collector, for the card tied to this chip."""
    cards, zero = _drm_cards(samples)
    want = next((v for k, v in match.items() if canon(k)[0] == "card"), None) or dev.labels.get("card")
    if want in zero or (want is None and not cards and zero):
        r.mem_total_gb = r.mem_free_gb = r.util_pct = NA(ZERO_CARD)
        return
    if want is not None:
        if want not in cards:
            r.mem_total_gb = r.mem_free_gb = r.util_pct = NA(
                f"no amdgpu card {show({'card': want})} in node_drm_* (has: {', '.join(sorted(cards)) or 'none'})")
            return
        card = want
    elif len(cards) == 1 and chips == 1:
        card = next(iter(cards))
    else:
        why = ("the drm collector is off (--collector.drm)" if not cards else
               f"{len(cards)} amdgpu cards in node_drm_* and node_drm_card_info has no chip: set match.card")
        r.mem_total_gb = r.mem_free_gb = r.util_pct = NA(why)
        return
    s = cards[card]
    where = {n: f'{n}{{card="{card}"}}' for n in s}

    def gb(name: str) -> Value:
        v = s.get(name)
        return NA("not exported") if v is None else v / 1e9  # bytes → GB

    vram = (gb("node_drm_memory_vram_size_bytes"), gb("node_drm_memory_vram_used_bytes"))
    gtt = (gb("node_drm_memory_gtt_size_bytes"), gb("node_drm_memory_gtt_used_bytes"))
    apu = not any(isinstance(v, NA) for v in (vram[0], gtt[0])) and \
        amdgpu.looks_like_apu(chip, float(vram[0]), float(gtt[0]))  # type: ignore[arg-type]
    total, free = amdgpu.memory(vram, gtt, apu)
    vs, vu = where.get("node_drm_memory_vram_size_bytes", ""), where.get("node_drm_memory_vram_used_bytes", "")
    if apu:
        r.detail["memory"] = "APU (no fan, GTT larger than VRAM): VRAM carve-out + GTT"
        gs, gu = where["node_drm_memory_gtt_size_bytes"], where.get("node_drm_memory_gtt_used_bytes", "")
        r.put("mem_total_gb", total, "node_exporter", f"{vs} + {gs}")
        r.put("mem_free_gb", free, "node_exporter", f"{vs} - {vu} + {gs} - {gu}")
    else:
        r.put("mem_total_gb", total, "node_exporter", vs)
        r.put("mem_free_gb", free, "node_exporter", f"{vs} - {vu}")
    busy = s.get("node_drm_gpu_busy_percent")
    if busy is not None:
        r.put("util_pct", busy, "node_exporter", where["node_drm_gpu_busy_percent"])
    r.detail["card"] = card

