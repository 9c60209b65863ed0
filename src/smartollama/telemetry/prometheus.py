"""`prometheus`: one GPU's readings from an exporter's /metrics page.

Fetched with httpx (timeout = the probe budget), parsed with
`prometheus_client.parser`. The exporters people run, with their units:

- NVIDIA dcgm-exporter (default counters): `DCGM_FI_DEV_GPU_TEMP` °C,
  `DCGM_FI_DEV_POWER_USAGE` W, `DCGM_FI_DEV_FB_FREE` / `_FB_USED` / `_FB_TOTAL`
  MiB, `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` mJ, `DCGM_FI_DEV_GPU_UTIL` %,
  `DCGM_FI_DEV_FAN_SPEED` % and `DCGM_FI_DEV_ENFORCED_POWER_LIMIT` W (when
  enabled); devices labelled `gpu`, `UUID`.
- utkuozdemir/nvidia_gpu_exporter: `nvidia_smi_fan_speed_ratio` (0-1),
  `nvidia_smi_temperature_gpu` °C, `nvidia_smi_power_draw_watts`,
  `nvidia_smi_enforced_power_limit_watts`, `nvidia_smi_memory_{free,used,total}_bytes`,
  `nvidia_smi_utilization_gpu_ratio` (0-1), `nvidia_smi_energy_joules_total`;
  labelled `uuid`, with `index` and `name` on `nvidia_smi_gpu_info`. A field
  the GPU lacks (an H100's fan) is simply absent.
- ROCm device-metrics-exporter: `gpu_junction_temperature`, `gpu_edge_temperature`
  °C, `gpu_package_power` (else `gpu_average_package_power`, `gpu_power_usage`) W,
  `gpu_{total,used,free}_vram` MB as amd-smi counts them (MiB),
  `gpu_energy_consumed` µJ, `gpu_gfx_activity` %; also with an `amd_` prefix;
  labelled `gpu_id`.
- node_exporter hwmon: `node_hwmon_temp_celsius`, `node_hwmon_fan_rpm` /
  `node_hwmon_fan_max_rpm`, `node_hwmon_pwm` (0-255), `node_hwmon_power_average_watt`
  and `node_hwmon_power_watt`, `node_hwmon_power_cap_watt`, `node_hwmon_energy_joule_total`,
  labelled {chip, sensor}; the GPU's chip is found through
  `node_hwmon_chip_names{chip, chip_name}` (amdgpu, i915, xe) and sensors are
  named through `node_hwmon_sensor_label{chip, sensor, label}`. VRAM and busy %
  come from the drm collector (`node_drm_*{card}`) when it is on.

A series the exporter does not have reads NA("not exported"). With several
GPUs behind one exporter, `match` (e.g. {uuid = "GPU-…"}, {gpu = "1"},
{chip = "amdgpu"}) picks one; without it the first is used and detail says so.
Where an exporter gives energy but no power, power is Δenergy/Δt across probes.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartollama.telemetry._common import delta_rate
from smartollama.telemetry.base import NA, Reading, Value

if TYPE_CHECKING:
    from smartollama.config import TelemetryConfig

MIB = 1024 * 1024
NOT_EXPORTED = "not exported"
GPU_CHIPS = ("amdgpu", "i915", "xe", "nouveau")
CPU_CHIPS = ("coretemp", "k10temp", "zenpower")

#: matcher keys that mean the same thing across exporters
_ALIASES: tuple[tuple[str, ...], ...] = (
    ("gpu", "index", "gpu_id", "gpu_index", "minor_number"),
    ("uuid", "gpu_uuid"),
    ("chip", "chip_name"),
    ("name", "modelname", "card_model", "model"),
    ("card",),
)

Samples = dict[str, list[tuple[dict[str, str], float]]]


def preload() -> None:
    with contextlib.suppress(ImportError):
        import httpx  # noqa: F401
        import prometheus_client.parser  # noqa: F401


def read(cfg: TelemetryConfig, prev: dict[str, Any], now: float, *,
         page: tuple[str | None, str | None] | None = None) -> tuple[Reading, dict[str, Any]]:
    """``page``: `fetch`'s answer for ``cfg.url`` already had in this pass."""
    text, why = page if page is not None else fetch(cfg.url or "", cfg.timeout_s, auth=cfg.auth)
    if why:
        return Reading.unavailable("prometheus", why, now), {}
    try:
        samples = parse(text or "")
    except ValueError as exc:
        return Reading.unavailable("prometheus", f"exporter page unreadable: {exc}", now), {}
    return reading_from(samples, dict(cfg.match), prev, now)


def fetch(url: str, timeout_s: float, auth: str | None = None
          ) -> tuple[str | None, str | None]:
    """(page, None) or (None, why not). ``auth``: "user:password" (basic)."""
    try:
        import httpx
    except ImportError:
        return None, "httpx is not installed"
    # Loading the CA bundle costs ~25 ms a call; a plain-http exporter needs none.
    verify = not url.lower().startswith("http://")
    try:
        resp = httpx.get(
            url, timeout=timeout_s, follow_redirects=True, verify=verify,
            headers={"Accept": "text/plain; version=0.0.4"},
            auth=tuple(auth.split(":", 1)) if auth else None,  # type: ignore[arg-type]
        )
    except httpx.TimeoutException:
        return None, "timed out"
    except httpx.HTTPError as exc:
        return None, f"exporter unreachable: {type(exc).__name__}: {exc}"
    if resp.status_code != 200:
        return None, f"exporter answered HTTP {resp.status_code}"
    return resp.text, None


#: every series an adapter below reads; the rest of a page is never parsed
WANTED: frozenset[str] = frozenset({
    # dcgm-exporter
    "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "DCGM_FI_DEV_POWER_MGMT_LIMIT", "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_TOTAL", "DCGM_FI_DEV_FB_RESERVED",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FAN_SPEED",
    # nvidia_gpu_exporter
    "nvidia_smi_gpu_info", "nvidia_smi_fan_speed_ratio", "nvidia_smi_temperature_gpu",
    "nvidia_smi_power_draw_watts", "nvidia_smi_enforced_power_limit_watts",
    "nvidia_smi_power_limit_watts", "nvidia_smi_memory_free_bytes", "nvidia_smi_memory_used_bytes",
    "nvidia_smi_memory_total_bytes", "nvidia_smi_utilization_gpu_ratio", "nvidia_smi_energy_joules",
    # device-metrics-exporter, with and without the amd_ prefix
    *(p + n for p in ("", "amd_") for n in (
        "gpu_junction_temperature", "gpu_edge_temperature", "gpu_memory_temperature",
        "gpu_package_power", "gpu_average_package_power", "gpu_power_usage", "gpu_total_vram",
        "gpu_used_vram", "gpu_free_vram", "gpu_energy_consumed", "gpu_gfx_activity",
    )),
    # node_exporter hwmon and drm collectors
    "node_hwmon_chip_names", "node_hwmon_sensor_label", "node_hwmon_temp_celsius",
    "node_hwmon_fan_rpm", "node_hwmon_fan_max_rpm", "node_hwmon_pwm", "node_hwmon_power_average_watt",
    "node_hwmon_power_watt", "node_hwmon_power_cap_watt", "node_hwmon_power_max_watt",
    "node_hwmon_energy_joule", "node_drm_gpu_busy_percent", "node_drm_memory_vram_size_bytes",
    "node_drm_memory_vram_total_bytes", "node_drm_memory_vram_used_bytes",
})


def _wanted(line: str) -> bool:
    if line.startswith("#"):
        parts = line.split(None, 3)
        if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
            return False
        name = parts[2]
    else:
        end = len(line)
        for sep in ("{", " ", "\t"):
            i = line.find(sep)
            if 0 <= i < end:
                end = i
        name = line[:end]
    return name in WANTED or (name.endswith("_total") and name[:-6] in WANTED)


def select(text: str) -> str:
    """The page's lines for the series in WANTED (parsing is most of a probe's cost:
    a node_exporter page runs to thousands of lines, a few dozen of them hwmon)."""
    return "\n".join(line for line in text.splitlines() if _wanted(line)) + "\n"


def parse(text: str) -> Samples:
    """sample name → [(labels, value)] for the WANTED series; NaN (exporters' "unknown") left out."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError as exc:
        raise ValueError("prometheus-client is not installed") from exc
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(select(text)):
        for s in family.samples:
            value = float(s.value)
            if math.isnan(value):
                continue
            out[s.name].append((dict(s.labels), value))
            # the parser names a counter's samples NAME_total even where the page
            # wrote NAME (dcgm-exporter's counters): keep them findable as written
            if family.type == "counter" and s.name == family.name + "_total":
                out[family.name].append((dict(s.labels), value))
    return out


# --- choosing a device ---------------------------------------------------------------


@dataclass
class Device:
    key: str  # value of the exporter's device label
    labels: dict[str, str] = field(default_factory=dict)  # every label seen on it


def _canon(key: str) -> tuple[str, ...]:
    k = key.lower()
    for group in _ALIASES:
        if k in group:
            return group
    return (k,)


def _norm(key: str, value: str) -> str:
    v = value.strip().lower()
    if "uuid" in key.lower() and v.startswith("gpu-"):
        v = v[4:]
    return v


def matches(labels: dict[str, str], match: dict[str, str]) -> bool:
    """Each matcher key (or an alias of it) has the wanted value on this device."""
    lower = {k.lower(): v for k, v in labels.items()}
    for key, want in match.items():
        names = _canon(key)
        if not any(n in lower and _norm(n, lower[n]) == _norm(n, want) for n in names):
            return False
    return True


def _natural(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


def pick(devices: dict[str, Device], match: dict[str, str], what: str) -> tuple[Device | None, str | None]:
    """(device, None), or (None, why not); several without a matcher → the first, noted."""
    ordered = [devices[k] for k in sorted(devices, key=_natural)]
    if match:
        chosen = [d for d in ordered if matches(d.labels, match)]
        if not chosen:
            have = ", ".join(d.key for d in ordered) or "none"
            return None, f"no {what} matches {_show(match)} (exporter has: {have})"
        return chosen[0], None
    if not ordered:
        return None, f"no {what} in the exporter's output"
    return ordered[0], None


def _show(match: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in match.items()) + "}"


# --- the exporters -------------------------------------------------------------------


@dataclass
class Found:
    """What one exporter adapter read for the chosen device."""

    exporter: str
    device: Device
    count: int
    values: dict[str, Value]
    detail: dict[str, Any] = field(default_factory=dict)


def _devices_by(samples: Samples, names: Iterable[str], keys: tuple[str, ...]) -> dict[str, Device]:
    devices: dict[str, Device] = {}
    for name in names:
        for labels, _ in samples.get(name, ()):
            key = next((labels[k] for k in keys if k in labels), None)
            if key is None:
                continue
            dev = devices.setdefault(key, Device(key))
            dev.labels.update(labels)
    return devices


def _getter(samples: Samples, key_labels: tuple[str, ...], key: str) -> Callable[[str], float | None]:
    def get(name: str) -> float | None:
        for labels, value in samples.get(name, ()):
            if next((labels[k] for k in key_labels if k in labels), None) == key:
                return value
        return None
    return get


def _v(x: float | None, scale: float = 1.0) -> Value:
    return NA(NOT_EXPORTED) if x is None else x * scale


def _first(get: Callable[[str], float | None], *names: str) -> float | None:
    for n in names:
        v = get(n)
        if v is not None:
            return v
    return None


def _dcgm(samples: Samples, match: dict[str, str]) -> Found | str | None:
    names = [n for n in samples if n.startswith("DCGM_FI_DEV_")]
    if not names:
        return None
    keys = ("gpu", "UUID", "uuid")
    devices = _devices_by(samples, names, keys)
    dev, why = pick(devices, match, "GPU")
    if dev is None:
        return why
    get = _getter(samples, keys, dev.key)
    free, used = get("DCGM_FI_DEV_FB_FREE"), get("DCGM_FI_DEV_FB_USED")
    total = get("DCGM_FI_DEV_FB_TOTAL")
    if total is None and free is not None and used is not None:
        total = free + used + (get("DCGM_FI_DEV_FB_RESERVED") or 0.0)
    values: dict[str, Value] = {
        "fan_pct": _v(get("DCGM_FI_DEV_FAN_SPEED")),
        "temp_c": _v(get("DCGM_FI_DEV_GPU_TEMP")),
        "power_w": _v(get("DCGM_FI_DEV_POWER_USAGE")),
        "power_limit_w": _v(_first(get, "DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "DCGM_FI_DEV_POWER_MGMT_LIMIT")),
        "mem_total_gb": _v(total, MIB / 1e9),  # MiB → GB
        "mem_free_gb": _v(free, MIB / 1e9),
        "util_pct": _v(get("DCGM_FI_DEV_GPU_UTIL")),
        "energy_j": _v(get("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"), 1e-3),  # mJ → J
    }
    detail = {"name": dev.labels.get("modelName")} if dev.labels.get("modelName") else {}
    return Found("dcgm-exporter", dev, len(devices), values, detail)


def _nvidia_smi(samples: Samples, match: dict[str, str]) -> Found | str | None:
    names = [n for n in samples if n.startswith("nvidia_smi_")]
    if not names:
        return None
    keys = ("uuid",)
    devices = _devices_by(samples, names, keys)
    dev, why = pick(devices, match, "GPU")
    if dev is None:
        return why
    get = _getter(samples, keys, dev.key)
    values: dict[str, Value] = {
        "fan_pct": _v(get("nvidia_smi_fan_speed_ratio"), 100.0),  # ratio → %
        "temp_c": _v(get("nvidia_smi_temperature_gpu")),
        "power_w": _v(get("nvidia_smi_power_draw_watts")),
        "power_limit_w": _v(_first(get, "nvidia_smi_enforced_power_limit_watts", "nvidia_smi_power_limit_watts")),
        "mem_total_gb": _v(get("nvidia_smi_memory_total_bytes"), 1e-9),  # bytes → GB
        "mem_free_gb": _v(get("nvidia_smi_memory_free_bytes"), 1e-9),
        "util_pct": _v(get("nvidia_smi_utilization_gpu_ratio"), 100.0),
        "energy_j": _v(get("nvidia_smi_energy_joules_total")),
    }
    detail = {"name": dev.labels["name"]} if dev.labels.get("name") else {}
    return Found("nvidia_gpu_exporter", dev, len(devices), values, detail)


_AMD_NAMES = (
    "gpu_junction_temperature", "gpu_edge_temperature", "gpu_package_power",
    "gpu_average_package_power", "gpu_power_usage", "gpu_total_vram", "gpu_gfx_activity",
)


def _amd(samples: Samples, match: dict[str, str]) -> Found | str | None:
    prefix = next((p for p in ("", "amd_") if any(p + n in samples for n in _AMD_NAMES)), None)
    if prefix is None:
        return None
    names = [n for n in samples if n.startswith(prefix + "gpu_")]
    keys = ("gpu_id", "gpu_uuid", "serial_number")
    devices = _devices_by(samples, names, keys)
    dev, why = pick(devices, match, "GPU")
    if dev is None:
        return why

    by_key = _getter(samples, keys, dev.key)

    def get(name: str) -> float | None:
        return by_key(prefix + name)

    temps = {k: v for k in ("junction", "edge", "memory") if (v := get(f"gpu_{k}_temperature")) is not None}
    total, used, free = get("gpu_total_vram"), get("gpu_used_vram"), get("gpu_free_vram")
    if free is None and total is not None and used is not None:
        free = total - used
    values: dict[str, Value] = {
        "fan_pct": NA(NOT_EXPORTED),
        "temp_c": _v(temps.get("junction", temps.get("edge"))),
        "power_w": _v(_first(get, "gpu_package_power", "gpu_average_package_power", "gpu_power_usage")),
        "power_limit_w": NA(NOT_EXPORTED),
        "mem_total_gb": _v(total, MIB / 1e9),  # amd-smi "MB" (MiB) → GB
        "mem_free_gb": _v(free, MIB / 1e9),
        "util_pct": _v(get("gpu_gfx_activity")),
        "energy_j": _v(get("gpu_energy_consumed"), 1e-6),  # µJ → J
    }
    detail: dict[str, Any] = {"temps_c": temps} if temps else {}
    if dev.labels.get("card_model"):
        detail["name"] = dev.labels["card_model"]
    return Found("device-metrics-exporter", dev, len(devices), values, detail)


_LABEL_CLEAN = re.compile(r"[^a-z0-9]+")


def _clean(label: str) -> str:
    return _LABEL_CLEAN.sub("_", label.lower()).strip("_")


def _node_hwmon(samples: Samples, match: dict[str, str]) -> Found | str | None:
    names = [n for n in samples if n.startswith("node_hwmon_")]
    if not names:
        return None
    chip_names: dict[str, str] = {}
    for labels, _ in samples.get("node_hwmon_chip_names", ()):
        if "chip" in labels:
            chip_names[labels["chip"]] = labels.get("chip_name", labels["chip"])
    devices: dict[str, Device] = {}
    for name in names:
        for labels, _ in samples[name]:
            chip = labels.get("chip")
            if chip and name not in ("node_hwmon_sensor_label",):
                devices.setdefault(chip, Device(chip, {"chip": chip, "chip_name": chip_names.get(chip, chip)}))
    note = None
    if not match:
        gpus = {k: d for k, d in devices.items() if d.labels["chip_name"] in GPU_CHIPS}
        if gpus:
            devices = gpus
        else:
            cpus = {k: d for k, d in devices.items() if d.labels["chip_name"] in CPU_CHIPS}
            if cpus:
                devices = cpus
                note = "no GPU chip in node_exporter's hwmon; using the CPU package sensor"
    dev, why = pick(devices, match, "hwmon chip")
    if dev is None:
        return why
    chip = dev.key
    sensor_labels = {
        labels.get("sensor", ""): _clean(labels.get("label", ""))
        for labels, _ in samples.get("node_hwmon_sensor_label", ())
        if labels.get("chip") == chip
    }

    def series(name: str) -> dict[str, float]:
        return {labels.get("sensor", ""): v for labels, v in samples.get(name, ()) if labels.get("chip") == chip}

    temps = {sensor_labels.get(s) or s: v for s, v in series("node_hwmon_temp_celsius").items()}
    temp: float | None = None
    for label in ("junction", "edge", "pkg", "package_id_0", "tctl", "tdie"):
        if label in temps:
            temp = temps[label]
            break
    if temp is None and temps:
        temp = max(temps.values())

    rpm, top, pwm = series("node_hwmon_fan_rpm"), series("node_hwmon_fan_max_rpm"), series("node_hwmon_pwm")
    fan: Value = NA(NOT_EXPORTED)
    pcts = [min(100.0, v / top[s] * 100.0) for s, v in rpm.items() if top.get(s)]
    if pcts:
        fan = max(pcts)
    elif pwm:
        fan = min(100.0, max(pwm.values()) / 255.0 * 100.0)
    elif rpm:
        fan = NA("fan speed in RPM only")

    power = _first(lambda n: next(iter(series(n).values()), None), "node_hwmon_power_average_watt", "node_hwmon_power_watt")
    limit = _first(lambda n: next(iter(series(n).values()), None), "node_hwmon_power_cap_watt", "node_hwmon_power_max_watt")
    energy = next(iter(series("node_hwmon_energy_joule_total").values()), None)
    values: dict[str, Value] = {
        "fan_pct": fan,
        "temp_c": _v(temp),
        "power_w": _v(power),
        "power_limit_w": _v(limit),
        "mem_total_gb": NA(NOT_EXPORTED),
        "mem_free_gb": NA(NOT_EXPORTED),
        "util_pct": NA(NOT_EXPORTED),
        "energy_j": _v(energy),
    }
    detail: dict[str, Any] = {"name": dev.labels["chip_name"]}
    if temps:
        detail["temps_c"] = temps
    if rpm:
        detail["fans_rpm"] = list(rpm.values())
    if note:
        detail["note"] = note
    if dev.labels["chip_name"] == "amdgpu":
        _node_drm(samples, match, values, detail)
    return Found("node_exporter", dev, len(devices), values, detail)


def _node_drm(samples: Samples, match: dict[str, str], values: dict[str, Value], detail: dict[str, Any]) -> None:
    """VRAM and busy % from node_exporter's drm collector, when it can be tied to one card."""
    cards = sorted({labels["card"] for name in samples if name.startswith("node_drm_")
                    for labels, _ in samples[name] if "card" in labels})
    if "card" in match:
        cards = [c for c in cards if c == match["card"]]
    if len(cards) != 1:
        if len(cards) > 1:
            detail["drm"] = f"{len(cards)} cards in node_drm_*; set match.card to use one"
        return
    card = cards[0]

    def get(name: str) -> float | None:
        return next((v for labels, v in samples.get(name, ()) if labels.get("card") == card), None)

    total = _first(get, "node_drm_memory_vram_size_bytes", "node_drm_memory_vram_total_bytes")
    used = get("node_drm_memory_vram_used_bytes")
    if total is not None:
        values["mem_total_gb"] = total / 1e9
        if used is not None:
            values["mem_free_gb"] = max(0.0, total - used) / 1e9
    busy = get("node_drm_gpu_busy_percent")
    if busy is not None:
        values["util_pct"] = busy
    detail["card"] = card


ADAPTERS: tuple[Callable[[Samples, dict[str, str]], Found | str | None], ...] = (
    _dcgm, _nvidia_smi, _amd, _node_hwmon,
)


def reading_from(
    samples: Samples, match: dict[str, str], prev: dict[str, Any], now: float
) -> tuple[Reading, dict[str, Any]]:
    """The Reading for the matched (or first) device of the first exporter recognised."""
    found: Found | None = None
    misses: list[str] = []
    for adapter in ADAPTERS:
        got = adapter(samples, match)
        if isinstance(got, Found):
            found = got
            break
        if isinstance(got, str):
            misses.append(got)
    if found is None:
        why = misses[0] if misses else "no GPU metrics recognised (dcgm-exporter, nvidia_gpu_exporter, device-metrics-exporter, node_exporter)"
        return Reading.unavailable("prometheus", why, now), {}

    r = Reading(source="prometheus", time=now)
    for key, value in found.values.items():
        setattr(r, key, value)
    d = r.detail
    d["exporter"] = found.exporter
    d["device"] = found.device.key
    d.update({k: v for k, v in found.detail.items() if v is not None})
    if found.count > 1 and not match:
        d["devices"] = found.count
        d["note_devices"] = (
            f"{found.count} devices behind this exporter and no match set; "
            f"using the first ({found.device.key})"
        )

    state: dict[str, Any] = {}
    if not isinstance(r.energy_j, NA):
        state = {"t": now, "energy_j": r.energy_j, "device": found.device.key}
        if isinstance(r.power_w, NA) and prev.get("device") == found.device.key:
            power, window = delta_rate(prev, "energy_j", r.energy_j, now)
            r.power_w = power if not isinstance(power, NA) else r.power_w
            if window:
                d["power_window_s"] = round(window, 3)
        elif isinstance(r.power_w, NA):
            r.power_w = NA("needs a second sample")
    return r, state
