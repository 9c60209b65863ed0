"""Faults are bounded (DESIGN.md, "Time-outs" and "Failure"): the installed `sollama`
against misbehaving loopback hosts (`badhost`) and the simulator.

The time-outs are configured short (`FAST`), so a hung host costs a second or so;
nothing here sleeps: a silent host waits on an event its fixture sets at the end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aftermath import in_flight, last_verdict, one_error_line
from badhost import MODEL, BadHost, backend
from conftest import run_sollama
from smartollama.sim.fleet import dumps_toml

FAST = {"connect_s": 1.0, "first_byte_min_s": 1.5, "first_byte_factor": 0.0, "idle_s": 1.5,
        "probe_s": 2.0}


def write_config(data: dict[str, Any]) -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml(data))


def only(host: BadHost, **timeouts: float) -> None:
    """A config whose one backend is the bad host."""
    write_config({"backends": [backend(host.url)], "timeouts": {**FAST, **timeouts}})


def with_fallback(fleet: Any, url: str, **timeouts: float) -> None:
    """The bad host first (preferred for the model), the simulator behind it."""
    data = fleet.config()
    data["backends"].insert(0, backend(url))
    data["model_routing"] = {MODEL: {"prefer_backend": "bad"}}
    data["timeouts"] = {**FAST, **timeouts}
    write_config(data)


@pytest.fixture
def bad(request: pytest.FixtureRequest) -> Iterator[BadHost]:
    with BadHost(request.param) as host:
        yield host


@pytest.mark.parametrize("bad", ["hang"], indirect=True)
def test_a_host_silent_past_its_first_byte_budget_is_hung_and_the_next_answers(
        single_fleet: object, bad: BadHost) -> None:
    with_fallback(single_fleet, bad.url)
    r = run_sollama("run", MODEL, "--json", "hi", timeout=30)
    assert r.returncode == 0, r.stderr
    assert "Hello from llama3:8b" in r.stdout
    # the fallback line says why the first host failed
    assert ("sollama: bad failed (" in r.stderr and "no answer in 1.5 s" in r.stderr
            and f"falling back to {MODEL} on ollama" in r.stderr), r.stderr
    verdict = json.loads(r.stderr.strip().splitlines()[-1])
    assert verdict["outcome"]["status"] == "ok" and verdict["backend_used"] == "ollama"
    assert "first_byte" in verdict["outcome"]["attempts"][0]["error"]


@pytest.mark.parametrize("bad", ["not_object"], indirect=True)
def test_a_stream_line_that_is_not_an_object_is_a_failure_before_the_answer(
        single_fleet: object, bad: BadHost) -> None:
    with_fallback(single_fleet, bad.url)
    r = run_sollama("run", MODEL, "hi")
    assert r.returncode == 0, r.stderr
    assert "not a JSON object" in r.stderr and "Hello from llama3:8b" in r.stdout


@pytest.mark.parametrize("bad", ["not_object"], indirect=True)
def test_a_stream_line_that_is_not_an_object_with_no_fallback_is_one_line(bad: BadHost) -> None:
    only(bad)
    r = run_sollama("run", MODEL, "hi")
    assert r.returncode == 1
    assert "not a JSON object: '[1, 2]'" in one_error_line(r.stderr)


@pytest.mark.parametrize(("bad", "why"), [
    ("stall", "silent for 1.5 s mid-answer ([timeouts] idle_s)"),
    ("drop", "the connection broke mid-answer"),
    ("nodone", "ended without Ollama's final \"done\": true"),
], indirect=["bad"])
def test_a_failure_mid_answer_exits_1_on_a_fresh_line_and_is_recorded(bad: BadHost,
                                                                       why: str) -> None:
    only(bad)
    r = run_sollama("run", MODEL, "hi", timeout=30)
    assert r.returncode == 1, r.stderr          # not 4: the host was reached
    assert r.stdout == "Hello from the bad host\n"     # the partial answer, its line ended
    line = one_error_line(r.stderr)
    assert "bad broke off the answer" in line and why in line, line
    outcome = last_verdict()["outcome"]
    assert outcome["status"] == "error" and why in outcome["error"]
    assert in_flight() == {}


@pytest.mark.parametrize("bad", ["junk_after_done"], indirect=True)
def test_nothing_after_done_is_printed(bad: BadHost) -> None:
    only(bad)
    r = run_sollama("run", MODEL, "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Hello from the bad host\n\n"
    assert "JUNK" not in r.stdout + r.stderr
    assert last_verdict()["outcome"]["status"] == "ok"


@pytest.mark.parametrize("bad", ["stall"], indirect=True)
def test_total_s_bounds_the_whole_answer(bad: BadHost) -> None:
    only(bad, idle_s=60.0, total_s=1.0)
    r = run_sollama("run", MODEL, "hi", timeout=30)
    assert r.returncode == 1
    assert "no complete answer in 1 s ([timeouts] total_s)" in one_error_line(r.stderr)


def test_the_first_byte_budget_scales_with_the_expected_wait() -> None:
    from smartollama.config import Timeouts

    t = Timeouts()
    assert (t.first_byte_s(None), t.first_byte_s(2.0), t.first_byte_s(30.0)) == (10.0, 10.0, 90.0)
    assert Timeouts(first_byte_min_s=1.0, first_byte_factor=2.0).first_byte_s(4.0) == 8.0


@pytest.mark.parametrize(("table", "key"), [
    ({"idle_s": 0}, "timeouts.idle_s"),
    ({"total_s": -1}, "timeouts.total_s"),
    ({"connect": 2}, "timeouts.connect"),
])
def test_the_timeouts_table_is_validated(table: dict[str, Any], key: str) -> None:
    write_config({"backends": [backend("http://127.0.0.1:1")], "timeouts": table})
    r = run_sollama("route", MODEL)
    assert r.returncode == 1
    assert f"config.toml: {key}:" in one_error_line(r.stderr)


def test_config_show_lists_the_timeouts() -> None:
    write_config({"backends": [backend("http://127.0.0.1:1")], "timeouts": {"idle_s": 5}})
    shown = run_sollama("config", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["timeouts"] == {
        "connect_s": 2.0, "first_byte_min_s": 10.0, "first_byte_factor": 3.0, "idle_s": 5.0,
        "probe_s": 2.0}


def test_a_host_that_accepts_and_never_answers_costs_the_probe_budget(single_fleet: Any) -> None:
    """The kernel completes the connection (a listening socket's backlog) and nobody
    ever reads: the look-ups give up after probe_s and the simulator answers."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with_fallback(single_fleet, f"http://127.0.0.1:{silent.getsockname()[1]}", probe_s=0.5)
        r = run_sollama("run", MODEL, "--json", "hi", timeout=30)
    assert r.returncode == 0, r.stderr
    verdict = json.loads(r.stderr.strip().splitlines()[-1])
    assert verdict["backend_used"] == "ollama" and "Hello from llama3:8b" in r.stdout
    bad = next(e for e in verdict["fallback_chain"] if e["backend"] == "bad")
    assert not bad["accepted"] and "timed out" in bad["reason"], bad


@pytest.mark.parametrize("bad", ["stall"], indirect=True)
def test_a_request_in_flight_records_when_it_should_end(bad: BadHost) -> None:
    """While a run streams, its in-flight mark says when its decision expected it to end:
    what the next call's queue estimate for that host counts on."""
    import subprocess
    import time

    from conftest import SOLLAMA, wait_on

    only(bad, idle_s=30.0, total_s=30.0)
    p = subprocess.Popen([SOLLAMA, "run", MODEL, "hi"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        entries: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while not entries and time.monotonic() < deadline and p.poll() is None:
            try:
                entries = in_flight().get("bad", [])
            except ValueError:      # a mark read as it was being written: read again
                entries = []
            wait_on(p, 0.02)
        assert entries, "the run never showed up in flight"
        assert entries[0]["until"] > entries[0]["since"]
    finally:
        p.kill()
        p.wait()
