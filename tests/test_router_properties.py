"""Property tests: random fleets and requests, invariants of `router.decide()`.

Every fleet has 1–6 backends with random hardware, limits, offload, readings
(some not available), models present and loaded; every request a random mode,
urgency, task, policy, pin and quality floor. The invariants are checked
against the snapshot's own numbers, not against the router's internals.
"""

from __future__ import annotations

import dataclasses
import math
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartollama import catalog, names
from smartollama.config import Config, parse_config
from smartollama.errors import SollamaError
from smartollama.fleet import (
    GB,
    BackendState,
    FleetSnapshot,
    Learned,
    LoadedModel,
    ModelInfo,
    Request,
)
from smartollama.routing import decide
from smartollama.telemetry.base import NA, Reading
from smartollama.verdict import Verdict

# name → (file size GB, has /api/show figures)
UNIVERSE: dict[str, float] = {
    "llama3:70b": 39.97, "llama3:8b": 4.66, "mistral:7b": 4.11, "mixtral:8x7b": 26.4,
    "qwen2.5:32b": 19.9, "qwen2.5-coder:7b": 4.68, "qwen2.5:1.5b": 0.99, "qwen2.5:0.5b": 0.40,
    "llama3.2:3b": 2.02, "tinyllama:1b": 0.64, "phi3:3.8b": 2.2, "deepseek-r1:8b": 4.9,
}
LLAMA_INFO = {"block_count": 32, "embedding_length": 4096, "head_count": 32,
              "head_count_kv": 8, "context_length": 8192}
HARDWARE = ["nvidia", "amd", "igpu", "npu", "cpu", "auto"]
TIERS = """
[model_equivalents]
high_quality = ["llama3:70b", "mixtral:8x7b", "qwen2.5:32b"]
medium_quality = ["llama3:8b", "mistral:7b", "qwen2.5-coder:7b", "deepseek-r1:8b"]
low_quality = ["qwen2.5:1.5b", "llama3.2:3b", "phi3:3.8b"]
ultra_efficient = ["qwen2.5:0.5b", "tinyllama:1b"]
"""
PROPS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.data_too_large])


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Config, FleetSnapshot]:
    """A random config and snapshot.

    Hypothesis draws the shape (backend count) and a seed; the details come
    from `random.Random(seed)`: a few draws per example instead of hundreds
    keeps thousands of examples fast (a failure still reports its seed).
    """
    n = draw(st.integers(1, 6))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    return build_fleet(n, rng)


def build_fleet(n: int, rng: random.Random) -> tuple[Config, FleetSnapshot]:
    ids = [f"b{i}" for i in range(n)]
    model_names = list(UNIVERSE)
    pick = rng.choice
    parts = [
        'default_mode = "balanced"\n[routing]\n',
        f'model_mode_conflict = "{pick(["prefer_model", "prefer_mode", "substitute", "ask"])}"\n',
        f"allow_model_substitution = {pick(['true', 'false'])}\n",
        f'substitution_quality_threshold = "{pick(["high", "medium", "low", "ultra"])}"\n',
        f'unknown_telemetry = "{pick(["allow", "deny"])}"\n',
        TIERS,
    ]
    for i, bid in enumerate(ids):
        parts.append(f'[[backends]]\nid = "{bid}"\nhost = "http://127.0.0.1:{11434 + i}"\n'
                     f'hardware = "{pick(HARDWARE)}"\n')
        cap = pick([None, 1, 2, 4, 8, 12, 16, 24, 48])
        if cap is not None:
            parts.append(f"max_model_size_gb = {cap}\n")
        off = pick([None, "true", "false"])
        if off is not None:
            parts.append(f"offload = {off}\n")
        if rng.random() < 0.5:
            parts.append(f"max_offload_gb = {pick([16, 32, 48, 64])}\n")
        kind = pick(["all", "star", "list", "pattern"])
        if kind == "star":
            parts.append('supported_models = ["*"]\n')
        elif kind == "list":
            parts.append("supported_models = "
                         + _toml_list(rng.sample(model_names, rng.randint(0, 5))) + "\n")
        elif kind == "pattern":
            parts.append('model_patterns = ["*:0.5b", "*:1.5b", "llama3*"]\n')
        parts.append(f"num_parallel = {rng.randint(1, 2)}\n")
    for model in rng.sample(model_names, rng.randint(0, 2)):
        parts.append(f'[model_routing."{model}"]\n')
        if rng.random() < 0.5:
            parts.append(f'force_backend = "{pick(ids)}"\n')
        if rng.random() < 0.5:
            parts.append(f'prefer_backend = "{pick(ids)}"\n')
        if rng.random() < 0.5:
            parts.append("ignore_efficiency_mode = true\n")
        if rng.random() < 0.3:
            parts.append("respect_efficiency_mode = true\n")
    config = parse_config("".join(parts), "<hypothesis>")

    def value(lo: float, hi: float) -> float | NA:
        if rng.random() < 0.2:
            return NA("not supported")
        return round(rng.uniform(lo, hi), 1)

    backends: dict[str, BackendState] = {}
    for bid in ids:
        present = rng.sample(model_names, rng.randint(0, len(model_names)))
        models = {}
        for m in present:
            extra = LLAMA_INFO if rng.random() < 0.5 else {}
            models[m] = ModelInfo(name=m, size_bytes=int(UNIVERSE[m] * GB), **extra)  # type: ignore[arg-type]
        loaded = {}
        for m in rng.sample(present, min(len(present), rng.randint(0, 2))):
            size = int((UNIVERSE[m] + rng.uniform(0.1, 2.0)) * GB)
            vram = int(size * pick([1.0, 1.0, 0.6]))
            loaded[m] = LoadedModel(m, size, vram, context_length=pick([None, 4096, 8192]))
        reading = Reading(source="test", fan_pct=value(0, 100), temp_c=value(30, 95),
                          power_w=value(1, 400), mem_total_gb=value(1, 48),
                          mem_free_gb=value(0, 48), util_pct=value(0, 100))
        learned = Learned()
        if rng.random() < 0.5:
            learned = Learned(load_gb_per_s=rng.uniform(0.2, 5.0), load_samples=3,
                              ttft_s=rng.uniform(0.05, 3.0), ttft_samples=3,
                              tokens_per_s={m: rng.uniform(1.0, 120.0) for m in present[:2]})
        backends[bid] = BackendState(
            id=bid, reachable=rng.random() < 0.9, error="connection refused",
            models=models, loaded=loaded, reading=reading, in_flight=rng.randint(0, 3),
            learned=learned, system_free_gb=pick([None, 8.0, 32.0]))
    return config, FleetSnapshot(time=1_795_000_000.0 + rng.randint(0, 10**6),
                                 backends=backends)


@st.composite
def requests(draw: st.DrawFn, config: Config) -> Request:
    ids = [b.id for b in config.backends]
    return Request(
        model=draw(st.sampled_from([*UNIVERSE, "auto", "llama3:7b"])),
        mode=draw(st.sampled_from(list(config.modes))),
        urgency=draw(st.sampled_from(["critical", "interactive", "background", "batch"])),
        task=draw(st.sampled_from(["general", "code", "reasoning", "chat", "summarize"])),
        min_quality=draw(st.one_of(st.none(), st.floats(0.3, 0.9))),
        policy=draw(st.sampled_from([None, "prefer_model", "prefer_mode", "substitute", "ask"])),
        backend=draw(st.one_of(st.none(), st.sampled_from(ids))),
        num_ctx=draw(st.sampled_from([None, 2048, 4096, 16384])),
        can_ask=draw(st.booleans()),
        nonce=draw(st.text("0123456789abcdef", max_size=4)),
    )


def decide_or_error(req: Request, snap: FleetSnapshot, config: Config) -> Verdict | None:
    """A verdict, or None for a SollamaError; any other exception fails the test."""
    try:
        return decide(req, snap, config)
    except SollamaError:
        return None


# -- independent re-checks from the snapshot's numbers ----------------------------------


def ignores_mode(config: Config, model: str) -> bool:
    for pattern, r in config.model_routing.items():
        if names.matches(model, pattern):
            return r.ignore_efficiency_mode and not r.respect_efficiency_mode
    return False


def fits(v: Verdict, req: Request, snap: FleetSnapshot, config: Config) -> bool:
    b = config.backend(v.backend_used or "")
    assert b is not None
    s = snap.backends[b.id]
    key = names.canonical(v.model_used or "").lower()
    if not s.reachable or key not in s.models:
        return False
    pats = [*b.supported_models, *b.model_patterns]
    if pats and not any(names.matches(key, p) for p in pats):
        return False
    info = s.models[key]
    ctx = req.num_ctx or config.num_ctx
    if info.context_length:
        ctx = min(ctx, info.context_length)
    lm = s.loaded.get(key)
    if lm is not None and lm.context_length in (None, ctx):
        return True                              # already there
    need = v.estimate.memory_gb
    assert need is not None
    if v.estimate.basis != "observed":
        assert need >= info.size_bytes / GB - 0.051      # never less than the weights
    cap = b.max_model_size_gb if b.max_model_size_gb is not None else s.reading.get("mem_total_gb")
    free = s.reading.get("mem_free_gb")
    avail = None if free is None else free + sum(x.size_vram_bytes for x in s.loaded.values()) / GB
    known = [x for x in (cap, avail) if x is not None]
    usable = min(known) if known else math.inf
    if need <= usable + 0.051:
        return True
    if not b.offloads or usable < 0.5:
        return False
    if b.max_offload_gb is not None:
        total = b.max_offload_gb
    elif s.system_free_gb is not None:
        total = usable + s.system_free_gb
    else:
        total = math.inf
    return need <= total + 0.051 and (v.estimate.gpu_share or 1.0) < 1.0


def complies(v: Verdict, snap: FleetSnapshot, config: Config, mode: str) -> bool:
    reading = snap.backends[v.backend_used or ""].reading
    for fld, lim in config.modes[mode].limits().items():
        val = reading.get(fld)
        if val is None:
            if config.routing.unknown_telemetry == "deny":
                return False
        elif val > lim:
            return False
    return True


def tier_of(scorer: catalog.Scorer, key: str, snap: FleetSnapshot, config: Config) -> int:
    """A model's tier, with the figures of the first reachable host holding it."""
    for b in config.backends:
        s = snap.backends[b.id]
        if s.reachable and key in s.models:
            info = s.models[key]
            return scorer.tier(key, names.parse_parameter_size(info.parameter_size),
                               info.quantization)
    return scorer.tier(key)


def check_invariants(v: Verdict, req: Request, snap: FleetSnapshot, config: Config) -> None:
    ids = [b.id for b in config.backends]
    assert [e.backend for e in v.fallback_chain if e.model is None] == ids
    assert set(v.telemetry) == set(ids)
    assert v.limits == config.modes[req.mode].limits()
    if v.action == "refuse":
        assert v.model_used is None and v.backend_used is None and not v.choices
        assert v.suggestions
        return
    assert v.model_used and v.backend_used and v.choices
    assert (v.choices[0].backend, v.choices[0].model) == (v.backend_used, v.model_used)
    if req.backend is not None:
        assert v.backend_used == req.backend
    assert fits(v, req, snap, config), v.to_json()
    used = names.canonical(v.model_used).lower()
    if not complies(v, snap, config, req.mode) and not ignores_mode(config, used):
        assert v.mode_overridden and v.warnings, v.to_json()
    if req.min_quality is not None:
        assert (v.estimate.quality or 0.0) >= req.min_quality - 1e-9
    if v.model_substituted:
        assert config.routing.allow_model_substitution
        scorer = catalog.Scorer(config)
        tier = tier_of(scorer, used, snap, config)
        assert tier <= scorer.threshold_index
        assert tier >= tier_of(scorer, names.canonical(req.model).lower(), snap, config)
    else:
        assert req.model == "auto" or names.same(v.model_used, req.model)


# -- properties -----------------------------------------------------------------------


@settings(PROPS, max_examples=1600)
@given(data=st.data())
def test_decide_invariants(data: st.DataObject) -> None:
    config, snap = data.draw(fleets())
    req = data.draw(requests(config))
    v = decide_or_error(req, snap, config)
    if v is not None:
        check_invariants(v, req, snap, config)


@settings(PROPS, max_examples=300)
@given(data=st.data())
def test_same_input_same_verdict(data: st.DataObject) -> None:
    config, snap = data.draw(fleets())
    req = data.draw(requests(config))
    a = decide_or_error(req, snap, config)
    b = decide_or_error(req, snap, config)
    assert (a.to_json() if a else None) == (b.to_json() if b else None)


@settings(PROPS, max_examples=800)
@given(data=st.data())
def test_every_suggestion_succeeds_when_decided_again(data: st.DataObject) -> None:
    config, snap = data.draw(fleets())
    req = data.draw(requests(config))
    # lean towards refusals: strict policies and strict modes
    req = dataclasses.replace(
        req, policy=data.draw(st.sampled_from(["prefer_mode", "ask", "substitute", req.policy])),
        mode=data.draw(st.sampled_from(["quiet", "efficiency", req.mode])))
    v = decide_or_error(req, snap, config)
    if v is None or not v.suggestions:
        return
    if v.action == "refuse":
        assert v.suggestions
    for s in v.suggestions:
        again = decide_or_error(dataclasses.replace(
            req, model=s.model or req.model, mode=s.mode or req.mode, backend=s.backend,
            policy=getattr(s, "policy", None) or req.policy), snap, config)
        assert again is not None and again.action != "refuse", (s, v.reason)
        check_invariants(again, dataclasses.replace(
            req, model=s.model or req.model, mode=s.mode or req.mode, backend=s.backend),
            snap, config)
