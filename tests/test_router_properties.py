"""Property tests: `routing.decide()` against a brute-force reference of DESIGN.md's table.

Random fleets (1-6 backends, random hardware, limits, offload, readings with
some not available, models present and loaded, learned figures (speeds,
and how far readings rise under load, from few or many runs),
model_routing) and random requests. The fleets are drawn so that the model
asked for is on a reachable host: most draws end in a verdict (a test below
counts them), and the few that end in an error must be errors the reference
predicts too. The error paths have strategies of their own at the end.

`tests/reference_router.py` enumerates the candidates and applies the table
literally, with none of the router's fit, compliance or ranking code.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_router import Expected, Reference
from smartollama import names
from smartollama.config import Config, parse_config
from smartollama.errors import ExitCode, ModelNotFoundError, SollamaError, UnreachableError
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
from smartollama.verdict import Suggestion, Verdict

# name → file size (GB)
UNIVERSE: dict[str, float] = {
    "llama3:70b": 39.97, "llama3:8b": 4.66, "mistral:7b": 4.11, "mixtral:8x7b": 26.4,
    "qwen2.5:32b": 19.9, "qwen2.5-coder:7b": 4.68, "qwen2.5:1.5b": 0.99, "qwen2.5:0.5b": 0.40,
    "llama3.2:3b": 2.02, "tinyllama:1b": 0.64, "phi3:3.8b": 2.2, "deepseek-r1:8b": 4.9,
    "nomic-embed-text:latest": 0.27, "gpt-oss:120b-cloud": 0.000384,
}
#: what a current Ollama lists in `capabilities` (an older one lists nothing: None)
CAPABILITIES: dict[str, tuple[str, ...]] = {
    "deepseek-r1:8b": ("completion", "thinking"), "qwen2.5:32b": ("completion", "tools"),
    "qwen2.5-coder:7b": ("completion", "tools", "insert"),
    "nomic-embed-text:latest": ("embedding",),
    "gpt-oss:120b-cloud": ("completion", "tools", "thinking"),
}
CLOUD_HOST = "https://ollama.com:443"
LLAMA_INFO = {"block_count": 32, "embedding_length": 4096, "head_count": 32,
              "head_count_kv": 8, "context_length": 8192}
HARDWARE = ["nvidia", "amd", "igpu", "npu", "cpu", "auto"]
POLICIES = ["prefer_model", "prefer_mode", "substitute", "ask"]
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


def build_config(n: int, rng: random.Random, model: str, holder: int) -> Config:
    """Random backends; the `holder`'s can take the model asked for (large, admitting all)."""
    pick = rng.choice
    parts = [
        'default_mode = "balanced"\n[routing]\n',
        f'model_mode_conflict = "{pick(POLICIES)}"\n',
        f"allow_model_substitution = {'true' if rng.random() < 0.9 else 'false'}\n",
        f'substitution_quality_threshold = "{pick(["high", "medium", "medium", "low", "ultra"])}"\n',
        f'unknown_telemetry = "{pick(["allow", "deny"])}"\n',
        f'cloud = "{pick(["never", "never", "fallback", "allow"])}"\n',
        TIERS,
    ]
    names_ = list(UNIVERSE)
    for i in range(n):
        parts.append(f'[[backends]]\nid = "b{i}"\nhost = "http://127.0.0.1:{11434 + i}"\n'
                     f'hardware = "{pick(HARDWARE)}"\n')
        cap = pick([None, 2, 4, 8, 12, 16, 24, 24, 48] if i != holder else [None, 24, 48])
        if cap is not None:
            parts.append(f"max_model_size_gb = {cap}\n")
        if (off := pick([None, "true", "false"] if i != holder else ["true"])) is not None:
            parts.append(f"offload = {off}\n")
        if rng.random() < 0.4:
            parts.append(f"max_offload_gb = {pick([16, 32, 48, 64])}\n")
        kind = pick(["all", "all", "star", "list", "pattern"] if i != holder else ["all"])
        if kind == "star":
            parts.append('supported_models = ["*"]\n')
        elif kind == "list":      # the model asked for is listed more often than not
            listed = rng.sample(names_, rng.randint(1, 5)) + ([model] * (rng.random() < 0.7))
            parts.append("supported_models = " + _toml_list(sorted(set(listed))) + "\n")
        elif kind == "pattern":
            parts.append('model_patterns = ["*:0.5b", "*:1.5b", "llama3*"]\n')
        parts.append(f"num_parallel = {rng.randint(1, 2)}\n")
    for m in rng.sample(names_, rng.randint(0, 2)):
        parts.append(f'[model_routing."{m}"]\n')
        if rng.random() < 0.4:
            parts.append(f'force_backend = "b{rng.randrange(n)}"\n')
        if rng.random() < 0.5:
            parts.append(f'prefer_backend = "b{rng.randrange(n)}"\n')
        if rng.random() < 0.4:
            parts.append("ignore_efficiency_mode = true\n")
        if rng.random() < 0.3:
            parts.append("respect_efficiency_mode = true\n")
    return parse_config("".join(parts), "<hypothesis>")


def build_snapshot(config: Config, rng: random.Random, model: str, holder: int,
                   heat: random.Random | None = None) -> FleetSnapshot:
    """``heat``: draws the learned heat rises (apart, so that the rest of a seed's
    fleet is the same with or without them)."""
    pick = rng.choice
    heat = heat or random.Random(rng.random())
    # the in-flight requests' recorded ends: drawn apart too, seeded without a draw
    busy = random.Random(f"{model}/{holder}/{len(config.backends)}")

    def value(lo: float, hi: float) -> float | NA:
        return NA("not supported") if rng.random() < 0.15 else round(rng.uniform(lo, hi), 1)

    backends: dict[str, BackendState] = {}
    for b in config.backends:
        present = rng.sample(list(UNIVERSE), rng.randint(1, len(UNIVERSE)))
        current = rng.random() < 0.8      # this host lists capabilities
        models = {m: model_info(m, rng, current) for m in present}
        loaded = {}
        for m in rng.sample(present, min(len(present), rng.randint(0, 2))):
            size = int((UNIVERSE[m] + rng.uniform(0.1, 2.0)) * GB)
            loaded[m] = LoadedModel(m, size, int(size * pick([1.0, 1.0, 0.6])),
                                    context_length=pick([None, 4096, 8192]))
        total = value(2, 48)
        top = total if isinstance(total, float) else 48.0
        free = value(top * 0.3, top)
        reading = Reading(source="test", fan_pct=value(0, 80), temp_c=value(35, 85),
                          power_w=value(2, 120), mem_total_gb=total, mem_free_gb=free,
                          util_pct=value(0, 100))
        learned = Learned()
        if rng.random() < 0.5:
            learned = Learned(load_gb_per_s=rng.uniform(0.2, 5.0), load_samples=3,
                              ttft_s=rng.uniform(0.05, 1.5), ttft_samples=3,
                              tokens_per_s={m: rng.uniform(1.0, 120.0) for m in present[:2]})
        if heat.random() < 0.5:     # how far fan, temperature and power rose over past runs
            fields = ("fan_pct", "temp_c", "power_w")
            learned.heat_rise = {f: round(heat.uniform(-5, 25), 1) for f in fields}
            learned.heat_samples = {f: heat.choice([1, 2, 3, 6, 20]) for f in fields}
        backends[b.id] = BackendState(
            id=b.id, reachable=rng.random() < 0.9, error="connection refused", models=models,
            loaded=loaded, reading=reading, in_flight=pick([0, 0, 0, 1, 2, 3]), learned=learned,
            system_free_gb=pick([None, 8.0, 32.0]))
        st = backends[b.id]
        if st.in_flight and busy.random() < 0.5:   # their decisions recorded when they end
            st.busy_s = [round(busy.uniform(0.0, 12.0), 1)
                         for _ in range(st.in_flight - busy.choice([0, 0, 1]))]
    # the model asked for is on at least one reachable host, loaded there half the time
    held = backends[config.backends[holder].id]
    held.reachable = True
    if model != "auto" and model not in held.models:
        held.models[model] = model_info(model, rng, rng.random() < 0.8, llama=False)
    if model != "auto" and rng.random() < 0.5:
        size = int((UNIVERSE[model] + 1.0) * GB)
        held.loaded[model] = LoadedModel(model, size, size)
    return FleetSnapshot(time=1_795_000_000.0 + rng.randint(0, 10**6), backends=backends)


def model_info(m: str, rng: random.Random, current: bool, llama: bool | None = None) -> ModelInfo:
    """A host's entry for `m`: capabilities when the host is `current`, remote_host for a
    cloud model, the llama model_info half the time (``llama``: decided by the caller)."""
    if llama is None:
        llama = rng.random() < 0.5
    return ModelInfo(name=m, size_bytes=int(UNIVERSE[m] * GB),
                     capabilities=CAPABILITIES.get(m, ("completion",)) if current else None,
                     remote_host=CLOUD_HOST if m.endswith("-cloud") else None,
                     **(LLAMA_INFO if llama else {}))  # type: ignore[arg-type]


def build_case(seed: int) -> tuple[Config, FleetSnapshot, Request]:
    """A config, a snapshot and a request from one seed (hypothesis draws the seed:
    a few draws per example instead of hundreds keeps thousands of examples fast)."""
    rng = random.Random(seed)
    model = rng.choice([*UNIVERSE, "auto"] if rng.random() < 0.9 else ["auto"])
    n = rng.randint(1, 6)
    holder = rng.randrange(n)
    config = build_config(n, rng, model, holder)
    snap = build_snapshot(config, rng, model, holder, random.Random(seed ^ 0x5EED))
    # a pin, when there is one, names the backend that holds the model
    pin = config.backends[holder].id if model != "auto" else None
    req = Request(
        model=model, mode=rng.choice(list(config.modes)),
        urgency=rng.choice(["critical", *["interactive"] * 3, *["background", "batch"] * 2]),
        task=rng.choice(["general", "code", "reasoning", "chat", "summarize"]),
        min_quality=rng.choice([None, None, round(rng.uniform(0.3, 0.8), 2)]),
        policy=rng.choice([None, *POLICIES]),
        backend=rng.choice([None, None, None, pin]),
        num_ctx=rng.choice([None, 2048, 4096, 16384]),
        can_ask=rng.random() < 0.5, nonce=f"{rng.getrandbits(48):012x}",
        needs=rng.choice([("thinking",), ("tools",)]) if rng.random() < 0.08 else ())
    # the prompt's length, and how fast hosts evaluated prompts: drawn apart (the rest of
    # a seed's case stays as it was)
    extra = random.Random(seed ^ 0x9A0B)
    if extra.random() < 0.5:
        req = dataclasses.replace(req, prompt_tokens=extra.choice([40, 800, 6000]))
        for st in snap.backends.values():
            for m in list(st.models)[:2]:
                if extra.random() < 0.5:
                    st.learned.prompt_tokens_per_s[m] = round(extra.uniform(50.0, 3000.0), 1)
    return config, snap, req


def outcome(req: Request, snap: FleetSnapshot, config: Config) -> Verdict | SollamaError:
    try:
        return decide(req, snap, config)
    except SollamaError as e:
        return e


ERRORS = {"not_found": ModelNotFoundError, "unreachable": UnreachableError}


def check_against_reference(got: Verdict | SollamaError, exp: Expected) -> None:
    if exp.kind == "error":
        assert isinstance(got, ERRORS.get(exp.error or "", SollamaError)), (exp, got)
        assert isinstance(got, SollamaError) and got.exit_code == ExitCode.ERROR
        return
    if exp.action == "refuse" and isinstance(got, SollamaError):
        assert got.exit_code == ExitCode.REFUSED, got     # a refusal nothing could lift
        return
    assert isinstance(got, Verdict), (exp, got)
    assert got.action == exp.action, (exp, got.reason)
    if exp.action != "refuse":
        assert (names.canonical(got.model_used or "").lower(), got.backend_used) == (
            exp.model, exp.backend), (exp, got.reason)


def check_invariants(v: Verdict, req: Request, config: Config, exp: Expected) -> None:
    ids = [b.id for b in config.backends]
    assert [e.backend for e in v.fallback_chain if e.model is None] == ids
    assert v.limits == config.modes[req.mode].limits()
    if v.action == "refuse":
        assert v.model_used is None and v.backend_used is None and not v.choices
        assert v.suggestions
        return
    assert v.model_used and v.backend_used and v.choices
    assert (v.choices[0].backend, v.choices[0].model) == (v.backend_used, v.model_used)
    c = exp.chosen
    assert c is not None
    if v.action == "run":                 # run never breaks the mode
        assert not c.mode_broken, v.reason
    if v.action == "substitute" and v.policy != "prefer_model":
        assert not c.violations, v.reason    # substitute never uses a candidate with a violation
    # every violation of the chosen candidate is in the warnings, and in its chain entry
    words = {"mode": "mode bypassed", "wait": "more than", "speed": "tokens/s"}
    for kind in c.violations:
        assert any(words[kind] in w for w in v.warnings), (kind, v.warnings)
    entry = next(e for e in v.fallback_chain if e.backend == v.backend_used and e.accepted and
                 (e.model is None or e.model == v.model_used))
    got = entry.violations or []
    assert {x.kind for x in got} == set(c.violations), (got, c)
    if "mode" in c.violations:
        assert [x.field for x in got if x.kind == "mode"] == c.mode_broken
        assert [x.field for x in got if x.predicted] == c.mode_predicted
        assert all("under load" in w for w in v.warnings if "mode bypassed" in w
                   and c.mode_predicted and len(c.mode_broken) == 1)
    # the model named ran within every limit: each other backend that could have run it
    # within them too says why it ranked after the one chosen, and only those do
    if v.action == "run" and not c.violations and req.model != "auto":
        for e in v.fallback_chain:
            behind = f"; ranked after {v.backend_used}" in e.reason
            clean = e.accepted and not e.violations and e.model is None
            assert behind == (clean and e.backend != v.backend_used), (e, v.backend_used)


@settings(PROPS, max_examples=2000)
@given(seed=st.integers(0, 2**32 - 1))
def test_decide_matches_the_reference(seed: int) -> None:
    config, snap, req = build_case(seed)
    got = outcome(req, snap, config)
    exp = Reference(req, snap, config).expect()
    check_against_reference(got, exp)
    if isinstance(got, Verdict) and exp.kind == "verdict":
        check_invariants(got, req, config, exp)


def test_most_draws_produce_a_verdict() -> None:
    """The property test checks something: at least 90% of its draws end in a verdict."""
    verdicts = sum(isinstance(outcome(req, snap, config), Verdict)
                   for config, snap, req in map(build_case, range(600)))
    assert verdicts >= 0.9 * 600, verdicts


@settings(PROPS, max_examples=1000)
@given(seed=st.integers(0, 2**32 - 1))
def test_prefer_model_uses_the_model_named_when_it_passes_somewhere(seed: int) -> None:
    config, snap, req = build_case(seed)
    req = dataclasses.replace(req, policy="prefer_model")
    ref = Reference(req, snap, config)
    if req.model == "auto" or not ref.cands(req.model, req.backend, req.mode):
        return
    route = ref.route(req.model)
    if route is not None and route.respect_efficiency_mode:
        return                                       # prefer_model acts as substitute for it
    v = decide(req, snap, config)
    assert v.action in ("run", "override") and v.model_used == req.model, v.reason


@settings(PROPS, max_examples=600)
@given(seed=st.integers(0, 2**32 - 1), policy=st.sampled_from(POLICIES))
def test_every_suggestion_decided_again_runs_without_a_violation(seed: int, policy: str) -> None:
    config, snap, req = build_case(seed)
    req = dataclasses.replace(req, policy=policy, mode=random.Random(seed).choice(
        ["quiet", "efficiency", req.mode]))
    v = outcome(req, snap, config)
    if not isinstance(v, Verdict):
        return
    for s in v.suggestions:
        again_req = as_printed(v, req, s)
        again = decide(again_req, snap, config)
        if s.policy == "prefer_model":           # ask's "run it anyway": what it says
            assert again.action != "refuse" and again.backend_used == s.backend
            continue
        exp = Reference(again_req, snap, config).expect()
        assert again.action == "run" and exp.chosen is not None, (s, again.reason)
        assert not exp.chosen.violations and not exp.chosen.mode_broken, (s, again.reason)
        assert again.backend_used == s.backend


def as_printed(v: Verdict, req: Request, s: Suggestion) -> Request:
    """The request the suggestion's printed command (`sollama run ...`) makes, with
    the same prompt (its length in tokens, which the wait estimate counts)."""
    import shlex

    argv = shlex.split(v.suggestion_command(s))[2:]
    opts = dict(zip(argv[1::2], argv[2::2], strict=False))
    return Request(model=argv[0], mode=opts["--mode"], backend=opts.get("--backend"),
                   policy=opts.get("--policy"), urgency=opts.get("--urgency", "interactive"),
                   task=opts.get("--task", "general"),
                   min_quality=float(opts["--min-quality"]) if "--min-quality" in opts else None,
                   num_ctx=int(opts["--num-ctx"]) if "--num-ctx" in opts else None,
                   prompt_tokens=req.prompt_tokens)


@settings(PROPS, max_examples=400)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_stricter_mode_never_breaks_the_looser_modes_limits(seed: int) -> None:
    config, snap, req = build_case(seed)
    loose = decide_quietly(dataclasses.replace(req, mode="balanced"), snap, config)
    if not isinstance(loose, Verdict) or loose.action != "run" or loose.warnings:
        return
    strict = decide_quietly(dataclasses.replace(req, mode="quiet"), snap, config)
    if not isinstance(strict, Verdict) or strict.backend_used is None:
        return
    if (strict.model_used or "").endswith("-cloud"):
        return                          # a cloud model's compute is not this host's
    route = config.model_routing.get(strict.model_used or "")
    if route is not None and route.ignore_efficiency_mode:
        return                          # the config says no mode applies to it
    reading = snap.backends[strict.backend_used].reading
    for fld, lim in config.modes["balanced"].limits().items():
        val = reading.get(fld)
        assert val is None or val <= lim or strict.mode_overridden, (fld, strict.reason)


def decide_quietly(req: Request, snap: FleetSnapshot, config: Config) -> Verdict | None:
    got = outcome(req, snap, config)
    return got if isinstance(got, Verdict) else None


@settings(PROPS, max_examples=300)
@given(seed=st.integers(0, 2**32 - 1))
def test_same_input_same_verdict(seed: int) -> None:
    config, snap, req = build_case(seed)
    a, b = outcome(req, snap, config), outcome(req, snap, config)
    assert (a.to_json() if isinstance(a, Verdict) else str(a)) == \
        (b.to_json() if isinstance(b, Verdict) else str(b))


# -- error paths, each with a strategy of its own -------------------------------------


@settings(PROPS, max_examples=200)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_model_on_no_host_names_the_closest(seed: int) -> None:
    config, snap, req = build_case(seed)
    for s in snap.backends.values():
        s.models.pop("llama3:8b", None)
    with pytest.raises(ModelNotFoundError) as e:
        decide(dataclasses.replace(req, model="llama3:8b", backend=None), snap, config)
    assert e.value.exit_code == ExitCode.ERROR and "llama3:8b is not on any backend" in str(e.value)


@settings(PROPS, max_examples=200)
@given(seed=st.integers(0, 2**32 - 1))
def test_no_backend_reachable_is_exit_4(seed: int) -> None:
    config, snap, req = build_case(seed)
    for s in snap.backends.values():
        s.reachable = False
    with pytest.raises(UnreachableError) as e:
        decide(dataclasses.replace(req, backend=None), snap, config)
    assert e.value.exit_code == ExitCode.UNREACHABLE


@settings(PROPS, max_examples=200)
@given(seed=st.integers(0, 2**32 - 1))
def test_fits_nowhere_without_substitution_names_the_model_and_is_exit_1(seed: int) -> None:
    config, snap, req = build_case(seed)
    config = dataclasses.replace(config, routing=dataclasses.replace(
        config.routing, allow_model_substitution=False))
    model = "llama3:70b"
    req = dataclasses.replace(req, model=model)
    if Reference(req, snap, config).cands(model, req.backend, req.mode):
        return
    if all(model not in s.models for s in snap.backends.values() if s.reachable):
        return
    with pytest.raises(SollamaError) as e:
        decide(req, snap, config)
    assert e.value.exit_code == ExitCode.ERROR and str(e.value).startswith(model)


@pytest.mark.parametrize("field,value", [("mode", "loud"), ("urgency", "asap"),
                                         ("task", "poetry"), ("policy", "maybe"),
                                         ("model", "::"), ("min_quality", 1.5),
                                         ("backend", "nowhere")])
def test_bad_input_is_one_error_naming_it(field: str, value: object) -> None:
    config, snap, req = build_case(7)
    with pytest.raises(SollamaError) as e:
        decide(dataclasses.replace(req, **{field: value}), snap, config)
    usage = field == "mode"              # an unknown mode is a usage error, as on the command line
    assert e.value.exit_code == (ExitCode.USAGE if usage else ExitCode.ERROR)
    assert str(value) in str(e.value)


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=-1e10, max_value=1e11, allow_nan=False))
def test_verdict_times_are_what_datetime_would_write(t: float) -> None:
    """`iso` formats with time.gmtime (datetime costs a routed call ~1 ms to import):
    the same text as datetime, microseconds rounded half to even, then cut to ms."""
    from datetime import UTC, datetime

    from smartollama.routing.build import iso

    dt = datetime.fromtimestamp(t, UTC)
    assert iso(t) == dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
