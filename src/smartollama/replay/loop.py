"""The discrete-event loop: a trace through one policy on a simulated fleet, in simulated time.

Each host is the simulator's `HostModel` (memory, loads with eviction,
offload, speed, thermals) plus a queue: ``num_parallel`` request slots, first
come first served. A request arrives, is decided (the policy returns the
hosts to try, best first), waits for a slot, takes a runner (loading the
model, evicting idle ones, or waiting up to 120 s for busy ones to free
memory, as Ollama's scheduler does), evaluates its prompt, generates its
answer, and completes; a host that cannot hold the model at all answers
out-of-memory and the next choice is tried. Nothing sleeps: events are taken
from a heap in time order. Ties: completions before arrivals.

Temperature and fan follow the power each host draws (`sim.model.Thermal`):
full power while a request computes, a share of it while a model only loads.
The decision sees the readings of that moment. What the CLI learns after a
run (load speed, tokens/s, time to first token, the memory a model really
took, how far fan, temperature and power rose over the run) the sollama run
learns the same way, into an in-memory state (`seen.py`: what a decision
sees, and what a run teaches).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any, Self

from smartollama import names
from smartollama.config import Config
from smartollama.fleet import FleetSnapshot
from smartollama.replay import seen
from smartollama.replay.records import (
    EPOCH,
    KEEP_ALIVE_S,
    MEMORY_WAIT_S,
    PRELOAD_KEEP_ALIVE_S,
    Chooser,
    Decision,
    Host,
    Job,
    Residency,
    RunResult,
)
from smartollama.replay.trace import TraceRequest
from smartollama.sim.inference import CLOUD_TOKENS_PER_S
from smartollama.sim.model import LOAD_ACTIVITY, PROMPT_SPEEDUP, Runner
from smartollama.sim.spec import FleetSpec, ModelSpec
from smartollama.sim.wire import SimError
from smartollama.state import State

# event kinds, in the order they are taken at the same time
_DONE, _LOADED, _TIMEOUT, _HOUR, _ARRIVE = range(5)

__all__ = ["EPOCH", "KEEP_ALIVE_S", "Chooser", "Decision", "Host", "Job", "Residency",
           "RunResult", "Simulation"]


class Simulation:
    """One policy's run over a trace (see the module's docstring)."""

    def __init__(self, spec: FleetSpec, config: Config, trace: list[TraceRequest],
                 chooser: Chooser, *, name: str, learn: bool = False,
                 preload: bool = False, progress: Callable[[int], None] | None = None) -> None:
        self.spec = spec
        self.config = config
        self.trace = trace
        self.chooser = chooser
        self.name = name
        self.learn = learn
        self.preload = preload
        self.progress = progress
        self.hosts = {h.name: Host(h) for h in spec.hosts}
        self.now = 0.0
        self.mode = config.default_mode
        self.state = State()
        self._learned: dict[str, Any] = {}
        self._events: list[tuple[float, int, int, Any]] = []
        #: the trace's indices in the order the requests come (ties: the trace's order)
        self._arrivals = sorted(range(len(trace)), key=lambda i: trace[i].t)
        self._next = 0
        self._seq = 0
        self.jobs: list[Job] = []
        self.preloads: list[Job] = []
        self.loads: list[tuple[float, str, str]] = []
        self.residencies: dict[int, Residency] = {}
        self.closed: list[Residency] = []
        self.fan: list[tuple[float, float]] = []
        self.rr = 0     # a baseline's own counter (round-robin)
        last = trace[-1].t if trace else 0.0
        self.hours = max(1.0, float(math.ceil(last / 3600.0 - 1e-9)))

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> RunResult:
        if self.preload and self.config.preload:
            for hour in range(int(self.hours)):
                self._push(hour * 3600.0, _HOUR, hour)
        for name, h in self.hosts.items():    # the spec's loaded models, kept forever
            for model_name in h.spec.loaded:
                ms = h.spec.model(model_name)
                assert ms is not None
                claim = h.model.claim(ms, h.spec.num_ctx_for(ms), None, 0.0)
                if claim.runner is not None:
                    h.model.release(claim.runner, math.inf, 0.0)
                    self._open(name, claim.runner, 0.0)
        done = 0
        while self.pending():
            if self.step() == _ARRIVE:
                done += 1
                if self.progress is not None and done % 500 == 0:
                    self.progress(500)
        if self.progress is not None:
            self.progress(done % 500)
        horizon = max([self.hours * 3600.0] + [j.done for j in self.jobs if j.done is not None])
        energy = 0.0
        for name, h in self.hosts.items():
            h.model.thermal.advance(horizon)
            energy += h.model.thermal.energy_j
            for runner in list(h.model.runners.values()):
                self._close(name, runner, min(runner.expires, horizon))
        return RunResult(self.name, self.jobs, self.preloads, self.loads, self.closed, energy,
                         horizon, self.hours, self.fan, self.config.default_mode)

    def pending(self) -> bool:
        """Whether anything is left to happen: a request to come, or an event."""
        return bool(self._events) or self._next < len(self._arrivals)

    def step(self) -> int:
        """Take the next event and carry it out; returns its kind. Requests come
        in trace order from their own list, not the heap (a fork copies the heap),
        after whatever else happens at the same moment."""
        if self._next < len(self._arrivals):
            i = self._arrivals[self._next]
            t = self.trace[i].t
            if not self._events or (t, _ARRIVE) < self._events[0][:2]:
                self._next += 1
                self.now = t
                self._arrive(i)
                return _ARRIVE
        t, kind, _, payload = heapq.heappop(self._events)
        self.now = t
        if kind == _DONE:
            self._done(payload)
        elif kind == _LOADED:
            self._activity(self.hosts[payload])
        elif kind == _TIMEOUT:
            self._timeout(payload)
        elif kind == _HOUR:
            self._preload_hour(payload)
        return kind

    def fork(self, *, share: tuple[object, ...] = ()) -> Self:
        """A copy that runs on from now without touching this one. What is in
        flight is copied (hosts, queues, runners, events, what was learned); what
        is over is left behind (the finished jobs and the series the metrics
        read), so a fork costs what is going on, not how long the run has been.
        ``share``: objects the copy keeps by reference (nothing may change them)."""
        import copy

        memo: dict[int, Any] = {id(x): x for x in (self.trace, self.config, self._arrivals,
                                                   *share)}
        for past in (self.jobs, self.preloads, self.loads, self.closed, self.fan):
            memo[id(past)] = []
        memo[id(self.residencies)] = {}
        sim = copy.deepcopy(self, memo)
        for name, h in sim.hosts.items():     # runner ids are the copies' now
            old = self.hosts[name]
            h.ready_at = {id(memo[k]): v for k, v in old.ready_at.items() if k in memo}
            h.rows = {id(memo[k]): v for k, v in old.rows.items() if k in memo}
        return sim

    def _push(self, t: float, kind: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, kind, self._seq, payload))

    # -- events -----------------------------------------------------------------------

    def _arrive(self, i: int) -> None:
        r = self.trace[i]
        t = self.now
        if r.mode:
            self.mode = r.mode
        for h in self.hosts.values():
            self._touch(h)
        self.fan.append((t, max((h.readings().get("fan_pct", 0.0) for h in self.hosts.values()),
                                default=0.0)))
        job = Job(index=i, req=r, mode=self.mode, arrival=t)
        self.jobs.append(job)
        decision = self.chooser(r, self.mode, self, i)
        if decision.refused or not decision.choices:
            job.status = "refused"
            return
        job.choices, job.busy_s = decision.choices, decision.busy_s
        job.asked_keep_alive = decision.keep_alive_s
        self._dispatch(job)

    def _dispatch(self, job: Job) -> None:
        """Send the job to its next choice; out of choices, it ends."""
        while job.attempt < len(job.choices):
            host_name, model_name = job.choices[job.attempt]
            h = self.hosts.get(host_name)
            key = names.canonical(model_name).lower()
            ms = h.by_key.get(key) if h else None
            job.hosts_tried += 1
            if h is not None and ms is None and key in h.remote:
                self._remote(job, host_name, h.remote[key])
                return
            if h is None or ms is None:
                job.attempt += 1
                continue
            try:
                job.num_ctx = h.model.plan_ctx(ms, h.spec.num_ctx_for(ms), None, auto_ctx=True)
            except SimError:
                job.oom += 1
                job.attempt += 1
                continue
            job.host, job.model, job.enqueued = host_name, ms.name, self.now
            busy = job.busy_s[job.attempt] if job.attempt < len(job.busy_s) else None
            job.busy_until = None if busy is None else self.now + busy
            self._touch(h)
            job.before = dict(h.readings())     # as the decision saw it
            if not job.preload:     # what the request named, else the server's default
                job.keep_alive = (job.asked_keep_alive if job.asked_keep_alive is not None
                                  else h.spec.default_keep_alive_s)
            h.queue.append(job)
            self._pump(h)
            return
        job.status = "oom" if job.oom else "failed"

    def _remote(self, job: Job, host: str, ms: ModelSpec) -> None:
        """A cloud model answers from elsewhere, at the simulator's cloud speed."""
        job.host, job.model = host, ms.name
        job.start = self.now
        job.first_token = self.now + job.req.prompt_tokens / (CLOUD_TOKENS_PER_S * PROMPT_SPEEDUP)
        job.done = job.first_token + job.req.answer_tokens / CLOUD_TOKENS_PER_S
        job.status = "ok"

    def _pump(self, h: Host) -> None:
        """Start what can start on ``h``: memory waiters first, then the queue, slots allowing."""
        for job in list(h.waiting):
            if self._start(h, job):
                h.waiting.remove(job)
        while h.queue and len(h.active) + len(h.waiting) < h.spec.num_parallel:
            job = h.queue.popleft()
            if not self._start(h, job):
                h.waiting.append(job)
                self._push(self.now + MEMORY_WAIT_S, _TIMEOUT, job)

    def _start(self, h: Host, job: Job) -> bool:
        t = self.now
        ms = h.spec.model(job.model or "")
        assert ms is not None
        claim = h.model.claim(ms, job.num_ctx, None, t)
        for gone in claim.evicted:
            self._close(h.spec.name, gone, min(gone.expires, t))
        runner = claim.runner
        if runner is None:
            return False
        self._touch(h)
        if claim.load_s > 0:
            self.loads.append((t, h.spec.name, ms.name))
            h.ready_at[id(runner)] = t + claim.load_s
            self._open(h.spec.name, runner, t)
        load_end = max(t, h.ready_at.get(id(runner), t))
        job.runner, job.start, job.load_end = runner, t, load_end
        job.load_s = load_end - t
        job.gpu_share = runner.gpu_share
        job.first_token = load_end + h.model.prompt_seconds(runner, job.req.prompt_tokens)
        tps = h.model.tokens_per_s(runner)
        job.done = job.first_token + job.req.answer_tokens / tps
        res = self.residencies.get(id(runner))
        if res is not None:
            res.uses.append(t)
        h.active.append(job)
        self._activity(h)
        job.peak = dict(h.readings())
        if load_end > t:
            self._push(load_end, _LOADED, h.spec.name)
        self._push(job.done, _DONE, job)
        return True

    def _done(self, job: Job) -> None:
        h = self.hosts[job.host or ""]
        self._touch(h)
        h.active.remove(job)
        runner = job.runner
        assert runner is not None
        for gone in h.model.release(runner, job.keep_alive, self.now):
            self._close(h.spec.name, gone, self.now)
        job.status = "ok"
        if self.learn:
            self._learn(h, job, runner)
        self._activity(h)
        self._pump(h)

    def _timeout(self, job: Job) -> None:
        h = self.hosts[job.host or ""]
        if job not in h.waiting:
            return
        h.waiting.remove(job)       # Ollama gives up: out of memory
        job.oom += 1
        job.attempt += 1
        self._dispatch(job)
        self._pump(h)

    def _preload_hour(self, hour: int) -> None:
        """`sollama preload --now` at the top of the hour, as its crontab line runs it."""
        from smartollama.config import rules_for_hour
        from smartollama.replay.policies import preload_choice

        models = dict.fromkeys(m for r in rules_for_hour(self.config.preload, hour % 24)
                               for m in r.models)
        for model in models:
            choice = preload_choice(self, model)
            if choice is None:
                continue
            req = TraceRequest(t=self.now, model=model, prompt_tokens=0, answer_tokens=0,
                               urgency="batch")
            job = Job(index=-1, req=req, mode=self.mode, arrival=self.now,
                      keep_alive=PRELOAD_KEEP_ALIVE_S, choices=[choice])
            self.preloads.append(job)
            self._dispatch(job)

    # -- thermals ---------------------------------------------------------------------

    def _touch(self, h: Host) -> None:
        """Bring the host's thermals to now, and its jobs' peak readings with them
        (temperature moves monotonically between changes of power: the peak of
        a stretch is at one of its ends)."""
        if h.touched == self.now:      # already brought here (the same readings)
            return
        h.touched = self.now
        h.model.thermal.advance(self.now)
        if not h.active:
            return
        now = h.readings()
        for job in h.active:
            for k, v in now.items():
                if v > job.peak.get(k, -math.inf):
                    job.peak[k] = v

    def _activity(self, h: Host) -> None:
        self._touch(h)
        t = self.now
        if any(j.load_end <= t for j in h.active):
            level = 1.0
        elif h.active:
            level = LOAD_ACTIVITY
        else:
            level = 0.0
        h.model.thermal.set_activity(level, t)

    # -- what a run leaves: loads, memory, learning ----------------------------------------

    def _open(self, host: str, runner: Runner, t: float) -> None:
        self.residencies[id(runner)] = Residency(host, runner.model.name, t, runner.size_vram)

    def _close(self, host: str, runner: Runner, t: float) -> None:
        res = self.residencies.pop(id(runner), None)
        self.hosts[host].ready_at.pop(id(runner), None)
        self.hosts[host].rows.pop(id(runner), None)
        if res is not None:
            res.end = max(res.start, t)
            self.closed.append(res)

    def _learn(self, h: Host, job: Job, runner: Runner) -> None:
        seen.learn(self, h, job, runner)

    def snapshot(self) -> FleetSnapshot:
        return seen.snapshot(self)
