"""Small, forgiving readers for sysfs trees (real ones under /sys, or built in tests).

Every reader takes paths under a configurable root, so the amdgpu, Intel and
CPU sources read a tree built in `tmp_path` exactly as they read the kernel's.
A file that is missing, unreadable or garbled yields `NA(reason)`, never an
exception: a missing sensor is a value, not an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from smartollama.telemetry.base import NA, Reading, Value

_CARD = re.compile(r"^card(\d+)$")
_NUM = re.compile(r"(\d+)")


def root_of(root: str | None) -> Path:
    """The sysfs root: the configured one (tests), else /sys."""
    return Path(root or "/sys")


def read_str(path: Path) -> str | None:
    """A sysfs attribute's text, stripped; None when absent or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().split("\x00", 1)[0].strip()
    except OSError:
        return None


def read_value(path: Path, scale: float = 1.0) -> Value:
    """A numeric attribute times `scale` (the unit conversion), or NA(why not)."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            # a copy of a sysfs file may carry the page's NUL padding after the value
            raw = fh.read().split("\x00", 1)[0].strip()
    except FileNotFoundError:
        return NA(f"no {path.name}")
    except PermissionError:
        return NA(f"{path.name}: permission denied")
    except OSError as exc:  # EINVAL/ENODATA from a sleeping device, EIO...
        return NA(f"{path.name}: {os.strerror(exc.errno) if exc.errno else exc}")
    try:
        return float(raw) * scale
    except ValueError:
        return NA(f"{path.name}: unreadable value {raw[:20]!r}")


def is_num(v: Value) -> bool:
    return not isinstance(v, NA)


def natural(path: Path) -> tuple[int, str]:
    """Sort key: hwmon2 before hwmon10."""
    m = _NUM.search(path.name)
    return (int(m.group(1)) if m else -1, path.name)


def drm_cards(root: Path) -> list[Path]:
    """/sys/class/drm/cardN entries (connectors such as card1-DP-1 left out)."""
    base = root / "class" / "drm"
    try:
        cards = [p for p in base.iterdir() if _CARD.match(p.name)]
    except OSError:
        return []
    return sorted(cards, key=natural)


def driver_name(device: Path) -> str | None:
    """The kernel driver bound to a device: the `driver` link's name, else uevent's DRIVER=."""
    try:
        return os.path.basename(os.readlink(device / "driver"))
    except OSError:
        pass
    uevent = read_str(device / "uevent")
    if uevent:
        for line in uevent.splitlines():
            if line.startswith("DRIVER="):
                return line.partition("=")[2].strip() or None
    return None


def hwmons(device: Path) -> list[Path]:
    """device/hwmon/hwmonN directories, in numeric order."""
    try:
        found = [p for p in (device / "hwmon").iterdir() if p.name.startswith("hwmon")]
    except OSError:
        return []
    return sorted(found, key=natural)


def hwmon_named(device: Path, names: tuple[str, ...]) -> Path | None:
    """The first hwmon under a device whose `name` is one of `names`."""
    for h in hwmons(device):
        if read_str(h / "name") in names:
            return h
    return None


def channels(hwmon: Path, kind: str) -> list[int]:
    """Channel numbers N that have a `{kind}N_input` file (temp, fan, power...)."""
    pattern = re.compile(rf"^{kind}(\d+)_input$")
    try:
        nums = [int(m.group(1)) for p in hwmon.iterdir() if (m := pattern.match(p.name))]
    except OSError:
        return []
    return sorted(nums)


def temperatures(hwmon: Path) -> dict[str, float]:
    """label → °C for every readable tempN_input (m°C), label from tempN_label else 'tempN'."""
    out: dict[str, float] = {}
    for n in channels(hwmon, "temp"):
        label = read_str(hwmon / f"temp{n}_label") or f"temp{n}"
        v = read_value(hwmon / f"temp{n}_input", 1e-3)
        if not isinstance(v, NA):
            out[label.strip().lower()] = round(v, 3)
    return out


def rapl_domains(root: Path) -> list[tuple[str, Path]]:
    """(name, dir) of each powercap RAPL zone: package-0, core, uncore (the iGPU), dram, psys."""
    base = root / "class" / "powercap"
    try:
        zones = [p for p in base.iterdir() if p.name.startswith("intel-rapl:")]
    except OSError:
        return []
    out = []
    for zone in sorted(zones, key=lambda p: p.name):
        name = read_str(zone / "name")
        if name:
            out.append((name, zone))
    return out


def not_found(source: str, card: str | None, root: str | None, subdir: str, what: str,
              now: float) -> Reading:
    """The reading of a sysfs source whose device is not there ("no amdgpu card under ...")."""
    where = root_of(root) / "class" / subdir
    why = f"no {card} under {where}" if card else f"no {what} under {where}"
    return Reading.unavailable(source, why, now)
