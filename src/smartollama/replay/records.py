"""The replay loop's records: a simulated host with its queue, a request on its way
through the fleet (`Job`), a policy's choice (`Decision`), and what a run leaves
(`RunResult`); the loop itself is `loop.Simulation`."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smartollama import names
from smartollama.fleet import BackendState, LoadedModel, ModelInfo
from smartollama.replay.trace import TraceRequest
from smartollama.sim.model import HostModel, Runner
from smartollama.sim.spec import HostSpec, ModelSpec

if TYPE_CHECKING:
    from smartollama.replay.loop import Simulation

#: 2026-11-23T00:00:00Z, a Monday: the simulated day starts here (t = 0)
EPOCH = 1795392000.0
KEEP_ALIVE_S = 300.0  # Ollama's default keep_alive (a host's own: `keep_alive_s`)
PRELOAD_KEEP_ALIVE_S = 3600.0  # `sollama preload`'s default --keepalive
MEMORY_WAIT_S = 120.0  # how long a request waits for busy runners to free memory


@dataclass
class Decision:
    """What a policy chose for one request: the (host, model) pairs to try, best first."""

    choices: list[tuple[str, str]] = field(default_factory=list)
    refused: bool = False
    action: str = "run"
    #: the keep_alive the request names (None: the server's default)
    keep_alive_s: float | None = None
    #: per choice, how long the decision expects the request to keep that host busy
    busy_s: list[float | None] = field(default_factory=list)


#: a policy: (request, its mode, the simulation, its index in the trace) → Decision
Chooser = Callable[[TraceRequest, str, "Simulation", int], Decision]


@dataclass(eq=False)
class Job:
    """One request (or a preload) as it moves through the fleet."""

    index: int  # in the trace; -1 for a preload
    req: TraceRequest
    mode: str
    arrival: float
    keep_alive: float = KEEP_ALIVE_S
    #: the keep_alive the request named (None: the host's default, set when it is sent)
    asked_keep_alive: float | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    busy_s: list[float | None] = field(default_factory=list)
    #: when the decision expects it to end on its host (None: no estimate)
    busy_until: float | None = None
    attempt: int = 0
    hosts_tried: int = 0
    oom: int = 0
    status: str = "pending"  # ok | oom (every choice out of memory) | failed | refused
    host: str | None = None
    model: str | None = None
    num_ctx: int = 0
    runner: Runner | None = None
    enqueued: float = 0.0
    start: float | None = None
    load_end: float = 0.0
    first_token: float | None = None
    done: float | None = None
    load_s: float = 0.0
    gpu_share: float = 1.0
    #: the highest readings of its host while it was served (None: no such sensor)
    peak: dict[str, float] = field(default_factory=dict)
    #: its host's readings when it was sent there (what a run learns its heat against)
    before: dict[str, float] = field(default_factory=dict)

    @property
    def preload(self) -> bool:
        return self.index < 0

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.arrival


class Host:
    """One simulated host in the loop: the shared host model plus its queue."""

    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.model = HostModel(spec, 0.0)
        self.queue: deque[Job] = deque()
        self.active: list[Job] = []      # holding a slot and a runner
        self.waiting: list[Job] = []     # holding a slot, waiting for memory
        self.ready_at: dict[int, float] = {}    # runner id → when its load ends
        self.by_key: dict[str, ModelSpec] = {
            names.canonical(m.name).lower(): m for m in spec.models if not m.remote}
        #: cloud models the host lists: answered remotely, no memory, no slot, no heat
        self.remote: dict[str, ModelSpec] = {
            names.canonical(m.name).lower(): m for m in spec.models if m.remote}
        self.infos = {k: _info(m) for k, m in {**self.by_key, **self.remote}.items()}
        #: ps rows by runner id (a runner's row never changes)
        self.rows: dict[int, tuple[str, LoadedModel]] = {}
        self.state: BackendState | None = None      # as the last snapshot showed it
        self.touched = -1.0                         # when `Simulation._touch` last ran
        self._readings_key: tuple[float, float] | None = None
        self._readings: dict[str, float] = {}

    def row(self, r: Runner) -> tuple[str, LoadedModel]:
        name = names.canonical(r.model.name)
        row = self.rows[id(r)] = (name.lower(), LoadedModel(
            name=name, size_bytes=r.size, size_vram_bytes=r.size_vram, context_length=r.num_ctx))
        return row

    @property
    def in_flight(self) -> int:
        return len(self.queue) + len(self.active) + len(self.waiting)

    def readings(self) -> dict[str, float]:
        """The sensors the host has (its spec's reading keys), as of the thermal
        state's time (the same dict until it changes: read, never change it)."""
        th = self.model.thermal
        key = (th.t, th.power_w)
        if self._readings_key == key:
            return self._readings
        self._readings_key = key
        self._readings = self._read()
        return self._readings

    def _read(self) -> dict[str, float]:
        th = self.model.thermal
        have = self.spec.readings
        out: dict[str, float] = {}
        if "temp_c" in have:
            out["temp_c"] = round(th.temp_c, 1)
        fan = th.fan_pct
        if "fan_pct" in have and fan is not None:
            out["fan_pct"] = round(fan, 1)
        if "power_w" in have:
            out["power_w"] = round(th.power_w, 1)
        if "power_limit_w" in have:
            out["power_limit_w"] = have["power_limit_w"]
        return out


def _info(m: ModelSpec) -> ModelInfo:
    return ModelInfo(name=names.canonical(m.name), size_bytes=m.size_bytes,
                     parameter_size=m.parameter_size, quantization=m.quantization,
                     family=m.family, block_count=m.block_count,
                     embedding_length=m.embedding_length, head_count=m.head_count,
                     head_count_kv=m.head_count_kv, context_length=m.context_length,
                     sliding_window=m.sliding_window, capabilities=tuple(m.capabilities or ()))


@dataclass
class Residency:
    """A runner's stay on a host: what it held on the device, and when it was used."""

    host: str
    model: str
    start: float
    vram: int
    end: float | None = None
    uses: list[float] = field(default_factory=list)


@dataclass
class RunResult:
    name: str
    jobs: list[Job]                 # the trace's requests, in trace order
    preloads: list[Job]
    loads: list[tuple[float, str, str]]     # (time, host, model) of every model load
    residencies: list[Residency]
    energy_j: float
    horizon_s: float
    hours: float
    #: (time, loudest fan % of the fleet) at each arrival, for the plot
    fan: list[tuple[float, float]]
    default_mode: str
