"""The baselines: how routers without sollama's decision choose, one small function each.

Each gets the same request on the same simulated fleet and returns the
hosts to try, best first (the replay falls back along them on an error, as
peer routers retry another deployment). None of them knows a mode, a fit or
a quality: they route the model that was asked for to a host that holds it
(`auto`: the fleet's best model for the task, as a router's default model).

- `biggest`: the host with the most device memory that holds the model.
- `round-robin`: the hosts that hold it, in turn.
- `loaded-first`: a host where the model is loaded (the least busy of them),
  else the least busy host that holds it: how several peer routers choose.
- `least-busy`: the host with the fewest requests in flight that holds it.

Ties go to the fleet's order of hosts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartollama import names
from smartollama.replay.loop import Decision

if TYPE_CHECKING:
    from smartollama.replay.loop import Chooser, Host, Simulation
    from smartollama.replay.trace import TraceRequest


def _model(r: TraceRequest, sim: Simulation) -> str:
    if r.model != "auto":
        return names.canonical(r.model).lower()
    from smartollama.routing.catalog import Scorer

    scorer = sim.__dict__.setdefault("_scorer", Scorer(sim.config))
    held = {k for h in sim.hosts.values() for k in h.by_key}
    return max(sorted(held), key=lambda k: scorer.score(k, r.task))


def _holding(r: TraceRequest, sim: Simulation) -> tuple[str, list[Host]]:
    key = _model(r, sim)
    return key, [h for h in sim.hosts.values() if key in h.by_key or key in h.remote]


def _decision(key: str, hosts: list[Host]) -> Decision:
    return Decision(choices=[(h.spec.name, (h.by_key.get(key) or h.remote[key]).name)
                             for h in hosts])


def biggest(r: TraceRequest, mode: str, sim: Simulation, index: int) -> Decision:
    key, hosts = _holding(r, sim)
    return _decision(key, sorted(hosts, key=lambda h: -h.model.device_bytes))


def round_robin(r: TraceRequest, mode: str, sim: Simulation, index: int) -> Decision:
    key, hosts = _holding(r, sim)
    if not hosts:
        return Decision()
    k = sim.rr % len(hosts)
    sim.rr += 1
    return _decision(key, hosts[k:] + hosts[:k])


def loaded_first(r: TraceRequest, mode: str, sim: Simulation, index: int) -> Decision:
    key, hosts = _holding(r, sim)
    hosts = sorted(hosts, key=lambda h: (
        not any(names.canonical(x.model.name).lower() == key for x in h.model.runners.values()),
        h.in_flight))
    return _decision(key, hosts)


def least_busy(r: TraceRequest, mode: str, sim: Simulation, index: int) -> Decision:
    key, hosts = _holding(r, sim)
    return _decision(key, sorted(hosts, key=lambda h: h.in_flight))


BASELINES: dict[str, Chooser] = {
    "biggest": biggest,
    "round-robin": round_robin,
    "loaded-first": loaded_first,
    "least-busy": least_busy,
}
