"""The host model's thermals (sim/model.py), alone and as the HTTP simulator runs them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartollama.sim import SpecError, builtin_fleet
from smartollama.sim.engine import HostEngine
from smartollama.sim.model import Thermal, ThermalFigures
from smartollama.sim.spec import HostSpec


def laptop_gpu() -> HostSpec:
    return builtin_fleet("laptop").host("laptop-nvidia")


def test_a_host_at_rest_reads_its_spec() -> None:
    spec = laptop_gpu()
    f = ThermalFigures.of(spec)
    assert (f.idle_w, f.full_w, f.idle_temp_c, f.full_temp_c) == (10, 100, 45, 84)
    th = Thermal(f)
    th.advance(10_000)
    assert th.temp_c == 45 and th.fan_pct == 30 and th.power_w == 10
    assert th.energy_j == pytest.approx(10 * 10_000)


def test_full_load_heats_with_the_time_constant_and_cools_back() -> None:
    f = ThermalFigures.of(laptop_gpu())
    th = Thermal(f)
    th.set_activity(1.0, 0.0)
    th.advance(f.tau_s)         # one time constant: 63 % of the way
    assert th.temp_c == pytest.approx(45 + (84 - 45) * (1 - math.exp(-1)))
    assert th.fan_pct is not None and th.fan_pct > 40
    th.set_activity(0.0, f.tau_s)
    th.advance(f.tau_s + 20 * f.tau_s)
    assert th.temp_c == pytest.approx(45, abs=1e-3)


@given(st.lists(st.tuples(st.floats(0, 600), st.floats(0, 1)), max_size=30))
def test_temperature_stays_between_rest_and_full_load(steps: list[tuple[float, float]]) -> None:
    f = ThermalFigures.of(laptop_gpu())
    th = Thermal(f)
    t = 0.0
    for dt, activity in steps:
        t += dt
        th.set_activity(activity, t)
        assert f.idle_temp_c - 1e-9 <= th.temp_c <= f.full_temp_c + 1e-9
        fan = th.fan_pct
        assert fan is not None and 30 - 1e-9 <= fan <= 100 + 1e-9


def test_a_host_without_a_fan_sensor_reads_none() -> None:
    spec = builtin_fleet("tower").host("ollama-amd")
    spec.readings.pop("fan_pct")
    spec.fan_curve = None
    assert ThermalFigures.of(spec).fan_at(70) is None


def test_a_fan_curve_must_rise() -> None:
    with pytest.raises(SpecError, match="fan_curve"):
        HostSpec(name="x", vram_gb=8, fan_curve=[[60, 30], [50, 40]])


def test_the_http_simulator_heats_under_load_and_keeps_pinned_readings() -> None:
    spec = laptop_gpu()
    engine = HostEngine(spec, time_scale=0.0)     # the clock stands: the test moves it
    rest = engine.readings()
    assert {k: rest[k] for k in ("fan_pct", "temp_c", "power_w")} == {
        "fan_pct": 30, "temp_c": 45, "power_w": 10}
    model = spec.model("qwen2.5-coder:7b")
    assert model is not None
    runner, _ = engine.acquire(model, spec.num_ctx_for(model))
    assert engine.readings()["temp_c"] == 45            # no simulated time has passed
    engine.skip(10)
    busy = engine.readings()                            # it heats as simulated time passes
    assert busy["temp_c"] > 45 and busy["power_w"] == 100 and busy["fan_pct"] > 30
    engine.set_readings({"fan_pct": 20})
    pinned = engine.readings()
    engine.skip(10)
    later = engine.readings()
    assert later["temp_c"] > pinned["temp_c"]           # time moved on...
    assert later["fan_pct"] == 20                       # ...the pin held
    engine.release(runner, 300)
    released = engine.readings()
    engine.skip(10)
    cooler = engine.readings()
    assert cooler["temp_c"] < released["temp_c"] and cooler["power_w"] == 10


def test_keep_alive_s_is_the_servers_default_keep_alive() -> None:
    """OLLAMA_KEEP_ALIVE: a request that names no keep_alive keeps the model that long."""
    import httpx

    from smartollama.sim import Fleet

    spec = builtin_fleet("single", time_scale=0.0)
    spec.hosts[0].keep_alive_s = 0
    with Fleet(spec) as fleet:
        url = fleet.hosts["ollama"].url
        r = httpx.post(f"{url}/api/generate", json={"model": "qwen2.5:0.5b", "prompt": "hi",
                                                    "stream": False}, timeout=10)
        assert r.status_code == 200
        assert httpx.get(f"{url}/api/ps", timeout=10).json()["models"] == []
        httpx.post(f"{url}/api/generate", json={"model": "qwen2.5:0.5b", "prompt": "hi",
                                               "stream": False, "keep_alive": "1m"}, timeout=10)
        assert [m["name"] for m in httpx.get(f"{url}/api/ps", timeout=10).json()["models"]] == [
            "qwen2.5:0.5b"]
    with pytest.raises(SpecError, match="keep_alive_s"):
        HostSpec(name="x", vram_gb=8, keep_alive_s=float("nan"))
