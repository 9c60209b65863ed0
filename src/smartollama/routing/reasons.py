"""Every sentence routing says, built from the structured results.

The decision is made on `Rejection`, `Candidate`, `Violation` and `Outcome`
records; this module turns them into the fallback chain's reasons, the
verdict's reason and warnings, the suggestions' "why", and the one-line
errors. Nothing here decides, and no decision reads what is written here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from smartollama.routing import estimate, rank
from smartollama.routing.records import Candidate, Outcome, Query, Rejection, Suggested, Violation
from smartollama.vocab import AUTO, MODE_PREFERENCE, number, reading_label

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.routing.context import Context


def gb(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def and_(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# -- one pair ------------------------------------------------------------------------


#: the sentence of each rejection that needs no arithmetic, by its code
_REJECTED: dict[str, Callable[[Rejection], str]] = {
    "unreachable": lambda r: f"unreachable: {r.detail}",
    "not_pinned": lambda r: f"not the pinned backend (--backend {r.detail})",
    "forced_elsewhere": lambda r: f"model_routing forces {r.detail} for {r.key}",
    "not_admitted": lambda r: f"not admitted by {r.backend}'s supported_models/model_patterns",
    "not_pulled": lambda r: f"not pulled on {r.backend}",
    "lacks_capability":
        lambda r: f"{r.key} does not support {r.detail} ({r.backend}'s capabilities)",
    "cloud_off": lambda r: f"a cloud model ({r.detail or 'remote'}): [routing] cloud = "
                           '"never" runs one only when named',
}


def rejection(r: Rejection) -> str:
    """"model too large: needs ~41.9 GB, limit 8 GB"."""
    simple = _REJECTED.get(r.code)
    if simple is not None:
        return simple(r)
    need = f"needs ~{gb(r.need_gb or 0.0)} GB"
    if r.code == "too_large":
        limit = f", limit {number(r.limit_gb)} GB" if r.limit_gb is not None else ""
        off = "" if r.offload_gb in (None, float("inf")) else \
            f" ({number(r.offload_gb or 0.0)} GB with offload)"
        return f"model too large: {need}{limit}{off}"
    if r.code == "no_room":
        return f"not enough free memory: {need}, {number(r.free_gb or 0.0)} GB free now " \
               "(idle models unloaded)"
    return f"not enough free device memory for offload: {need}, " \
           f"{number(r.free_gb or 0.0)} GB free now"


def fit_text(c: Candidate) -> str:
    """"fits (5.6 of 8 GB)", "fits with offload (24 of 41.9 GB on GPU, ...)"."""
    n = c.need.memory_gb
    if c.remote:
        return "runs in the cloud (no local memory)"
    if c.fit == "loaded" and c.whole:
        return f"loaded ({gb(n)} GB)"
    if not c.whole:
        slower = c.gpu_share + (1.0 - c.gpu_share) * estimate.RAM_SLOWDOWN
        device = n * c.gpu_share if c.fit == "loaded" else c.usable_gb or 0.0
        head = "loaded with offload" if c.fit == "loaded" else "fits with offload"
        return (f"{head} ({number(device)} of {gb(n)} GB on GPU, ~{c.gpu_share * 100:.0f}% of "
                f"layers, ~{slower:.1f}× slower, ~{number(c.tps)} tokens/s{_evicted(c)})")
    if c.usable_gb is None:
        return f"fits (~{gb(n)} GB; capacity unknown)"
    return f"fits ({gb(n)} of {number(c.usable_gb)} GB{_evicted(c)})"


def _evicted(c: Candidate) -> str:
    return f", after unloading {and_([e.model for e in c.evicts])}" if c.evicts else ""


def violation(v: Violation, mode: str, urgency: str) -> str:
    """"fan 65% exceeds quiet limit 40%", "fan reaches ~55% under load here (learned from
    6 runs), over quiet's 40%", "~2.6 tokens/s, below interactive's 10"."""
    if v.kind == "mode":
        label, unit = reading_label(v.field or "")
        if v.value is None:
            why = f" ({v.na})" if v.na else ""
            return f"{label} not available{why}; {mode} mode denies unknown readings"
        if v.predicted:
            return (f"{label} reaches ~{number(round(v.value))}{unit} under load here "
                    f"({_learned(v)}), over {mode}'s {number(v.limit)}{unit}")
        return f"{label} {number(v.value)}{unit} exceeds {mode} limit {number(v.limit)}{unit}"
    if v.kind == "wait":
        return f"wait ~{number(v.value or 0.0)} s, more than {urgency}'s {number(v.limit)} s"
    if v.kind == "speed":
        return (f"~{number(v.value or 0.0)} tokens/s, below {urgency}'s "
                f"{number(v.limit)} tokens/s")
    if v.what == "threshold":
        return "below the substitution threshold (substitution_quality_threshold)"
    return f"quality {v.value or 0.0:.2f}, below --min-quality {v.limit:.2f}"


def _learned(v: Violation) -> str:
    return f"learned from {v.runs} run{'s' if v.runs != 1 else ''}"


def allows(vs: Sequence[Violation], mode: str, urgency: str) -> str:
    """"quiet mode allows fan ≤ 40%, it reads 65%; interactive wants ≥ 10 tokens/s, ..."."""
    parts = []
    named = False
    for v in vs:
        if v.kind == "mode":
            label, unit = reading_label(v.field or "")
            if v.value is None:
                read = (f"it is not available{f' ({v.na})' if v.na else ''} and unknown "
                        "readings are denied")
            elif v.predicted:
                read = f"it reaches ~{number(round(v.value))}{unit} under load there ({_learned(v)})"
            else:
                read = f"it reads {number(v.value)}{unit}"
            head = "" if named else f"{mode} mode allows "
            named = True
            parts.append(f"{head}{label} ≤ {number(v.limit)}{unit}, {read}")
        elif v.kind == "wait":
            parts.append(f"{urgency} waits ≤ {number(v.limit)} s, it would wait "
                         f"~{number(v.value or 0.0)} s")
        elif v.kind == "speed":
            parts.append(f"{urgency} wants ≥ {number(v.limit)} tokens/s, it would get "
                         f"~{number(v.value or 0.0)}")
    return "; ".join(parts)


def chain_reason(ctx: Context, f: Candidate | Rejection, mode: str) -> str:
    if isinstance(f, Rejection):
        return rejection(f)
    text = fit_text(f)
    vs = ctx.violations(f, mode)
    if ctx.rules.ignores_mode(f.key):
        text += f"; {mode} mode ignored for {f.key} (model_routing)"
    if vs:
        return text + "; " + "; ".join(violation(v, mode, ctx.req.urgency) for v in vs)
    if ctx.limits(mode) and not ctx.rules.ignores_mode(f.key):
        return text + f"; within {mode} mode"
    return text


def behind(ctx: Context, c: Candidate, chosen: Candidate, mode: str) -> str:
    """Why ``c``, which breaks nothing either, ranks after ``chosen``: the first
    part of `rank.rank_key` where they differ, in words ("ranked after
    ollama-igpu, which answers sooner: ~4.2 s to the whole answer, ~18 s here")."""
    mine, theirs = rank.rank_key(ctx, c, mode), rank.rank_key(ctx, chosen, mode)
    head = f"ranked after {chosen.backend}"
    if mine[0] != theirs[0]:
        return f"{head}, which model_routing prefer_backend names"
    if mine[1] != theirs[1]:
        return f"{head}, which holds it whole (partly offloaded here)"
    fld = MODE_PREFERENCE.get(mode)
    fast = fld is not None and rank.fast_enough(ctx, c) and rank.fast_enough(ctx, chosen)
    if mine[2] != theirs[2]:
        if fast:
            return (f"{head}, where less is unloaded to make room (here "
                    f"{and_([e.model for e in c.evicts])}, ~{number(c.evict_s)} s to load again)")
        reloads = ", counting reloads" if c.evicts or chosen.evicts else ""
        return (f"{head}, which answers sooner: ~{number(rank.cost_s(ctx, chosen))} s to the "
                f"whole answer, ~{number(rank.cost_s(ctx, c))} s here{reloads}")
    if mine[3] != theirs[3]:
        if fld is None:
            return (f"{head}, which has more memory free ({number(-theirs[3])} GB, "
                    f"{number(-mine[3])} GB here)")
        label, unit = reading_label(fld)
        warn = ctx.urgency.warn_wait_s
        both = f"; both answer within {number(warn)} s" if fast and warn is not None else ""
        return (f"{head}: {label} {number(theirs[3])}{unit} there, {number(mine[3])}{unit} "
                f"here{both}")
    return f"{head}, which comes first in the config"


# -- the outcome ---------------------------------------------------------------------


def reason(ctx: Context, out: Outcome) -> str:
    """The verdict's reason."""
    q, c = out.query, out.chosen
    if out.step == "nowhere":
        head = nowhere_reason(ctx, q)
    elif out.step == "auto" and c is not None and not out.violations:
        head = (f"auto: {c.model} for {ctx.req.task} (quality {c.quality:.2f}) runs on "
                f"{c.backend}: {fit_text(c)}")
    elif out.conflict is not None:
        head = conflict_reason(ctx, out)
    else:
        assert c is not None
        head = f"{q.key} runs on {c.backend}: {fit_text(c)}"
    if c is not None and out.substituted:
        tier = ctx.scorer.tier_label(c.tier)
        head += f"; {c.model} ({tier}) runs on {c.backend} instead"
        if out.mode_overridden:
            head += f", outside {q.mode} mode"
    if out.mode_ignored and c is not None:
        vs = [violation(v, q.mode, ctx.req.urgency) for v in ctx.mode_violations(c.backend, q.mode)]
        head += (f"; {q.mode} mode does not apply to {c.key} (model_routing "
                 f"ignore_efficiency_mode): " + "; ".join(vs))
    elif out.step in ("compliant", "auto") and out.action != "refuse" and not out.violations \
            and ctx.limits(q.mode):
        head += f", within {q.mode} mode"
    return head + _refusal_tail(out)


def conflict_reason(ctx: Context, out: Outcome) -> str:
    """"llama3:70b fits only ollama-nvidia; quiet mode allows fan ≤ 40%, it reads 65%"."""
    assert out.conflict is not None
    q, cands = out.query, out.conflict.candidates
    urg = ctx.req.urgency
    if out.conflict.auto:
        best = out.chosen or min(cands, key=lambda c: len(ctx.violations(c, q.mode)))
        return (f"auto: no model runs without a violation; the best, {best.model} on "
                f"{best.backend}: " + allows(ctx.violations(best, q.mode), q.mode, urg))
    by_backend = sorted(cands, key=lambda c: c.order)
    if len(by_backend) == 1:
        c = by_backend[0]
        return f"{q.key} fits only {c.backend}; " + allows(ctx.violations(c, q.mode), q.mode, urg)
    parts = [f"{c.backend}: " + ", ".join(violation(v, q.mode, urg)
                                          for v in ctx.violations(c, q.mode))
             for c in by_backend]
    return (f"{q.key} fits {and_([c.backend for c in by_backend])}, none without a violation ("
            + "; ".join(parts) + ")")


def _refusal_tail(out: Outcome) -> str:
    if out.action != "refuse":
        return ""
    return {"no_compliant_equivalent": "; no equivalent model runs without a violation",
            "substitution_off": "; model substitution is off "
                                "(routing.allow_model_substitution)"}.get(out.why_refused or "", "")


def nowhere_reason(ctx: Context, q: Query) -> str:
    """"llama3:70b fits no backend (ollama-igpu: model too large: ...)"."""
    rejs = rejections(ctx, q)
    if q.pin is not None:
        return f"{q.key} cannot run on the pinned backend {q.pin}: {rejection(rejs[0])}"
    forced = ctx.rules.forced(q.key)
    if forced is not None:
        r = next(r for r in rejs if r.backend == forced)
        return f"{q.key} cannot run on {forced}, where model_routing forces it: {rejection(r)}"
    close = [r for r in rejs if q.key in ctx.states[r.backend].models] or rejs
    return f"{q.key} fits no backend (" + "; ".join(
        f"{r.backend}: {rejection(r)}" for r in close) + ")"


def rejections(ctx: Context, q: Query) -> list[Rejection]:
    return [f for b in ctx.rules.allowed(q.key, q.pin, ctx.backends, ctx.by_id)
            if isinstance(f := ctx.fit(q.key, b), Rejection)]


def warnings(ctx: Context, out: Outcome) -> list[str]:
    """One warning for each thing the user did not ask for, each violation included."""
    q, c = out.query, out.chosen
    w: list[str] = []
    if out.respected:
        acts = "substitute" if ctx.cfg.routing.allow_model_substitution else "prefer_mode"
        w.append(f"model_routing respects {q.mode} mode for {q.key}: {q.policy} acts as {acts}")
    if out.no_terminal:
        w.append("policy ask needs a terminal to ask on; acting as prefer_mode")
    if c is None:
        return w
    if c.remote:
        w.append(leaves_machine(ctx, c))
    if out.substituted and q.key != AUTO:
        w.append(f"Using {c.model} instead of {q.key} (quality {c.quality:.2f} vs "
                 f"{ctx.quality(q.key):.2f} for {ctx.req.task})")
    return w + _violation_warnings(ctx, out, c)


def leaves_machine(ctx: Context, c: Candidate) -> str:
    """The plain warning of a cloud model: the prompt goes to another machine."""
    info = ctx.states[c.backend].models.get(c.key)
    where = info.remote_host if info is not None and info.remote_host else "a cloud service"
    return f"{c.model} is a cloud model: the prompt leaves this machine for {where}"


def _violation_warnings(ctx: Context, out: Outcome, c: Candidate) -> list[str]:
    q, urg = out.query, ctx.req.urgency
    modes = [violation(v, q.mode, urg) for v in out.violations if v.kind == "mode"]
    w = []
    if modes:
        w.append(f"{q.mode.capitalize()} mode bypassed on {c.backend}: " + "; ".join(modes))
    for v in out.violations:
        if v.kind == "wait":
            w.append(_wait(c) + f", more than {urg}'s {number(v.limit)} s")
        elif v.kind == "speed":
            share = "" if c.whole else f" ({1.0 - c.gpu_share:.0%} in RAM)"
            w.append(f"~{number(c.tps)} tokens/s on {c.backend}{share}, "
                     f"below {urg}'s {number(v.limit)} tokens/s")
    warn = ctx.urgency.warn_wait_s
    if not any(v.kind == "wait" for v in out.violations) and warn is not None \
            and c.wait_s > warn:
        w.append(_wait(c))
    return w


def _wait(c: Candidate) -> str:
    if not c.loaded:
        return f"loading {c.model} on {c.backend} takes ~{number(c.wait_s)} s"
    return f"{c.backend} is busy: ~{number(c.wait_s)} s before {c.model} starts"


def suggestion_why(ctx: Context, q: Query, s: Suggested) -> str:
    c = s.candidate
    assert c is not None
    if s.kind == "override":
        vs = ctx.violations(c, q.mode)
        return "overrides: " + "; ".join(violation(v, q.mode, ctx.req.urgency) for v in vs)
    if s.kind == "mode":
        what = "it" if c.key == q.key else c.model
        return f"--mode {s.mode} would run {what} on {c.backend}"
    if ctx.limits(q.mode):
        return f"complies with {q.mode} mode on {c.backend}: {fit_text(c)}"
    return f"runs on {c.backend} without a violation: {fit_text(c)}"
