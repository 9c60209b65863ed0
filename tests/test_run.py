"""`sollama run` end to end: the installed console script against the simulator.

Each test runs the real `sollama` in a subprocess (stdin a pipe), as scripts do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aftermath import in_flight
from conftest import SOLLAMA, run_sollama, wait_on

VERBOSE_LABELS = ("total duration:", "prompt eval count:", "prompt eval duration:",
                  "prompt eval rate:", "eval count:", "eval duration:", "eval rate:")


def no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    assert "Traceback" not in r.stdout


def generate_bodies(fleet: object, host: str) -> list[dict]:
    return [rec.body for rec in fleet.hosts[host].requests_to("/api/generate")]  # type: ignore[attr-defined]


def test_run_prints_answer_and_verdict(single_fleet: object) -> None:
    r = run_sollama("run", "llama3:8b", "hi", "there")
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "llama3:8b" in r.stdout and "hi there" in r.stdout
    assert r.stdout.endswith("\n\n")                   # as `ollama run` ends an answer
    assert r.stderr.startswith("sollama: run: llama3:8b on ollama")
    # stdin is a pipe, empty here: `ollama run` prepends only what is there
    assert generate_bodies(single_fleet, "ollama")[-1]["prompt"] == "hi there"


def test_piped_stdin_comes_first_joined_by_one_space(single_fleet: object) -> None:
    r = run_sollama("run", "llama3:8b", "summarize:", input="some text\n")
    assert r.returncode == 0, r.stderr
    assert generate_bodies(single_fleet, "ollama")[-1]["prompt"] == "some text\n summarize:"


def test_format_json_and_verbose(single_fleet: object) -> None:
    r = run_sollama("run", "llama3:8b", "--format", "json", "--verbose", "list three colours")
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)                               # the answer is valid JSON
    for label in VERBOSE_LABELS:
        assert label in r.stderr, label
    body = generate_bodies(single_fleet, "ollama")[-1]
    assert body["format"] == "json"


def test_options_pass_through(single_fleet: object) -> None:
    r = run_sollama("run", "llama3:8b", "--keepalive", "10m", "--num-ctx", "8192",
                    "--nowordwrap", "--insecure", "hi")
    assert r.returncode == 0, r.stderr
    body = generate_bodies(single_fleet, "ollama")[-1]
    assert body["keep_alive"] == "10m0s"       # Go's duration, as `ollama run` sends it
    assert body["options"] == {"num_ctx": 8192}


def test_keepalive_is_a_go_duration(single_fleet: object) -> None:
    r = run_sollama("run", "llama3:8b", "--keepalive", "1.5h", "hi")
    assert r.returncode == 0, r.stderr
    assert generate_bodies(single_fleet, "ollama")[-1]["keep_alive"] == "1h30m0s"
    r = run_sollama("run", "llama3:8b", "--keepalive", "1.5", "hi")   # Ollama refuses "1.5"
    assert r.returncode == 2
    assert "'--keepalive': time: missing unit in duration \"1.5\"" in r.stderr
    assert generate_bodies(single_fleet, "ollama")[-1]["keep_alive"] == "1h30m0s"


def test_quiet_hides_a_plain_run(single_fleet: object) -> None:
    r = run_sollama("run", "-q", "llama3:8b", "hi")
    assert r.returncode == 0
    assert r.stderr == ""


def test_json_verdict_on_stderr_with_outcome(single_fleet: object) -> None:
    r = run_sollama("run", "llama3:8b", "--json", "hi")
    assert r.returncode == 0, r.stderr
    verdict = json.loads(r.stderr.strip().splitlines()[-1])
    assert verdict["action"] == "run"
    assert verdict["model_used"] == "llama3:8b"
    assert verdict["outcome"]["status"] == "ok"
    assert verdict["outcome"]["eval_tokens"] > 0
    assert verdict["prompt_chars"] == 2 and "prompt" not in verdict   # "hi": prompts not stored


def test_unknown_model_names_model_host_and_close_names(single_fleet: object) -> None:
    """Pulled first, as `ollama run` does; the registry lacks it: one error line."""
    r = run_sollama("run", "llama3:9b", "hi")
    no_traceback(r)
    assert r.returncode == 1
    assert r.stderr.splitlines()[:2] == ["sollama: pulling llama3:9b onto ollama",
                                         "pulling manifest"]
    line = r.stderr.splitlines()[-1]
    assert line.startswith("sollama: error: ") and len(r.stderr.splitlines()) == 3
    assert "llama3:9b" in line and "llama3:8b" in line


def test_unreachable_host_exit_4(tmp_path: Path) -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(
        '[[backends]]\nid = "gone"\nhost = "127.0.0.1:9"\ntelemetry = { source = "none" }\n')
    r = run_sollama("run", "llama3:8b", "hi")
    no_traceback(r)
    assert r.returncode == 4
    assert "127.0.0.1:9" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_malformed_config_exit_1(tmp_path: Path) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.write_text('[[backends]]\nid = "a"\nhost = "x"\nhardware = "tpu"\n')
    r = run_sollama("run", "llama3:8b", "hi")
    no_traceback(r)
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"sollama: error: {cfg}: backends[0] (a).hardware:")
    assert len(r.stderr.strip().splitlines()) == 1


def test_no_config_uses_ollama_host(single_fleet: object, tmp_path: Path) -> None:
    url = single_fleet.hosts["ollama"].url  # type: ignore[attr-defined]
    env = {k: v for k, v in os.environ.items() if k != "SOLLAMA_CONFIG"}
    env.update(OLLAMA_HOST=url.removeprefix("http://"), XDG_CONFIG_HOME=str(tmp_path / "none"))
    r = subprocess.run([SOLLAMA, "run", "llama3:8b", "hi"], input="", capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Hello from llama3:8b" in r.stdout


def test_help_lists_the_commands() -> None:
    r = run_sollama("--help")
    assert r.returncode == 0
    for cmd in ("run", "route", "why", "status", "mode", "ps", "list", "preload", "init",
                "shell-init", "demo"):
        assert f"\n  {cmd} " in r.stdout, cmd


def test_help_does_not_import_heavy_modules() -> None:
    code = ("import sys; from smartollama.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('httpx', 'pydantic', 'rich', 'pynvml', 'psutil') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy))")
    r = subprocess.run([str(Path(SOLLAMA).parent / "python"), "-c", code], capture_output=True,
                       text=True, timeout=30)
    assert "HEAVY=\n" in r.stdout, r.stdout


def test_pass_through_to_real_ollama(tmp_path: Path) -> None:
    stub = tmp_path / "bin" / "ollama"
    stub.parent.mkdir()
    record = tmp_path / "argv"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\ncat > {record}.stdin\nexit 7\n')
    stub.chmod(0o755)
    env = {"PATH": f"{stub.parent}:{os.environ['PATH']}"}
    r = run_sollama("pull", "llama3:8b", "--insecure", input="from stdin", env=env)
    assert r.returncode == 7
    assert record.read_text().split("\n")[:2] == ["pull", "llama3:8b"]
    assert (tmp_path / "argv.stdin").read_text() == "from stdin"


def test_pass_through_without_ollama_is_one_line() -> None:
    r = run_sollama("pull", "llama3:8b", env={"PATH": "/nonexistent"})
    no_traceback(r)
    assert r.returncode == 1
    assert "no real `ollama` binary" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _streaming(fleet: Any) -> subprocess.Popen[str]:
    """`sollama run` with a long answer, once the host has its request (bounded: a
    run that ends first, or 20 s without the request, fails the test)."""
    p = subprocess.Popen([SOLLAMA, "run", "llama3:8b", "tell me a long story " * 20],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not fleet.hosts["ollama"].requests_to("/api/generate"):
        assert time.monotonic() < deadline and p.poll() is None, "the run never asked the host"
        wait_on(p, 0.05)
    return p


def test_ctrl_c_exits_130_without_traceback(tmp_path: Path) -> None:
    from smartollama.sim import Fleet, builtin_fleet

    spec = builtin_fleet("single", time_scale=1.0)       # real-time: a long answer
    with Fleet(spec) as fleet:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml())
        p = _streaming(fleet)
        assert p.stdout is not None and p.stdout.read(1)    # the answer has begun
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    r = run_sollama("why", "--json")
    assert json.loads(r.stdout)["outcome"]["status"] == "interrupted"


def _in_flight_on(backend: str) -> int:
    r = run_sollama("status", "--json")
    assert r.returncode == 0, r.stderr
    return next(b["in_flight"] for b in json.loads(r.stdout)["backends"] if b["id"] == backend)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_a_run_is_in_flight_while_it_streams_and_not_after(tmp_path: Path, stop: int) -> None:
    from smartollama.sim import Fleet, builtin_fleet

    spec = builtin_fleet("single", time_scale=1.0)       # real-time: a long answer
    with Fleet(spec) as fleet:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml())
        assert _in_flight_on("ollama") == 0
        p = _streaming(fleet)
        marks = in_flight()
        assert [m["pid"] for m in marks["ollama"]] == [p.pid]
        assert _in_flight_on("ollama") == 1     # another call sees it (the router counts it)
        p.send_signal(stop)
        p.communicate(timeout=20)
        # Ctrl-C removes the mark; a killed run's mark stays, but no longer counts
        assert (in_flight() == {}) == (stop == signal.SIGINT)
        assert _in_flight_on("ollama") == 0
    with Fleet(builtin_fleet("single", time_scale=0.001)) as fleet:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml())
        assert run_sollama("run", "llama3:8b", "hi").returncode == 0
    assert in_flight() == {}        # the next run removed the dead one's mark


def test_why_shows_the_runs_decision(single_fleet: object) -> None:
    r = run_sollama("run", "llama3:8b", "--json", "hi")
    run_id = json.loads(r.stderr.strip().splitlines()[-1])["id"]
    why = run_sollama("why", "--json")
    assert json.loads(why.stdout)["id"] == run_id
    plain = run_sollama("why")
    assert run_id in plain.stdout


def test_32_concurrent_runs_all_recorded(single_fleet: object) -> None:
    def one(i: int) -> subprocess.CompletedProcess[str]:
        return run_sollama("run", "-q", "qwen2.5:0.5b" if i % 2 else "llama3:8b", f"hi {i}",
                           timeout=120)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(32)))
    assert [r.returncode for r in results] == [0] * 32, [r.stderr for r in results if r.returncode]
    directory = Path(os.environ["SOLLAMA_STATE_DIR"])
    state = json.loads((directory / "state.json").read_text())
    ids = [json.loads(line)["id"] for line in (directory / "history.jsonl").read_bytes()
           .splitlines()]
    assert len(ids) == 32 and len(set(ids)) == 32
    learned = state["learned"]["ollama"]
    samples = sum(m["n"] for m in learned["tps"].values())
    assert samples == 32
    assert "in_flight" not in state
    assert in_flight() == {}


def test_read_only_state_dir_still_answers_and_warns_once(single_fleet: object,
                                                           tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = run_sollama("run", "llama3:8b", "hi",
                    env={"SOLLAMA_STATE_DIR": str(blocker / "state")})
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "Hello from llama3:8b" in r.stdout
    warnings = [line for line in r.stderr.splitlines() if "not saved" in line]
    assert len(warnings) == 1, r.stderr


@pytest.mark.parametrize("in_stream", [False, True])
def test_failed_host_falls_back_before_the_answer(demo_fleet: object, in_stream: bool) -> None:
    """A 500 before streaming, or an error line inside the 200 stream before any token
    (how Ollama reports a runner that died): the next choice answers, once."""
    chosen = json.loads(run_sollama("route", "qwen2.5:0.5b", "--json").stdout)
    first = chosen["backend_used"]
    kw = {"after_chunks": 0} if in_stream else {}
    demo_fleet.hosts[first].fail_next(  # type: ignore[attr-defined]
        status=500, error="llama runner process has terminated: CUDA error", **kw)
    r = run_sollama("run", "qwen2.5:0.5b", "--json", "hi")
    assert r.returncode == 0, r.stderr
    verdict = json.loads(r.stderr.strip().splitlines()[-1])
    assert verdict["outcome"]["attempts"][0]["backend"] == first
    assert "CUDA error" in verdict["outcome"]["attempts"][0]["error"]
    assert verdict["backend_used"] != first                   # names where it really ran
    assert verdict["outcome"]["backend_used"] == verdict["backend_used"]
    assert r.stdout.count("Hello from") == 1                  # never printed twice
    assert f"on {verdict['backend_used']}" in r.stdout
    assert f"falling back to qwen2.5:0.5b on {verdict['backend_used']}" in r.stderr


def test_an_error_after_the_answer_started_is_not_retried(demo_fleet: object) -> None:
    chosen = json.loads(run_sollama("route", "qwen2.5:0.5b", "--json").stdout)["backend_used"]
    demo_fleet.hosts[chosen].fail_next(status=500, error="runner died", after_chunks=3)  # type: ignore[attr-defined]
    r = run_sollama("run", "qwen2.5:0.5b", "a prompt long enough for several chunks")
    assert r.returncode == 1
    assert r.stdout.count("Hello from") <= 1 and "runner died" in r.stderr


def test_fallback_to_next_choice_when_host_dies(demo_fleet: object) -> None:
    first = run_sollama("route", "qwen2.5:0.5b", "--json")
    chosen = json.loads(first.stdout)
    assert len(chosen["choices"]) >= 2
    demo_fleet.hosts[chosen["backend_used"]].stop()  # type: ignore[attr-defined]
    r = run_sollama("run", "qwen2.5:0.5b", "--json", "hi")
    assert r.returncode == 0, r.stderr
    verdict = json.loads(r.stderr.strip().splitlines()[-1])
    assert verdict["backend_used"] != chosen["backend_used"] or \
        verdict["outcome"]["attempts"], verdict
    assert r.stdout.count("Hello from") == 1


@pytest.mark.parametrize("cmd", [["ps"], ["list"]])
def test_ps_and_list_across_backends(demo_fleet: object, cmd: list[str]) -> None:
    r = run_sollama(*cmd)
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert header[0] == "NAME" and header[-1] in ("BACKEND", "BACKENDS")
    if cmd == ["ps"]:
        assert "llama3:70b" in r.stdout and "ollama-nvidia" in r.stdout
        assert "CPU/GPU" in r.stdout                  # the 70B is partly offloaded
    else:
        assert "tinyllama:1b" in r.stdout


@pytest.mark.parametrize(("args", "think", "prompt"), [
    (["--think", "why is the sky blue?"], True, "why is the sky blue?"),
    (["--think=false", "hi"], False, "hi"),
    (["--think=high", "hi"], "high", "hi"),
    (["hi", "--think"], True, "hi"),
])
def test_think_flag_as_ollama_parses_it(single_fleet: object, args: list[str], think: object,
                                        prompt: str) -> None:
    r = run_sollama("run", "qwen3:0.6b", *args)       # a thinking model
    assert r.returncode == 0, r.stderr
    body = generate_bodies(single_fleet, "ollama")[-1]
    assert body["think"] == think
    assert body["prompt"] == prompt


def test_a_model_without_thinking_is_refused_before_the_run(single_fleet: object) -> None:
    """The host lists its capabilities: --think to a model without thinking is not
    sent (Ollama would answer 400), and no model without thinking stands in."""
    before = len(generate_bodies(single_fleet, "ollama"))
    r = run_sollama("run", "qwen2.5:0.5b", "--think", "hi")     # not a thinking model
    no_traceback(r)
    assert r.returncode == 1
    err = r.stderr.strip()
    assert err == ("sollama: error: qwen2.5:0.5b does not support thinking; "
                   "no equivalent model fits either")
    assert len(generate_bodies(single_fleet, "ollama")) == before


def test_thinking_is_shown_then_the_answer(single_fleet: object) -> None:
    r = run_sollama("run", "qwen3:0.6b", "--think", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Thinking...\n")
    assert "...done thinking.\n\n" in r.stdout
    hidden = run_sollama("run", "qwen3:0.6b", "--think", "--hidethinking", "hi")
    assert "Thinking..." not in hidden.stdout and "Hello from qwen3:0.6b" in hidden.stdout


def test_a_dead_host_is_remembered_briefly_not_forever(single_fleet: object) -> None:
    """Routed by an Environment whose clock the test sets: within UNREACHABLE_TTL_S the dead
    host is neither asked nor stamped again; past it, it is asked again (no wall-clock luck)."""
    import io

    from smartollama import api
    from smartollama.commands.run import build_request
    from smartollama.env import Environment
    from smartollama.snapshot import UNREACHABLE_TTL_S

    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.write_text(single_fleet.config_toml() +  # type: ignore[attr-defined]
                   '\n[[backends]]\nid = "gone"\nhost = "127.0.0.1:9"\n'
                   'telemetry = { source = "none" }\n')
    state_file = Path(os.environ["SOLLAMA_STATE_DIR"]) / "state.json"

    def down_stamp() -> float:
        return json.loads(state_file.read_text())["caches"]["down:http://127.0.0.1:9"]["t"]

    def route_at(t: float) -> None:
        env = Environment(clock=lambda: t, stdout=io.StringIO(), stderr=io.StringIO())
        request = build_request("llama3:8b", env, mode=None, urgency=None, task=None,
                                min_quality=None, policy=None, backend_id=None, num_ctx=None)
        assert api.route(request, env).action == "run"

    start = time.time()
    route_at(start)
    assert down_stamp() == start
    route_at(start + UNREACHABLE_TTL_S / 2)
    assert down_stamp() == start          # read from the cache, not stamped again
    later = start + UNREACHABLE_TTL_S + 0.5
    route_at(later)
    assert down_stamp() == later          # forgotten: asked again, and found down again


def test_no_ps_after_a_run_when_nothing_new_can_be_learned(single_fleet: object) -> None:
    host = single_fleet.hosts["ollama"]  # type: ignore[attr-defined]
    assert run_sollama("run", "llama3:8b", "first").returncode == 0     # loads: observes /api/ps
    host.clear_requests()
    assert run_sollama("run", "llama3:8b", "--num-ctx", "4096", "again").returncode == 0
    # loaded already and its memory known: the snapshot's cached ps serves, none after the run
    assert [r.path for r in host.requests if r.path == "/api/ps"] == []


def test_a_model_the_schedule_keeps_loaded_is_run_with_the_windows_keep_alive(
        single_fleet: object) -> None:
    """A prompt must not cut a preloaded model's stay to Ollama's 5 minutes: the run
    sends a keep-alive to the end of the `[[preload]]` window (docs/decisions.md)."""
    import time as _time

    hour = _time.localtime().tm_hour
    path = Path(os.environ["SOLLAMA_CONFIG"])
    # three hours from this one: an hour that turns during the test stays inside
    path.write_text(path.read_text() + f'\n[[preload]]\nhours = "{hour:02d}-{(hour + 3) % 24:02d}"'
                    '\nmodels = ["llama3:8b"]\n')
    host = single_fleet.hosts["ollama"]  # type: ignore[attr-defined]
    assert run_sollama("run", "llama3:8b", "hi").returncode == 0
    assert run_sollama("run", "mistral:7b", "hi").returncode == 0
    assert run_sollama("run", "llama3:8b", "--keepalive", "5m", "hi").returncode == 0
    sent = [r.body.get("keep_alive") for r in host.requests_to("/api/generate")]
    assert sent[1:] == [None, "5m0s"]           # not named by the schedule; given by the user
    from smartollama import goduration

    assert 3600 < goduration.parse(sent[0]) / 1e9 <= 3 * 3600, sent[0]    # to the window's end


def test_a_second_copy_of_a_scheduled_model_gets_no_window(demo_fleet: object) -> None:
    """The schedule asks for its model loaded once: a run that puts a second copy on
    another card (here pinned there) sends no keep-alive to the window's end, or both
    copies would hold memory for the rest of it (the one copy gets it: the test above)."""
    import time as _time

    hour = _time.localtime().tm_hour
    path = Path(os.environ["SOLLAMA_CONFIG"])
    path.write_text(path.read_text() + f'\n[[preload]]\nhours = "{hour:02d}-{(hour + 3) % 24:02d}"'
                    '\nmodels = ["llama3:8b"]\n')
    hosts = demo_fleet.hosts  # type: ignore[attr-defined]
    hosts["ollama-igpu"].load("llama3:8b", keep_alive="2h")
    assert run_sollama("run", "llama3:8b", "--backend", "ollama-nvidia", "hi").returncode == 0
    assert "keep_alive" not in generate_bodies(demo_fleet, "ollama-nvidia")[-1]
    assert run_sollama("run", "llama3:8b", "--backend", "ollama-igpu", "hi").returncode == 0
    assert "keep_alive" not in generate_bodies(demo_fleet, "ollama-igpu")[-1]   # two now


def test_a_model_run_every_few_minutes_is_kept_loaded_until_its_next_run(
        single_fleet: object) -> None:
    """Its last runs came 10 minutes apart: the run keeps it for 13 minutes (the usual
    gap and a quarter more), not Ollama's 5; `keep_alive_from_use = false` sends none."""
    import time as _time

    assert run_sollama("run", "llama3:8b", "hi").returncode == 0      # the state exists
    state_file = Path(os.environ["SOLLAMA_STATE_DIR"]) / "state.json"
    state = json.loads(state_file.read_text())
    now = _time.time()
    state["learned"]["ollama"]["uses"]["llama3:8b"] = [now - 1800, now - 1200, now - 600]
    state_file.write_text(json.dumps(state))
    assert run_sollama("run", "llama3:8b", "hi").returncode == 0
    assert generate_bodies(single_fleet, "ollama")[-1]["keep_alive"] == "13m0s"
    assert run_sollama("run", "mistral:7b", "hi").returncode == 0     # used once: the server's
    assert "keep_alive" not in generate_bodies(single_fleet, "ollama")[-1]
    from smartollama.sim.fleet import dumps_toml

    data = single_fleet.config()  # type: ignore[attr-defined]
    data.setdefault("routing", {})["keep_alive_from_use"] = False
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml(data))
    state["learned"]["ollama"]["uses"]["llama3:8b"] = [now - 1800, now - 1200, now - 600]
    state_file.write_text(json.dumps(state))
    assert run_sollama("run", "llama3:8b", "hi").returncode == 0
    assert "keep_alive" not in generate_bodies(single_fleet, "ollama")[-1]
