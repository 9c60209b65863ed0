"""What a replay shows sollama, and what sollama learns from it.

`snapshot`: the fleet at a decision, as `snapshot.gather` would have found
it (loaded models, readings, memory, the in-flight marks, what was learned).
`learn`: what `run/learn.py` folds in after a CLI run, from a finished one.
Both are the loop's (`loop.Simulation`), kept here to keep the loop to its events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartollama import names
from smartollama.fleet import GB, BackendState, FleetSnapshot
from smartollama.replay.records import EPOCH, Host, Job
from smartollama.telemetry.base import Reading

if TYPE_CHECKING:
    from smartollama.replay.loop import Simulation
    from smartollama.sim.model import Runner


def learn(sim: Simulation, h: Host, job: Job, runner: Runner) -> None:
    """What `run/learn.py` folds in after a CLI run: Ollama's final fields, then `/api/ps`."""
    now = EPOCH + sim.now
    name = h.spec.name
    if job.preload:     # `sollama preload` times the load (Ollama's answer has no figures)
        sim.state.learn_run(name, names.canonical(runner.model.name),
                             size_bytes=runner.model.size_bytes,
                             load_duration_ns=int(job.load_s * 1e9), now=now)
        sim._learned.pop(name, None)
        return
    gen_s = (job.done or 0.0) - (job.first_token or 0.0)
    prompt_s = (job.first_token or 0.0) - job.load_end
    total_s = (job.done or 0.0) - job.enqueued      # Ollama's: from its handler's start
    sim.state.learn_run(
        name, names.canonical(runner.model.name), size_bytes=runner.model.size_bytes,
        load_duration_ns=int(job.load_s * 1e9), eval_count=job.req.answer_tokens,
        eval_duration_ns=int(gen_s * 1e9), ttft_s=job.ttft_s,
        total_duration_ns=int(total_s * 1e9), prompt_eval_duration_ns=int(prompt_s * 1e9),
        prompt_eval_count=job.req.prompt_tokens, now=now)
    sim.state.observe_memory(name, names.canonical(runner.model.name), runner.num_ctx,
                              runner.size, runner.size_vram, now)
    # the reading after the run (the CLI's, for energy) against the one before it
    sim.state.learn_heat(name, job.before, h.readings(), now=now)
    sim._learned.pop(name, None)


def snapshot(sim: Simulation) -> FleetSnapshot:
    """The fleet now, as `snapshot.gather` would have found it. Each host's
    state and reading are kept and brought up to date (a decision only
    reads them; a replay makes millions)."""
    snap = FleetSnapshot(time=EPOCH + sim.now)
    for name, h in sim.hosts.items():
        sim._touch(h)
        # Ollama unloads an idle model when its keep-alive runs out, not at the
        # next request to that host: /api/ps no longer lists it
        for gone in h.model.expire(sim.now):
            sim._close(name, gone, gone.expires)
        st = h.state
        if st is None:
            st = h.state = BackendState(id=name, models=h.infos)
            st.reading = Reading(source="sim")
        st.loaded = dict(h.rows.get(id(r)) or h.row(r) for r in h.model.runners.values())
        reading = st.reading
        reading.time = snap.time
        for k, v in h.readings().items():
            setattr(reading, k, v)
        dev_used, ram_used = h.model.memory_used()
        if h.model.device_bytes and h.spec.metrics_style != "none":
            reading.mem_total_gb = h.model.device_bytes / GB
            reading.mem_free_gb = max(0, h.model.device_bytes - dev_used) / GB
        st.in_flight = h.in_flight
        # what the in-flight marks recorded: when each decision expected it to end
        st.busy_s = [max(0.0, j.busy_until - sim.now) for jobs in (h.queue, h.active, h.waiting)
                     for j in jobs if j.busy_until is not None]
        learned = sim._learned.get(name)
        if learned is None:
            learned = sim._learned[name] = (sim.state.learned_figures(name),
                                             sim.state.observed_for(name))
        st.learned, st.observed = learned
        if h.model.ram_bytes and not h.spec.on_cpu:
            st.system_free_gb = max(0, h.model.ram_bytes - ram_used) / GB
        snap.backends[name] = st
    return snap
