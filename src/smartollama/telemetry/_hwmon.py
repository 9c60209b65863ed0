"""One hwmon chip, whether read from sysfs or from node_exporter's hwmon collector.

The kernel's hwmon ABI (Documentation/hwmon/sysfs-interface.rst) names each
attribute `<type><N>_<item>`: `temp2_input` (m°C), `fan1_input` (RPM),
`power1_cap` (µW), `energy2_input` (µJ), `temp2_label` ("pkg"). node_exporter
(collector/hwmon_linux.go) turns the same files into series that keep the
sensor (`sensor="power1"`) and the item in the name, converted to base units:

| sysfs attribute    | node_exporter series                                   |
| ---                | ---                                                    |
| tempN_input        | node_hwmon_temp_celsius                                |
| fanN_input / _max  | node_hwmon_fan_rpm / node_hwmon_fan_max_rpm            |
| pwmN               | node_hwmon_pwm                                         |
| powerN_input       | node_hwmon_power_watt                                  |
| powerN_<item>      | node_hwmon_power_<item>_watt (average, cap, max, crit, rated_max) |
| energyN_input      | node_hwmon_energy_joule_total                          |
| <sensor>_label     | node_hwmon_sensor_label{label=...}                     |

A `Chip` holds either in one form (attribute → value in °C, RPM, W, J), so
the amdgpu and Intel rules (`amd_*`, `intel_*` in the driver modules) are
written once and the sysfs reader and the node_exporter path agree for the
same card.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from smartollama.record import field, record
from smartollama.telemetry._sysfs import read_str, read_value
from smartollama.telemetry.base import NA, Reading, Value

#: attributes read from sysfs, with the scale to base units
_SYSFS = re.compile(
    r"^(?:(temp)\d+_input|(fan)\d+_(?:input|max)|(pwm)\d+(?:_max)?"
    r"|(power)\d+_(?:input|average|cap|max|crit|rated_max)|(energy)\d+_input)$"
)
_SCALE = {"temp": 1e-3, "fan": 1.0, "pwm": 1.0, "power": 1e-6, "energy": 1e-6}
_LABEL = re.compile(r"^((?:temp|fan|power|energy|in)\d+)_label$")

#: node_exporter series → (sensor type, attribute item)
NODE_SERIES: dict[str, tuple[str, str]] = {
    "node_hwmon_temp_celsius": ("temp", "input"),
    "node_hwmon_fan_rpm": ("fan", "input"),
    "node_hwmon_fan_max_rpm": ("fan", "max"),
    "node_hwmon_pwm": ("pwm", ""),
    "node_hwmon_power_watt": ("power", "input"),
    "node_hwmon_power_input_watt": ("power", "input"),
    "node_hwmon_power_average_watt": ("power", "average"),
    "node_hwmon_power_cap_watt": ("power", "cap"),
    "node_hwmon_power_max_watt": ("power", "max"),
    "node_hwmon_power_crit_watt": ("power", "crit"),
    "node_hwmon_power_rated_max_watt": ("power", "rated_max"),
    "node_hwmon_energy_joule_total": ("energy", "input"),
}
_NODE_NAME = {v: k for k, v in reversed(list(NODE_SERIES.items()))}


@record(kw_only=False)
class Chip:
    name: str                   # the hwmon `name`: amdgpu, xe, i915, coretemp...
    source: str                 # "sysfs" or "node_exporter"
    where: str                  # path of the hwmon dir, or node_exporter's chip label
    values: dict[str, float] = field(default_factory=dict)  # attribute → °C, RPM, W, J
    labels: dict[str, str] = field(default_factory=dict)    # sensor ("temp2") → "pkg"
    errors: dict[str, str] = field(default_factory=dict)    # attribute → why it did not read

    def get(self, attr: str) -> float | None:
        return self.values.get(attr)

    def value(self, attr: str) -> Value:
        v = self.values.get(attr)
        if v is not None:
            return v
        return NA(self.errors.get(attr, f"no {attr}"))

    def origin(self, attr: str) -> str:
        """Where `attr` is on this source: a sysfs path, or the node_exporter series."""
        if self.source == "sysfs":
            return f"{self.where}/{attr}"
        m = re.match(r"^([a-z]+)(\d*)_?(.*)$", attr)
        kind, num, item = (m.group(1), m.group(2), m.group(3)) if m else (attr, "", "")
        series = _NODE_NAME.get((kind, item), attr)
        return f'{series}{{chip="{self.where}",sensor="{kind}{num}"}}'

    def channels(self, kind: str, item: str = "input") -> list[int]:
        """N for each `{kind}N_{item}` present, in order."""
        pat = re.compile(rf"^{kind}(\d+)_{item}$")
        return sorted(int(m.group(1)) for a in self.values if (m := pat.match(a)))

    def temperatures(self) -> dict[str, tuple[float, str]]:
        """label (else "tempN") → (°C, attribute)."""
        out: dict[str, tuple[float, str]] = {}
        for n in self.channels("temp"):
            label = self.labels.get(f"temp{n}", f"temp{n}").strip().lower()
            out[label] = (round(self.values[f"temp{n}_input"], 3), f"temp{n}_input")
        return out


def from_sysfs(hw: Path) -> Chip:
    """The chip under a /sys/.../hwmon/hwmonN directory (unreadable files kept as errors)."""
    chip = Chip(read_str(hw / "name") or hw.name, "sysfs", _short(hw))
    try:
        names = sorted(p.name for p in hw.iterdir())
    except OSError:
        return chip
    for name in names:
        m = _SYSFS.match(name)
        if m:
            kind = next(g for g in m.groups() if g)
            v = read_value(hw / name, _SCALE[kind])
            if isinstance(v, NA):
                chip.errors[name] = v.reason
            else:
                chip.values[name] = v
        elif lm := _LABEL.match(name):
            label = read_str(hw / name)
            if label:
                chip.labels[lm.group(1)] = label
    return chip


def _short(hw: Path) -> str:
    """cardN/device/hwmon/hwmonM when the path has it (shorter to read than the full path)."""
    parts = hw.parts
    for i, p in enumerate(parts):
        if p.startswith("card") and p[4:].isdigit():
            return "/".join(parts[i:])
    return str(hw)


def from_node(samples: dict[str, list[tuple[dict[str, str], float]]], chip_key: str, name: str) -> Chip:
    """The chip node_exporter labels `chip_key`, back in sysfs attribute names."""
    chip = Chip(name, "node_exporter", chip_key)
    for series, (kind, item) in NODE_SERIES.items():
        for labels, v in samples.get(series, ()):
            sensor = labels.get("sensor", "")
            if labels.get("chip") != chip_key or not sensor.startswith(kind):
                continue
            attr = f"{sensor}_{item}" if item else sensor
            if v == v:  # NaN: the exporter had no value
                chip.values.setdefault(attr, v)
    for labels, _ in samples.get("node_hwmon_sensor_label", ()):
        if labels.get("chip") == chip_key and labels.get("sensor"):
            chip.labels[labels["sensor"]] = labels.get("label", "")
    return chip


def fan_pct(chip: Chip, detail: dict[str, Any]) -> tuple[Value, str | None]:
    """(% of maximum, attribute) of the fastest fan: fanN_input/fanN_max, else pwmN/pwmN_max (255).

    A fan at 0 RPM is a reading (zero-RPM fan modes); a fan with no maximum
    and no pwm is "RPM only"."""
    rpms = {n: chip.values[f"fan{n}_input"] for n in chip.channels("fan")}
    if rpms:
        detail["fans_rpm"] = list(rpms.values())
    pcts = [(min(100.0, rpm / top * 100.0), f"fan{n}_input")
            for n, rpm in rpms.items() if (top := chip.get(f"fan{n}_max"))]
    if pcts:
        return max(pcts)
    pwms = [(min(100.0, v / (chip.get(f"{a}_max") or 255.0) * 100.0), a)
            for a, v in chip.values.items() if re.fullmatch(r"pwm\d+", a)]
    if pwms:
        return max(pwms)
    if rpms:
        return NA("fan speed in RPM only"), None
    return NA("no fan"), None


def put_temperature(chip: Chip, r: Reading, order: tuple[str, ...]) -> None:
    """temp_c: the first sensor of `order` (labels) the chip has, else its hottest;
    every sensor goes to detail["temps_c"]."""
    temps = {re.sub(r"[^a-z0-9]+", "_", k).strip("_"): v for k, v in chip.temperatures().items()}
    if temps:
        r.detail["temps_c"] = {k: v for k, (v, _) in temps.items()}
    pick = next((temps[k] for k in order if k in temps), None)
    if pick is None and temps:
        pick = max(temps.values())
    if pick is None:
        r.temp_c = NA("no temperature sensor")
    else:
        r.put("temp_c", pick[0], chip.source, chip.origin(pick[1]))
