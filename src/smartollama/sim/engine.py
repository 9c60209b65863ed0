"""The state of one simulated Ollama server: what is loaded where, and its readings.

No HTTP here. Memory follows Ollama's scheduler closely enough for routing to be
tested against it: a runner holds weights + KV cache (one context per parallel
slot) + overhead; a model that fits the device goes there whole (evicting idle
runners, least recently used first, only as needed); a larger one is split
between device and system RAM when the host can offload; what cannot fit at all
is an out-of-memory error, worded as the current server words it. A context
chosen automatically steps down (32768, then 4096) before that, as sched.go's
reduceAutoNumCtxForLoadOOM does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from smartollama.sim.spec import GB, HostSpec, ModelSpec
from smartollama.sim.wire import FOREVER, SimError

RAM_SLOWDOWN = 10.0  # a layer in system RAM generates this many times slower
PROMPT_SPEEDUP = 20.0  # prompt evaluation runs this many times faster than generation
_WAIT_LIMIT_S = 120.0  # how long a request waits for busy runners to free memory
_MIB = 1024 * 1024


# --- runners and memory ---------------------------------------------------------


@dataclass
class Runner:
    """A model loaded on the host (what `/api/ps` lists)."""

    model: ModelSpec
    num_ctx: int  # per parallel slot, as `/api/ps` context_length reports it
    size: int  # bytes in all
    size_vram: int  # bytes on the device
    refs: int = 0  # requests using it now
    last_used: float = field(default_factory=time.monotonic)
    expires_mono: float = FOREVER
    expires_wall: float = FOREVER
    ready: threading.Event = field(default_factory=threading.Event)
    unload_when_idle: bool = False

    @property
    def gpu_share(self) -> float:
        return self.size_vram / self.size if self.size else 0.0


class HostEngine:
    """Everything one simulated host knows. Thread-safe; the HTTP layer calls in."""

    def __init__(self, spec: HostSpec, time_scale: float = 1.0) -> None:
        self.spec = spec
        self.time_scale = time_scale
        self._cond = threading.Condition()
        self._runners: dict[str, Runner] = {}
        self._slots = threading.Semaphore(spec.num_parallel)
        self._halt = threading.Event()
        self._waiting = 0
        self._active = 0
        self._readings: dict[str, float] = dict(spec.readings)
        self._energy_mark = time.monotonic()
        self.reset()

    # memory -------------------------------------------------------------------

    @property
    def device_bytes(self) -> int:
        return 0 if self.spec.on_cpu else int(self.spec.vram_gb * GB)

    @property
    def ram_bytes(self) -> int:
        return int(self.spec.ram_gb * GB)

    def memory_used(self) -> tuple[int, int]:
        """(device bytes, system RAM bytes) held by loaded runners."""
        with self._cond:
            self._expire()
            dev = sum(r.size_vram for r in self._runners.values())
            ram = sum(r.size - r.size_vram for r in self._runners.values())
            return dev, ram

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
                runner = self._try_place(model, num_ctx, None)
                if runner is None:
                    raise SimError(500, self._oom_message(self._need(model, num_ctx)))
                runner.ready.set()
                runner.expires_mono = runner.expires_wall = FOREVER
                self._runners[model.name] = runner
            self._cond.notify_all()

    def _expire(self) -> None:
        now = time.monotonic()
        for name, r in list(self._runners.items()):
            if r.refs == 0 and (r.expires_mono <= now or r.unload_when_idle):
                del self._runners[name]

    def _need(self, model: ModelSpec, num_ctx: int) -> int:
        return model.memory_need(num_ctx, self.spec.parallel_for(model))

    def _oom_message(self, need: int) -> str:
        """What llama-server's failed allocation reaches the client as (llm/llama_server.go)."""
        if self.ram_bytes > 0 or self.device_bytes == 0:
            detail = f"ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size {need}"
        elif self.spec.hardware in ("nvidia", "amd"):  # ROCm builds print CUDA's names too
            detail = (f"ggml_backend_cuda_buffer_type_alloc_buffer: allocating {need / _MIB:.2f} MiB "
                      "on device 0: cudaMalloc failed: out of memory")
        else:
            detail = (f"ggml_vulkan: Device memory allocation of size {need} failed: "
                      "VK_ERROR_OUT_OF_DEVICE_MEMORY")
        return f"llama-server reported out-of-memory during startup: {detail}"

    def _try_place(self, model: ModelSpec, num_ctx: int, num_gpu: int | None) -> Runner | None:
        """A runner if the model fits in free memory now (device first), else None."""
        need = self._need(model, num_ctx)
        dev_used = sum(r.size_vram for r in self._runners.values())
        ram_used = sum(r.size - r.size_vram for r in self._runners.values())
        free_dev = max(0, self.device_bytes - dev_used)
        free_ram = max(0, self.ram_bytes - ram_used)
        if self.device_bytes == 0 or num_gpu == 0:
            return Runner(model, num_ctx, need, 0) if need <= free_ram else None
        if need <= free_dev:
            return Runner(model, num_ctx, need, need)
        idle_on_device = any(r.refs == 0 and r.size_vram > 0 for r in self._runners.values())
        if need <= self.device_bytes or idle_on_device:
            return None  # evicting would let more (or all) of it sit on the device
        if need <= free_dev + free_ram:
            return Runner(model, num_ctx, need, free_dev)
        return None

    def _fits_at_all(self, model: ModelSpec, num_ctx: int, num_gpu: int | None) -> bool:
        need = self._need(model, num_ctx)
        if self.device_bytes == 0 or num_gpu == 0:
            return need <= self.ram_bytes
        return need <= self.device_bytes + self.ram_bytes

    def acquire(self, model: ModelSpec, num_ctx: int, num_gpu: int | None = None, *,
                auto_ctx: bool = False) -> tuple[Runner, float]:
        """Reserve a runner for one request: (runner, simulated load seconds, 0 if loaded).

        The caller sleeps the load time (scaled), then calls `loaded(runner)`, and
        `release(runner, keep_alive)` when done. Raises SimError(500) when the
        model cannot fit on this host at all; with `auto_ctx` (no num_ctx in the
        request) a context above 4096 steps down first.
        """
        while auto_ctx and not self._fits_at_all(model, num_ctx, num_gpu) and num_ctx > 4096:
            num_ctx = 32768 if num_ctx > 32768 else 4096
        if not self._fits_at_all(model, num_ctx, num_gpu):
            raise SimError(500, self._oom_message(self._need(model, num_ctx)))
        deadline = time.monotonic() + _WAIT_LIMIT_S
        with self._cond:
            while True:
                self._expire()
                current = self._runners.get(model.name)
                if current is not None and current.num_ctx == num_ctx and (
                    num_gpu != 0 or current.size_vram == 0
                ):
                    current.refs += 1
                    current.last_used = time.monotonic()
                    current.unload_when_idle = False
                    return current, 0.0
                if current is not None and current.refs == 0:
                    del self._runners[model.name]  # loaded with other options: reload
                    continue
                if current is None:
                    runner = self._try_place(model, num_ctx, num_gpu)
                    if runner is not None:
                        runner.refs = 1
                        self._runners[model.name] = runner
                        return runner, runner.model.size_gb / self.spec.load_gb_per_s  # type: ignore[operator]
                    idle = [r for r in self._runners.values() if r.refs == 0]
                    if idle:
                        victim = min(idle, key=lambda r: r.last_used)
                        del self._runners[victim.model.name]
                        continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SimError(500, self._oom_message(self._need(model, num_ctx)))
                self._cond.wait(min(remaining, 0.5))

    def loaded(self, runner: Runner) -> None:
        runner.ready.set()

    def release(self, runner: Runner, keep_alive_s: float) -> None:
        with self._cond:
            runner.refs = max(0, runner.refs - 1)
            now = time.monotonic()
            runner.last_used = now
            if keep_alive_s <= 0:
                runner.unload_when_idle = True
            else:
                runner.unload_when_idle = False
                runner.expires_mono = now + keep_alive_s
                runner.expires_wall = time.time() + keep_alive_s
            self._expire()
            self._cond.notify_all()

    def unload(self, name: str | None = None) -> list[str]:
        """Unload one model (or all); busy runners go when their requests end."""
        with self._cond:
            gone = []
            for key, r in list(self._runners.items()):
                if name is None or key == name:
                    r.unload_when_idle = True
                    gone.append(key)
            self._expire()
            self._cond.notify_all()
            return gone

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

    def _integrate_energy(self) -> None:
        now = time.monotonic()
        if "energy_j" in self._readings and "power_w" in self._readings:
            self._readings["energy_j"] += self._readings["power_w"] * (now - self._energy_mark)
        self._energy_mark = now

    def readings(self) -> dict[str, float]:
        """Current sensor values; the energy counter grows with power over real time."""
        with self._cond:
            self._integrate_energy()
            return dict(self._readings)

    def set_readings(self, values: dict[str, float | None]) -> None:
        with self._cond:
            self._integrate_energy()
            for key, value in values.items():
                if value is None:
                    self._readings.pop(key, None)
                else:
                    self._readings[key] = float(value)

    # speed ------------------------------------------------------------------------------

    def tokens_per_s(self, runner: Runner) -> float:
        """Full speed on the device; the share in system RAM runs RAM_SLOWDOWN times slower."""
        base = self.spec.tokens_per_s
        if self.device_bytes == 0:
            return base
        share = runner.gpu_share
        return base / (share + RAM_SLOWDOWN * (1.0 - share))

    def sleep(self, simulated_s: float) -> None:
        if simulated_s > 0 and self.time_scale > 0:
            self._halt.wait(simulated_s * self.time_scale)
