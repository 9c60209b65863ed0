"""The design notes' scenarios, through the installed `sollama route --json` and
`sollama run` against the simulated fleets.

- the demo machine (NPU 2 GB, iGPU 8 GB, a loud 24 GB NVIDIA card holding llama3:70b,
  a CPU): the 70B model in quiet mode under each policy;
- the tower (16 GB AMD + 12 GB NVIDIA): a 32B model that fits no card whole, and an
  urgent request while a small model is loaded.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from conftest import run_sollama


def route(*args: str) -> tuple[int, dict]:
    r = run_sollama("route", *args, "--json")
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode in (0, 3), r.stderr
    return r.returncode, json.loads(r.stdout)


def write_config(fleet: object, **overrides: object) -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml(**overrides))  # type: ignore[attr-defined]


def suggestion_args(model: str, s: dict) -> list[str]:
    args = [s.get("model") or model]
    if s.get("backend"):
        args += ["--backend", s["backend"]]
    if s.get("mode"):
        args += ["--mode", s["mode"]]
    return args


# -- the 70B model in quiet mode ---------------------------------------------------


def test_70b_quiet_prefer_model_overrides_on_the_big_card(demo_fleet: object) -> None:
    rc, v = route("llama3:70b", "--mode", "quiet", "--urgency", "background")
    assert rc == 0
    assert (v["action"], v["model_used"], v["backend_used"]) == \
        ("override", "llama3:70b", "ollama-nvidia")
    assert v["mode_overridden"] is True
    assert any("65%" in w and "40%" in w for w in v["warnings"]), v["warnings"]
    chain = {e["backend"]: e for e in v["fallback_chain"] if "model" not in e}
    assert set(chain) == {"ollama-npu", "ollama-igpu", "ollama-nvidia", "ollama-cpu"}
    assert "too large" in chain["ollama-npu"]["reason"]
    assert "offload" in chain["ollama-nvidia"]["reason"]
    assert 0 < v["estimate"]["gpu_share"] < 1              # 24 GB of a ~42 GB model
    assert v["estimate"]["loaded"] is True
    assert v["telemetry"]["ollama-nvidia"]["fan_pct"] == 65


def test_70b_quiet_interactive_overrides_and_names_each_violation(demo_fleet: object) -> None:
    # Before any run, the offloaded 70B is expected below interactive's 10 tokens/s:
    # prefer_model still runs the model named, warning about the fan and the speed.
    rc, before = route("llama3:70b", "--mode", "quiet")
    assert rc == 0
    assert (before["action"], before["model_used"], before["backend_used"]) == \
        ("override", "llama3:70b", "ollama-nvidia")
    entry = next(e for e in before["fallback_chain"] if e["backend"] == "ollama-nvidia")
    kinds = [v["kind"] for v in entry["violations"]]
    assert kinds == ["mode", "speed"], entry
    assert entry["violations"][0] == {"kind": "mode", "field": "fan_pct", "value": 65,
                                      "limit": 40}
    assert any("bypassed" in w for w in before["warnings"])
    assert any("below interactive's 10 tokens/s" in w for w in before["warnings"])
    assert [s["model"] for s in before["suggestions"]][:1] == ["llama3:8b"]
    # A run there teaches sollama the card's real speed (~16 tokens/s): only the fan is left.
    r = run_sollama("run", "llama3:70b", "-q", "warm up")
    assert r.returncode == 0, r.stderr
    rc, after = route("llama3:70b", "--mode", "quiet")
    assert (after["action"], after["backend_used"]) == ("override", "ollama-nvidia")
    assert after["estimate"]["tokens_per_s"] >= 10
    assert not any("tokens/s" in w for w in after["warnings"])


@pytest.mark.parametrize("mode", ["balanced", "performance"])
@pytest.mark.parametrize("loaded", [True, False])
def test_70b_in_a_loud_mode_is_the_model_that_answers(tmp_path: Path, mode: str,
                                                      loaded: bool) -> None:
    from smartollama.sim import Fleet
    from smartollama.sim.fleets import BUILTIN_FLEETS
    from smartollama.sim.spec import FleetSpec

    data = BUILTIN_FLEETS["demo"]()
    data["time_scale"] = 0.001
    if not loaded:
        next(h for h in data["hosts"] if h["name"] == "ollama-nvidia")["loaded"] = []
    with Fleet(FleetSpec.from_dict(data)) as fleet:
        write_config(fleet)
        rc, v = route("llama3:70b", "--mode", mode)
    assert rc == 0
    assert (v["action"], v["model_used"], v["backend_used"]) == \
        ("run", "llama3:70b", "ollama-nvidia")
    assert v["mode_overridden"] is False and v["model_substituted"] is False
    assert any("tokens/s" in w for w in v["warnings"]), v["warnings"]     # the speed warning
    assert any("more than interactive's 15 s" in w for w in v["warnings"]) is (not loaded)


def test_8b_in_balanced_does_not_evict_the_70b(demo_fleet: object) -> None:
    rc, v = route("llama3:8b")
    assert (v["action"], v["backend_used"]) == ("run", "ollama-igpu")
    nvidia = next(e for e in v["fallback_chain"] if e["backend"] == "ollama-nvidia")
    assert "after unloading llama3:70b" in nvidia["reason"]


def test_70b_quiet_prefer_mode_refuses_with_suggestions_that_work(demo_fleet: object) -> None:
    rc, v = route("llama3:70b", "--mode", "quiet", "--policy", "prefer_mode",
                  "--urgency", "background")
    assert rc == 3
    assert v["action"] == "refuse" and v["model_used"] is None and v["backend_used"] is None
    assert v["suggestions"]
    models = {(s.get("model"), s.get("backend")) for s in v["suggestions"]}
    assert ("llama3:8b", "ollama-igpu") in models
    for s in v["suggestions"]:
        rc2, again = route(*suggestion_args("llama3:70b", s), "--mode", s.get("mode") or "quiet",
                           "--policy", "prefer_mode", "--urgency", "background")
        assert rc2 == 0 and again["action"] != "refuse", (s, again["reason"])
    # each as printed: the command line `sollama run ...` decided again (route, same options)
    r = run_sollama("route", "llama3:70b", "--mode", "quiet", "--policy", "prefer_mode")
    assert r.returncode == 3
    printed = [line.split("try: ", 1)[1].split("  (", 1)[0]
               for line in r.stdout.splitlines() if "try: sollama run " in line]
    assert printed
    for cmd in printed:
        args = shlex.split(cmd)[2:]                 # after "sollama run"
        rc3, again = route(*args)
        assert rc3 == 0 and again["action"] == "run" and again["model_used"] == args[0], cmd
        chosen = [e for e in again["fallback_chain"] if e["accepted"]]
        assert chosen and not chosen[0].get("violations"), cmd
    # the refusal through `run`: exit 3, the verdict line names the suggestions
    r = run_sollama("run", "llama3:70b", "--mode", "quiet", "--policy", "prefer_mode",
                    "--urgency", "background", "hi")
    assert r.returncode == 3
    assert r.stdout == ""
    assert "refused llama3:70b in quiet mode" in r.stderr and "try:" in r.stderr
    # each suggestion is a command that keeps what it was checked with
    tries = [line for line in r.stderr.splitlines() if "try: sollama run" in line]
    assert tries and all("--mode " in t and "--urgency background" in t for t in tries), tries


def test_70b_quiet_substitute_runs_the_8b_on_the_igpu(demo_fleet: object) -> None:
    rc, v = route("llama3:70b", "--mode", "quiet", "--policy", "substitute",
                  "--urgency", "background")
    assert rc == 0
    assert (v["action"], v["model_used"], v["backend_used"]) == \
        ("substitute", "llama3:8b", "ollama-igpu")
    assert v["model_substituted"] is True and v["mode_overridden"] is False
    r = run_sollama("run", "llama3:70b", "--mode", "quiet", "--policy", "substitute", "hi")
    assert r.returncode == 0
    assert "Hello from llama3:8b on ollama-igpu" in r.stdout


def test_model_routing_force_and_ignore_mode(demo_fleet: object) -> None:
    write_config(demo_fleet, model_routing={
        "llama3:70b": {"force_backend": "ollama-nvidia", "ignore_efficiency_mode": True}})
    rc, v = route("llama3:70b", "--mode", "quiet", "--policy", "prefer_mode",
                  "--urgency", "background")
    assert rc == 0
    assert v["backend_used"] == "ollama-nvidia" and v["model_used"] == "llama3:70b"


def test_quiet_mode_follows_the_live_reading(demo_fleet: object) -> None:
    """The fan drops under the limit: the same request now complies and just runs."""
    demo_fleet.hosts["ollama-nvidia"].set_readings(fan_pct=30)  # type: ignore[attr-defined]
    rc, v = route("llama3:70b", "--mode", "quiet", "--urgency", "background")
    assert (v["action"], v["backend_used"], v["mode_overridden"]) == \
        ("run", "ollama-nvidia", False)


# -- the tower: a 32B model that fits no card whole ---------------------------------------


def no_offload(fleet: object) -> None:
    write_config(fleet, backends={"ollama-amd": {"offload": False},
                                  "ollama-nvidia": {"offload": False}})


def test_tower_32b_interactive_is_substituted_by_the_best_7b(tower_fleet: object) -> None:
    no_offload(tower_fleet)
    rc, v = route("qwen2.5:32b", "--task", "code")
    assert rc == 0
    assert v["action"] == "substitute"
    assert v["model_used"] == "qwen2.5-coder:7b"                  # the best 7B for code
    entries = [e for e in v["fallback_chain"] if "model" not in e]
    assert {e["code"] for e in entries} == {"too_large"}


def test_tower_32b_interactive_with_offload_runs_slow_or_substitutes(tower_fleet: object) -> None:
    rc, v = route("qwen2.5:32b", "--task", "code")
    assert (v["action"], v["model_used"]) == ("run", "qwen2.5:32b")
    assert any("tokens/s" in w for w in v["warnings"])
    rc, sub = route("qwen2.5:32b", "--task", "code", "--policy", "substitute")
    assert (sub["action"], sub["model_used"]) == ("substitute", "qwen2.5-coder:7b")


def test_tower_32b_batch_runs_partly_offloaded(tower_fleet: object) -> None:
    rc, v = route("qwen2.5:32b", "--urgency", "batch")
    assert rc == 0
    assert (v["action"], v["model_used"]) == ("run", "qwen2.5:32b")
    assert 0 < v["estimate"]["gpu_share"] < 1
    r = run_sollama("run", "qwen2.5:32b", "--urgency", "batch", "-q", "hi")
    assert r.returncode == 0 and "Hello from qwen2.5:32b" in r.stdout


def test_tower_urgent_request_uses_the_loaded_3b_while_batch_loads_the_7b(
        tower_fleet: object) -> None:
    # the design note accepts the loaded 3B (a lower tier) for an urgent answer
    write_config(tower_fleet, routing={"substitution_quality_threshold": "low"})
    rc, urgent = route("qwen2.5-coder:7b", "--urgency", "critical", "--task", "code",
                       "--policy", "substitute")
    assert (urgent["model_used"], urgent["backend_used"]) == ("llama3.2:3b", "ollama-nvidia")
    assert urgent["estimate"]["loaded"] is True
    assert "more than critical's 2 s" in urgent["reason"]
    rc, batch = route("qwen2.5-coder:7b", "--urgency", "batch", "--task", "code")
    assert (batch["action"], batch["model_used"]) == ("run", "qwen2.5-coder:7b")
    assert batch["estimate"]["loaded"] is False and batch["estimate"]["wait_s"] > 2


def test_auto_picks_a_model_for_the_task(tower_fleet: object) -> None:
    rc, v = route("auto", "--task", "code", "--urgency", "batch")
    assert rc == 0
    assert v["model_used"] and "coder" in v["model_used"]
