"""Builders of sysfs trees as the kernel lays them out, for a root in tmp_path.

Values are in the kernel's units (bytes, m°C, µW, µJ, RPM, µs), with the
files each driver really creates, so the sources read them exactly as they
read /sys.
"""

from __future__ import annotations

import os
from pathlib import Path


def write(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")
    return path


def _pci_device(root: Path, bdf: str, driver: str, vendor: str, device_id: str) -> Path:
    """/sys/devices/pciXXXX/<bdf> with a driver link, as the real tree has."""
    dev = root / "devices" / "pci0000:00" / bdf
    dev.mkdir(parents=True, exist_ok=True)
    drv = root / "bus" / "pci" / "drivers" / driver
    drv.mkdir(parents=True, exist_ok=True)
    link = dev / "driver"
    if not link.exists():
        os.symlink(os.path.relpath(drv, dev), link)
    write(dev / "vendor", vendor)
    write(dev / "device", device_id)
    write(dev / "uevent", f"DRIVER={driver}\nPCI_SLOT_NAME={bdf}")
    return dev


def _drm_card(root: Path, card: str, dev: Path) -> Path:
    """/sys/class/drm/cardN/device → the PCI device."""
    cls = root / "class" / "drm" / card
    cls.mkdir(parents=True, exist_ok=True)
    link = cls / "device"
    if not link.exists():
        os.symlink(os.path.relpath(dev, cls), link)
    # a connector entry, which readers must skip
    (root / "class" / "drm" / f"{card}-DP-1").mkdir(exist_ok=True)
    return cls


def _hwmon(dev: Path, n: int, name: str, files: dict[str, object]) -> Path:
    h = dev / "hwmon" / f"hwmon{n}"
    write(h / "name", name)
    for fname, value in files.items():
        write(h / fname, value)
    return h


def amdgpu_dgpu(root: Path, card: str = "card1", *, bdf: str = "0000:03:00.0") -> Path:
    """An RX 7900 XTX-like card: edge/junction/mem, fan RPM with max, power1_average, cap."""
    dev = _pci_device(root, bdf, "amdgpu", "0x1002", "0x744c")
    write(dev / "mem_info_vram_total", 25_753_026_560)
    write(dev / "mem_info_vram_used", 4_753_026_560)
    write(dev / "mem_info_gtt_total", 33_554_432_000)
    write(dev / "gpu_busy_percent", 37)
    _hwmon(dev, 3, "amdgpu", {
        "temp1_input": 54000, "temp1_label": "edge",
        "temp2_input": 71000, "temp2_label": "junction",
        "temp3_input": 62000, "temp3_label": "mem",
        "fan1_input": 1650, "fan1_max": 3300, "fan1_min": 0,
        "pwm1": 112, "pwm1_enable": 2,
        "power1_average": 213_000_000, "power1_cap": 327_000_000,
        "power1_cap_max": 402_000_000, "energy1_input": 8_123_456_789,
    })
    return _drm_card(root, card, dev)


def amdgpu_apu(root: Path, card: str = "card0", *, bdf: str = "0000:c4:00.0") -> Path:
    """A Ryzen APU's iGPU: edge only, no fan files, power1_input (SoC power), no cap."""
    dev = _pci_device(root, bdf, "amdgpu", "0x1002", "0x15bf")
    write(dev / "mem_info_vram_total", 536_870_912)
    write(dev / "mem_info_vram_used", 201_326_592)
    write(dev / "gpu_busy_percent", 4)
    _hwmon(dev, 5, "amdgpu", {"temp1_input": 48000, "temp1_label": "edge", "power1_input": 9_000_000})
    return _drm_card(root, card, dev)


def amdgpu_input_only(root: Path, card: str = "card1") -> Path:
    """A newer dGPU whose SMU gives power1_input but no power1_average, and pwm1 without fan1_max."""
    dev = _pci_device(root, "0000:0a:00.0", "amdgpu", "0x1002", "0x7550")
    write(dev / "mem_info_vram_total", 17_163_091_968)
    write(dev / "mem_info_vram_used", 1_163_091_968)
    write(dev / "gpu_busy_percent", 0)
    _hwmon(dev, 2, "amdgpu", {
        "temp1_input": 45000, "temp1_label": "edge",
        "temp2_input": 52000, "temp2_label": "junction",
        "pwm1": 51, "power1_input": 32_000_000, "power1_cap": 304_000_000,
    })
    return _drm_card(root, card, dev)


def i915_dgpu(root: Path, card: str = "card0", *, energy_uj: int = 1_000_000_000) -> Path:
    """An Arc A770 (DG2) on i915: hwmon named i915 with energy1_input and power1_max."""
    dev = _pci_device(root, "0000:03:00.0", "i915", "0x8086", "0x56a0")
    _hwmon(dev, 4, "i915", {
        "energy1_input": energy_uj, "power1_max": 190_000_000, "power1_rated_max": 190_000_000,
        "power1_crit": 400_000_000, "in0_input": 680,
    })
    # the per-GT hwmon i915 also registers, which is not the device's
    _hwmon(dev, 5, "i915_gt0", {"energy1_input": 5})
    cls = _drm_card(root, card, dev)
    write(cls / "gt" / "gt0" / "rc6_residency_ms", 50_000)
    return cls


def xe_dgpu(root: Path, card: str = "card1", *, energy_uj: int = 2_000_000_000) -> Path:
    """A Battlemage card on xe: pkg/vram temps, fans in RPM, energy, PL1 disabled (0)."""
    dev = _pci_device(root, "0000:04:00.0", "xe", "0x8086", "0xe20b")
    _hwmon(dev, 6, "xe", {
        "energy1_input": energy_uj, "energy2_input": energy_uj + 5,
        "power1_max": 0, "power1_crit": 0, "power1_rated_max": 190_000_000,
        "temp2_input": 58000, "temp2_label": "pkg", "temp3_input": 66000, "temp3_label": "vram",
        "fan1_input": 1320, "fan2_input": 1290, "fan3_input": 0,
    })
    write(dev / "tile0" / "gt0" / "gtidle" / "idle_residency_ms", 900_000)
    return _drm_card(root, card, dev)


def i915_igpu(root: Path, card: str = "card0") -> Path:
    """An integrated i915 GPU: no hwmon at all; RAPL's uncore zone holds its energy."""
    dev = _pci_device(root, "0000:00:02.0", "i915", "0x8086", "0xa7a0")
    cls = _drm_card(root, card, dev)
    write(cls / "gt" / "gt0" / "rc6_residency_ms", 10_000)
    rapl(root, uncore=True)
    return cls


def rapl(root: Path, *, energy_uj: int = 123_000_000, uncore: bool = False, mode: int | None = None,
         limit_uw: int = 65_000_000) -> Path:
    """RAPL package-0 (and its uncore subzone), as intel_rapl exposes them."""
    zone = root / "devices" / "virtual" / "powercap" / "intel-rapl" / "intel-rapl:0"
    write(zone / "name", "package-0")
    write(zone / "energy_uj", energy_uj)
    write(zone / "max_energy_range_uj", 262_143_328_850)
    write(zone / "constraint_0_power_limit_uw", limit_uw)
    write(zone / "constraint_0_name", "long_term")
    cls = root / "class" / "powercap"
    cls.mkdir(parents=True, exist_ok=True)
    links = {"intel-rapl:0": zone}
    if uncore:
        sub = zone / "intel-rapl:0:1"
        write(sub / "name", "uncore")
        write(sub / "energy_uj", 4_000_000)
        write(sub / "max_energy_range_uj", 262_143_328_850)
        links["intel-rapl:0:1"] = sub
    for name, target in links.items():
        if not (cls / name).exists():
            os.symlink(os.path.relpath(target, cls), cls / name)
    if mode is not None:
        os.chmod(zone / "energy_uj", mode)
    return zone


def npu(root: Path, accel: str = "accel0", *, busy_us: int = 0) -> Path:
    """A Meteor Lake NPU on intel_vpu: /sys/class/accel/accel0/device/npu_*."""
    dev = _pci_device(root, "0000:00:0b.0", "intel_vpu", "0x8086", "0x7d1d")
    write(dev / "npu_busy_time_us", busy_us)
    write(dev / "npu_current_frequency_mhz", 1400)
    write(dev / "npu_max_frequency_mhz", 1400)
    write(dev / "npu_memory_utilization", 734_003_200)
    cls = root / "class" / "accel" / accel
    cls.mkdir(parents=True, exist_ok=True)
    if not (cls / "device").exists():
        os.symlink(os.path.relpath(dev, cls), cls / "device")
    return cls


#: real /sys/class/drm/cardN dumps (tests/fixtures/telemetry/lact, see SOURCE.md there)
DUMPS = Path(__file__).resolve().parent.parent / "fixtures" / "telemetry" / "lact"


def install_dump(root: Path, dump: str, card: str | None = None) -> Path:
    """Copy a real card dump (e.g. "b580") to <root>/class/drm/<card>, as the kernel lays it out."""
    import shutil

    src = next((DUMPS / dump).iterdir())
    dst = root / "class" / "drm" / (card or src.name)
    shutil.copytree(src, dst)
    return dst
