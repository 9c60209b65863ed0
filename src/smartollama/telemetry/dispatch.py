"""`probe()`: read one backend's telemetry source within its time budget.

Each source lives in its own module (nvml, amdgpu, intel, cpu, prometheus,
static) and is imported here only when asked for, so importing
`smartollama.telemetry` costs no pynvml, psutil or HTTP client.

A source's `read(cfg, prev, now)` returns `(Reading, state)`. It runs in a
daemon worker thread; the caller waits at most `cfg.timeout_s`, after which
every field reads NA("timed out") and the worker is left behind (a daemon
thread never holds up the process's exit, unlike a thread pool's workers).
The state (a JSON-able dict) comes back as the opaque `memo` the caller keeps
in its state cache and hands to the next probe: sources that derive a rate
from a counter (power from an energy counter, busy share from busy time) need
the previous sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from smartollama.telemetry.base import FIELDS, NA, Reading
from smartollama.telemetry.static import KEYS as STATIC_FIELDS

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    import threading
    from typing import Any

    from smartollama.config import TelemetryConfig

    _Result = tuple[Reading, dict[str, Any]]


def _debug(msg: str, *args: Any) -> None:
    """Log a swallowed failure with its traceback (logging imported only then)."""
    import logging

    logging.getLogger("smartollama.telemetry").debug(msg, *args, exc_info=True)

#: source name → module under smartollama.telemetry that reads it
MODULES: dict[str, str] = {
    "nvml": "nvml",
    "amdgpu": "amdgpu",
    "intel-gpu": "intel",
    "intel-npu": "intel",
    "cpu": "cpu",
    "prometheus": "prometheus",
    "static": "static",
}

#: what `source = "auto"` reads for each declared hardware
BY_HARDWARE: dict[str, str] = {
    "nvidia": "nvml",
    "amd": "amdgpu",
    "igpu": "intel-gpu",
    "npu": "intel-npu",
    "cpu": "cpu",
}


class Pages:
    """Exporter pages fetched during one pass, by URL: backends that share an
    exporter (two GPUs behind one dcgm-exporter) cause one scrape, not two.
    Thread-safe: a second asker waits for the first one's fetch."""

    def __init__(self) -> None:
        import threading  # here, not at the top: a warm call probes nothing (~1 ms)

        self._new_lock = threading.Lock
        self._lock = threading.Lock()
        self._pages: dict[Any, tuple[threading.Lock, list[Any]]] = {}

    def get(self, url: Any, fetch: Callable[[], tuple[str | None, str | None]]
            ) -> tuple[str | None, str | None]:
        with self._lock:
            entry = self._pages.setdefault(url, (self._new_lock(), []))
        lock, box = entry
        with lock:
            if not box:
                box.append(fetch())
        result: tuple[str | None, str | None] = box[0]
        return result


def probe(
    cfg: TelemetryConfig,
    *,
    hardware: str = "auto",
    memo: dict[str, Any] | None = None,
    now: float | None = None,
    pages: Pages | None = None,
) -> _Result:
    """Read `cfg.source` within `cfg.timeout_s`; return (reading, memo for next time).

    Never raises for hardware trouble: a missing library, driver, file or
    exporter is a Reading whose fields are NA with the reason. `hardware`
    (a backend's `hardware` key) guides `source = "auto"`. `now` is the epoch
    time stamped on the reading and used for rates (default: the clock).
    `pages`: exporter pages already fetched in this pass (shared scrapes).
    """
    now = time.time() if now is None else float(now)
    memo = memo if isinstance(memo, dict) else {}
    source = cfg.source
    if source == "none":
        return _all_na(Reading(source="none", time=now), "no telemetry configured"), {}
    if source == "static":
        from smartollama.telemetry import static

        return static.read(cfg, now), {}

    budget = float(cfg.timeout_s)
    if source != "auto":
        _preload(source)
    else:
        _preload(BY_HARDWARE.get(hardware, "nvml"))

    def work() -> _Result:
        name: str = source
        picked: str | None = None
        if name == "auto":
            try:
                name = picked = resolve_auto(cfg, hardware)
            except Exception as exc:  # same rule as a failing source
                _debug("telemetry auto-detection failed")
                return Reading.unavailable("auto", f"auto-detection failed: {exc}", now), {}
            _preload(name)  # an `auto` pick other than the one preloaded
        reading, state = _read(name, cfg, memo, now, pages)
        if picked:
            reading.detail["picked_by"] = f"auto ({hardware})"
        return reading, state

    done = _run_with_budget(work, budget)
    if done is None:
        shown = source if source != "auto" else f"auto ({hardware})"
        reading = Reading.unavailable(shown, "timed out", now)
        reading.detail["budget_s"] = budget
        return _fill_configured(reading, cfg), memo
    reading, state = done
    return _fill_configured(reading, cfg), state


def resolve_auto(cfg: TelemetryConfig, hardware: str) -> str:
    """The source `auto` means for this hardware (see DESIGN.md, Telemetry)."""
    if hardware in BY_HARDWARE:
        return BY_HARDWARE[hardware]
    from smartollama.telemetry import amdgpu, nvml

    if nvml.available(cfg):
        return "nvml"
    if amdgpu.find_card(cfg) is not None:
        return "amdgpu"
    return "cpu"


def _read(name: str, cfg: TelemetryConfig, memo: dict[str, Any], now: float,
          pages: Pages | None = None) -> _Result:
    prev = memo.get("state") if memo.get("source") == name else None
    try:
        module = _source_module(MODULES[name])
        if name == "prometheus" and pages is not None:
            url = cfg.url or ""
            page = pages.get((url, cfg.auth),
                             lambda: module.fetch(url, module.fetch_timeout_s(cfg),
                                                  auth=cfg.auth))
            reading, state = module.read(cfg, prev or {}, now, page=page)
        elif name == "intel-npu":
            reading, state = module.read_npu(cfg, prev or {}, now)
        else:
            reading, state = module.read(cfg, prev or {}, now)
    except Exception as exc:  # a source bug must not stop routing; --debug shows it
        _debug("telemetry source %s failed", name)
        return Reading.unavailable(name, f"probe failed: {type(exc).__name__}: {exc}", now), {}
    return reading, ({"source": name, "state": state} if state else {})


def prepare(cfg: TelemetryConfig, hardware: str = "auto") -> None:
    """Import what probing ``cfg`` will need, now (so that a caller can do it
    before taking a lock rather than while holding it)."""
    _preload(cfg.source if cfg.source != "auto" else BY_HARDWARE.get(hardware, "nvml"))


def _preload(name: str) -> None:
    """Import a source and its library in the caller's thread, outside the budget.

    Importing pynvml or psutil takes longer than some budgets; the
    budget is for the reading, not for Python's import machinery.
    """
    modname = MODULES.get(name)
    if modname is None:
        return
    try:
        module = _source_module(modname)
        preload = getattr(module, "preload", None)
        if preload is not None:
            preload()
    except Exception:  # the read reports it with a reason
        _debug("preloading telemetry source %s failed", name)


def _source_module(name: str) -> Any:
    """``smartollama.telemetry.<name>`` (importlib, with the warnings it imports, only
    when a source is read: never on a warm call)."""
    import importlib

    return importlib.import_module(f"smartollama.telemetry.{name}")


def _run_with_budget(fn: Callable[[], _Result], budget: float) -> _Result | None:
    """fn() in a daemon thread; its result, or None when it overran the budget."""
    import threading

    box: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
            box["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=target, name="sollama-telemetry", daemon=True)
    worker.start()
    if not finished.wait(budget):
        return None
    if "error" in box:
        raise box["error"]
    result: _Result = box["result"]
    return result


def _all_na(reading: Reading, reason: str) -> Reading:
    for f in FIELDS:
        setattr(reading, f, NA(reason))
    return reading


def _fill_configured(reading: Reading, cfg: TelemetryConfig) -> Reading:
    """A value set in the config fills a field the source could not read.

    For instance `telemetry = { source = "intel-npu", fan_pct = 0 }`: the NPU
    driver knows nothing of fans, the owner knows it has none. A value the
    source did read is never replaced.
    """
    filled = []
    for f in STATIC_FIELDS:
        value = getattr(cfg, f, None)
        if value is not None and isinstance(getattr(reading, f), NA):
            setattr(reading, f, float(value))
            filled.append(f)
    if filled:
        reading.detail["configured"] = filled
    return reading
