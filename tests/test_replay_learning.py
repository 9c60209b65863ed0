"""What the replay's sollama sees and learns, as the CLI would: a model unloaded when
its keep-alive ran out, the load speed a preload taught, and the ends the requests in
flight recorded (the queue estimate counts on them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartollama.commands.replay import fleet_and_config
from smartollama.fleet import BackendState, FleetSnapshot
from smartollama.replay.loop import Simulation
from smartollama.replay.policies import sollama
from smartollama.replay.trace import TraceRequest
from smartollama.routing.fit import queue_s


def watched(spec: object, config: object, trace: list[TraceRequest],
            **kw: object) -> tuple[Simulation, list[FleetSnapshot]]:
    """A sollama run whose snapshot at each arrival is kept."""
    inner = sollama(config)  # type: ignore[arg-type]
    seen: list[FleetSnapshot] = []

    def choose(r, mode, sim, i):  # type: ignore[no-untyped-def]
        seen.append(sim.snapshot())
        return inner(r, mode, sim, i)

    sim = Simulation(spec, config, trace, choose, name="sollama", learn=True,  # type: ignore[arg-type]
                     **kw)  # type: ignore[arg-type]
    sim.run()
    return sim, seen


def test_a_model_whose_keep_alive_ran_out_is_not_seen_loaded() -> None:
    spec, config = fleet_and_config("tower", None)
    trace = [TraceRequest(t=10.0, model="mistral:7b", answer_tokens=50),
             TraceRequest(t=2000.0, model="tinyllama:1b", answer_tokens=50)]
    sim, seen = watched(spec, config, trace)
    host = sim.jobs[0].host
    assert host is not None
    assert "mistral:7b" not in seen[1].backends[host].loaded     # 5 minutes are long gone
    gone = [r for r in sim.closed if r.model == "mistral:7b"]
    done = sim.jobs[0].done
    assert done is not None and len(gone) == 1 and gone[0].end == pytest.approx(done + 300.0)


def test_a_preload_teaches_the_load_speed(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[preload]]\nhours = "00-24"\nmodels = ["mistral:7b"]\n')
    spec, config = fleet_and_config("tower", str(cfg))
    # the request finds the model the preload loaded: the preload's is the only load
    trace = [TraceRequest(t=1800.0, model="mistral:7b", answer_tokens=20)]
    sim, _ = watched(spec, config, trace, preload=True)
    host = sim.preloads[0].host
    assert host is not None and sim.preloads[0].load_s > 1 and len(sim.loads) == 1
    figures = sim.state.learned_figures(host)
    assert figures.load_gb_per_s == pytest.approx(spec.host(host).load_gb_per_s)


def test_the_requests_in_flight_carry_their_expected_ends() -> None:
    spec, config = fleet_and_config("tower", None)
    trace = [TraceRequest(t=10.0 + i, model="qwen2.5-coder:7b", prompt_tokens=2000,
                          answer_tokens=400) for i in range(4)]
    _, seen = watched(spec, config, trace)
    busy = [st for snap in seen[1:] for st in snap.backends.values() if st.in_flight]
    assert busy, "the later requests found earlier ones in flight"
    for st in busy:
        assert len(st.busy_s) == st.in_flight and all(s > 0 for s in st.busy_s)


@pytest.mark.parametrize(("in_flight", "busy", "slots", "evicts", "expected"), [
    (0, [], 1, False, 0.0),
    (1, [7.0], 2, False, 0.0),             # a slot is free
    (1, [7.0], 2, True, 7.0),              # free, but its memory comes when that one ends
    (2, [30.0, 5.0], 1, False, 30.0),      # behind both: the later end (it counts its queue)
    (3, [4.0, 9.0, 20.0], 2, False, 9.0),  # two slots: when the second ends, one is free
    (2, [5.0], 1, False, 2 * 3.0),         # one end unrecorded: each ahead counts 3 s
])
def test_queue_estimate(in_flight: int, busy: list[float], slots: int, evicts: bool,
                        expected: float) -> None:
    st = BackendState(id="b", in_flight=in_flight, busy_s=busy)
    assert queue_s(st, slots, 3.0, evicts) == pytest.approx(expected)
