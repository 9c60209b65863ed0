"""`prometheus`: one GPU's readings from an exporter's /metrics page.

Fetched with `http1.get_text` (timeout = the probe budget), parsed with
`_exposition` (only the series an adapter reads: `select`).
Each exporter has its own adapter module, with its units and rules:

- `_nvidia_exporters`: NVIDIA dcgm-exporter (MIG instances, 1.x names, DCGM
  blank values) and utkuozdemir/nvidia_gpu_exporter;
- `_amd_exporter`: ROCm device-metrics-exporter;
- `_node`: node_exporter's hwmon and drm collectors (several cards, xe, i915).

A series the exporter does not have reads NA("not exported"); a zero that
means "not available" reads NA by the rules in `_zeros`. With several GPUs
behind one exporter, `match` (e.g. {uuid = "GPU-…"}, {gpu = "1", GPU_I_ID = "3"},
{card = "card1"}) picks one; without it the first is used and detail says so.
Where an exporter gives energy but no power, power is Δenergy/Δt across probes.
Each value's series is kept in the Reading's `origin`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smartollama.telemetry import _zeros
from smartollama.telemetry._amd_exporter import NAMES as AMD_NAMES
from smartollama.telemetry._amd_exporter import device_metrics
from smartollama.telemetry._common import delta_rate
from smartollama.telemetry._exporter import Found, Samples
from smartollama.telemetry._exposition import metric_name, samples
from smartollama.telemetry._hwmon import NODE_SERIES
from smartollama.telemetry._node import node_exporter
from smartollama.telemetry._nvidia_exporters import DCGM_NAMES, dcgm, is_dcgm_blank, nvidia_smi
from smartollama.telemetry.base import NA, Reading

if TYPE_CHECKING:
    from smartollama.config import TelemetryConfig


def preload() -> None:
    import smartollama.http1  # noqa: F401


def read(cfg: TelemetryConfig, prev: dict[str, Any], now: float, *,
         page: tuple[str | None, str | None] | None = None) -> tuple[Reading, dict[str, Any]]:
    """``page``: `fetch`'s answer for ``cfg.url`` already had in this pass (`dispatch.Pages`)."""
    # the probe's budget (dispatch) is what stops a stalled exporter, and then the
    # previous memo is kept; the fetch's own time-out only frees the worker a little later
    text, why = page if page is not None else fetch(cfg.url or "", fetch_timeout_s(cfg),
                                                    auth=cfg.auth)
    if why:
        return Reading.unavailable("prometheus", why, now), {}
    try:
        samples = parse(text or "")
    except ValueError as exc:
        return Reading.unavailable("prometheus", f"exporter page unreadable: {exc}", now), {}
    return reading_from(samples, dict(cfg.match), prev, now)


def fetch_timeout_s(cfg: TelemetryConfig) -> float:
    """The fetch's time-out for a scrape: a little past the probe's budget."""
    return cfg.timeout_s * 1.5 + 0.1


def fetch(url: str, timeout_s: float, auth: str | None = None
          ) -> tuple[str | None, str | None]:
    """(page, None) or (None, why not). ``auth``: "user:password" (basic)."""
    from smartollama import http1

    # a plain-http exporter costs no TLS context (ssl is imported for https only)
    user, _, password = (auth or "").partition(":")
    try:
        status, text = http1.get_text(url, timeout=timeout_s,
                                      headers={"Accept": "text/plain; version=0.0.4",
                                               "User-Agent": "sollama"},
                                      auth=(user, password) if auth else None)
    except http1.TimeoutException:
        return None, "timed out"
    except (http1.TransportError, http1.InvalidURL) as exc:
        return None, f"exporter unreachable: {type(exc).__name__}: {exc}"
    if status != 200:
        return None, f"exporter answered HTTP {status}"
    return text, None


#: every series an adapter reads; the rest of a page is never parsed
WANTED: frozenset[str] = frozenset({
    *DCGM_NAMES,
    # nvidia_gpu_exporter
    "nvidia_smi_gpu_info", "nvidia_smi_fan_speed_ratio", "nvidia_smi_temperature_gpu",
    "nvidia_smi_power_draw_watts", "nvidia_smi_enforced_power_limit_watts",
    "nvidia_smi_power_limit_watts", "nvidia_smi_memory_free_bytes", "nvidia_smi_memory_used_bytes",
    "nvidia_smi_memory_total_bytes", "nvidia_smi_utilization_gpu_ratio", "nvidia_smi_energy_joules",
    # device-metrics-exporter, with and without the amd_ prefix
    *(p + n for p in ("", "amd_") for n in AMD_NAMES),
    # node_exporter hwmon and drm collectors
    *(n.removesuffix("_total") for n in NODE_SERIES), "node_hwmon_chip_names", "node_hwmon_sensor_label",
    "node_drm_card_info", "node_drm_gpu_busy_percent", "node_drm_memory_vram_size_bytes",
    "node_drm_memory_vram_used_bytes", "node_drm_memory_gtt_size_bytes", "node_drm_memory_gtt_used_bytes",
})


def _wanted(line: str) -> bool:
    if line.startswith("#"):
        parts = line.split(None, 3)
        if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
            return False
        name = parts[2]
    else:
        name = metric_name(line)
    return name in WANTED or (name.endswith("_total") and name[:-6] in WANTED)


def select(text: str) -> str:
    """The page's lines for the series in WANTED (parsing is most of a probe's cost:
    a node_exporter page runs to thousands of lines, a few dozen of them hwmon)."""
    return "\n".join(line for line in text.splitlines() if _wanted(line)) + "\n"


def parse(text: str) -> Samples:
    """sample name → [(labels, value)] for the WANTED series (`_exposition`: not
    prometheus_client's parser, whose package import costs ~25 ms and ssl).

    NaN (an exporter's "unknown") is kept, to read as NA(no value); so are DCGM's
    blank sentinels, turned into NaN (`is_dcgm_blank`). A counter's samples are
    findable both as NAME and NAME_total (dcgm-exporter writes NAME, node_exporter
    NAME_total)."""
    out: Samples = defaultdict(list)
    for name, labels, value, typ in samples(select(text)):
        if name.lower().startswith("dcgm_") and is_dcgm_blank(value):
            value = math.nan
        if typ == "counter":
            base = name.removesuffix("_total")
            out[base].append((labels, value))
            out[base + "_total"].append((dict(labels), value))
        else:
            out[name].append((labels, value))
    return out


#: tried in order; node_exporter's comes last (it takes the memo: xe/i915 power from energy)
ADAPTERS: tuple[Callable[..., Found | str | None], ...] = (dcgm, nvidia_smi, device_metrics)


def reading_from(
    samples: Samples, match: dict[str, str], prev: dict[str, Any], now: float
) -> tuple[Reading, dict[str, Any]]:
    """The Reading for the matched (or first) device of the first exporter recognised."""
    found, why = _find(samples, match, prev, now)
    if found is None:
        return Reading.unavailable("prometheus", why, now), {}
    r = Reading(source="prometheus", time=now)
    for key, value in found.values.items():
        r.put(key, value, found.exporter, found.origins.get(key, ""))
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
    _zeros.apply(r)
    if found.state is not None:
        return r, found.state
    return r, _power_from_energy(r, prev, now, found.device.key)


def _find(samples: Samples, match: dict[str, str], prev: dict[str, Any], now: float
          ) -> tuple[Found | None, str]:
    misses: list[str] = []
    for adapter in ADAPTERS:
        got = adapter(samples, match)
        if isinstance(got, Found):
            return got, ""
        if isinstance(got, str):
            misses.append(got)
    got = node_exporter(samples, match, prev, now)
    if isinstance(got, Found):
        return got, ""
    if isinstance(got, str):
        misses.append(got)
    return None, (misses[0] if misses else "no GPU metrics recognised (dcgm-exporter, "
                  "nvidia_gpu_exporter, device-metrics-exporter, node_exporter)")


def _power_from_energy(r: Reading, prev: dict[str, Any], now: float, device: str) -> dict[str, Any]:
    """An exporter with energy but no power: power = Δenergy/Δt across probes (the memo)."""
    if isinstance(r.energy_j, NA):
        return {}
    state = {"t": now, "energy_j": r.energy_j, "device": device}
    if isinstance(r.power_w, NA) and prev.get("device") == device:
        power, window = delta_rate(prev, "energy_j", r.energy_j, now)
        if not isinstance(power, NA):
            src = r.origin["energy_j"]
            r.put("power_w", power, src["source"], f"Δ {src['field']} / Δt")
        if window:
            r.detail["power_window_s"] = round(window, 3)
    elif isinstance(r.power_w, NA) and r.reason("power_w") == "not exported":
        r.power_w = NA("needs a second sample")
    return state
