"""Output that fits a terminal: the verdict line in 100 columns, each suggestion once,
`why` and `status` wrapped to `COLUMNS`, server names escaped. Through the installed
`sollama`, against the demo fleet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from badhost import BadHost, backend, tags_of
from conftest import run_sollama
from smartollama.sim.fleet import dumps_toml

#: the common cases: (arguments after the model, the action expected)
CASES = [
    (["llama3:8b"], "run"),
    (["llama3:8b", "--mode", "quiet"], "run"),
    (["llama3:70b", "--mode", "quiet"], "override"),
    (["llama3:70b", "--mode", "balanced"], "run"),
    (["llama3:70b", "--mode", "performance"], "run"),
    (["llama3:70b", "--mode", "quiet", "--policy", "prefer_mode"], "refused"),
    (["llama3:70b", "--mode", "quiet", "--policy", "substitute"], "substitute"),
    (["llama3:70b", "--mode", "balanced", "--policy", "prefer_mode"], "refused"),
    (["llama3:70b", "--mode", "balanced", "--policy", "substitute"], "substitute"),
    (["llama3:70b", "--backend", "ollama-igpu"], "substitute"),     # fits nowhere it may go
    (["auto"], "run"),
    (["auto", "--task", "code", "--mode", "quiet"], "run"),
]


def _depth(text: str) -> int:
    depth = deepest = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        deepest = max(deepest, depth)
    return deepest


@pytest.mark.parametrize(("args", "action"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_the_verdict_line_fits_100_columns(demo_fleet: object, args: list[str],
                                           action: str) -> None:
    r = run_sollama("route", *args)
    assert r.returncode == (3 if action == "refused" else 0), r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith(action), first
    assert len("sollama: " + first) <= 100, first
    assert _depth(first) <= 1, first            # no parentheses inside parentheses
    assert "try:" not in first
    r = run_sollama("run", *args, "hi")
    lines = [x for x in r.stderr.splitlines() if x.startswith("sollama:")]
    assert lines[0] == "sollama: " + first
    assert all(len(x) <= 100 for x in lines), lines      # warnings and suggestions too


def test_a_fallback_fits_100_columns(demo_fleet: object) -> None:
    demo_fleet.hosts["ollama-igpu"].fail_next(  # type: ignore[attr-defined]
        500, "llama runner process has terminated: exit status 2")
    r = run_sollama("run", "llama3:8b", "hi")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "sollama: falling back to llama3:8b on ollama-nvidia" in lines
    assert any(x.startswith("sollama: ollama-igpu failed (llama runner") for x in lines), lines
    assert all(len(x) <= 100 for x in lines), lines


def test_a_refusal_names_each_suggestion_once(demo_fleet: object) -> None:
    args = ("llama3:70b", "--mode", "quiet", "--policy", "prefer_mode")
    r = run_sollama("run", *args, "hi")
    assert r.returncode == 3
    tries = [x.split("try: ", 1)[1] for x in r.stderr.splitlines() if "try: " in x]
    assert tries and len(tries) == len(set(tries))
    for cmd in tries:
        assert r.stderr.count(cmd + "\n") == 1, cmd
    assert "sollama run llama3:8b --backend ollama-igpu --mode quiet" in tries
    # route: the same, once each, and the long form (-v) adds each one's why
    out = run_sollama("route", *args).stdout
    assert [x.split("try: ", 1)[1] for x in out.splitlines() if "try: " in x] == tries
    verbose = run_sollama("route", *args, "-v").stdout
    assert "quiet mode allows fan ≤ 40%, it reads 65%" in verbose.splitlines()[0]
    assert "# complies with quiet mode on ollama-igpu" in verbose


@pytest.mark.parametrize("columns", [80, 60])
def test_why_and_status_fit_the_terminal(demo_fleet: object, columns: int) -> None:
    assert run_sollama("run", "llama3:70b", "--mode", "quiet", "hi").returncode == 0
    env = {"COLUMNS": str(columns)}
    why = run_sollama("why", env=env)
    status = run_sollama("status", env=env)
    assert why.returncode == 0 and status.returncode == 0, why.stderr + status.stderr
    for out in (why.stdout, status.stdout):
        assert max(len(x) for x in out.splitlines()) <= columns, out
    for backend_id in ("ollama-npu", "ollama-igpu", "ollama-nvidia", "ollama-cpu"):
        assert backend_id in why.stdout and backend_id in status.stdout
    if columns >= 80:           # a suggestion's command stays on one line
        assert "sollama run llama3:8b --backend ollama-igpu --mode quiet" in why.stdout
    wide = run_sollama("why", env={"COLUMNS": "200"})
    assert max(len(x) for x in wide.stdout.splitlines()) > columns   # it was wrapped


def test_names_from_a_server_are_printed_escaped() -> None:
    name = "\x1b[2Jclear:7b"
    with BadHost("ok", tags=tags_of(name)) as host:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml({"backends": [backend(host.url)]}))
        route = run_sollama("route", "auto")
        run = run_sollama("run", "auto", "hi")
        why = run_sollama("why")
    assert route.returncode == 0 and run.returncode == 0, route.stderr + run.stderr
    for out in (route.stdout, run.stderr, why.stdout):
        assert "\x1b" not in out
        assert "\\x1b[2Jclear:7b" in out, out
