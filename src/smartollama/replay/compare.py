"""Run one trace through sollama and the baselines on fresh copies of one fleet."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartollama.config import Config
from smartollama.replay.baselines import BASELINES
from smartollama.replay.loop import RunResult, Simulation
from smartollama.replay.metrics import compute
from smartollama.replay.policies import sollama
from smartollama.replay.trace import TraceRequest
from smartollama.sim.spec import FleetSpec


@dataclass
class Compared:
    """The `--json` object (``report``) and each run's raw result (for the plot)."""

    report: dict[str, Any]
    results: list[RunResult]


def compare(trace: list[TraceRequest], spec: FleetSpec, config: Config, *,
            policy: str | None = None, baselines: list[str] | None = None,
            progress: Callable[[int], None] | None = None) -> Compared:
    """sollama (learning, and preloading per the config's `[[preload]]`, as its
    hourly crontab line would) and each baseline, in that order; the same
    trace and a fresh copy of the same fleet each."""
    names = list(BASELINES) if baselines is None else baselines
    results = [Simulation(copy.deepcopy(spec), config, trace, sollama(config, policy),
                          name="sollama", learn=True, preload=True, progress=progress).run()]
    for name in names:
        results.append(Simulation(copy.deepcopy(spec), config, trace, BASELINES[name],
                                  name=name, progress=progress).run())
    hours = results[0].hours
    runs = []
    for res in results:
        run: dict[str, Any] = {"name": res.name}
        if res.name == "sollama":
            run["policy"] = policy or config.routing.model_mode_conflict
        run["metrics"] = compute(res, config)
        runs.append(run)
    report = {"trace": {"requests": len(trace), "hours": hours}, "fleet": spec.name,
              "runs": runs}
    return Compared(report, results)
