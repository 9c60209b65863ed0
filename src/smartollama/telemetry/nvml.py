"""`nvml`: an NVIDIA GPU through NVML (nvidia-ml-py, imported as `pynvml`).

Units as NVML gives them, converted here: power and limits in milliwatts (mW),
energy in millijoules (mJ), memory in bytes, temperature in °C, fan in % of
maximum, utilisation in %.

Error policy (after nvitop's `nvmlQuery(..., default=NA)` and gpustat's
`safenvml`): a call the device does not support (`NVMLError_NotSupported`)
gives NA("not supported"); a function the installed driver or nvidia-ml-py
lacks (`NVMLError_FunctionNotFound`, or no such attribute on the module)
gives NA("not supported by driver") and one warning per process, not one per
call; a missing library or driver makes the whole Reading unavailable with
the reason. Nothing here raises for hardware trouble.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from smartollama.telemetry import _zeros
from smartollama.telemetry.base import NA, Reading, Value

if TYPE_CHECKING:
    from smartollama.config import TelemetryConfig

log = logging.getLogger("smartollama.telemetry")

# NVML return codes (nvml.h); read from the module when it has them.
_CODES = {
    "UNINITIALIZED": 1,
    "INVALID_ARGUMENT": 2,
    "NOT_SUPPORTED": 3,
    "NO_PERMISSION": 4,
    "NOT_FOUND": 6,
    "DRIVER_NOT_LOADED": 9,
    "LIBRARY_NOT_FOUND": 12,
    "FUNCTION_NOT_FOUND": 13,
    "GPU_IS_LOST": 15,
}

#: clocks-event (formerly throttle) reason bits, nvml.h nvmlClocksEventReason*
THROTTLE_BITS: dict[str, tuple[int, str]] = {
    # name: (bit, category)
    "gpu_idle": (0x1, "other"),
    "applications_clocks_setting": (0x2, "other"),
    "sw_power_cap": (0x4, "power"),
    "hw_slowdown": (0x8, "other"),
    "sync_boost": (0x10, "other"),
    "sw_thermal_slowdown": (0x20, "thermal"),
    "hw_thermal_slowdown": (0x40, "thermal"),
    "hw_power_brake_slowdown": (0x80, "power"),
    "display_clock_setting": (0x100, "other"),
}

_state_lock = threading.Lock()
#: pynvml module objects nvmlInit() has succeeded on (one per process in practice)
_initialised: weakref.WeakSet[ModuleType] = weakref.WeakSet()
#: functions already reported missing, per pynvml module: warn once, not on every call
_noted: weakref.WeakKeyDictionary[ModuleType, set[str]] = weakref.WeakKeyDictionary()


class _Missing(Exception):
    """An NVML function the driver or nvidia-ml-py does not have."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def preload() -> None:
    """Import pynvml in the caller's thread (see dispatch._preload)."""
    with contextlib.suppress(ImportError):
        import pynvml  # noqa: F401


def _module() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    module: ModuleType = pynvml
    return module


def _code(nv: ModuleType, name: str) -> int:
    return int(getattr(nv, f"NVML_ERROR_{name}", _CODES[name]))


def _error_class(nv: ModuleType) -> type[BaseException]:
    cls = getattr(nv, "NVMLError", None)
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else _Never


class _Never(Exception):
    """Stands in for NVMLError when a broken module has none (never raised)."""


def _value_of(exc: BaseException) -> int | None:
    v = getattr(exc, "value", None)
    return v if isinstance(v, int) else None


def _init(nv: ModuleType) -> str | None:
    """nvmlInit() once per process; None when ready, else why not."""
    with _state_lock:
        if nv in _initialised:
            return None
        try:
            nv.nvmlInit()
        except _error_class(nv) as exc:
            return _init_reason(nv, exc)
        except Exception as exc:  # e.g. a library/driver version mismatch
            return f"NVML could not start: {exc}"
        _initialised.add(nv)
        return None


def _init_reason(nv: ModuleType, exc: BaseException) -> str:
    code = _value_of(exc)
    if code == _code(nv, "LIBRARY_NOT_FOUND"):
        return "NVML library not found (no NVIDIA driver installed)"
    if code == _code(nv, "DRIVER_NOT_LOADED"):
        return "NVIDIA driver not loaded"
    if code == _code(nv, "NO_PERMISSION"):
        return "no permission to use NVML"
    if code == _code(nv, "UNINITIALIZED"):
        return "NVML uninitialized"
    return f"NVML could not start: {exc}"


def available(cfg: TelemetryConfig | None = None) -> bool:
    """Whether NVML starts and sees at least one GPU (for `source = "auto"`)."""
    nv = _module()
    if nv is None or _init(nv) is not None:
        return False
    try:
        return int(nv.nvmlDeviceGetCount()) > 0
    except Exception:
        return False


def _call(nv: ModuleType, name: str, *args: Any, **kwargs: Any) -> Any:
    fn = getattr(nv, name, None)
    if fn is None:
        raise _Missing(name)
    try:
        return fn(*args, **kwargs)
    except _error_class(nv) as exc:
        if _value_of(exc) == _code(nv, "FUNCTION_NOT_FOUND"):
            raise _Missing(name) from None
        raise


def _note_missing(nv: ModuleType, name: str, what: str) -> None:
    with _state_lock:
        seen = _noted.setdefault(nv, set())
        if name in seen:
            return
        seen.add(name)
    log.warning(
        "NVML function %s is not available with this driver; %s will read as not available "
        "(noted once per process)", name, what,
    )


class _Query:
    """Runs one NVML query per field and turns failures into NA with a reason."""

    def __init__(self, nv: ModuleType) -> None:
        self.nv = nv
        self.error = _error_class(nv)

    def na_for(self, exc: BaseException) -> NA:
        code = _value_of(exc)
        if code == _code(self.nv, "NOT_SUPPORTED"):
            return NA("not supported")
        if code == _code(self.nv, "NO_PERMISSION"):
            return NA("no permission")
        if code == _code(self.nv, "GPU_IS_LOST"):
            return NA("GPU is lost")
        return NA(str(exc) or type(exc).__name__)

    def value(self, what: str, fn: Callable[[], float]) -> Value:
        try:
            return float(fn())
        except _Missing as m:
            _note_missing(self.nv, m.name, what)
            return NA("not supported by driver")
        except self.error as exc:
            return self.na_for(exc)


def read(cfg: TelemetryConfig, prev: dict[str, Any], now: float) -> tuple[Reading, dict[str, Any]]:
    nv = _module()
    if nv is None:
        return Reading.unavailable("nvml", "nvidia-ml-py (pynvml) is not installed", now), {}
    why = _init(nv)
    if why:
        return Reading.unavailable("nvml", why, now), {}
    handle, why = _handle(nv, cfg)
    if why:
        return Reading.unavailable("nvml", why, now), {}

    q = _Query(nv)
    r = Reading(source="nvml", time=now)
    d = r.detail
    d["name"] = _text(q, lambda: _call(nv, "nvmlDeviceGetName", handle))
    d["uuid"] = _text(q, lambda: _call(nv, "nvmlDeviceGetUUID", handle))
    if cfg.uuid is None:
        d["index"] = cfg.index or 0

    r.fan_pct = _fans(nv, q, handle, d)
    temp_sensor = getattr(nv, "NVML_TEMPERATURE_GPU", 0)
    r.temp_c = q.value("temperature", lambda: _call(nv, "nvmlDeviceGetTemperature", handle, temp_sensor))
    # mW → W
    r.power_w = q.value("power draw", lambda: _call(nv, "nvmlDeviceGetPowerUsage", handle) / 1000.0)
    r.power_limit_w = q.value(
        "power limit", lambda: _call(nv, "nvmlDeviceGetEnforcedPowerLimit", handle) / 1000.0
    )
    r.mem_total_gb, r.mem_free_gb = _memory(nv, q, handle, d)
    r.util_pct = q.value("utilization", lambda: _call(nv, "nvmlDeviceGetUtilizationRates", handle).gpu)
    # mJ → J
    r.energy_j = q.value(
        "energy", lambda: _call(nv, "nvmlDeviceGetTotalEnergyConsumption", handle) / 1000.0
    )
    _throttle(nv, q, handle, d)
    for f, fn in _ORIGIN.items():
        if not isinstance(getattr(r, f), NA):
            r.origin[f] = {"source": "nvml", "field": fn}
    _zeros.apply(r)
    return r, {}


#: field → the NVML call it comes from (Reading.origin)
_ORIGIN = {
    "fan_pct": "nvmlDeviceGetFanSpeed_v2 (highest fan)",
    "temp_c": "nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)",
    "power_w": "nvmlDeviceGetPowerUsage",
    "power_limit_w": "nvmlDeviceGetEnforcedPowerLimit",
    "mem_total_gb": "nvmlDeviceGetMemoryInfo.total",
    "mem_free_gb": "nvmlDeviceGetMemoryInfo.free",
    "util_pct": "nvmlDeviceGetUtilizationRates.gpu",
    "energy_j": "nvmlDeviceGetTotalEnergyConsumption",
}


def _handle(nv: ModuleType, cfg: TelemetryConfig) -> tuple[Any, str | None]:
    error = _error_class(nv)
    try:
        if cfg.uuid:
            return _call(nv, "nvmlDeviceGetHandleByUUID", nvml_uuid(cfg.uuid)), None
        return _call(nv, "nvmlDeviceGetHandleByIndex", cfg.index or 0), None
    except _Missing as m:
        return None, f"NVML has no {m.name}"
    except error as exc:
        code = _value_of(exc)
        which = f"uuid {cfg.uuid}" if cfg.uuid else f"index {cfg.index or 0}"
        if code in (_code(nv, "NOT_FOUND"), _code(nv, "INVALID_ARGUMENT")):
            return None, f"no NVIDIA GPU with {which}"
        if code == _code(nv, "UNINITIALIZED"):
            with _state_lock:  # someone shut NVML down: start it again next time
                _initialised.discard(nv)
            return None, "NVML uninitialized"
        return None, f"NVIDIA GPU with {which}: {exc}"


def nvml_uuid(uuid: str) -> str:
    """The UUID as NVML expects it: nvidia-smi's `GPU-…` (or `MIG-…`) form.

    nvidia_gpu_exporter and some dashboards show UUIDs without the prefix;
    nvmlDeviceGetHandleByUUID finds nothing for those."""
    u = uuid.strip()
    return u if u[:4].upper() in ("GPU-", "MIG-") else "GPU-" + u


def _text(q: _Query, fn: Callable[[], Any]) -> str | None:
    try:
        v = fn()
    except (_Missing, q.error):
        return None
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def _fans(nv: ModuleType, q: _Query, handle: Any, detail: dict[str, Any]) -> Value:
    """The highest fan's speed in %; NA("no fan") on fanless (datacenter) boards."""
    try:
        count = int(_call(nv, "nvmlDeviceGetNumFans", handle))
    except (_Missing, q.error) as exc:
        # old driver, or a board that cannot count its fans: try the single-fan call
        if isinstance(exc, q.error) and q.na_for(exc).reason != "not supported":
            return q.na_for(exc)
        legacy = q.value("fan speed", lambda: _call(nv, "nvmlDeviceGetFanSpeed", handle))
        if not isinstance(legacy, NA):
            detail["fans_pct"] = [legacy]
        return legacy
    if count <= 0:
        return NA("no fan")
    speeds: list[float] = []
    last: Value = NA("not supported")
    for i in range(count):
        v = q.value("fan speed", functools.partial(_call, nv, "nvmlDeviceGetFanSpeed_v2", handle, i))
        if isinstance(v, NA):
            last = v
        else:
            speeds.append(v)
    if not speeds:
        return last
    detail["fans_pct"] = speeds
    return max(speeds)


def _memory(nv: ModuleType, q: _Query, handle: Any, detail: dict[str, Any]) -> tuple[Value, Value]:
    """(total, free) in GB; the v2 API where the driver has it (its free excludes reserved)."""
    version = getattr(nv, "nvmlMemory_v2", None)
    info = None
    if version is not None:
        try:
            info = _call(nv, "nvmlDeviceGetMemoryInfo", handle, version=version)
            detail["memory_api"] = "v2"
        except (_Missing, q.error, TypeError):
            info = None  # a driver without _v2, or nvidia-ml-py without `version=`
    if info is None:
        try:
            info = _call(nv, "nvmlDeviceGetMemoryInfo", handle)
            detail["memory_api"] = "v1"
        except _Missing as m:
            _note_missing(nv, m.name, "memory")
            na = NA("not supported by driver")
            return na, na
        except q.error as exc:
            na = q.na_for(exc)
            return na, na
    # bytes → GB
    total = float(info.total) / 1e9
    free = float(info.free) / 1e9
    reserved = getattr(info, "reserved", None)
    if isinstance(reserved, int) and reserved:
        detail["mem_reserved_gb"] = round(reserved / 1e9, 3)
    return total, free


def _throttle(nv: ModuleType, q: _Query, handle: Any, detail: dict[str, Any]) -> None:
    """Name the clocks-event (throttle) reasons active now in detail["throttle"]."""
    mask = None
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        try:
            mask = int(_call(nv, name, handle))
            break
        except _Missing:
            continue
        except q.error as exc:
            detail["throttle"] = q.na_for(exc).reason
            return
    if mask is None:
        _note_missing(nv, "nvmlDeviceGetCurrentClocksEventReasons", "throttle reasons")
        detail["throttle"] = "not supported by driver"
        return
    active = [name for name, (bit, _) in THROTTLE_BITS.items() if mask & bit]
    detail["throttle"] = active
    detail["throttle_thermal"] = any(THROTTLE_BITS[n][1] == "thermal" for n in active)
    detail["throttle_power"] = any(THROTTLE_BITS[n][1] == "power" for n in active)
