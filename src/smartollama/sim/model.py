"""One model of a simulated host, on any clock: memory, loads, offload, speed, thermals.

The HTTP simulator (`engine.py`, real time and threads) and the replay
(`smartollama.replay`, simulated time, one thread) both keep a `HostModel`
per host and pass it the time; nothing here reads a clock, sleeps or locks.

Memory follows Ollama's scheduler closely enough for routing to be tested
against it: a runner holds weights + KV cache (one context per parallel slot)
+ overhead; a model that fits the device goes there whole (evicting idle
runners, least recently used first, only as needed); a larger one is split
between device and system RAM when the host can offload; what cannot fit at
all is an out-of-memory error, worded as the current server words it. A
context chosen automatically steps down (32768, then 4096) before that, as
sched.go's reduceAutoNumCtxForLoadOOM does.

Thermals are first order: the host draws ``idle_w`` at rest and ``full_w``
while it computes; its temperature approaches the level that power sustains
(``idle_temp_c`` at idle, ``full_temp_c`` at full load) with the time
constant ``tau_s``; the fan follows the temperature along the host's fan
curve. A host at rest reads exactly the idle figures (its spec's readings).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from smartollama.sim.spec import GB, HostSpec, ModelSpec
from smartollama.sim.wire import FOREVER, SimError

RAM_SLOWDOWN = 10.0  # a layer in system RAM generates this many times slower
PROMPT_SPEEDUP = 20.0  # prompt evaluation runs this many times faster than generation
LOAD_ACTIVITY = 0.3  # the share of full power a host draws while it only loads a model
_MIB = 1024 * 1024


@dataclass
class Runner:
    """A model loaded on the host (what `/api/ps` lists)."""

    model: ModelSpec
    num_ctx: int  # per parallel slot, as `/api/ps` context_length reports it
    size: int  # bytes in all
    size_vram: int  # bytes on the device
    refs: int = 0  # requests using it now
    last_used: float = 0.0  # on the owner's clock
    expires: float = FOREVER  # on the owner's clock
    unload_when_idle: bool = False
    since: float = 0.0  # when it was placed (owner's clock)

    @property
    def gpu_share(self) -> float:
        return self.size_vram / self.size if self.size else 0.0


@dataclass
class Claim:
    """What `HostModel.claim` did: the runner (None: wait for busy runners to
    finish), the load seconds it needs (0 when it was loaded), and the runners
    it unloaded to make room."""

    runner: Runner | None
    load_s: float = 0.0
    evicted: list[Runner] = field(default_factory=list)


class HostModel:
    """The memory and runners of one host. Every method takes the time it
    happens at (``now``, seconds on the owner's clock)."""

    def __init__(self, spec: HostSpec, now: float = 0.0) -> None:
        self.spec = spec
        self.runners: dict[str, Runner] = {}
        self.thermal = Thermal(ThermalFigures.of(spec), now)
        self._needs: dict[tuple[str, int], int] = {}

    # memory -------------------------------------------------------------------------

    @property
    def device_bytes(self) -> int:
        return 0 if self.spec.on_cpu else int(self.spec.vram_gb * GB)

    @property
    def ram_bytes(self) -> int:
        return int(self.spec.ram_gb * GB)

    def memory_used(self) -> tuple[int, int]:
        """(device bytes, system RAM bytes) held by loaded runners."""
        dev = sum(r.size_vram for r in self.runners.values())
        ram = sum(r.size - r.size_vram for r in self.runners.values())
        return dev, ram

    def need(self, model: ModelSpec, num_ctx: int) -> int:
        key = (model.name, num_ctx)
        got = self._needs.get(key)
        if got is None:
            got = self._needs[key] = model.memory_need(num_ctx, self.spec.parallel_for(model))
        return got

    def oom_message(self, need: int) -> str:
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

    def expire(self, now: float) -> list[Runner]:
        """Unload idle runners whose keep-alive ran out (or that were told to go)."""
        gone = [r for r in self.runners.values()
                if r.refs == 0 and (r.expires <= now or r.unload_when_idle)]
        for r in gone:
            del self.runners[r.model.name]
        return gone

    def try_place(self, model: ModelSpec, num_ctx: int, num_gpu: int | None,
                  make: Callable[..., Runner] = Runner) -> Runner | None:
        """A runner if the model fits in free memory now (device first), else None."""
        need = self.need(model, num_ctx)
        dev_used, ram_used = self.memory_used()
        free_dev = max(0, self.device_bytes - dev_used)
        free_ram = max(0, self.ram_bytes - ram_used)
        if self.device_bytes == 0 or num_gpu == 0:
            return make(model, num_ctx, need, 0) if need <= free_ram else None
        if need <= free_dev:
            return make(model, num_ctx, need, need)
        idle_on_device = any(r.refs == 0 and r.size_vram > 0 for r in self.runners.values())
        if need <= self.device_bytes or idle_on_device:
            return None  # evicting would let more (or all) of it sit on the device
        if need <= free_dev + free_ram:
            return make(model, num_ctx, need, free_dev)
        return None

    def fits_at_all(self, model: ModelSpec, num_ctx: int, num_gpu: int | None = None) -> bool:
        need = self.need(model, num_ctx)
        if self.device_bytes == 0 or num_gpu == 0:
            return need <= self.ram_bytes
        return need <= self.device_bytes + self.ram_bytes

    def plan_ctx(self, model: ModelSpec, num_ctx: int, num_gpu: int | None = None, *,
                 auto_ctx: bool = False) -> int:
        """The context the model loads with here; SimError(500) with Ollama's
        out-of-memory text when it cannot fit on this host at all."""
        while auto_ctx and not self.fits_at_all(model, num_ctx, num_gpu) and num_ctx > 4096:
            num_ctx = 32768 if num_ctx > 32768 else 4096
        if not self.fits_at_all(model, num_ctx, num_gpu):
            raise SimError(500, self.oom_message(self.need(model, num_ctx)))
        return num_ctx

    def claim(self, model: ModelSpec, num_ctx: int, num_gpu: int | None, now: float,
              make: Callable[..., Runner] = Runner) -> Claim:
        """One request takes a runner: the loaded one, else a new one placed
        after unloading idle runners (a runner of the same model loaded with
        other options first, then least recently used). ``runner`` is None when
        busy runners hold the memory it needs: ask again when one is released."""
        evicted = self.expire(now)
        while True:
            current = self.runners.get(model.name)
            if current is not None and current.num_ctx == num_ctx and (
                num_gpu != 0 or current.size_vram == 0
            ):
                current.refs += 1
                current.last_used = now
                current.unload_when_idle = False
                return Claim(current, 0.0, evicted)
            if current is not None and current.refs == 0:
                del self.runners[model.name]  # loaded with other options: reload
                evicted.append(current)
                continue
            if current is not None:
                return Claim(None, 0.0, evicted)
            runner = self.try_place(model, num_ctx, num_gpu, make)
            if runner is not None:
                runner.refs = 1
                runner.last_used = runner.since = now
                self.runners[model.name] = runner
                return Claim(runner, self.load_seconds(model), evicted)
            idle = [r for r in self.runners.values() if r.refs == 0]
            if not idle:
                return Claim(None, 0.0, evicted)
            victim = min(idle, key=lambda r: r.last_used)
            del self.runners[victim.model.name]
            evicted.append(victim)

    def release(self, runner: Runner, keep_alive_s: float, now: float) -> list[Runner]:
        """A request is done with ``runner``; returns what expired at once."""
        runner.refs = max(0, runner.refs - 1)
        runner.last_used = now
        if keep_alive_s <= 0:
            runner.unload_when_idle = True
        else:
            runner.unload_when_idle = False
            runner.expires = now + keep_alive_s
        return self.expire(now)

    def unload(self, name: str | None, now: float) -> tuple[list[str], list[Runner]]:
        """Unload one model (or all); busy runners go when their requests end.
        Returns (the names told to go, the runners gone now)."""
        told = []
        for key, r in self.runners.items():
            if name is None or key == name:
                r.unload_when_idle = True
                told.append(key)
        return told, self.expire(now)

    # speed ----------------------------------------------------------------------------

    def load_seconds(self, model: ModelSpec) -> float:
        return float(model.size_gb) / self.spec.load_gb_per_s  # type: ignore[arg-type]

    def tokens_per_s(self, runner: Runner) -> float:
        """Full speed on the device; the share in system RAM runs RAM_SLOWDOWN times slower."""
        base = self.spec.tokens_per_s
        if self.device_bytes == 0:
            return base
        share = runner.gpu_share
        return base / (share + RAM_SLOWDOWN * (1.0 - share))

    def prompt_seconds(self, runner: Runner, prompt_tokens: int) -> float:
        return prompt_tokens / (self.tokens_per_s(runner) * PROMPT_SPEEDUP)


# --- thermals ----------------------------------------------------------------------------

#: per hardware: idle W, full W, idle °C, full-load °C, time constant s, fan % at full load
_THERMAL_DEFAULTS: dict[str, tuple[float, float, float, float, float, float]] = {
    "nvidia": (30.0, 300.0, 40.0, 80.0, 90.0, 90.0),
    "amd": (25.0, 250.0, 40.0, 80.0, 90.0, 85.0),
    "igpu": (4.0, 28.0, 45.0, 78.0, 40.0, 70.0),
    "npu": (1.0, 8.0, 40.0, 52.0, 30.0, 0.0),
    "cpu": (10.0, 65.0, 40.0, 85.0, 60.0, 75.0),
}


@dataclass(frozen=True)
class ThermalFigures:
    """A host's thermal figures; `of(spec)` fills what the spec leaves out
    (idle figures from its readings, the rest from its hardware)."""

    idle_w: float
    full_w: float
    idle_temp_c: float
    full_temp_c: float
    tau_s: float
    #: (°C, fan %) points, temperature rising; None: the host has no fan sensor
    fan_curve: tuple[tuple[float, float], ...] | None

    @classmethod
    def of(cls, spec: HostSpec) -> ThermalFigures:
        d_idle, d_full, d_t0, d_t1, d_tau, d_fan = _THERMAL_DEFAULTS[spec.hardware]
        r = spec.readings
        idle_w = spec.idle_w if spec.idle_w is not None else r.get("power_w", d_idle)
        full_w = spec.full_w if spec.full_w is not None else r.get("power_limit_w", d_full)
        t0 = r.get("temp_c", d_t0)
        t1 = spec.full_temp_c if spec.full_temp_c is not None else max(d_t1, t0 + 10.0)
        tau = spec.thermal_tau_s if spec.thermal_tau_s is not None else d_tau
        curve: tuple[tuple[float, float], ...] | None
        if spec.fan_curve is not None:
            curve = tuple((float(a), float(b)) for a, b in spec.fan_curve)
        elif "fan_pct" in r:
            idle_fan = r["fan_pct"]
            curve = ((t0, idle_fan), (t1, max(idle_fan, d_fan)))
        else:
            curve = None
        return cls(float(idle_w), max(float(full_w), float(idle_w)), float(t0), float(t1),
                   max(float(tau), 1e-6), curve)

    def fan_at(self, temp_c: float) -> float | None:
        """The fan curve, linear between its points, flat beyond its ends."""
        curve = self.fan_curve
        if not curve:
            return None
        if temp_c <= curve[0][0]:
            return curve[0][1]
        for (a, fa), (b, fb) in zip(curve, curve[1:], strict=False):
            if temp_c <= b:
                return fa + (fb - fa) * (temp_c - a) / (b - a) if b > a else fb
        return curve[-1][1]

    def steady_temp(self, power_w: float) -> float:
        span = self.full_w - self.idle_w
        frac = (power_w - self.idle_w) / span if span > 0 else 0.0
        return self.idle_temp_c + frac * (self.full_temp_c - self.idle_temp_c)


class Thermal:
    """Power, temperature and fan of one host over time (first order, exact
    between changes of power), and the energy drawn."""

    def __init__(self, figures: ThermalFigures, now: float = 0.0) -> None:
        self.figures = figures
        self.t = now
        self.activity = 0.0
        self.power_w = figures.idle_w
        self.temp_c = figures.idle_temp_c
        self.energy_j = 0.0

    def advance(self, now: float) -> None:
        """Bring the state to ``now`` (no-op for a time at or before the last)."""
        dt = now - self.t
        if dt <= 0:
            return
        target = self.figures.steady_temp(self.power_w)
        self.temp_c = target + (self.temp_c - target) * math.exp(-dt / self.figures.tau_s)
        self.energy_j += self.power_w * dt
        self.t = now

    def set_activity(self, activity: float, now: float) -> None:
        """From ``now`` on the host computes at ``activity`` (0 idle .. 1 full)."""
        self.advance(now)
        self.activity = min(1.0, max(0.0, activity))
        f = self.figures
        self.power_w = f.idle_w + (f.full_w - f.idle_w) * self.activity

    @property
    def fan_pct(self) -> float | None:
        return self.figures.fan_at(self.temp_c)
