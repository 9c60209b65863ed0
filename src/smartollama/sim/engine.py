"""The state of one simulated Ollama server as the HTTP layer steers it, in real time.

No HTTP here, and no memory or thermal logic either: that is `model.py`'s
`HostModel`, shared with the replay. This module runs it on the real clock
(simulated seconds are real seconds / time_scale, from the engine's start),
with threads: request slots, waiting for memory, waking waiters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from smartollama.sim.model import PROMPT_SPEEDUP, RAM_SLOWDOWN, HostModel
from smartollama.sim.model import Runner as _ModelRunner
from smartollama.sim.spec import HostSpec, ModelSpec
from smartollama.sim.wire import FOREVER, SimError

__all__ = ["PROMPT_SPEEDUP", "RAM_SLOWDOWN", "HostEngine", "Runner"]

_WAIT_LIMIT_S = 120.0  # how long a request waits for busy runners to free memory
_THERMAL_KEYS = ("temp_c", "fan_pct", "power_w")


@dataclass
class Runner(_ModelRunner):
    """A runner as the HTTP layer sees it: its load may still be under way, and
    its expiry is kept on the wall clock too (for `/api/ps`)."""

    expires_wall: float = FOREVER
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def expires_mono(self) -> float:
        return self.expires


class HostEngine:
    """Everything one simulated host knows. Thread-safe; the HTTP layer calls in."""

    def __init__(self, spec: HostSpec, time_scale: float = 1.0) -> None:
        self.spec = spec
        self._time_scale = time_scale
        self._cond = threading.Condition()
        self._model = HostModel(spec, 0.0)  # its thermals run on simulated seconds (_sim_now)
        self._slots = threading.Semaphore(spec.num_parallel)
        self._halt = threading.Event()
        self._waiting = 0
        self._active = 0
        self._readings: dict[str, float] = dict(spec.readings)
        self._pinned: set[str] = set()  # readings a test set: the thermal model leaves them be
        self._energy_mark = time.monotonic()
        self._sim_mark = (time.monotonic(), 0.0)  # (real, simulated) when the scale last changed
        self.reset()

    @property
    def time_scale(self) -> float:
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self._sim_mark = (time.monotonic(), self._sim_now())
        self._time_scale = value

    def skip(self, simulated_s: float) -> None:
        """Move the thermal clock ``simulated_s`` simulated seconds on at once (a test
        that wants a host cooled or heated need not wait for it; keep-alives stay
        on the real clock)."""
        with self._cond:
            real0, sim0 = self._sim_mark
            self._sim_mark = (real0, sim0 + max(0.0, simulated_s))

    @property
    def _runners(self) -> dict[str, Runner]:
        return self._model.runners  # type: ignore[return-value]

    # memory -------------------------------------------------------------------

    @property
    def device_bytes(self) -> int:
        return self._model.device_bytes

    @property
    def ram_bytes(self) -> int:
        return self._model.ram_bytes

    def memory_used(self) -> tuple[int, int]:
        """(device bytes, system RAM bytes) held by loaded runners."""
        with self._cond:
            self._expire()
            return self._model.memory_used()

    def reset(self) -> None:
        """A freshly started server: only the spec's preloaded models, kept forever."""
        with self._cond:
            self._runners.clear()
            # requests of the previous life keep their own slots and wake-up event
            self._slots = threading.Semaphore(self.spec.num_parallel)
            self._halt = threading.Event()
            self._waiting = self._active = 0
            for name in self.spec.loaded:
                model = self.spec.model(name)
                assert model is not None
                num_ctx = self.spec.num_ctx_for(model)
                runner = self._model.try_place(model, num_ctx, None, Runner)
                if runner is None:
                    raise SimError(500, self._model.oom_message(self._model.need(model, num_ctx)))
                assert isinstance(runner, Runner)
                runner.ready.set()
                runner.expires = runner.expires_wall = FOREVER
                self._runners[model.name] = runner
            self._set_activity()
            self._cond.notify_all()

    def _expire(self) -> None:
        self._model.expire(time.monotonic())

    def _need(self, model: ModelSpec, num_ctx: int) -> int:
        return self._model.need(model, num_ctx)

    def _oom_message(self, need: int) -> str:
        return self._model.oom_message(need)

    def acquire(self, model: ModelSpec, num_ctx: int, num_gpu: int | None = None, *,
                auto_ctx: bool = False) -> tuple[Runner, float]:
        """Reserve a runner for one request: (runner, simulated load seconds, 0 if loaded).

        The caller sleeps the load time (scaled), then calls `loaded(runner)`, and
        `release(runner, keep_alive)` when done. Raises SimError(500) when the
        model cannot fit on this host at all; with `auto_ctx` (no num_ctx in the
        request) a context above 4096 steps down first.
        """
        num_ctx = self._model.plan_ctx(model, num_ctx, num_gpu, auto_ctx=auto_ctx)
        deadline = time.monotonic() + _WAIT_LIMIT_S
        with self._cond:
            while True:
                claim = self._model.claim(model, num_ctx, num_gpu, time.monotonic(), Runner)
                if claim.runner is not None:
                    assert isinstance(claim.runner, Runner)
                    self._set_activity()
                    return claim.runner, claim.load_s
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SimError(500, self._oom_message(self._need(model, num_ctx)))
                self._cond.wait(min(remaining, 0.5))

    def loaded(self, runner: Runner) -> None:
        runner.ready.set()

    def release(self, runner: Runner, keep_alive_s: float) -> None:
        with self._cond:
            self._model.release(runner, keep_alive_s, time.monotonic())
            if keep_alive_s > 0:
                runner.expires_wall = time.time() + keep_alive_s
            self._set_activity()
            self._cond.notify_all()

    def unload(self, name: str | None = None) -> list[str]:
        """Unload one model (or all); busy runners go when their requests end."""
        with self._cond:
            told, _ = self._model.unload(name, time.monotonic())
            self._cond.notify_all()
            return told

    def preload(self, name: str, keep_alive_s: float = FOREVER, num_ctx: int | None = None) -> None:
        """Load a model at once, without the simulated wait (for tests and control);
        without num_ctx at the context a request without one would get."""
        model = self.spec.model(name)
        if model is None or model.remote:
            raise SimError(404, f"model '{name}' not found")
        runner, _ = self.acquire(model, self.spec.num_ctx_for(model, num_ctx))
        self.loaded(runner)
        self.release(runner, keep_alive_s)

    def runners(self) -> list[Runner]:
        with self._cond:
            self._expire()
            return [r for r in self._runners.values() if r.ready.is_set()]

    # request slots (num_parallel) ----------------------------------------------------

    def enter(self) -> tuple[threading.Semaphore, float]:
        """Wait for a free request slot: (the slot to give back to `leave`, real seconds queued)."""
        start = time.monotonic()
        with self._cond:
            slots = self._slots
            self._waiting += 1
        try:
            slots.acquire()
        finally:
            with self._cond:
                if slots is self._slots:
                    self._waiting -= 1
                    self._active += 1
        return slots, time.monotonic() - start

    def leave(self, slots: threading.Semaphore) -> None:
        with self._cond:
            if slots is self._slots:
                self._active -= 1
        slots.release()

    def halt(self) -> None:
        """The server stopped: cut short the sleeps of requests still running."""
        self._halt.set()

    @property
    def queued(self) -> int:
        return self._waiting

    @property
    def active(self) -> int:
        return self._active

    # readings -------------------------------------------------------------------------

    def _sim_now(self) -> float:
        """Simulated seconds since the engine started (frozen while time_scale is 0)."""
        real0, sim0 = self._sim_mark
        now = time.monotonic()
        if self.time_scale <= 0:
            self._sim_mark = (now, sim0)
            return sim0
        return sim0 + (now - real0) / self.time_scale

    def _set_activity(self) -> None:
        """The thermal model follows the host's work: full power while a request holds a runner."""
        busy = any(r.refs > 0 for r in self._runners.values())
        self._model.thermal.set_activity(1.0 if busy else 0.0, self._sim_now())

    def _integrate_energy(self) -> None:
        now = time.monotonic()
        if "energy_j" in self._readings and "power_w" in self._readings:
            self._readings["energy_j"] += self._current("power_w") * (now - self._energy_mark)
        self._energy_mark = now

    def _current(self, key: str) -> float:
        """A reading now: the thermal model's, unless a test pinned the value."""
        if key in self._pinned or key not in _THERMAL_KEYS:
            return self._readings[key]
        thermal = self._model.thermal
        thermal.advance(self._sim_now())
        value = {"temp_c": thermal.temp_c, "fan_pct": thermal.fan_pct,
                 "power_w": thermal.power_w}[key]
        return self._readings[key] if value is None else round(value, 1)

    def readings(self) -> dict[str, float]:
        """Current sensor values: temperature, fan and power from the thermal model
        (the spec's readings at rest), the energy counter growing with power."""
        with self._cond:
            self._integrate_energy()
            return {k: self._current(k) for k in self._readings}

    def set_readings(self, values: dict[str, float | None]) -> None:
        """Set (pin) sensor values; None removes a sensor."""
        with self._cond:
            self._integrate_energy()
            for key, value in values.items():
                if value is None:
                    self._readings.pop(key, None)
                    self._pinned.discard(key)
                else:
                    self._readings[key] = float(value)
                    self._pinned.add(key)

    # speed ------------------------------------------------------------------------------

    def tokens_per_s(self, runner: Runner) -> float:
        """Full speed on the device; the share in system RAM runs RAM_SLOWDOWN times slower."""
        return self._model.tokens_per_s(runner)

    def sleep(self, simulated_s: float) -> None:
        if simulated_s > 0 and self.time_scale > 0:
            self._halt.wait(simulated_s * self.time_scale)
