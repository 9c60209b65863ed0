"""One pass per call: the Environment, one state transaction, caches keyed by host.

The installed `sollama` runs against the simulator in subprocesses; where a
figure can only be seen from inside (how often the state lock was taken),
`api.route` and `api.run` run in this process with an `Environment` built
in the test's temporary directory.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from aftermath import in_flight
from conftest import SOLLAMA, run_sollama

#: TTLs no loaded machine outlives between two calls of a test
LONG_TTLS = {"telemetry_ttl_s": 600, "ps_ttl_s": 600, "tags_ttl_s": 600, "lock_timeout_s": 30}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def state_dir() -> Path:
    return Path(os.environ["SOLLAMA_STATE_DIR"])


def write_config(fleet: object, **overrides: object) -> None:
    text = fleet.config_toml(cache=LONG_TTLS, **overrides)  # type: ignore[attr-defined]
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(text)


def history_ids() -> list[str]:
    lines = (state_dir() / "history.jsonl").read_text().splitlines()
    return [json.loads(line)["id"] for line in lines]


def route_and_run(prompt: str = "hi") -> tuple[object, object]:
    """One `sollama run` in this process: (environment, verdict)."""
    from smartollama import api
    from smartollama.commands.run import build_request
    from smartollama.env import Environment
    from smartollama.run.stream import RunOptions

    env = Environment(stdout=io.StringIO(), stderr=io.StringIO())
    request = build_request("llama3:8b", env, mode=None, urgency=None, task=None,
                            min_quality=None, policy=None, backend_id=None, num_ctx=None)
    verdict = api.route(request, env, prompt=prompt, will_run=True)
    api.run(verdict, RunOptions(prompt=prompt), env)
    return env, verdict


# -- one transaction ---------------------------------------------------------------------


def test_a_warm_run_takes_the_lock_twice_and_scrapes_the_exporter_at_most_once(
        single_fleet: object) -> None:
    write_config(single_fleet)
    host = single_fleet.hosts["ollama"]  # type: ignore[attr-defined]
    cold, verdict = route_and_run()
    assert cold.store.locks <= 2     # type: ignore[attr-defined]
    # a call that reads the telemetry reads it before the run (the snapshot) and
    # after it (the energy the run used, cached for the next call)
    assert len(host.requests_to("/metrics")) == 2
    assert verdict.outcome.energy_j is not None  # type: ignore[attr-defined]
    host.clear_requests()
    warm, verdict = route_and_run()
    assert warm.store.locks <= 2     # type: ignore[attr-defined]
    # the cache answered the telemetry and the model was loaded already: nothing
    # changed on the host, nothing is scraped (telemetry once per call: here none)
    assert host.requests_to("/metrics") == []
    assert verdict.outcome.status == "ok"  # type: ignore[attr-defined]
    host.clear_requests()
    r = run_sollama("route", "llama3:8b")
    assert r.returncode == 0, r.stderr
    assert host.requests_to("/metrics") == [] and host.requests_to("/api/tags") == []


def test_a_warm_run_through_the_console_script_asks_the_host_only_for_the_answer(
        single_fleet: object) -> None:
    write_config(single_fleet)
    host = single_fleet.hosts["ollama"]  # type: ignore[attr-defined]
    assert run_sollama("run", "llama3:8b", "hi").returncode == 0
    host.clear_requests()
    r = run_sollama("run", "llama3:8b", "again")
    assert r.returncode == 0, r.stderr
    assert host.requests_to("/metrics") == []
    assert host.requests_to("/api/tags") == [] and host.requests_to("/api/ps") == []
    assert len(host.requests_to("/api/generate")) == 1


def test_two_backends_behind_one_exporter_are_scraped_once(single_fleet: object) -> None:
    host = single_fleet.hosts["ollama"]  # type: ignore[attr-defined]
    text = single_fleet.config_toml(cache=LONG_TTLS)  # type: ignore[attr-defined]
    text += (f'\n[[backends]]\nid = "twin"\nhost = "{host.url}/"\nhardware = "nvidia"\n'
             f'telemetry = {{ source = "prometheus", url = "{host.metrics_url}" }}\n')
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(text)
    r = run_sollama("route", "llama3:8b", "--json")
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["telemetry"]) == {"ollama", "twin"}
    assert len(host.requests_to("/metrics")) == 1


N_CONCURRENT = 16   # 64 by hand: see the report; enough here to make writers queue


def test_concurrent_runs_keep_every_decision(single_fleet: object) -> None:
    write_config(single_fleet)
    env = dict(os.environ)
    procs = [subprocess.Popen([SOLLAMA, "run", "llama3:8b", f"prompt {i}"], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(N_CONCURRENT)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read())  # type: ignore[union-attr]
               for p in procs]
    for p in procs:
        p.stdout.close()  # type: ignore[union-attr]
        p.stderr.close()  # type: ignore[union-attr]
    assert all(rc == 0 for rc, _, _ in results), [err for rc, _, err in results if rc]
    assert not any("not saved" in err for _, _, err in results)
    ids = history_ids()
    assert len(ids) == N_CONCURRENT and len(set(ids)) == N_CONCURRENT
    state = json.loads((state_dir() / "state.json").read_text())
    assert "in_flight" not in state     # marks are files, and every one was removed
    assert in_flight() == {}
    assert state["history_lines"] == N_CONCURRENT


def test_a_burst_after_expiry_asks_the_host_once(single_fleet: object) -> None:
    write_config(single_fleet)
    host = single_fleet.hosts["ollama"]  # type: ignore[attr-defined]
    procs = [subprocess.Popen([SOLLAMA, "route", "llama3:8b"], env=dict(os.environ),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    codes = [p.wait(timeout=120) for p in procs]
    for p in procs:
        p.stderr.close()  # type: ignore[union-attr]
    assert codes == [0] * 8
    # the first caller refreshed under the lock; the others used what it wrote
    assert len(host.requests_to("/api/tags")) == 1
    assert len(host.requests_to("/metrics")) == 1


# -- caches keyed by host ----------------------------------------------------------------


def test_a_changed_ollama_host_takes_effect_on_the_next_call(single_fleet: object,
                                                            tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOLLAMA_CONFIG"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    url = single_fleet.hosts["ollama"].url  # type: ignore[attr-defined]

    def route(host: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SOLLAMA, "route", "llama3:8b"], env={**env, "OLLAMA_HOST": host},
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    wrong = route(f"127.0.0.1:{closed_port()}")
    assert wrong.returncode == 4, wrong.stderr
    right = route(url)
    assert right.returncode == 0, right.stderr
    assert "llama3:8b" in right.stdout


def test_an_edited_backend_host_is_asked_on_the_next_call(single_fleet: object) -> None:
    write_config(single_fleet)
    assert run_sollama("route", "llama3:8b").returncode == 0    # the tags are cached (600 s)
    dead = f"127.0.0.1:{closed_port()}"
    write_config(single_fleet, backends={"ollama": {"host": f"http://{dead}"}})
    r = run_sollama("route", "llama3:8b")
    assert r.returncode == 4, r.stderr
    assert dead in r.stderr


# -- pruning ------------------------------------------------------------------------------


def test_state_of_removed_backends_and_old_figures_is_pruned(single_fleet: object) -> None:
    write_config(single_fleet)
    now = time.time()
    old = now - 31 * 86_400
    ema = {"v": 10.0, "n": 3}
    state_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    (state_dir() / "state.json").write_text(json.dumps({
        "schema": 2,
        "learned": {"ollama": {"tps": {"old:7b": {**ema, "t": old}, "new:7b": {**ema, "t": now}}},
                    "gone": {"tps": {"llama3:8b": {**ema, "t": now}}}},
        "observed": {"gone": {"llama3:8b|2048": {"size": 1, "size_vram": 1, "t": now}}},
        "memos": {"gone": {"source": "nvml"}},
        "in_flight": {"gone": [{"id": "x", "pid": os.getpid(), "since": now}]},
        "caches": {"tags:http://10.9.9.9:11434": {"t": now, "v": []}},
    }))
    stale = state_dir() / "state.json.corrupt-20200101T000000"
    recent = state_dir() / "state.json.corrupt-20991231T000000"
    for f in (stale, recent):
        f.write_text("{")
    os.utime(stale, (old, old))
    r = run_sollama("run", "llama3:8b", "hi")
    assert r.returncode == 0, r.stderr
    st = json.loads((state_dir() / "state.json").read_text())
    assert set(st["learned"]["ollama"]["tps"]) == {"new:7b", "llama3:8b"}
    for field in ("learned", "observed", "memos"):
        assert "gone" not in st[field], field
    assert "in_flight" not in st    # an older sollama's field: marks are files now
    assert not any("10.9.9.9" in k for k in st["caches"])
    assert not stale.exists() and recent.exists()


# -- state safety -------------------------------------------------------------------------


def test_a_state_directory_others_can_write_is_not_written(single_fleet: object) -> None:
    write_config(single_fleet)
    state_dir().mkdir(parents=True)
    os.chmod(state_dir(), 0o777)
    r = run_sollama("run", "llama3:8b", "hi")
    assert r.returncode == 0, r.stderr
    assert "hi" in r.stdout                                 # the answer is still given
    warnings = [ln for ln in r.stderr.splitlines() if "writable by others" in ln]
    assert len(warnings) == 1, r.stderr
    assert sorted(p.name for p in state_dir().iterdir()) == []


def test_a_group_writable_state_directory_is_used(single_fleet: object) -> None:
    """umask 002 with a group per user: not refused (only others' write is)."""
    write_config(single_fleet)
    state_dir().mkdir(parents=True)
    os.chmod(state_dir(), 0o770)
    r = run_sollama("run", "llama3:8b", "hi")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert len(history_ids()) == 1


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="giving a directory to another user needs root")
def test_a_state_directory_owned_by_another_user_is_not_written(single_fleet: object) -> None:
    write_config(single_fleet)
    state_dir().mkdir(mode=0o700, parents=True)
    os.chown(state_dir(), 65534, 65534)
    r = run_sollama("run", "llama3:8b", "hi")
    assert r.returncode == 0, r.stderr
    assert "hi" in r.stdout
    assert len([ln for ln in r.stderr.splitlines() if "owned by another user" in ln]) == 1
    assert list(state_dir().iterdir()) == []


def test_a_new_state_directory_is_private(single_fleet: object) -> None:
    write_config(single_fleet)
    assert run_sollama("run", "llama3:8b", "hi").returncode == 0
    assert state_dir().stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in state_dir().iterdir()
            if p.name != "in_flight"} == {0o600}
    assert (state_dir() / "in_flight").stat().st_mode & 0o777 == 0o700     # the marks'


def test_a_planted_history_symlink_is_not_followed(single_fleet: object, tmp_path: Path) -> None:
    write_config(single_fleet)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.chmod(victim, 0o644)
    state_dir().mkdir(mode=0o700, parents=True)
    (state_dir() / "history.jsonl").symlink_to(victim)
    r = run_sollama("run", "llama3:8b", "hi")
    assert r.returncode == 0, r.stderr
    assert "hi" in r.stdout and "state not saved" in r.stderr
    assert victim.read_text() == "precious\n"
    assert victim.stat().st_mode & 0o777 == 0o644


def test_a_planted_config_copy_symlink_is_not_followed(single_fleet: object,
                                                       tmp_path: Path) -> None:
    write_config(single_fleet)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    state_dir().mkdir(mode=0o700, parents=True)
    (state_dir() / "config-cache.json").symlink_to(victim)
    r = run_sollama("route", "llama3:8b")
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n"


def test_request_nonces_carry_48_bits() -> None:
    from smartollama.api import nonce

    seen = {nonce() for _ in range(1000)}
    assert len(seen) == 1000 and all(len(n) == 12 and int(n, 16) >= 0 for n in seen)


# -- the history append -------------------------------------------------------------------


def _bytes_read() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux's /proc/self/io")
def test_recording_a_verdict_does_not_read_the_history(tmp_path: Path) -> None:
    from smartollama.state import StateStore

    store = StateStore(tmp_path / "state", history_size=200)
    padding = "x" * 4000
    with store.update() as st:
        for i in range(150):
            st.add_verdict({"id": f"v{i}", "pad": padding}, 200)
    size = (tmp_path / "state" / "history.jsonl").stat().st_size
    assert size > 150 * 4000
    before = _bytes_read()
    with store.update() as st:
        st.add_verdict({"id": "new"}, 200)
    assert _bytes_read() - before < 20_000          # state.json and one byte of the history
    assert StateStore(tmp_path / "state").read().history[0]["id"] == "new"


def test_the_environment_s_clock_drives_the_caches(single_fleet: object, tmp_path: Path) -> None:
    """A front door with its own clock (the replay's) sees the caches expire by it."""
    from smartollama import api
    from smartollama.commands.run import build_request
    from smartollama.env import Environment

    write_config(single_fleet)
    host = single_fleet.hosts["ollama"]  # type: ignore[attr-defined]
    start = time.time()

    def route_at(t: float) -> None:
        env = Environment(state_dir=str(tmp_path / "elsewhere"), clock=lambda: t,
                          stdout=io.StringIO(), stderr=io.StringIO())
        request = build_request("llama3:8b", env, mode=None, urgency=None, task=None,
                                min_quality=None, policy=None, backend_id=None, num_ctx=None)
        assert api.route(request, env).action == "run"

    route_at(start)
    route_at(start + 599)           # within the 600 s TTLs: nothing asked
    assert len(host.requests_to("/api/tags")) == 1
    route_at(start + 601)           # past them, by this clock
    assert len(host.requests_to("/api/tags")) == 2
    assert not state_dir().exists()     # the environment's state dir, not SOLLAMA_STATE_DIR's


HOLD_UNTIL_STDIN_CLOSES = """
import sys
from smartollama.state import StateStore
store = StateStore(sys.argv[1])
with store.update() as st:
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_writer_waits_for_the_lock_rather_than_drop_its_decision(single_fleet: object) -> None:
    import sys

    text = single_fleet.config_toml(cache={**LONG_TTLS, "lock_timeout_s": 0.2})  # type: ignore[attr-defined]
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(text)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_UNTIL_STDIN_CLOSES, str(state_dir())],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    run = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        run = subprocess.Popen([SOLLAMA, "run", "llama3:8b", "hi"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert run.stdout is not None
        answer = ""
        while not answer.endswith("\n\n"):      # the answer is out; the final write waits
            chunk = run.stdout.read(1)
            assert chunk, "sollama ended before its answer was complete"
            answer += chunk
        assert run.poll() is None
    finally:
        assert holder.stdin is not None
        holder.stdin.close()                    # the lock is released
        holder.wait(timeout=30)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert "not saved" not in err and "locked" not in err
    assert len(history_ids()) == 1
