"""Run one trace through sollama and the baselines on fresh copies of one fleet.

Each run is independent and deterministic, so a long trace's baselines run
in a second process (forked, on a machine with a second core) while sollama
runs in this one; both give the same numbers as one after the other.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartollama.config import Config
from smartollama.replay.baselines import BASELINES
from smartollama.replay.loop import RunResult, Simulation
from smartollama.replay.metrics import TIMED, compute
from smartollama.replay.policies import sollama
from smartollama.replay.trace import TraceRequest
from smartollama.sim.spec import FleetSpec

#: traces at least this long run their baselines in a second process
PARALLEL_MIN = 2000


@dataclass
class Summary:
    """What is kept of one run: its metrics and the series the plot draws."""

    name: str
    metrics: dict[str, Any]
    hours: float
    #: (arrival s, time to first token s) of answered interactive and critical requests
    ttft: list[tuple[float, float]] = field(default_factory=list)
    fan: list[tuple[float, float]] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)


@dataclass
class Compared:
    """The `--json` object (``report``) and each run's summary (for the plot)."""

    report: dict[str, Any]
    results: list[Summary]


def summarize(res: RunResult, config: Config) -> Summary:
    return Summary(
        res.name, compute(res, config), res.hours,
        [(j.arrival, j.ttft_s) for j in res.jobs if j.ttft_s is not None
         and j.status == "ok" and j.req.urgency in TIMED],
        res.fan, [t for t, _, _ in res.loads])


def run_one(name: str, trace: list[TraceRequest], spec: FleetSpec, config: Config, *,
            policy: str | None = None, progress: Callable[[int], None] | None = None,
            explain: bool = False) -> RunResult:
    """One policy's run: "sollama" (learning, and preloading per the config's
    `[[preload]]`, as its hourly crontab line would) or a baseline's name.
    ``explain``: sollama decides with the verdicts' prose (the CLI's way)."""
    if name == "sollama":
        return Simulation(copy.deepcopy(spec), config, trace,
                          sollama(config, policy, explain=explain),
                          name=name, learn=True, preload=True, progress=progress).run()
    return Simulation(copy.deepcopy(spec), config, trace, BASELINES[name], name=name,
                      progress=progress).run()


def compare(trace: list[TraceRequest], spec: FleetSpec, config: Config, *,
            policy: str | None = None, baselines: list[str] | None = None,
            progress: Callable[[int], None] | None = None,
            parallel: bool | None = None) -> Compared:
    """sollama, then each baseline (default: all four), on the same trace and a
    fresh copy of the same fleet each. ``progress(done)``: requests replayed so
    far, over every run. ``parallel``: None decides by the trace's length."""
    names = list(BASELINES) if baselines is None else list(baselines)
    if parallel is None:
        parallel = len(trace) >= PARALLEL_MIN and bool(names) and (os.cpu_count() or 1) >= 2
    summaries = _in_parallel(trace, spec, config, policy, names, progress) if parallel else None
    if summaries is None:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(done[0])

        summaries = [summarize(run_one(name, trace, spec, config, policy=policy, progress=step),
                               config) for name in ["sollama", *names]]
    runs = []
    for s in summaries:
        run: dict[str, Any] = {"name": s.name}
        if s.name == "sollama":
            run["policy"] = policy or config.routing.model_mode_conflict
        run["metrics"] = s.metrics
        runs.append(run)
    report = {"trace": {"requests": len(trace), "hours": summaries[0].hours},
              "fleet": spec.name, "runs": runs}
    return Compared(report, summaries)


def _in_parallel(trace: list[TraceRequest], spec: FleetSpec, config: Config,
                 policy: str | None, names: list[str],
                 progress: Callable[[int], None] | None) -> list[Summary] | None:
    """sollama here, the baselines in a forked child; None when no child can be had
    (then the caller runs everything here)."""
    import multiprocessing

    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:
        return None
    counter = ctx.RawValue("q", 0)
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        def step(n: int) -> None:
            counter.value += n

        try:
            out: Any = [summarize(run_one(n, trace, spec, config, progress=step), config)
                        for n in names]
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which re-runs
            out = repr(e)
        send.send(out)
        send.close()

    proc = ctx.Process(target=child, daemon=True)
    try:
        proc.start()
    except OSError:
        return None
    send.close()
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0] + counter.value)

    try:
        mine = summarize(run_one("sollama", trace, spec, config, policy=policy, progress=step),
                         config)
        try:
            theirs = receive.recv()
        except EOFError:
            theirs = None
    finally:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
        receive.close()
    if not isinstance(theirs, list):
        return None
    if progress is not None:
        progress(done[0] + counter.value)
    return [mine, *theirs]
