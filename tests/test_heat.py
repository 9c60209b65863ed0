"""Heat learned under load, through the command line: `sollama run` against the
simulated laptop learns how far its NVIDIA card's fan rises while serving, and a
quiet-mode route then keeps off it, with the predicted violation in `route --json`
and `sollama why`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_sollama
from smartollama.sim import Fleet, builtin_fleet

MODEL = "qwen2.5-coder:7b"     # on the laptop's iGPU and NVIDIA card alike


@pytest.fixture
def laptop() -> Iterator[Fleet]:
    """The laptop fleet, a real millisecond a simulated second. The NVIDIA card's
    fan curve is steep (30% at its resting 45 °C, 100% three degrees above), so even
    a short run takes its fan well past 40%; `cooled` moves its thermal clock on
    until it is back at rest."""
    spec = builtin_fleet("laptop", time_scale=0.001)
    spec.host("laptop-nvidia").fan_curve = [[45, 30], [48, 100]]
    with Fleet(spec) as fleet:
        # every call reads telemetry (none answered from the cache): each run learns
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml(
            cache={"telemetry_ttl_s": 0}))
        yield fleet


def route_quiet() -> dict:
    r = run_sollama("route", MODEL, "--mode", "quiet", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def cooled(host: object, limit: float = 39.0) -> None:
    """Ten simulated minutes later, idle: the card's fan is back under quiet's limit,
    however fast the machine ran the runs before (the thermal clock is moved on, not
    waited for)."""
    host.engine.skip(600)  # type: ignore[attr-defined]
    assert host.readings["fan_pct"] <= limit, host.readings  # type: ignore[attr-defined]


def nvidia_entry(v: dict) -> dict:
    return next(e for e in v["fallback_chain"] if e["backend"] == "laptop-nvidia")


def test_quiet_mode_keeps_off_a_card_whose_fan_rises_under_load(laptop: Fleet) -> None:
    # at rest the card reads 30%, within quiet's 40%: nothing learned, it is chosen
    before = route_quiet()
    assert before["backend_used"] == "laptop-nvidia"
    assert "violations" not in nvidia_entry(before)
    for _ in range(3):
        r = run_sollama("run", MODEL, "--backend", "laptop-nvidia", "--mode", "performance",
                        "write me a function")
        assert r.returncode == 0, r.stderr
    cooled(laptop.hosts["laptop-nvidia"])
    v = route_quiet()
    assert v["action"] == "run" and v["backend_used"] == "laptop-igpu", v["reason"]
    assert v["telemetry"]["laptop-nvidia"]["fan_pct"] <= 40     # quiet now
    entry = nvidia_entry(v)
    assert not entry["accepted"]
    [viol] = entry["violations"]
    assert viol["kind"] == "mode" and viol["field"] == "fan_pct" and viol["limit"] == 40
    assert viol["predicted"] is True and viol["value"] > 40
    assert "under load here (learned from 3 runs), over quiet's 40%" in entry["reason"]
    # the run itself, and `sollama why` on it
    r = run_sollama("run", MODEL, "--mode", "quiet", "hi")
    assert r.returncode == 0, r.stderr
    why = run_sollama("why")
    assert why.returncode == 0, why.stderr
    text = " ".join(why.stdout.split())
    assert "laptop-igpu" in text and "under load here (learned from" in text


def test_the_rise_counts_once_more_for_each_request_in_flight() -> None:
    """Serving the requests in flight first keeps a card under load that much longer,
    and one begun a moment ago has not shown in the reading yet."""
    from smartollama.fleet import BackendState, Learned, Reading
    from smartollama.routing.compliance import under_load

    st = BackendState(id="gpu", reading=Reading(source="test", fan_pct=30.0),
                      learned=Learned(heat_rise={"fan_pct": 6.0}, heat_samples={"fan_pct": 3}))
    assert under_load(st, "fan_pct") == (36.0, 3)       # within quiet's 40 %
    st.in_flight = 1
    assert under_load(st, "fan_pct") == (42.0, 3)       # past it
    st.learned.heat_samples["fan_pct"] = 2              # too few runs to go by
    assert under_load(st, "fan_pct") is None
