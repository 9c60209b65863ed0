"""Hindsight: would another host have answered a slow request in time, at the moment it came?

`sollama replay --hindsight` replays sollama's run once more (a run is
deterministic) and, as each request arrives that took longer than the p95
target to its first token, sends a copy of the simulation that request on
each host that holds the model it was answered with, everything else as
sollama decides, and runs the copy until that first token. So each slow
request is one of:

- `no_host`: no host would have answered it in time at that moment (what
  made it slow was already there: a busy card, a model to load, a long prompt);
- `breaking_mode`: another host would have, only by breaking the mode in
  force (its fan, temperature or power went over the mode's limits);
- `within_mode`: another host would have, within the mode: a decision to
  look at.

It looks one step back, no further: a different choice earlier in the day
might have left the fleet otherwise when the request came.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from smartollama import names
from smartollama.config import Config
from smartollama.replay.loop import Chooser, Decision, Job, Simulation
from smartollama.replay.metrics import TARGETS, TIMED, over_limits
from smartollama.replay.policies import sollama
from smartollama.replay.trace import TraceRequest
from smartollama.sim.spec import FleetSpec

#: the time to first token a request is slow beyond: the p95 target's
LIMIT_S = TARGETS["ttft_p95_interactive_s"][1]
OUTCOMES = ("no_host", "breaking_mode", "within_mode")
#: the most slow requests checked (each costs a copy of the simulation per host, and
#: on a fleet with long queues, running that copy through them)
MAX_CHECKED = 200


@dataclass
class Alternative:
    host: str
    #: None: it never got its first token there (out of memory, or no memory in time)
    ttft_s: float | None
    #: the mode's limits that host broke while serving it
    over: list[str]
    #: the host sollama chose (its time is the one the run had)
    chosen: bool


@dataclass
class Slow:
    """One request sollama answered later than ``LIMIT_S``, tried on each host."""

    t: float
    model: str
    mode: str
    host: str
    ttft_s: float
    alternatives: list[Alternative]

    def in_time(self) -> list[Alternative]:
        """The other hosts that would have answered within ``LIMIT_S``."""
        return [a for a in self.alternatives if not a.chosen
                and a.ttft_s is not None and a.ttft_s <= LIMIT_S]

    @property
    def outcome(self) -> str:
        sooner = self.in_time()
        if any(not a.over for a in sooner):
            return "within_mode"
        return "breaking_mode" if sooner else "no_host"


@dataclass
class Hindsight:
    """How many requests were slow, and those checked (all, up to ``MAX_CHECKED``)."""

    slow: int
    checked: list[Slow]

    def counts(self) -> dict[str, int]:
        """Of the requests checked, how many came out each way."""
        return {o: sum(s.outcome == o for s in self.checked) for o in OUTCOMES}


def hindsight(trace: list[TraceRequest], spec: FleetSpec, config: Config, *,
              policy: str | None = None, max_checked: int = MAX_CHECKED,
              progress: Callable[[int, int], None] | None = None) -> Hindsight:
    """sollama's slow requests over ``trace``, each tried on every host that holds
    its model; over ``max_checked`` of them, that many, evenly spread over the
    trace. ``progress(done, total)``: requests checked so far, of how many."""
    first = Simulation(copy.deepcopy(spec), config, trace, sollama(config, policy),
                       name="sollama", learn=True, preload=True).run()
    slow = sorted((j for j in first.jobs if j.status == "ok" and j.req.urgency in TIMED
                   and j.ttft_s is not None and j.ttft_s > LIMIT_S),
                  key=lambda j: (j.arrival, j.index))
    picked = slow if len(slow) <= max_checked else \
        [slow[k * len(slow) // max_checked] for k in range(max_checked)]
    probe = _Probe(copy.deepcopy(spec), config, trace, sollama(config, policy),
                   name="sollama", learn=True, preload=True,
                   slow={j.index: j for j in picked}, decide=sollama(config, policy),
                   progress_checked=progress)
    probe.run()
    return Hindsight(len(slow), [probe.found[j.index] for j in picked])


def summary(h: Hindsight) -> dict[str, Any]:
    """The `--json` object: the counts per outcome, and each slow request checked."""
    return {"limit_s": LIMIT_S, "slow": h.slow, "checked": len(h.checked),
            **h.counts(),
            "requests": [{**asdict(s), "outcome": s.outcome} for s in h.checked]}


class _Probe(Simulation):
    """sollama's run again, trying each slow request on every host as it arrives."""

    def __init__(self, *args: Any, slow: dict[int, Job], decide: Chooser,
                 progress_checked: Callable[[int, int], None] | None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.slow = slow
        self.progress_checked = progress_checked
        #: decides for the copies (a chooser keeps its environment per simulation)
        self.decide = decide
        self.found: dict[int, Slow] = {}

    def _arrive(self, i: int) -> None:
        job = self.slow.get(i)
        if job is not None:
            self.found[i] = Slow(t=job.arrival, model=job.model or job.req.model, mode=job.mode,
                                 host=job.host or "", ttft_s=job.ttft_s or 0.0,
                                 alternatives=self._alternatives(i, job))
            if self.progress_checked is not None:
                self.progress_checked(len(self.found), len(self.slow))
        super()._arrive(i)

    def _alternatives(self, i: int, job: Job) -> list[Alternative]:
        key = names.canonical(job.model or job.req.model).lower()
        out = []
        for name, h in self.hosts.items():
            ms = h.by_key.get(key)
            if ms is None:
                continue
            there = self._try(i, name, ms.name)
            out.append(Alternative(name, there.ttft_s if there.first_token is not None else None,
                                   over_limits(there, self.config), chosen=name == job.host))
        return out

    def _try(self, i: int, host: str, model: str) -> Job:
        """Request ``i`` sent to ``host`` in a copy of the simulation as it is now."""
        sim = self.fork(share=(self.slow, self.found))
        decide = self.decide

        def forced(r: TraceRequest, mode: str, s: Simulation, index: int) -> Decision:
            d: Decision = decide(r, mode, s, index)
            if index != i:
                return d
            return Decision(choices=[(host, model)], keep_alive_s=d.keep_alive_s, busy_s=[None])

        sim.chooser = forced
        sim.slow, sim.progress_checked = {}, None
        Simulation._arrive(sim, i)
        job = sim.jobs[-1]
        # later requests queue behind it (first come, first served): the copy runs
        # on without them, and so without deciding anything more
        sim._next = len(sim._arrivals)
        while sim.pending() and job.first_token is None and job.status == "pending":
            sim.step()
        return job


#: the most within-mode requests `text` lists (`--json` has them all)
LISTED = 20


def text(h: Hindsight) -> str:
    """The hindsight as lines to print below the table."""
    lim = f"{LIMIT_S:g} s"
    found = h.checked
    if not h.slow:
        return f"Hindsight: no interactive request took over {lim} to its first token.\n"
    counts = h.counts()
    width = len(str(len(found)))
    first = (f"Hindsight: {h.slow:,} interactive request{'s' if h.slow != 1 else ''} took over "
             f"{lim} to the first token.")
    tried = "Tried again on every host that holds the model, at the moment each came"
    if len(found) < h.slow:
        tried = (f"{len(found)} of them, evenly spread, tried again on every host that holds "
                 "the model, as each came")
    lines = [first, tried + ":",
             f"  {counts['no_host']:>{width}} no host would have answered within {lim}",
             f"  {counts['breaking_mode']:>{width}} another host would have, "
             "only by breaking the mode",
             f"  {counts['within_mode']:>{width}} another host would have, within the mode"
             + (":" if counts["within_mode"] else "")]
    within = [s for s in found if s.outcome == "within_mode"]
    for s in within[:LISTED]:
        others = "; ".join(f"{a.host} {a.ttft_s or 0:.1f} s" for a in s.in_time() if not a.over)
        lines.append(f"    {clock(s.t)} {s.model} ({s.mode}): {s.host} {s.ttft_s:.1f} s; {others}")
    if len(within) > LISTED:
        lines.append(f"    ... and {len(within) - LISTED} more (--json lists them all)")
    return "\n".join(lines) + "\n"


def clock(t: float) -> str:
    """Seconds from the trace's start as the hour of its day (hours past 24 go on counting)."""
    t = int(t)
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
