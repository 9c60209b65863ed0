"""Scenario tests for `routing.decide()`: the fleets of the design notes.

Configs are TOML strings (as users write them); snapshots are built by hand,
so every number the router sees is in the test.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from smartollama.config import Config, parse_config
from smartollama.errors import (
    ExitCode,
    ModelNotFoundError,
    RefusedError,
    SollamaError,
    UnreachableError,
)
from smartollama.fleet import BackendState, FleetSnapshot, Learned, LoadedModel, ModelInfo, Request
from smartollama.routing import decide
from smartollama.telemetry.base import NA, Reading
from smartollama.verdict import Suggestion, Verdict

NOW = 1_795_000_000.123

# -- the design notes' fleet: NPU 2 GB, iGPU 8 GB, NVIDIA 24 GB with offload ---------

NOTES_TOML = """
default_mode = "balanced"

[routing]
model_mode_conflict = "prefer_model"
allow_model_substitution = true
substitution_quality_threshold = "medium"

[[backends]]
id = "ollama-npu"
host = "http://127.0.0.1:11436"
hardware = "npu"
max_model_size_gb = 2
supported_models = ["qwen2.5:0.5b", "qwen2.5:1.5b", "tinyllama:1b"]
model_patterns = ["*:0.5b", "*:1.5b"]

[[backends]]
id = "ollama-igpu"
host = "http://127.0.0.1:11435"
hardware = "igpu"
max_model_size_gb = 8
supported_models = ["qwen2.5:0.5b", "qwen2.5:1.5b", "llama3:8b", "mistral:7b"]

[[backends]]
id = "ollama-nvidia"
host = "http://127.0.0.1:11434"
hardware = "nvidia"
max_model_size_gb = 24
offload = true
max_offload_gb = 48
supported_models = ["*"]

[model_equivalents]
high_quality    = ["llama3:70b", "mixtral:8x7b"]
medium_quality  = ["llama3:8b", "mistral:7b"]
low_quality     = ["qwen2.5:1.5b", "phi-2:2.7b"]
ultra_efficient = ["qwen2.5:0.5b", "tinyllama:1b"]
"""

LLAMA3_8B = {"block_count": 32, "embedding_length": 4096, "head_count": 32,
             "head_count_kv": 8, "context_length": 8192}
LLAMA3_70B = {"block_count": 80, "embedding_length": 8192, "head_count": 64,
              "head_count_kv": 8, "context_length": 8192}


def mi(name: str, size_gb: float, **kw: object) -> ModelInfo:
    return ModelInfo(name=name, size_bytes=int(size_gb * 1e9), **kw)  # type: ignore[arg-type]


NOTES_MODELS = {
    "llama3:70b": mi("llama3:70b", 39.97, parameter_size="70.6B", quantization="Q4_0",
                     **LLAMA3_70B),
    "llama3:8b": mi("llama3:8b", 4.66, parameter_size="8.0B", quantization="Q4_0", **LLAMA3_8B),
    "mistral:7b": mi("mistral:7b", 4.11, parameter_size="7.2B", quantization="Q4_0"),
    "qwen2.5:1.5b": mi("qwen2.5:1.5b", 0.99),
    "qwen2.5:0.5b": mi("qwen2.5:0.5b", 0.40),
    "tinyllama:1b": mi("tinyllama:1b", 0.64),
}


def cfg(toml: str = NOTES_TOML, extra: str = "") -> Config:
    return parse_config(toml + extra, "<test>")


def state(bid: str, models: list[str], catalog: dict[str, ModelInfo] | None = None,
          **kw: object) -> BackendState:
    cat = NOTES_MODELS if catalog is None else catalog
    return BackendState(id=bid, models={m: cat[m] for m in models}, **kw)  # type: ignore[arg-type]


def notes_snapshot(nvidia_fan: float = 65.0, **nvidia: object) -> FleetSnapshot:
    return FleetSnapshot(time=NOW, backends={
        "ollama-npu": state("ollama-npu", ["qwen2.5:0.5b", "qwen2.5:1.5b", "tinyllama:1b"],
                            reading=Reading(source="static", fan_pct=0.0)),
        "ollama-igpu": state("ollama-igpu", ["qwen2.5:0.5b", "qwen2.5:1.5b", "llama3:8b",
                                             "mistral:7b"],
                             reading=Reading(source="prometheus", fan_pct=35.0, temp_c=60.0)),
        "ollama-nvidia": state("ollama-nvidia", list(NOTES_MODELS),
                               reading=Reading(source="nvml", fan_pct=nvidia_fan, temp_c=71.0,
                                               power_w=180.0, mem_total_gb=24.0,
                                               mem_free_gb=23.5),
                               **nvidia),  # type: ignore[arg-type]
    })


def redecide(req: Request, s: Suggestion, snap: FleetSnapshot, config: Config) -> Verdict:
    """Decide a suggestion again, the way the CLI would."""
    return decide(dataclasses.replace(
        req, model=s.model or req.model, mode=s.mode or req.mode, backend=s.backend,
        policy=getattr(s, "policy", None) or req.policy), snap, config)


def assert_suggestions_work(v: Verdict, req: Request, snap: FleetSnapshot,
                            config: Config) -> None:
    assert v.suggestions
    for s in v.suggestions:
        again = redecide(req, s, snap, config)
        assert again.action != "refuse", (s, again.reason)


def chain(v: Verdict) -> dict[str, tuple[bool, str]]:
    return {e.backend: (e.accepted, e.reason) for e in v.fallback_chain if e.model is None}


# -- the design notes: llama3:70b in quiet mode, NVIDIA fan at 65% --------------------

BG = "background"   # the 70B partly offloaded is too slow for interactive


def test_prefer_model_overrides_quiet_mode_on_nvidia() -> None:
    v = decide(Request("llama3:70b", "quiet", policy="prefer_model", urgency=BG),
               notes_snapshot(), cfg())
    assert v.action == "override"
    assert (v.model_used, v.backend_used) == ("llama3:70b", "ollama-nvidia")
    assert v.host == "http://127.0.0.1:11434"
    assert v.mode_overridden and not v.model_substituted
    assert v.reason == "llama3:70b fits only ollama-nvidia; quiet mode allows fan ≤ 40%, it reads 65%"
    assert any("fan 65% exceeds quiet limit 40%" in w for w in v.warnings)
    # the 24 GB card holds ~55% of the ~42 GB model: partial offload, stated
    assert v.estimate.basis == "model_info"
    assert 41 < (v.estimate.memory_gb or 0) < 43
    assert v.estimate.gpu_share is not None and 0.5 < v.estimate.gpu_share < 0.6
    c = chain(v)
    assert list(c) == ["ollama-npu", "ollama-igpu", "ollama-nvidia"]
    assert c["ollama-nvidia"][0] and "fits with offload" in c["ollama-nvidia"][1]
    assert "fan 65% exceeds quiet limit 40%" in c["ollama-nvidia"][1]
    assert not c["ollama-igpu"][0] and not c["ollama-npu"][0]
    # what would comply instead, as in DESIGN.md's example
    assert v.suggestions and v.suggestions[0].model == "llama3:8b"
    assert v.limits == {"fan_pct": 40.0, "temp_c": 80.0}
    assert v.telemetry["ollama-nvidia"]["fan_pct"] == 65.0
    assert [c.backend for c in v.choices] == ["ollama-nvidia"]


def test_prefer_model_runs_in_balanced_without_override() -> None:
    v = decide(Request("llama3:70b", "balanced", urgency=BG), notes_snapshot(), cfg())
    assert v.action == "run" and v.backend_used == "ollama-nvidia" and not v.warnings
    assert v.reason.startswith("llama3:70b runs on ollama-nvidia: fits with offload")


def test_prefer_mode_refuses_with_compliant_suggestions() -> None:
    req = Request("llama3:70b", "quiet", policy="prefer_mode", urgency=BG)
    snap, config = notes_snapshot(), cfg()
    v = decide(req, snap, config)
    assert v.action == "refuse"
    assert v.model_used is None and v.backend_used is None and v.choices == []
    assert "quiet mode allows fan ≤ 40%, it reads 65%" in v.reason
    pairs = [(s.model, s.backend) for s in v.suggestions if s.model]
    assert pairs[0] == ("llama3:8b", "ollama-igpu")
    assert ("mistral:7b", "ollama-igpu") in pairs
    modes = [(s.mode, s.backend) for s in v.suggestions if s.mode]
    assert ("balanced", "ollama-nvidia") in modes
    assert_suggestions_work(v, req, snap, config)


def test_substitute_runs_llama3_8b_on_igpu() -> None:
    v = decide(Request("llama3:70b", "quiet", policy="substitute", urgency=BG), notes_snapshot(), cfg())
    assert v.action == "substitute" and v.model_substituted and not v.mode_overridden
    assert (v.model_used, v.backend_used) == ("llama3:8b", "ollama-igpu")
    assert "llama3:8b (medium_quality) runs on ollama-igpu instead" in v.reason
    assert any(w.startswith("Using llama3:8b instead of llama3:70b") for w in v.warnings)
    # the requested model's chain, then the substitute's entries
    assert {e.backend for e in v.fallback_chain if e.model is None} == {
        "ollama-npu", "ollama-igpu", "ollama-nvidia"}
    sub = [e for e in v.fallback_chain if e.model == "llama3:8b"]
    assert any(e.accepted and e.backend == "ollama-igpu" for e in sub)
    assert v.choices[0].model == "llama3:8b"


def test_substitute_never_below_threshold() -> None:
    # only the low tier complies: the threshold (medium) forbids it -> refuse
    snap = notes_snapshot()
    snap.backends["ollama-igpu"].models.pop("llama3:8b")
    snap.backends["ollama-igpu"].models.pop("mistral:7b")
    req = Request("llama3:70b", "quiet", policy="substitute", urgency=BG)
    v = decide(req, snap, cfg())
    assert v.action == "refuse"
    assert v.reason.endswith("; no equivalent model runs without a violation")
    # a suggestion may name a lower tier (the user chooses), never a substitute
    assert_suggestions_work(v, req, snap, cfg())


def test_ask_with_a_terminal_offers_override_and_substitutes() -> None:
    req = Request("llama3:70b", "quiet", policy="ask", can_ask=True, urgency=BG)
    snap, config = notes_snapshot(), cfg()
    v = decide(req, snap, config)
    assert v.action == "refuse" and v.ask
    first = v.suggestions[0]
    assert (first.model, first.backend, getattr(first, "policy", None)) == (
        "llama3:70b", "ollama-nvidia", "prefer_model")
    assert redecide(req, first, snap, config).action == "override"
    assert_suggestions_work(v, req, snap, config)


def test_ask_without_a_terminal_acts_as_prefer_mode() -> None:
    v = decide(Request("llama3:70b", "quiet", policy="ask", can_ask=False, urgency=BG),
               notes_snapshot(), cfg())
    assert v.action == "refuse" and not v.ask
    assert any("acting as prefer_mode" in w for w in v.warnings)


def test_config_policy_applies_when_request_names_none() -> None:
    config = cfg(NOTES_TOML.replace('"prefer_model"', '"substitute"'))
    v = decide(Request("llama3:70b", "quiet", urgency=BG), notes_snapshot(), config)
    assert v.policy == "substitute" and v.action == "substitute"


def test_prefer_model_runs_the_named_model_below_interactive_speed_with_a_warning() -> None:
    # default urgency: the 70B at ~55% on GPU is far below 10 tokens/s, and must load
    # (~21 s, more than 15 s): prefer_model still answers with the model named
    v = decide(Request("llama3:70b", "balanced", policy="prefer_model"), notes_snapshot(), cfg())
    assert (v.action, v.model_used, v.backend_used) == ("run", "llama3:70b", "ollama-nvidia")
    assert not v.mode_overridden and not v.model_substituted
    assert any("below interactive's 10 tokens/s" in w for w in v.warnings), v.warnings
    assert any(w.startswith("loading llama3:70b on ollama-nvidia takes ~") and
               "more than interactive's 15 s" in w for w in v.warnings), v.warnings
    entry = next(e for e in v.fallback_chain if e.backend == "ollama-nvidia")
    assert {x.kind for x in entry.violations or []} == {"speed", "wait"}
    # the suggestions name what would comply, each one decided again
    assert v.suggestions and v.suggestions[0].model == "llama3:8b"
    assert_suggestions_work(v, Request("llama3:70b", "balanced"), notes_snapshot(), cfg())


def test_learned_speed_lets_interactive_run_the_offloaded_70b() -> None:
    learned = Learned(tokens_per_s={"llama3:70b": 14.0})
    v = decide(Request("llama3:70b", "quiet", policy="prefer_model"),
               notes_snapshot(learned=learned), cfg())
    assert v.action == "override" and v.backend_used == "ollama-nvidia"
    assert v.estimate.tokens_per_s == 14.0


def test_loaded_model_uses_observed_size_and_no_wait() -> None:
    loaded = {"llama3:70b": LoadedModel("llama3:70b", int(40.1e9), int(23.0e9),
                                        context_length=4096)}
    v = decide(Request("llama3:70b", "quiet", urgency=BG), notes_snapshot(loaded=loaded), cfg())
    assert v.estimate.basis == "observed" and v.estimate.memory_gb == 40.1
    assert v.estimate.loaded and v.estimate.wait_s is not None and v.estimate.wait_s < 2
    assert v.estimate.gpu_share == pytest.approx(23.0 / 40.1, abs=0.01)


def test_slow_model_runs_as_last_resort_with_a_warning() -> None:
    config = cfg(NOTES_TOML.replace("allow_model_substitution = true",
                                    "allow_model_substitution = false"))
    v = decide(Request("llama3:70b", "balanced"), notes_snapshot(), config)
    assert v.action == "run" and v.backend_used == "ollama-nvidia"
    assert any("below interactive's 10 tokens/s" in w for w in v.warnings)


# -- the tower: AMD 16 GB + NVIDIA 12 GB -------------------------------------------

TOWER_TOML = """
default_mode = "performance"

[routing]
model_mode_conflict = "prefer_model"
substitution_quality_threshold = "low"

[[backends]]
id = "tower-amd"
host = "http://127.0.0.1:11434"
hardware = "amd"
max_model_size_gb = 16
offload = {offload}

[[backends]]
id = "tower-nvidia"
host = "http://127.0.0.1:11435"
hardware = "nvidia"
max_model_size_gb = 12
offload = {offload}

[model_equivalents]
high_quality = ["qwen2.5:32b", "deepseek-r1:32b"]
medium_quality = ["qwen2.5-coder:7b", "qwen2.5:7b", "mistral:7b", "llama3.1:8b"]
low_quality = ["llama3.2:3b"]
ultra_efficient = ["tinyllama:1b"]
"""

TOWER_MODELS = {
    "qwen2.5:32b": mi("qwen2.5:32b", 19.9),
    "deepseek-r1:32b": mi("deepseek-r1:32b", 19.9),
    "qwen2.5-coder:7b": mi("qwen2.5-coder:7b", 4.68),
    "qwen2.5:7b": mi("qwen2.5:7b", 4.68),
    "mistral:7b": mi("mistral:7b", 4.11),
    "llama3.2:3b": mi("llama3.2:3b", 2.02),
    "tinyllama:1b": mi("tinyllama:1b", 0.64),
}


def tower(offload: bool = False) -> Config:
    return cfg(TOWER_TOML.replace("{offload}", "true" if offload else "false"))


def tower_snapshot(nvidia_loaded: list[str] | None = None) -> FleetSnapshot:
    loaded = {m: LoadedModel(m, TOWER_MODELS[m].size_bytes + int(0.5e9),
                             TOWER_MODELS[m].size_bytes + int(0.5e9), context_length=4096)
              for m in nvidia_loaded or []}
    return FleetSnapshot(time=NOW, backends={
        "tower-amd": state("tower-amd", list(TOWER_MODELS), TOWER_MODELS,
                           reading=Reading(source="amdgpu", fan_pct=30.0, mem_total_gb=16.0,
                                           mem_free_gb=15.4)),
        "tower-nvidia": state("tower-nvidia", list(TOWER_MODELS), TOWER_MODELS, loaded=loaded,
                              reading=Reading(source="nvml", fan_pct=35.0, mem_total_gb=12.0,
                                              mem_free_gb=11.5 - sum(
                                                  lm.size_vram_bytes for lm in loaded.values())
                                              / 1e9)),
    })


def test_tower_32b_fits_no_card_interactive_substitutes_best_7b() -> None:
    v = decide(Request("qwen2.5:32b", "performance", task="code"), tower_snapshot(), tower())
    assert v.action == "substitute"
    assert v.model_used == "qwen2.5-coder:7b"          # the best 7B for code
    assert v.estimate.gpu_share == 1.0
    c = chain(v)
    assert c["tower-amd"][1].startswith("model too large: needs ~2")
    assert "limit 16 GB" in c["tower-amd"][1]
    assert "limit 12 GB" in c["tower-nvidia"][1]
    codes = {e.backend: (e.code, e.numbers) for e in v.fallback_chain if e.model is None}
    assert codes["tower-amd"][0] == "too_large"
    assert codes["tower-amd"][1] is not None and codes["tower-amd"][1]["limit_gb"] == 16


def test_tower_32b_partly_offloaded_is_still_the_model_named() -> None:
    # with offload the 32B can run: prefer_model runs it, slow, and says so
    v = decide(Request("qwen2.5:32b", "performance", task="code"), tower_snapshot(),
               tower(offload=True))
    assert (v.action, v.model_used) == ("run", "qwen2.5:32b")
    assert v.estimate.gpu_share is not None and v.estimate.gpu_share < 1
    assert any("tokens/s" in w and "below interactive's" in w for w in v.warnings)
    # substitute policy: the best 7B for code instead, with no violation
    sub = decide(Request("qwen2.5:32b", "performance", task="code", policy="substitute"),
                 tower_snapshot(), tower(offload=True))
    assert (sub.action, sub.model_used) == ("substitute", "qwen2.5-coder:7b")


def test_tower_batch_runs_32b_partly_offloaded() -> None:
    v = decide(Request("qwen2.5:32b", "performance", urgency="batch"), tower_snapshot(),
               tower(offload=True))
    assert v.action == "run" and v.model_used == "qwen2.5:32b"
    assert v.backend_used == "tower-amd"                # the larger share on the device
    assert v.estimate.gpu_share is not None and 0.6 < v.estimate.gpu_share < 1.0
    assert "fits with offload (15.4 of" in v.reason
    assert [c.backend for c in v.choices] == ["tower-amd", "tower-nvidia"]


def test_tower_batch_without_offload_has_no_32b_but_substitutes() -> None:
    v = decide(Request("qwen2.5:32b", "performance", urgency="batch"), tower_snapshot(), tower())
    assert v.action == "substitute" and v.model_used in {
        "qwen2.5:7b", "qwen2.5-coder:7b", "mistral:7b", "deepseek-r1:32b", "llama3.1:8b"}
    assert v.model_used != "deepseek-r1:32b"           # same size: does not fit either


def test_critical_answered_by_loaded_3b_while_batch_waits_for_coder_7b() -> None:
    snap = tower_snapshot(nvidia_loaded=["llama3.2:3b"])
    config = tower()
    crit = decide(Request("qwen2.5-coder:7b", "performance", urgency="critical", task="code",
                          policy="substitute"), snap, config)
    assert crit.action == "substitute"
    assert (crit.model_used, crit.backend_used) == ("llama3.2:3b", "tower-nvidia")
    assert crit.estimate.loaded and (crit.estimate.wait_s or 99) <= 2
    assert "more than critical's 2 s" in crit.reason
    # prefer_model: the 7B named, loading, with the wait it takes as a warning
    named = decide(Request("qwen2.5-coder:7b", "performance", urgency="critical", task="code"),
                   snap, config)
    assert (named.action, named.model_used) == ("run", "qwen2.5-coder:7b")
    assert any("more than critical's 2 s" in w for w in named.warnings)
    batch = decide(Request("qwen2.5-coder:7b", "performance", urgency="batch", task="code"),
                   snap, config)
    assert batch.action == "run" and batch.model_used == "qwen2.5-coder:7b"
    assert not batch.estimate.loaded and (batch.estimate.wait_s or 0) > 2


def test_interactive_loads_the_better_model_within_its_wait() -> None:
    snap = tower_snapshot(nvidia_loaded=["llama3.2:3b"])
    v = decide(Request("qwen2.5-coder:7b", "performance", urgency="interactive", task="code"),
               snap, tower())
    assert v.action == "run" and v.model_used == "qwen2.5-coder:7b"


def test_wait_warning_above_warn_wait() -> None:
    learned = Learned(load_gb_per_s=0.5, load_samples=4)
    snap = tower_snapshot()
    snap.backends["tower-amd"].learned = learned
    snap.backends["tower-nvidia"].learned = learned
    v = decide(Request("qwen2.5:7b", "performance"), snap, tower())
    assert v.action == "run"
    assert v.estimate.wait_basis == "learned from 4 runs"
    assert any(re.fullmatch(r"loading qwen2\.5:7b on tower-\w+ takes ~\d+(\.\d)? s", w)
               for w in v.warnings)


def test_auto_picks_the_coder_model_for_code() -> None:
    v = decide(Request("auto", "performance", task="code", urgency="batch"), tower_snapshot(),
               tower())
    assert v.model_requested == "auto" and v.action == "run"
    assert v.model_used == "qwen2.5-coder:7b"
    assert len([e for e in v.fallback_chain if e.model is None]) == 2


def test_auto_critical_prefers_what_is_loaded() -> None:
    v = decide(Request("auto", "performance", task="general", urgency="critical"),
               tower_snapshot(nvidia_loaded=["llama3.2:3b"]), tower())
    assert v.model_used == "llama3.2:3b" and v.estimate.loaded


# -- model_routing ----------------------------------------------------------------


def test_force_backend_and_ignore_efficiency_mode() -> None:
    config = cfg(extra='\n[model_routing."llama3:70b"]\nforce_backend = "ollama-nvidia"\n'
                       'ignore_efficiency_mode = true\n')
    v = decide(Request("llama3:70b", "quiet", policy="prefer_mode", urgency=BG), notes_snapshot(),
               config)
    assert v.action == "override" and v.backend_used == "ollama-nvidia" and v.mode_overridden
    assert "ignore_efficiency_mode" in v.reason
    assert not any("bypassed" in w for w in v.warnings)   # silently noted
    c = chain(v)
    assert c["ollama-igpu"][1] == "model_routing forces ollama-nvidia for llama3:70b"


def test_force_backend_moves_a_model_that_fits_elsewhere() -> None:
    config = cfg(extra='\n[model_routing."llama3:8b"]\nforce_backend = "ollama-nvidia"\n')
    v = decide(Request("llama3:8b", "balanced"), notes_snapshot(nvidia_fan=50), config)
    assert v.backend_used == "ollama-nvidia"


def test_force_backend_is_still_checked_for_fit() -> None:
    extra = '\n[model_routing."llama3:70b"]\nforce_backend = "ollama-igpu"\n'
    v = decide(Request("llama3:70b", "balanced", urgency=BG), notes_snapshot(), cfg(extra=extra))
    assert v.action == "substitute" and v.model_used == "llama3:8b"
    strict = cfg(NOTES_TOML.replace("allow_model_substitution = true",
                                    "allow_model_substitution = false"), extra)
    req = Request("llama3:70b", "balanced", urgency=BG)
    with pytest.raises(SollamaError) as e:       # fits nowhere, no substitution: exit 1
        decide(req, notes_snapshot(), strict)
    assert str(e.value).startswith("llama3:70b cannot run on ollama-igpu, where model_routing "
                                   "forces it: not admitted by ollama-igpu's")
    assert e.value.exit_code == ExitCode.ERROR


def test_prefer_backend_wins_among_compliant() -> None:
    config = cfg(extra='\n[model_routing."qwen2.5:0.5b"]\nprefer_backend = "ollama-npu"\n')
    v = decide(Request("qwen2.5:0.5b", "balanced"), notes_snapshot(nvidia_fan=20), config)
    assert v.backend_used == "ollama-npu"
    plain = decide(Request("qwen2.5:0.5b", "balanced"), notes_snapshot(nvidia_fan=20), cfg())
    assert plain.backend_used != "ollama-npu"      # slower NPU loses without the preference


def test_respect_efficiency_mode_beats_prefer_model() -> None:
    config = cfg(extra='\n[model_routing."llama3:70b"]\nrespect_efficiency_mode = true\n')
    v = decide(Request("llama3:70b", "quiet", policy="prefer_model", urgency=BG), notes_snapshot(),
               config)
    assert v.action == "substitute" and v.model_used == "llama3:8b" and not v.mode_overridden


# -- pins, errors ---------------------------------------------------------------------


def test_backend_pin_runs_there() -> None:
    v = decide(Request("llama3:8b", "balanced", backend="ollama-nvidia"), notes_snapshot(), cfg())
    assert v.backend_used == "ollama-nvidia"
    assert chain(v)["ollama-igpu"] == (False, "not the pinned backend (--backend ollama-nvidia)")


def test_backend_pin_naming_no_backend_lists_backends() -> None:
    with pytest.raises(SollamaError) as e:
        decide(Request("llama3:8b", "balanced", backend="ollama-nvdia"), notes_snapshot(), cfg())
    assert "ollama-npu, ollama-igpu, ollama-nvidia" in str(e.value)
    assert "did you mean ollama-nvidia" in str(e.value)


def test_backend_pin_where_the_model_does_not_fit() -> None:
    config = cfg(NOTES_TOML.replace("allow_model_substitution = true",
                                    "allow_model_substitution = false"))
    req = Request("llama3:70b", "balanced", backend="ollama-igpu", urgency=BG)
    with pytest.raises(SollamaError) as e:
        decide(req, notes_snapshot(), config)
    assert str(e.value).startswith("llama3:70b cannot run on the pinned backend ollama-igpu: "
                                   "not admitted")
    # with substitution on, the pin holds for the stand-in too
    v = decide(req, notes_snapshot(), cfg())
    assert (v.action, v.model_used, v.backend_used) == ("substitute", "llama3:8b", "ollama-igpu")


def test_unknown_model_names_the_closest() -> None:
    with pytest.raises(ModelNotFoundError) as e:
        decide(Request("llama3:7b", "balanced"), notes_snapshot(), cfg())
    msg = str(e.value)
    assert msg.startswith("llama3:7b is not on any backend; closest: ")
    assert "llama3:8b" in msg and e.value.exit_code == ExitCode.ERROR
    assert e.value.hint == "pull it with `ollama pull llama3:7b` on a host that can hold it"


def test_a_mistyped_model_is_answered_with_the_closest_not_a_pull_of_the_typo() -> None:
    with pytest.raises(ModelNotFoundError) as e:
        decide(Request("lama3:8b", "balanced"), notes_snapshot(), cfg())
    assert e.value.hint is not None and e.value.hint.startswith("did you mean llama3:8b?")


def test_model_too_large_everywhere_names_the_closest_fit() -> None:
    models = {"llama3:405b": mi("llama3:405b", 229.0)}
    snap = FleetSnapshot(time=NOW, backends={
        "ollama-npu": state("ollama-npu", []), "ollama-igpu": state("ollama-igpu", []),
        "ollama-nvidia": state("ollama-nvidia", list(models), models, reading=Reading(
            source="nvml", fan_pct=30.0, mem_total_gb=24.0, mem_free_gb=23.5))})
    config = cfg(NOTES_TOML.replace("allow_model_substitution = true",
                                    "allow_model_substitution = false"))
    with pytest.raises(SollamaError) as e:
        decide(Request("llama3:405b", "balanced"), snap, config)
    assert re.fullmatch(r"llama3:405b needs ~2\d\d GB; the largest capacity is ollama-nvidia "
                        r"with 24 GB \(48 GB with offload\)", str(e.value)), str(e.value)


def test_nothing_reachable() -> None:
    snap = notes_snapshot()
    for st in snap.backends.values():
        st.reachable, st.error = False, "connection refused"
    with pytest.raises(UnreachableError) as e:
        decide(Request("llama3:8b", "balanced"), snap, cfg())
    assert e.value.exit_code == ExitCode.UNREACHABLE
    assert "ollama-igpu (connection refused)" in str(e.value)


def test_unreachable_backend_is_named_in_the_chain() -> None:
    snap = notes_snapshot()
    snap.backends["ollama-igpu"].reachable = False
    snap.backends["ollama-igpu"].error = "connection refused"
    v = decide(Request("llama3:8b", "balanced"), snap, cfg())
    assert v.backend_used == "ollama-nvidia"
    assert chain(v)["ollama-igpu"] == (False, "unreachable: connection refused")


def test_refusal_nothing_can_lift_is_an_error() -> None:
    # only quiet mode exists besides an equally strict one: nothing would comply
    toml = NOTES_TOML + "\n[modes.performance]\nmax_fan_pct = 40\n[modes.balanced]\nmax_fan_pct = 40\n"
    toml += "[modes.efficiency]\nmax_fan_pct = 40\n"
    snap = notes_snapshot()
    for st in snap.backends.values():
        st.reading = Reading(source="static", fan_pct=90.0)
    with pytest.raises(RefusedError) as e:
        decide(Request("llama3:70b", "quiet", policy="prefer_mode", urgency=BG), snap, cfg(toml))
    assert e.value.exit_code == ExitCode.REFUSED


# -- quality --------------------------------------------------------------------------


def test_min_quality_holds_for_stand_ins_not_for_the_model_named() -> None:
    # DESIGN.md: quality is a constraint on substitutes and auto only
    req = Request("llama3:8b", "balanced", min_quality=0.8, urgency=BG)
    v = decide(req, notes_snapshot(nvidia_fan=50), cfg())
    assert (v.action, v.model_used) == ("run", "llama3:8b")
    auto = decide(dataclasses.replace(req, model="auto", urgency="batch"),
                  notes_snapshot(nvidia_fan=50), cfg())
    assert auto.model_used == "llama3:70b" and (auto.estimate.quality or 0) >= 0.8


def test_min_quality_keeps_low_substitutes_out() -> None:
    req = Request("llama3:70b", "quiet", policy="substitute", min_quality=0.7, urgency=BG)
    v = decide(req, notes_snapshot(), cfg())
    assert v.action == "refuse"             # llama3:8b (0.68) may not stand in
    assert all(s.model in (None, "llama3:70b") for s in v.suggestions)


def test_min_quality_no_model_good_enough() -> None:
    with pytest.raises(SollamaError) as e:
        decide(Request("auto", "balanced", min_quality=0.99), notes_snapshot(), cfg())
    assert "auto: no model reaches quality 0.99" in str(e.value)


# -- telemetry and memory -----------------------------------------------------------


def test_unknown_telemetry_deny_blocks_a_backend_without_the_reading() -> None:
    config = cfg(NOTES_TOML.replace("[routing]", '[routing]\nunknown_telemetry = "deny"'))
    snap = notes_snapshot()
    snap.backends["ollama-npu"].reading = Reading(source="static", fan_pct=NA("no fan"))
    v = decide(Request("qwen2.5:0.5b", "quiet", policy="prefer_mode"), snap, config)
    assert v.backend_used == "ollama-igpu"
    assert "fan not available (no fan); quiet mode denies unknown readings" in chain(v)[
        "ollama-npu"][1]
    allow = decide(Request("qwen2.5:0.5b", "quiet", policy="prefer_mode"), snap, cfg())
    assert "within quiet mode" in chain(allow)["ollama-npu"][1]


def test_idle_loaded_models_are_evicted_to_make_room() -> None:
    loaded = {"mistral:7b": LoadedModel("mistral:7b", int(6e9), int(6e9))}
    snap = notes_snapshot(nvidia_fan=20)
    snap.backends["ollama-igpu"].loaded = loaded
    snap.backends["ollama-igpu"].reading = Reading(source="static", fan_pct=10.0,
                                                   mem_total_gb=8.0, mem_free_gb=2.0)
    v = decide(Request("llama3:8b", "balanced", backend="ollama-igpu"), snap, cfg())
    assert v.action == "run" and "after unloading mistral:7b" in v.reason


def test_free_memory_too_small_is_a_reason() -> None:
    snap = notes_snapshot()
    snap.backends["ollama-igpu"].reading = Reading(source="static", fan_pct=10.0,
                                                   mem_total_gb=8.0, mem_free_gb=1.0)
    v = decide(Request("llama3:8b", "balanced"), snap, cfg())
    assert chain(v)["ollama-igpu"][1].startswith("not enough free memory: needs ~5.")


def test_same_input_same_verdict_and_id_format() -> None:
    req = Request("llama3:70b", "quiet", policy="prefer_mode", nonce="abc", urgency=BG)
    a = decide(req, notes_snapshot(), cfg()).to_json()
    b = decide(req, notes_snapshot(), cfg()).to_json()
    assert a == b
    vid = json.loads(a)["id"]
    assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.123Z-[0-9a-f]{12}", vid)
    other = decide(dataclasses.replace(req, nonce="abd"), notes_snapshot(), cfg())
    assert other.id != vid
    # the front door's randomness (12 hex digits) is the id's tail as it is
    fresh = decide(dataclasses.replace(req, nonce="0123456789ab"), notes_snapshot(), cfg())
    assert fresh.id.endswith(".123Z-0123456789ab")


def test_bad_inputs_are_sollama_errors() -> None:
    for req in (Request("llama3:8b", "loud"), Request("llama3:8b", "quiet", urgency="asap"),
                Request("llama3:8b", "quiet", task="poetry"),
                Request("llama3:8b", "quiet", policy="maybe"),
                Request("::", "quiet")):
        with pytest.raises(SollamaError):
            decide(req, notes_snapshot(), cfg())


# -- ranking: the eviction's cost and the mode's own preference -------------------------


def test_a_loaded_70b_is_not_evicted_to_seat_an_8b_when_another_card_has_room() -> None:
    loaded = {"llama3:70b": LoadedModel("llama3:70b", int(41.9e9), int(23.0e9),
                                        context_length=4096)}
    reading = Reading(source="nvml", fan_pct=50.0, temp_c=60.0, mem_total_gb=24.0,
                      mem_free_gb=0.5)
    snap = notes_snapshot(loaded=loaded)
    snap.backends["ollama-nvidia"].reading = reading
    v = decide(Request("llama3:8b", "balanced"), snap, cfg())
    assert v.backend_used == "ollama-igpu"
    nvidia = next(e for e in v.fallback_chain if e.backend == "ollama-nvidia")
    assert nvidia.accepted and "after unloading llama3:70b" in nvidia.reason
    # with the iGPU out of the way, the card is still used (the eviction is a cost, not a ban)
    snap.backends["ollama-igpu"].reachable = False
    assert decide(Request("llama3:8b", "balanced"), snap, cfg()).backend_used == "ollama-nvidia"


TWINS_TOML = """
[[backends]]
id = "a"
host = "http://127.0.0.1:11500"
hardware = "nvidia"
max_model_size_gb = 24
[[backends]]
id = "b"
host = "http://127.0.0.1:11501"
hardware = "nvidia"
max_model_size_gb = 24
[modes.efficiency]
max_power_w = 300
"""


def twins(a: Reading, b: Reading) -> FleetSnapshot:
    return FleetSnapshot(time=NOW, backends={
        "a": state("a", ["llama3:8b"], reading=a), "b": state("b", ["llama3:8b"], reading=b)})


@pytest.mark.parametrize("mode,expected", [("quiet", "b"), ("efficiency", "a"),
                                           ("balanced", "b"), ("performance", "b")])
def test_equal_costs_go_by_the_modes_own_preference(mode: str, expected: str) -> None:
    # a: fan 30%, 100 W, 10 GB free; b: fan 20%, 200 W, 20 GB free; otherwise the same
    snap = twins(Reading(source="t", fan_pct=30.0, power_w=100.0, mem_total_gb=24.0,
                         mem_free_gb=10.0),
                 Reading(source="t", fan_pct=20.0, power_w=200.0, mem_total_gb=24.0,
                         mem_free_gb=20.0))
    v = decide(Request("llama3:8b", mode), snap, cfg(TWINS_TOML))
    assert v.backend_used == expected, v.reason
    other = "a" if expected == "b" else "b"
    why = {"quiet": "ranked after b: fan 20% there, 30% here; both answer within 5 s",
           "efficiency": "ranked after a: power 100 W there, 200 W here; both answer within 5 s",
           "balanced": "ranked after b, which has more memory free (20 GB, 10 GB here)",
           "performance": "ranked after b, which has more memory free (20 GB, 10 GB here)"}
    assert chain(v)[other][1].endswith(why[mode]), chain(v)[other]
    # nothing between them at all: the config's order
    same = Reading(source="t", fan_pct=20.0, mem_total_gb=24.0, mem_free_gb=20.0)
    v = decide(Request("llama3:8b", mode), twins(same, same), cfg(TWINS_TOML))
    assert chain(v)["b"][1].endswith("ranked after a, which comes first in the config")


# -- what the verdict says, as data ---------------------------------------------------


def test_chain_entries_carry_codes_numbers_and_violations() -> None:
    v = decide(Request("llama3:70b", "quiet"), notes_snapshot(), cfg())
    d = json.loads(v.to_json())
    entries = {e["backend"]: e for e in d["fallback_chain"] if "model" not in e}
    assert entries["ollama-igpu"]["code"] == "not_admitted"
    nvidia = entries["ollama-nvidia"]
    assert "code" not in nvidia and nvidia["accepted"] is True
    assert nvidia["violations"][0] == {"kind": "mode", "limit": 40.0, "value": 65.0,
                                       "field": "fan_pct"}
    assert {x["kind"] for x in nvidia["violations"]} == {"mode", "wait", "speed"}
    too_big = decide(Request("qwen2.5:32b", "performance"), tower_snapshot(), tower())
    amd = next(e for e in too_big.fallback_chain if e.backend == "tower-amd" and e.model is None)
    assert amd.code == "too_large" and amd.numbers is not None
    assert amd.numbers["limit_gb"] == 16 and amd.numbers["need_gb"] > 16
    assert Verdict.from_dict(json.loads(too_big.to_json())) == too_big    # round-trips


def test_prefer_mode_and_ask_without_a_terminal_refuse_whatever_limit_is_broken() -> None:
    # the conflict here is speed and wait (balanced allows the card's fan)
    for policy in ("prefer_mode", "ask"):
        v = decide(Request("llama3:70b", "balanced", policy=policy), notes_snapshot(), cfg())
        assert v.action == "refuse" and not v.ask, policy
        assert_suggestions_work(v, Request("llama3:70b", "balanced"), notes_snapshot(), cfg())


def test_ask_offers_only_options_that_do_what_they_say() -> None:
    # llama3:70b fits only the NVIDIA card: no mode suggestion may name another backend
    req = Request("llama3:70b", "quiet", policy="ask", can_ask=True)
    snap, config = notes_snapshot(), cfg()
    v = decide(req, snap, config)
    assert v.ask and v.suggestions[0].policy == "prefer_model"
    for s in v.suggestions:
        if s.mode is not None:
            assert s.backend == "ollama-nvidia", s
        again = redecide(req, s, snap, config)
        assert again.backend_used == s.backend and again.model_used == (s.model or req.model)


# -- heat learned under load: a host quiet now that serving makes loud ------------------


def heated(rise: float = 25.0, runs: int = 6, **nvidia: object) -> FleetSnapshot:
    """The notes' fleet with the NVIDIA card at a quiet 30% now, whose fan rose by
    ``rise`` points over the ``runs`` runs it served (learned)."""
    learned = Learned(heat_rise={"fan_pct": rise, "temp_c": 5.0},
                      heat_samples={"fan_pct": runs, "temp_c": runs})
    return notes_snapshot(nvidia_fan=30.0, learned=learned, **nvidia)


def test_a_fan_that_rises_under_load_is_a_predicted_violation() -> None:
    req = Request("llama3:8b", "quiet", urgency=BG)
    v = decide(req, heated(), cfg())
    # llama3:8b fits the iGPU too: it runs there, within quiet mode
    assert v.action == "run" and v.backend_used == "ollama-igpu", v.reason
    entry = next(e for e in v.fallback_chain if e.backend == "ollama-nvidia")
    assert not entry.accepted
    assert [dataclasses.asdict(x) for x in entry.violations or []] == [
        {"kind": "mode", "limit": 40.0, "value": 55.0, "field": "fan_pct", "na": None,
         "predicted": True}]
    assert "fan reaches ~55% under load here (learned from 6 runs), over quiet's 40%" \
        in entry.reason
    d = json.loads(v.to_json())
    nv = next(e for e in d["fallback_chain"] if e["backend"] == "ollama-nvidia")
    assert nv["violations"] == [{"kind": "mode", "limit": 40.0, "value": 55.0,
                                 "field": "fan_pct", "predicted": True}]


def test_a_predicted_violation_goes_through_each_policy() -> None:
    snap, config = heated(), cfg()
    # the 70B fits only the NVIDIA card: prefer_model overrides, with the learned figure
    v = decide(Request("llama3:70b", "quiet", policy="prefer_model", urgency=BG), snap, config)
    assert v.action == "override" and v.mode_overridden and v.backend_used == "ollama-nvidia"
    assert v.reason == ("llama3:70b fits only ollama-nvidia; quiet mode allows fan ≤ 40%, it "
                        "reaches ~55% under load there (learned from 6 runs)")
    assert any(w.startswith("Quiet mode bypassed on ollama-nvidia: fan reaches ~55% under load")
               for w in v.warnings)
    # prefer_mode refuses, with suggestions that run
    req = Request("llama3:70b", "quiet", policy="prefer_mode", urgency=BG)
    v = decide(req, snap, config)
    assert v.action == "refuse"
    assert "fan ~55% under load over quiet's 40%" in v.line()
    assert_suggestions_work(v, req, snap, config)
    assert ("llama3:8b", "ollama-igpu") in [(s.model, s.backend) for s in v.suggestions]
    # substitute finds a stand-in that stays quiet
    v = decide(Request("llama3:70b", "quiet", policy="substitute", urgency=BG), snap, config)
    assert v.action == "substitute" and v.backend_used == "ollama-igpu"


def test_a_rise_learned_from_too_few_runs_or_within_the_limit_does_not_count() -> None:
    req = Request("llama3:70b", "quiet", policy="prefer_mode", urgency=BG)
    for snap in (heated(runs=2), heated(rise=10.0), heated(rise=-3.0)):
        v = decide(req, snap, cfg())
        assert v.action == "run" and v.backend_used == "ollama-nvidia", v.reason
        assert "within quiet mode" in v.reason


def test_a_predicted_violation_counts_on_a_busy_host_and_not_in_modes_without_the_limit() -> None:
    v = decide(Request("llama3:70b", "quiet", policy="prefer_mode", urgency=BG),
               heated(in_flight=1), cfg())
    assert v.action == "refuse"
    v = decide(Request("llama3:70b", "balanced", urgency=BG), heated(), cfg())
    assert v.action == "run" and not v.warnings     # balanced's fan limit is 70%: 55 is fine


def test_ignore_efficiency_mode_drops_a_predicted_violation_too() -> None:
    extra = '\n[model_routing."llama3:70b"]\nignore_efficiency_mode = true\n'
    v = decide(Request("llama3:70b", "quiet", policy="prefer_mode", urgency=BG), heated(),
               cfg(extra=extra))
    assert v.action == "override" and v.backend_used == "ollama-nvidia" and v.mode_overridden
    assert ("quiet mode does not apply to llama3:70b (model_routing ignore_efficiency_mode): "
            "fan reaches ~55% under load here (learned from 6 runs)") in v.reason
    assert not any("bypassed" in w for w in v.warnings)


def test_a_predicted_fan_is_shown_at_most_100_percent() -> None:
    v = decide(Request("llama3:8b", "quiet", urgency=BG), heated(rise=95.0), cfg())
    entry = next(e for e in v.fallback_chain if e.backend == "ollama-nvidia")
    assert [(x.value, x.predicted) for x in entry.violations or []] == [(100.0, True)]
    assert "fan reaches ~100% under load here" in entry.reason


def test_a_long_prompt_goes_where_prompts_are_evaluated_fast() -> None:
    """The first token's estimate is this prompt at the speed prompts were evaluated
    for the model on each host (learned from Ollama's prompt_eval_*), when both are
    known: a short prompt stays on the iGPU that holds the model loaded, a long one
    goes to the card that reads it 15 times faster, though it must load it there."""
    config = cfg()
    loaded = {"llama3:8b": LoadedModel(name="llama3:8b", size_bytes=int(4.66e9),
                                       size_vram_bytes=int(4.66e9))}
    snap = notes_snapshot(nvidia_fan=30.0)
    snap.backends["ollama-igpu"].loaded = loaded
    snap.backends["ollama-igpu"].learned = Learned(prompt_tokens_per_s={"llama3:8b": 200.0},
                                                   tokens_per_s={"llama3:8b": 20.0},
                                                   tps_samples={"llama3:8b": 3})
    snap.backends["ollama-nvidia"].learned = Learned(prompt_tokens_per_s={"llama3:8b": 3000.0},
                                                     tokens_per_s={"llama3:8b": 20.0},
                                                     tps_samples={"llama3:8b": 3})
    short = Request(model="llama3:8b", mode="balanced", prompt_tokens=50, answer_tokens=50)
    assert decide(short, snap, config).backend_used == "ollama-igpu"
    long = dataclasses.replace(short, prompt_tokens=8000)   # 40 s on the iGPU, 2.7 s there
    v = decide(long, snap, config)
    assert v.backend_used == "ollama-nvidia"
    assert v.estimate.wait_s is not None and v.estimate.wait_s < 10


# -- how candidates that all comply are ranked: the urgency's wait, the mode's reading --


def test_in_quiet_mode_a_quiet_host_fast_enough_for_the_urgency_beats_a_faster_one() -> None:
    """quiet prefers the lowest fan among hosts that answer within the urgency's
    warn_wait_s at its speed: the fanless NPU, not the faster iGPU; balanced goes by
    cost. Once the NPU's queue puts its first token past 5 s, the iGPU answers."""
    snap = notes_snapshot()
    v = decide(Request("qwen2.5:1.5b", "quiet"), snap, cfg())
    assert v.backend_used == "ollama-npu"
    # each backend that breaks nothing either says why it ranks after the one chosen
    assert chain(v)["ollama-igpu"] == (True, "fits (1.6 of 8 GB); within quiet mode; ranked "
                                       "after ollama-npu: fan 0% there, 35% here; both answer "
                                       "within 5 s")
    v = decide(Request("qwen2.5:1.5b", "balanced"), snap, cfg())
    assert v.backend_used == "ollama-nvidia"
    assert chain(v)["ollama-npu"][1].endswith(
        "; ranked after ollama-nvidia, which answers sooner: ~1.5 s to the whole answer, "
        "~9.7 s here")
    snap.backends["ollama-npu"].in_flight = 1
    snap.backends["ollama-npu"].busy_s = [10.0]
    assert decide(Request("qwen2.5:1.5b", "quiet"), snap, cfg()).backend_used == "ollama-igpu"
    # a batch request has no wait to keep: in quiet mode the NPU's queue does not matter
    v = decide(Request("qwen2.5:1.5b", "quiet", urgency="batch"), snap, cfg())
    assert v.backend_used == "ollama-npu"


def test_a_first_token_past_warn_wait_counts_against_a_fast_card_behind_a_queue() -> None:
    """a: 10x faster, but 8 s of queue ahead; b: free now. To the whole answer a is
    sooner (9 s against 10.5 s); an interactive user sees b's first token at once
    and a's after 8 s, past the urgency's 5 s: b answers. A background request goes
    by the answer's end: a."""
    snap = twins(Reading(source="t", mem_total_gb=24.0, mem_free_gb=20.0),
                 Reading(source="t", mem_total_gb=24.0, mem_free_gb=20.0))
    snap.backends["a"].in_flight = 1
    snap.backends["a"].busy_s = [8.0]
    snap.backends["a"].learned = Learned(tokens_per_s={"llama3:8b": 256.0},
                                         tps_samples={"llama3:8b": 5})
    snap.backends["b"].learned = Learned(tokens_per_s={"llama3:8b": 25.6},
                                         tps_samples={"llama3:8b": 5})
    for urgency, expected in (("interactive", "b"), ("background", "a")):
        v = decide(Request("llama3:8b", "balanced", urgency=urgency, answer_tokens=256), snap,
                   cfg(TWINS_TOML))
        assert v.backend_used == expected, (urgency, v.reason)


def test_of_two_breaches_a_long_wait_is_chosen_over_breaking_the_mode() -> None:
    """Both candidates break one soft constraint: a draws 350 W in efficiency mode
    (limit 300), b is busy for 20 s (interactive waits at most 15). prefer_model runs
    b: the mode is what the user set; a wait is the smaller breach."""
    r = {"mem_total_gb": 24.0, "mem_free_gb": 20.0}
    snap = twins(Reading(source="t", power_w=350.0, **r), Reading(source="t", power_w=100.0, **r))
    snap.backends["b"].in_flight = 1
    snap.backends["b"].busy_s = [20.0]
    v = decide(Request("llama3:8b", "efficiency"), snap, cfg(TWINS_TOML))
    assert (v.action, v.backend_used, v.mode_overridden) == ("run", "b", False), v.reason
    assert "wait ~23 s, more than interactive's 15 s" in v.reason


def test_power_under_load_is_predicted_up_to_the_hosts_power_limit_once() -> None:
    """Power is a rate: a card capped at 280 W does not draw 350 W however far its
    power rose over past runs from a lower start, nor more for the requests queued."""
    learned = Learned(heat_rise={"power_w": 100.0}, heat_samples={"power_w": 6})
    r = {"mem_total_gb": 24.0, "mem_free_gb": 20.0, "power_w": 250.0}
    snap = twins(Reading(source="t", power_limit_w=280.0, **r), Reading(source="t", **r))
    snap.backends["a"].learned = learned
    snap.backends["b"].learned = dataclasses.replace(learned)
    snap.backends["a"].in_flight = 2
    v = decide(Request("llama3:8b", "efficiency", urgency="batch"), snap, cfg(TWINS_TOML))
    assert v.action == "run" and v.backend_used == "a", v.reason
    assert "power reaches ~350 W under load here (learned from 6 runs), over efficiency's " \
        "300 W" in chain(v)["b"][1]


def test_in_quiet_mode_a_quieter_host_that_must_unload_a_model_ranks_after_one_with_room() -> None:
    """Fast enough both, a is quieter; but seating llama3:8b on a unloads the idle
    20 GB model there, which its next user would wait to load again: b answers."""
    big = {"mixtral:8x7b": LoadedModel("mixtral:8x7b", int(20e9), int(20e9), context_length=4096)}
    snap = twins(Reading(source="t", fan_pct=10.0, mem_total_gb=24.0, mem_free_gb=3.0),
                 Reading(source="t", fan_pct=20.0, mem_total_gb=24.0, mem_free_gb=23.0))
    snap.backends["a"].loaded = big
    v = decide(Request("llama3:8b", "quiet"), snap, cfg(TWINS_TOML))
    assert v.backend_used == "b", v.reason
    assert re.search(r"; ranked after b, where less is unloaded to make room \(here "
                     r"mixtral:8x7b, ~\d+(\.\d)? s to load again\)$", chain(v)["a"][1]), chain(v)
