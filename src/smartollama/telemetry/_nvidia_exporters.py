"""NVIDIA exporters: dcgm-exporter (4.x, 3.x, 2.x and 1.x names) and nvidia_gpu_exporter.

dcgm-exporter (DCGM field docs, dcgm_fields.h): `DCGM_FI_DEV_GPU_TEMP` °C,
`DCGM_FI_DEV_POWER_USAGE` W, `DCGM_FI_DEV_FB_FREE` / `_FB_USED` / `_FB_TOTAL`
MiB, `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` mJ, `DCGM_FI_DEV_GPU_UTIL` %,
`DCGM_FI_DEV_FAN_SPEED` %, `DCGM_FI_DEV_ENFORCED_POWER_LIMIT` W; labelled
`gpu`, `UUID`. dcgm-exporter 1.x (NVIDIA/gpu-monitoring-tools) wrote the same
fields as `dcgm_gpu_temp`, `dcgm_power_usage`, `dcgm_fb_free`, ... labelled
`gpu`, `uuid`.

MIG: with MIG on, dcgm-exporter writes one line per GPU instance, labelled
`GPU_I_ID` and `GPU_I_PROFILE`, for every field: the framebuffer fields are the
instance's own memory, the device fields (temperature, power, energy) are the
whole GPU's, copied to each instance, and `DCGM_FI_DEV_GPU_UTIL` is not
measured per instance (DCGM documents `DCGM_FI_PROF_GR_ENGINE_ACTIVE` for it).
So a backend names its instance with `match = { gpu = "0", GPU_I_ID = "3" }`;
without one, a MIG GPU's memory is not available (a model cannot span
instances) and the rest is the GPU's.

DCGM blank values (dcgm_structs.h: DCGM_INT32_BLANK 0x7ffffff0, DCGM_INT64_BLANK
0x7ffffffffffffff0, DCGM_FP64_BLANK 140737488355328.0, each with NOT_FOUND,
NOT_SUPPORTED, NOT_PERMISSIONED just above), which dcgm-exporter printed as
numbers before 4.0, are turned into NaN by the parser (`is_dcgm_blank`).

nvidia_gpu_exporter (utkuozdemir): `nvidia_smi_fan_speed_ratio` (0-1),
`nvidia_smi_temperature_gpu` °C, `nvidia_smi_power_draw_watts`,
`nvidia_smi_enforced_power_limit_watts`, `nvidia_smi_memory_{free,used,total}_bytes`,
`nvidia_smi_utilization_gpu_ratio` (0-1), `nvidia_smi_energy_joules_total`;
labelled `uuid` (without `GPU-`), with `index` and `name` on
`nvidia_smi_gpu_info`. A field the GPU lacks (an H100's fan) is simply absent.
"""

from __future__ import annotations

from collections.abc import Callable

from smartollama.telemetry._exporter import (
    MIB,
    Found,
    Reader,
    Samples,
    canon,
    devices_by,
    pick,
    series,
    show,
    val,
)
from smartollama.telemetry.base import NA, Value

#: DCGM's blank sentinels: each base, and the NOT_FOUND / NOT_SUPPORTED / NOT_PERMISSIONED above it
_BLANKS = (0x7FFFFFF0, 140737488355328.0)
_INT64_BLANK = float(0x7FFFFFFFFFFFFFF0)


def is_dcgm_blank(v: float) -> bool:
    return any(b <= v < b + 16 for b in _BLANKS) or v >= _INT64_BLANK


#: our name → (dcgm-exporter 2.x+ field, dcgm-exporter 1.x name)
DCGM_FIELDS: dict[str, tuple[str, str]] = {
    "temp": ("DCGM_FI_DEV_GPU_TEMP", "dcgm_gpu_temp"),
    "power": ("DCGM_FI_DEV_POWER_USAGE", "dcgm_power_usage"),
    "limit": ("DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "dcgm_enforced_power_limit"),
    "mgmt_limit": ("DCGM_FI_DEV_POWER_MGMT_LIMIT", "dcgm_power_mgmt_limit"),
    "fb_free": ("DCGM_FI_DEV_FB_FREE", "dcgm_fb_free"),
    "fb_used": ("DCGM_FI_DEV_FB_USED", "dcgm_fb_used"),
    "fb_total": ("DCGM_FI_DEV_FB_TOTAL", "dcgm_fb_total"),
    "fb_reserved": ("DCGM_FI_DEV_FB_RESERVED", "dcgm_fb_reserved"),
    "energy": ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "dcgm_total_energy_consumption"),
    "util": ("DCGM_FI_DEV_GPU_UTIL", "dcgm_gpu_utilization"),
    "fan": ("DCGM_FI_DEV_FAN_SPEED", "dcgm_fan_speed"),
    "gr_active": ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "dcgm_gr_engine_active"),
}
DCGM_NAMES = frozenset(n for pair in DCGM_FIELDS.values() for n in pair)
_INSTANCE_KEYS = ("gpu_i_id", "mig", "instance")
_SHOWN = ("gpu", "UUID", "uuid", "GPU_I_ID")


class _DcgmReader(Reader):
    """A GPU's lines; with `instance`, only that GPU instance's (the framebuffer fields)."""

    def __init__(self, samples: Samples, key: str, old: bool, instance: str | None) -> None:
        super().__init__(samples, ("gpu", "UUID", "uuid"), key, _SHOWN)
        self.old, self.instance = old, instance

    def field(self, short: str) -> float | None:
        name = DCGM_FIELDS[short][1 if self.old else 0]
        rows = [(lab, v) for lab, v in self.samples.get(name, ()) if self._mine(lab)]
        if self.instance is not None:
            rows = [(lab, v) for lab, v in rows if lab.get("GPU_I_ID") == self.instance]
        else:  # the GPU's own line where there is one; device fields are the same on every instance
            rows.sort(key=lambda row: "GPU_I_ID" in row[0])
        if not rows:
            return None
        self.where[short] = series(name, rows[0][0], _SHOWN)
        return rows[0][1]


def dcgm(samples: Samples, match: dict[str, str]) -> Found | str | None:
    old = not any(n.startswith("DCGM_FI_") for n in samples)
    names = [n for n in samples if n in DCGM_NAMES]
    if not names:
        return None
    gpu_match = {k: v for k, v in match.items() if canon(k)[0] not in _INSTANCE_KEYS}
    want_instance = next((v for k, v in match.items() if canon(k)[0] in _INSTANCE_KEYS), None)
    devices = devices_by(samples, names, ("gpu", "UUID", "uuid"))
    dev, why = pick(devices, gpu_match, "GPU")
    if dev is None:
        return why
    instances = sorted({lab["GPU_I_ID"] for n in names for lab, _ in samples[n]
                        if "GPU_I_ID" in lab and lab.get("gpu", lab.get("UUID")) == dev.key},
                       key=lambda s: (len(s), s))
    if want_instance is not None and want_instance not in instances:
        return (f"no MIG instance matches {show(match)} on GPU {dev.key} "
                f"(instances: {', '.join(instances) or 'none, MIG is off'})")
    get = _DcgmReader(samples, dev.key, old, want_instance).field
    if instances and want_instance is None:
        why_not = NA(f"MIG is on: set match.GPU_I_ID to one instance ({', '.join(instances)})")
        mem: tuple[Value, Value] = (why_not, why_not)
    else:
        mem = _framebuffer(get)
    values: dict[str, Value] = {
        "fan_pct": val(get("fan")),
        "temp_c": val(get("temp")),
        "power_w": val(get("power")),
        "power_limit_w": val(get("limit") if get("limit") is not None else get("mgmt_limit")),
        "mem_total_gb": mem[0],
        "mem_free_gb": mem[1],
        "util_pct": _util(get, bool(instances)),
        "energy_j": val(get("energy"), 1e-3),  # mJ → J
    }
    origins = _dcgm_origins(_DcgmReader(samples, dev.key, old, want_instance), bool(instances))
    if instances and want_instance is None:
        origins.pop("mem_free_gb", None), origins.pop("mem_total_gb", None)
    detail: dict[str, object] = {"name": dev.labels["modelName"]} if dev.labels.get("modelName") else {}
    if instances:
        detail["mig_instances"] = instances
    if want_instance is not None:
        profile = next((lab.get("GPU_I_PROFILE") for n in names for lab, _ in samples[n]
                        if lab.get("GPU_I_ID") == want_instance), None)
        detail["mig_instance"] = f"{want_instance} ({profile})" if profile else want_instance
        detail["note_mig"] = "memory is the instance's; temperature, power and energy the whole GPU's"
    return Found("dcgm-exporter" + (" 1.x" if old else ""), dev, len(devices), values, detail, origins)


def _framebuffer(get: Callable[[str], float | None]) -> tuple[Value, Value]:
    """(total, free) GB from the framebuffer fields (MiB)."""
    free, used, total = get("fb_free"), get("fb_used"), get("fb_total")
    if total is None and free is not None and used is not None:
        total = free + used + (get("fb_reserved") or 0.0)
    return val(total, MIB / 1e9), val(free, MIB / 1e9)  # MiB → GB


def _util(get: Callable[[str], float | None], mig: bool) -> Value:
    if mig:  # DCGM_FI_DEV_GPU_UTIL reads 0 on MIG; the profiling field is the instance's busy share
        active = get("gr_active")
        return val(active, 100.0) if active is not None else NA("not measured per MIG instance")
    return val(get("util"))


def _dcgm_origins(reader: _DcgmReader, mig: bool) -> dict[str, str]:
    """field → the series each value came from (the same choice of lines as the values)."""
    out: dict[str, str] = {}
    for f, shorts in (("fan_pct", ("fan",)), ("temp_c", ("temp",)), ("power_w", ("power",)),
                      ("power_limit_w", ("limit", "mgmt_limit")), ("mem_free_gb", ("fb_free",)),
                      ("util_pct", ("gr_active",) if mig else ("util",)), ("energy_j", ("energy",))):
        for s in shorts:
            if reader.field(s) is not None:
                out[f] = reader.where[s]
                break
    if reader.field("fb_total") is not None:
        out["mem_total_gb"] = reader.where["fb_total"]
    elif reader.field("fb_free") is not None and reader.field("fb_used") is not None:
        out["mem_total_gb"] = f"{reader.where['fb_free']} + {reader.where['fb_used']}"
    return out


def nvidia_smi(samples: Samples, match: dict[str, str]) -> Found | str | None:
    names = [n for n in samples if n.startswith("nvidia_smi_")]
    if not names:
        return None
    devices = devices_by(samples, names, ("uuid",))
    dev, why = pick(devices, match, "GPU")
    if dev is None:
        return why
    r = Reader(samples, ("uuid",), dev.key)
    limit, limit_name = r.first("nvidia_smi_enforced_power_limit_watts", "nvidia_smi_power_limit_watts")
    values: dict[str, Value] = {
        "fan_pct": val(r.get("nvidia_smi_fan_speed_ratio"), 100.0),  # ratio → %
        "temp_c": val(r.get("nvidia_smi_temperature_gpu")),
        "power_w": val(r.get("nvidia_smi_power_draw_watts")),
        "power_limit_w": val(limit),
        "mem_total_gb": val(r.get("nvidia_smi_memory_total_bytes"), 1e-9),  # bytes → GB
        "mem_free_gb": val(r.get("nvidia_smi_memory_free_bytes"), 1e-9),
        "util_pct": val(r.get("nvidia_smi_utilization_gpu_ratio"), 100.0),
        "energy_j": val(r.get("nvidia_smi_energy_joules_total")),
    }
    keys = {"fan_pct": "nvidia_smi_fan_speed_ratio", "temp_c": "nvidia_smi_temperature_gpu",
            "power_w": "nvidia_smi_power_draw_watts", "power_limit_w": limit_name or "",
            "mem_total_gb": "nvidia_smi_memory_total_bytes", "mem_free_gb": "nvidia_smi_memory_free_bytes",
            "util_pct": "nvidia_smi_utilization_gpu_ratio", "energy_j": "nvidia_smi_energy_joules_total"}
    origins = {f: r.where[k] for f, k in keys.items() if k in r.where}
    detail = {"name": dev.labels["name"]} if dev.labels.get("name") else {}
    return Found("nvidia_gpu_exporter", dev, len(devices), values, detail, origins)


