"""An `Outcome` made into the `Verdict` (DESIGN.md, "Verdict"), and its id.

The fallback chain has one entry per configured backend for the model the
decision is about (the named one; for `auto`, the one chosen), each with
its code or violations as data and its reason as `reasons` words it; a
substitution adds the stand-in's entries (with `model`). The choices are
the candidates the run falls back along, best first.
"""

from __future__ import annotations

import math
import time as _time

from smartollama import names
from smartollama.errors import SollamaError
from smartollama.fleet import Request
from smartollama.routing import reasons
from smartollama.routing.records import Candidate, Outcome, Rejection, Suggested
from smartollama.routing.records import Violation as Broken
from smartollama.verdict import ChainEntry, Choice, Estimate, Suggestion, Verdict, Violation
from smartollama.vocab import AUTO

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.routing.context import Context

_HEX = frozenset("0123456789abcdef")


def iso(t: float) -> str:
    """Epoch seconds → "2026-11-22T10:15:03.123Z" (what ``datetime.fromtimestamp(t,
    UTC)`` gives, microseconds rounded half to even, then cut to ms; `time.gmtime`
    because importing datetime costs a routed call ~1 ms)."""
    try:
        whole = math.floor(t)
        micro = round((t - whole) * 1_000_000)
        if micro >= 1_000_000:
            whole, micro = whole + 1, 0
        tm = _time.gmtime(whole)
    except (ValueError, OverflowError, OSError):
        raise SollamaError(f"invalid snapshot time {t!r}") from None
    return _time.strftime("%Y-%m-%dT%H:%M:%S.", tm) + f"{micro // 1000:03d}Z"


def verdict_id(request: Request, time: float) -> str:
    """ISO time with ms + 12 hex digits: the request's nonce when it is 12 hex
    digits (the front door's randomness), else a hash of the request."""
    nonce = request.nonce
    if len(nonce) == 12 and _HEX.issuperset(nonce):     # no regex: compiling one ~0.1 ms
        return f"{iso(time)}-{nonce}"
    import zlib  # a front door without randomness only (~0.3 ms to import)

    data = repr(request).encode()
    digest = f"{zlib.crc32(data):08x}{zlib.adler32(data) & 0xFFFF:04x}"  # zlib: lighter than hashlib
    return f"{iso(time)}-{digest}"


def verdict(ctx: Context, out: Outcome, suggested: list[Suggested], *,
            explain: bool = True) -> Verdict:
    """``explain=False``: no sentences and no fallback chain (see `decide`)."""
    req, q, c = ctx.req, out.query, out.chosen
    runs = out.action != "refuse" and c is not None
    return Verdict(
        id=verdict_id(req, ctx.snap.time),
        time=iso(ctx.snap.time),
        action=out.action,
        model_requested=AUTO if q.key == AUTO else names.canonical(req.model),
        model_used=c.model if runs and c else None,
        backend_used=c.backend if runs and c else None,
        host=ctx.by_id[c.backend].host if runs and c else None,
        mode=q.mode,
        urgency=req.urgency,
        task=req.task,
        policy=out.policy,
        min_quality=req.min_quality,
        num_ctx=req.num_ctx,
        mode_overridden=out.mode_overridden,
        model_substituted=out.substituted,
        reason=reasons.reason(ctx, out) if explain else "",
        warnings=reasons.warnings(ctx, out) if explain else [],
        suggestions=[Suggestion(model=s.model, backend=s.backend, mode=s.mode, policy=s.policy,
                                why=reasons.suggestion_why(ctx, q, s) if explain else "")
                     for s in suggested],
        fallback_chain=chain(ctx, out) if explain else [],
        estimate=_estimate(ctx, out),
        telemetry={b.id: ctx.states[b.id].reading.values() for b in ctx.backends},
        limits=dict(ctx.limits(q.mode)),
        choices=[Choice(backend=o.backend, host=ctx.by_id[o.backend].host, model=o.model,
                        wait_s=round(o.wait_s, 1), gpu_share=o.gpu_share)
                 for o in out.options] if runs else [],
        ask=out.ask,
    )


def _subject(out: Outcome) -> str | None:
    """The model whose entries fill the chain."""
    q = out.query
    if q.key != AUTO:
        return q.key
    if out.chosen is not None:
        return out.chosen.key
    if out.conflict is not None and out.conflict.candidates:
        return out.conflict.candidates[0].key
    return None


def chain(ctx: Context, out: Outcome) -> list[ChainEntry]:
    q = out.query
    accepted = {(o.key, o.backend) for o in out.options} if out.action != "refuse" else set()
    key = _subject(out)
    entries = []
    for b in ctx.backends:
        if key is None:
            n = len(ctx.states[b.id].models)
            entries.append(ChainEntry(backend=b.id, accepted=False,
                                      reason=f"holds {n} model{'s' if n != 1 else ''}"))
            continue
        entries.append(_entry(ctx, ctx.placed(key, b, q.pin), q.mode, accepted, None,
                              out.chosen if out.step == "compliant" else None))
    c = out.chosen
    if out.substituted and c is not None and c.key != key:
        for b in ctx.rules.allowed(c.key, q.pin, ctx.backends, ctx.by_id):
            entries.append(_entry(ctx, ctx.fit(c.key, b), q.mode, accepted, c.model))
    return entries


def _entry(ctx: Context, f: Candidate | Rejection, mode: str,
           accepted: set[tuple[str, str]], model: str | None,
           ranked_after: Candidate | None = None) -> ChainEntry:
    """``ranked_after``: the candidate chosen over every other that breaks nothing,
    whose entries then say why they rank after it."""
    text = reasons.chain_reason(ctx, f, mode)
    if (ranked_after is not None and isinstance(f, Candidate)
            and f.backend != ranked_after.backend and not ctx.violations(f, mode)):
        text += "; " + reasons.behind(ctx, f, ranked_after, mode)
    if isinstance(f, Rejection):
        nums = {k: round(v, 2) for k, v in (("need_gb", f.need_gb), ("limit_gb", f.limit_gb),
                                            ("offload_gb", f.offload_gb),
                                            ("free_gb", f.free_gb))
                if v is not None and v != float("inf")}
        return ChainEntry(backend=f.backend, accepted=False, reason=text, model=model,
                          code=f.code, numbers=nums or None)
    vs = ctx.violations(f, mode)
    return ChainEntry(backend=f.backend, accepted=(f.key, f.backend) in accepted, reason=text,
                      model=model, violations=[_violation(v) for v in vs] or None)


def _violation(v: Broken) -> Violation:
    return Violation(kind=v.kind, limit=v.limit,
                     value=None if v.value is None else round(v.value, 2),
                     field=v.field, na=v.na, predicted=True if v.predicted else None)


def _estimate(ctx: Context, out: Outcome) -> Estimate:
    c = out.chosen
    ref = c
    if ref is None and out.conflict is not None and out.conflict.candidates:
        ref = out.conflict.candidates[0]
    if ref is None:
        return Estimate()
    return Estimate(
        memory_gb=round(ref.need.memory_gb, 1),
        basis=ref.need.basis,
        gpu_share=ref.gpu_share,
        wait_s=round(ref.wait_s, 1) if c is not None else None,
        wait_basis=ref.wait_basis if c is not None else None,
        loaded=ref.loaded,
        quality=round(ref.quality, 3),
        tokens_per_s=round(ref.tps, 1),
    )
