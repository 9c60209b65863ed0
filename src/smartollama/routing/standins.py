"""Stand-ins: the models that may answer in place of the one asked for.

*Equivalents* of a model (substitutes) are in its tier or a lower one: only
the models the config's `model_equivalents` lists when it lists the model,
else every model on the hosts by its catalog tier. For `auto`, every model
the (pinned) hosts hold. Either way a stand-in must not break the quality
constraint (`compliance.quality_violations`): that filter is what "never
below the threshold" means, and no policy waives it.

`gather` walks the stand-ins best first and stops once the best level (a
tier and a quality) has a candidate with no violation: nothing after it can
win step 1. When none has one, it has seen them all, as step 2 needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from smartollama.record import field, record
from smartollama.routing.compliance import quality_violations
from smartollama.routing.records import Candidate

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.routing.context import Context


def equivalents(ctx: Context, key: str, *, threshold: bool = True) -> list[str]:
    """Stand-ins for `key`, best first (same tier first, then by quality).

    ``threshold=False``: also below `substitution_quality_threshold` (a
    suggestion the user may choose; --min-quality still holds).
    """
    tier = ctx.tier(key)
    pool: Iterable[str] = ctx.scorer.listed_models() if ctx.scorer.listed(key) else ctx.pool()
    out = [m for m in pool if m != key and ctx.present(m) and ctx.tier(m) >= tier
           and fine(ctx, m, threshold)]
    return sorted(out, key=lambda m: (ctx.cloud_last(m), ctx.tier(m), -ctx.quality(m), m))


def auto_models(ctx: Context, pin: str | None) -> list[str]:
    """What `auto` may choose from: every model on the (pinned) hosts, best quality first
    (`gather` leaves out those below the quality constraint as it goes)."""
    hosts = [ctx.by_id[pin]] if pin is not None else ctx.reachable
    keys = {m for b in hosts for m in ctx.states[b.id].models}
    return sorted(keys, key=lambda m: (ctx.cloud_last(m), -ctx.quality(m), m))


def fine(ctx: Context, key: str, threshold: bool = True) -> bool:
    """No quality violation (``threshold=False``: --min-quality only)."""
    return not [v for v in quality_violations(ctx, key) if threshold or v.what != "threshold"]


@record
class Gathered:
    candidates: list[Candidate] = field(default_factory=list)
    clean: list[Candidate] = field(default_factory=list)


def gather(ctx: Context, models: list[str], pin: str | None, mode: str,
           level: Callable[[str], object]) -> Gathered:
    """The models' candidates, best level first, up to the first level with a clean one."""
    out = Gathered()
    found: object = None
    for m in models:
        lv = level(m)
        if out.clean and lv != found:
            break
        if not fine(ctx, m):
            continue
        for c in ctx.candidates(m, pin):
            out.candidates.append(c)
            if not ctx.violations(c, mode):
                out.clean.append(c)
                found = lv
    return out


def substitute_level(ctx: Context) -> Callable[[str], object]:
    return lambda m: (ctx.cloud_last(m), ctx.tier(m), ctx.quality(m))


def auto_level(ctx: Context) -> Callable[[str], object]:
    return lambda m: (ctx.cloud_last(m), ctx.quality(m))
