"""`sollama why` and `sollama mode`, through the command line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from smartollama import paths
from smartollama.cli import cli
from smartollama.env import Environment
from smartollama.errors import SollamaError
from smartollama.explain import explain
from smartollama.state import StateStore
from smartollama.verdict import Verdict

CONFIG = """
default_mode = "balanced"

[modes.quiet]
max_fan_pct = 40
max_temp_c = 80
[modes.night]
max_fan_pct = 25
description = "bedroom hours"

[[backends]]
id = "ollama-npu"
host = "http://127.0.0.1:11436"
hardware = "npu"
max_model_size_gb = 2

[[backends]]
id = "ollama-igpu"
host = "http://127.0.0.1:11435"
hardware = "igpu"
max_model_size_gb = 8

[[backends]]
id = "ollama-nvidia"
host = "http://127.0.0.1:11434"
hardware = "nvidia"
max_model_size_gb = 24
"""

MODES = ["quiet", "balanced", "performance", "efficiency", "night"]
#: the installed console script of the environment running the tests
SOLLAMA = Path(sys.executable).parent / "sollama"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real config or state."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    monkeypatch.setenv("SOLLAMA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SOLLAMA_CONFIG", str(config))
    monkeypatch.delenv("SOLLAMA_MODE", raising=False)


#: a terminal wide enough that no row of `why` wraps (each is checked whole)
WIDE = {"COLUMNS": "200"}


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env=env)


# -- realistic verdicts ---------------------------------------------------------------------

TELEMETRY = {
    "ollama-npu": {"fan_pct": 0.0, "power_w": 3.1},
    "ollama-igpu": {"fan_pct": 35.0, "temp_c": 62.0, "power_w": 14.0},
    "ollama-nvidia": {"fan_pct": 65.0, "temp_c": 71.0, "power_w": 180.0, "mem_free_gb": 2.1},
}


def substitute_verdict() -> Verdict:
    return Verdict.from_dict({
        "id": "2026-11-22T10:10:00.000Z-0001", "time": "2026-11-22T10:10:00.000Z",
        "action": "substitute", "model_requested": "llama3:70b", "model_used": "llama3:8b",
        "backend_used": "ollama-igpu", "host": "http://127.0.0.1:11435", "mode": "quiet",
        "urgency": "background", "task": "code", "policy": "substitute",
        "model_substituted": True,
        "reason": "llama3:70b complies nowhere in quiet mode; llama3:8b (medium_quality) does",
        "fallback_chain": [
            {"backend": "ollama-nvidia", "accepted": False,
             "reason": "fan 65% exceeds quiet limit 40%"},
            {"backend": "ollama-igpu", "accepted": True, "model": "llama3:8b",
             "reason": "fits (4.9 GB of 8 GB); inside quiet limits"},
        ],
        "estimate": {"memory_gb": 4.9, "basis": "model_info", "wait_s": 3.2,
                     "wait_basis": "learned from 4 runs", "quality": 0.62},
        "telemetry": TELEMETRY, "limits": {"fan_pct": 40, "temp_c": 80},
        "prompt_chars": 42, "prompt_sha256": "ab" * 32,
        "outcome": {"status": "ok", "load_s": 3.1, "eval_tokens": 250, "tokens_per_s": 18.4,
                    "total_s": 17.0, "energy_j": 238.0},
    })


def refuse_verdict() -> Verdict:
    return Verdict.from_dict({
        "id": "2026-11-22T10:12:00.000Z-0002", "time": "2026-11-22T10:12:00.000Z",
        "action": "refuse", "model_requested": "llama3:70b", "model_used": None,
        "backend_used": None, "mode": "quiet", "policy": "prefer_mode",
        "reason": "llama3:70b fits only ollama-nvidia, whose fan reads 65% (quiet allows 40%)",
        "suggestions": [
            {"model": "llama3:8b", "backend": "ollama-igpu", "why": "complies with quiet mode"},
            {"mode": "balanced", "backend": "ollama-nvidia",
             "why": "balanced allows fan up to 70%"},
        ],
        "fallback_chain": [
            {"backend": "ollama-npu", "accepted": False,
             "reason": "model too large: needs ~40.1 GB, limit 2 GB"},
            {"backend": "ollama-igpu", "accepted": False,
             "reason": "model too large: needs ~40.1 GB, limit 8 GB"},
            {"backend": "ollama-nvidia", "accepted": False,
             "reason": "fan 65% exceeds quiet limit 40%"},
        ],
        "estimate": {"memory_gb": 40.1, "basis": "name", "gpu_share": 0.6},
        "telemetry": TELEMETRY, "limits": {"fan_pct": 40, "temp_c": 80},
    })


def override_verdict() -> Verdict:
    return Verdict.from_dict({
        "id": "2026-11-22T10:15:03.123Z-4f2a", "time": "2026-11-22T10:15:03.123Z",
        "action": "override", "model_requested": "llama3:70b", "model_used": "llama3:70b",
        "backend_used": "ollama-nvidia", "host": "http://127.0.0.1:11434", "mode": "quiet",
        "urgency": "interactive", "task": "general", "policy": "prefer_model",
        "mode_overridden": True,
        "reason": "llama3:70b fits only ollama-nvidia; quiet mode allows fan ≤ 40%, it reads 65%",
        "warnings": ["Quiet mode bypassed: model too large for quiet backends"],
        "suggestions": [{"model": "llama3:8b", "backend": "ollama-igpu",
                         "why": "complies with quiet mode"}],
        "fallback_chain": [
            {"backend": "ollama-npu", "accepted": False,
             "reason": "model too large: needs ~40.1 GB, limit 2 GB"},
            {"backend": "ollama-igpu", "accepted": False,
             "reason": "model too large: needs ~40.1 GB, limit 8 GB"},
            {"backend": "ollama-nvidia", "accepted": True,
             "reason": "fits with offload (24 of 40.1 GB on GPU, ~60% of layers); "
                       "fan 65% exceeds quiet limit 40%"},
        ],
        "estimate": {"memory_gb": 40.1, "basis": "observed", "gpu_share": 0.6, "wait_s": 0.0,
                     "loaded": True, "quality": 0.9},
        "telemetry": {"ollama-nvidia": TELEMETRY["ollama-nvidia"]},
        "limits": {"fan_pct": 40, "temp_c": 80},
        "outcome": {"status": "ok", "load_s": 0.0, "eval_tokens": 120, "tokens_per_s": 31.2,
                    "attempts": [{"backend": "ollama-nvidia", "error": "connection reset"}]},
    })


@pytest.fixture
def recorded() -> list[dict]:
    """Three decisions recorded the way the run path records them; newest first."""
    store = StateStore(paths.state_dir())
    with store.update() as st:
        for v in (substitute_verdict(), refuse_verdict(), override_verdict()):
            st.add_verdict(v.to_dict(), cap=200)
        st.mode = "quiet"
        st.learn_run("ollama-nvidia", "llama3:70b", eval_count=10,
                     eval_duration_ns=1_000_000_000, now=1.0)
    return store.read().history


# -- mode ------------------------------------------------------------------------------------


def test_mode_shows_the_default_and_lists_modes() -> None:
    r = invoke("mode")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("mode: balanced (the config's default_mode)")
    assert "limits: fan ≤ 70%" in r.output
    for m in MODES:
        assert m in r.output
    assert "bedroom hours" in r.output
    assert "* balanced" in r.output


def test_mode_set_then_show() -> None:
    r = invoke("mode", "night")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("mode set to night")
    assert "fan ≤ 25%" in r.output
    assert StateStore(paths.state_dir()).read().mode == "night"
    r = invoke("mode")
    assert r.output.startswith("mode: night (saved with `sollama mode NAME`)")
    r = invoke("mode", "--reset")
    assert r.exit_code == 0
    assert "saved mode cleared; mode: balanced" in r.output
    assert StateStore(paths.state_dir()).read().mode is None


def test_mode_env_wins_over_the_saved_mode() -> None:
    invoke("mode", "night")
    r = invoke("mode", env={"SOLLAMA_MODE": "quiet"})
    assert r.output.startswith("mode: quiet (from SOLLAMA_MODE)")
    r = invoke("mode", "--json", env={"SOLLAMA_MODE": "quiet"})
    data = json.loads(r.output)
    assert (data["mode"], data["source"], data["saved_mode"]) == ("quiet", "env", "night")
    assert data["limits"] == {"fan_pct": 40, "temp_c": 80}
    assert list(data["modes"]) == MODES


def test_mode_unknown_names_the_closest_then_the_modes_in_order() -> None:
    r = invoke("mode", "quite")
    assert r.exception.exit_code == 2      # what the CLI exits with
    assert isinstance(r.exception, SollamaError)
    assert r.exception.message.startswith(
        "unknown mode 'quite' (did you mean 'quiet'?); configured modes: ")
    assert r.exception.message.endswith(", ".join(MODES))      # the config's order, stable
    assert StateStore(paths.state_dir()).read().mode is None


def test_mode_unknown_in_env_is_named() -> None:
    r = invoke("mode", env={"SOLLAMA_MODE": "nite"})
    assert r.exception.exit_code == 2      # what the CLI exits with
    assert r.exception.message.startswith("SOLLAMA_MODE: unknown mode 'nite'")
    assert "'night'" in r.exception.message
    assert all(m in r.exception.message for m in MODES)


def test_mode_json_after_set() -> None:
    r = invoke("mode", "quiet", "--json")
    data = json.loads(r.output)
    assert (data["mode"], data["source"], data["default_mode"]) == ("quiet", "state", "balanced")


# -- why --------------------------------------------------------------------------------------


def test_why_without_history_exits_1() -> None:
    r = invoke("why")
    assert r.exit_code == 1
    assert r.exception.message == "no decisions recorded yet"


def test_why_explains_the_last_decision(recorded: list[dict]) -> None:
    r = invoke("why", env=WIDE)
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.startswith("override: llama3:70b on ollama-nvidia, quiet mode overridden")
    assert "2026-11-22T10:15:03.123Z-4f2a" in out
    assert "quiet (fan ≤ 40%, temp ≤ 80 °C)" in out                 # mode and its limits
    assert "interactive (wait ≤ 15 s, warn over 5 s, ≥ 10 tokens/s)" in out
    for backend in ("ollama-npu", "ollama-igpu", "ollama-nvidia"):
        assert backend in out
    assert "fan 65% (over 40), temp 71 °C, power 180 W, free 2.1 GB" in out   # the reading
    assert "rejected: model too large: needs ~40.1 GB, limit 2 GB" in out
    assert "chosen: fits with offload" in out
    assert "Quiet mode bypassed: model too large for quiet backends" in out
    assert "sollama run llama3:8b --backend ollama-igpu" in out
    assert "no load (already loaded), 120 tokens at 31.2 tokens/s" in out
    assert "ollama-nvidia: connection reset" in out
    assert "60% of layers on the device" in out


def test_why_2_explains_a_refusal_with_commands(recorded: list[dict]) -> None:
    r = invoke("why", "2", env=WIDE)
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.startswith("refused llama3:70b in quiet mode")
    assert "rejected: fan 65% exceeds quiet limit 40%" in out
    # the command carries the mode the suggestion was checked in
    assert ("$  sollama run llama3:8b --backend ollama-igpu --mode quiet\n"
            "     # complies with quiet mode") in out
    assert "sollama run llama3:70b --backend ollama-nvidia --mode balanced" in out
    assert "not run" in out
    assert "fan 0%" in out and "fan 35%" in out


def test_why_3_explains_a_substitution(recorded: list[dict]) -> None:
    out = invoke("why", "3", env=WIDE).output
    assert out.startswith("substitute: llama3:8b on ollama-igpu, instead of llama3:70b")
    assert "substituted a smaller equivalent model" in out
    assert "llama3:8b" in out and "chosen: fits (4.9 GB of 8 GB)" in out
    assert "wait ~3.2 s (learned from 4 runs)" in out
    assert "load 3.10 s, 250 tokens at 18.4 tokens/s, 17.00 s in all, energy 238 J" in out
    assert "42 characters" in out
    assert "background" in out and "code" in out


def test_why_beyond_the_history(recorded: list[dict]) -> None:
    r = invoke("why", "4")
    assert r.exit_code == 1
    assert "no decision 4: 3 recorded" in r.exception.message
    assert invoke("why", "0").exit_code == 2          # click's usage error


@pytest.mark.parametrize("n", [1, 2, 3])
def test_why_json_is_the_record(recorded: list[dict], n: int) -> None:
    r = invoke("why", str(n), "--json")
    assert r.exit_code == 0
    assert r.output.count("\n") == 1
    assert json.loads(r.output) == recorded[n - 1]
    assert Verdict.from_json(r.output).to_dict() == recorded[n - 1]


def test_why_list(recorded: list[dict]) -> None:
    r = invoke("why", "--list")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].split() == ["N", "time", "action", "model", "(requested", "→", "used)",
                                "backend", "mode", "outcome"]
    assert lines[1].split()[:5] == ["1", "2026-11-22", "10:15:03", "override", "llama3:70b"]
    assert "refused" in lines[2] and "llama3:70b → llama3:8b" in lines[3]
    assert "ok 31.2 tok/s" in lines[1]
    r = invoke("why", "--list", "--json")
    assert json.loads(r.output) == recorded


def test_why_path_and_clear(recorded: list[dict]) -> None:
    r = invoke("why", "--path")
    assert r.output.strip() == str(paths.state_dir())
    assert (paths.state_dir() / "state.json").is_file()
    assert (paths.state_dir() / "history.jsonl").is_file()
    r = invoke("why", "--clear")
    assert r.exit_code == 0 and "cleared 3 recorded decisions" in r.output
    st = StateStore(paths.state_dir()).read()
    assert st.history == []
    assert st.mode == "quiet"                                       # kept
    assert st.learned_figures("ollama-nvidia").tps_samples == {"llama3:70b": 1}
    assert invoke("why").exit_code == 1
    assert json.loads(invoke("why", "--list", "--json").output) == []


def test_why_survives_a_broken_config(recorded: list[dict], tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("default_mode = [")
    r = invoke("why")
    assert r.exit_code == 0
    assert "override: llama3:70b" in r.output


def test_rich_layout_says_the_same() -> None:
    from rich.console import Console

    for v in (override_verdict(), refuse_verdict()):
        buf = io.StringIO()
        Console(file=buf, width=160, no_color=True, force_terminal=False).print(
            explain(v, Environment().config, rich=True))
        out = buf.getvalue()
        assert v.id in out
        assert "ollama-npu" in out and "ollama-nvidia" in out
        assert "fan 65% (over 40)" in out
        assert "sollama run llama3:8b --backend ollama-igpu" in out
        assert "model too large: needs ~40.1 GB, limit 2 GB" in out


def test_installed_command(recorded: list[dict], tmp_path: Path) -> None:
    if not SOLLAMA.exists():
        pytest.skip("the sollama console script is not installed next to this Python")
    env = dict(os.environ, SOLLAMA_STATE_DIR=str(paths.state_dir()),
               SOLLAMA_CONFIG=str(tmp_path / "config.toml"))
    p = subprocess.run([str(SOLLAMA), "why", "--json"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == recorded[0]
    assert p.stderr == ""
    env["SOLLAMA_STATE_DIR"] = str(tmp_path / "empty")
    p = subprocess.run([str(SOLLAMA), "why"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 1
    assert p.stdout == ""
    assert p.stderr.splitlines()[0].startswith("sollama: error: no decisions recorded yet")
    assert len(p.stderr.splitlines()) == 1
