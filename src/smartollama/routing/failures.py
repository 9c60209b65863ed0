"""The one-line errors routing raises, made from its structured results (as
`reasons` makes its sentences): a model no backend holds, one that fits nowhere,
`auto` finding nothing, a refusal that nothing could lift."""

from __future__ import annotations

from smartollama.errors import ModelNotFoundError, RefusedError
from smartollama.routing import fit, reasons
from smartollama.vocab import number

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.routing.context import Context
    from smartollama.routing.records import Outcome, Query


def not_found(ctx: Context, key: str) -> ModelNotFoundError:
    import difflib  # only for this error: not on every call

    pool = ctx.pool()
    close = difflib.get_close_matches(key, pool, n=3, cutoff=0.5)
    if not close:
        fam = key.split(":", 1)[0]
        close = [m for m in pool if m.split(":", 1)[0] == fam][:3]
    held = f"; closest: {', '.join(close)}" if close else ""
    down = [b.id for b in ctx.backends if not ctx.states[b.id].reachable]
    tail = f" ({reasons.and_(down)} unreachable)" if down else ""
    families = {m.split(":", 1)[0] for m in pool}
    if close and key.split(":", 1)[0] not in families:     # no such family here: a typo?
        hint = f"did you mean {close[0]}? if {key} exists, `ollama pull {key}` fetches it"
    else:
        hint = f"pull it with `ollama pull {key}` on a host that can hold it"
    err = ModelNotFoundError(f"{key} is not on any backend{tail}{held}", hint=hint)
    err.closest = tuple(close)
    return err


def nowhere_error(ctx: Context, q: Query, *, substitution_off: bool) -> str:
    """The one line naming the closest thing to fitting."""
    tail = "" if substitution_off else "; no equivalent model fits either"
    if q.pin is not None or ctx.rules.forced(q.key) is not None:
        return reasons.nowhere_reason(ctx, q) + tail
    rejs = [r for r in reasons.rejections(ctx, q) if q.key in ctx.states[r.backend].models]
    lacking = sorted({r.detail or "" for r in rejs if r.code == "lacks_capability"})
    if rejs and len(lacking) == 1 and all(r.code == "lacks_capability" for r in rejs):
        return f"{q.key} does not support {lacking[0]}" + tail
    sized = [r for r in rejs if r.code in ("too_large", "no_room", "offload_too_small")]
    if not rejs or len(sized) != len(rejs):
        return reasons.nowhere_reason(ctx, q) + tail
    need = max(r.need_gb or 0.0 for r in sized)
    if any(r.code != "too_large" for r in sized):
        room = max(sized, key=lambda r: (r.free_gb or 0.0, -ctx.order[r.backend]))
        total = f" ({number(room.limit_gb)} GB in all)" if room.limit_gb is not None else ""
        return (f"{q.key} needs ~{reasons.gb(need)} GB; the most free memory is on {room.backend}: "
                f"{number(max(room.free_gb or 0.0, 0.0))} GB now{total}" + tail)
    return f"{q.key} needs ~{reasons.gb(need)} GB; " + _largest(ctx) + tail


def _largest(ctx: Context) -> str:
    best: tuple[float, str, float | None, float | None] | None = None
    for b in ctx.reachable:
        st = ctx.states[b.id]
        cap = fit.capacity(b, st)
        off = fit.offload_cap(b, st, cap)
        off = None if off == float("inf") else off
        size = max(cap or 0.0, off or 0.0)
        if best is None or size > best[0]:
            best = (size, b.id, cap, off)
    assert best is not None
    _, bid, cap, off = best
    cap_s = f"{number(cap)} GB" if cap is not None else "unknown capacity"
    off_s = f" ({number(off)} GB with offload)" if off is not None else ""
    return f"the largest capacity is {bid} with {cap_s}{off_s}"


def auto_none(ctx: Context, q: Query, *, good_enough: bool) -> str:
    """`auto` found nothing: none fits (``good_enough``: some model has the quality), or
    no model reaches the quality asked for."""
    if good_enough:
        where = f"the pinned backend {q.pin}" if q.pin is not None else "any backend"
        return f"auto: no model fits {where}"
    mq = ctx.req.min_quality
    keys = {m for b in ([ctx.by_id[q.pin]] if q.pin else ctx.reachable)
            for m in ctx.states[b.id].models}
    if not keys:
        return f"auto: no models on {q.pin or 'any reachable backend'}"
    best = max(keys, key=lambda m: (ctx.quality(m), m))
    floor = f"quality {mq:.2f}" if mq is not None else "the substitution threshold"
    return (f"auto: no model reaches {floor} for {ctx.req.task}; the best is {best} "
            f"({ctx.quality(best):.2f})")


def refused_error(ctx: Context, out: Outcome) -> RefusedError:
    q = out.query
    return RefusedError(f"refused {q.key} in {q.mode} mode: {reasons.reason(ctx, out)}; "
                        "no other model or mode would run it")
