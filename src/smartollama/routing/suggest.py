"""Suggestions: what would comply, each decided again before it is offered.

DESIGN.md, step 6. A refusal, a run that breaks a soft constraint and an
`ask` menu carry suggestions: another model on a backend (an equivalent of
the named one, best first; it may come from below the substitution
threshold, since the user chooses it, never below --min-quality), another
mode (on the backend it would use), and, for `ask`, running the named model
anyway (`--policy prefer_model`). Each is turned into the query its printed
command makes (`sollama run MODEL --backend B --mode M [--policy P]`, see
`Verdict.suggestion_command`) and decided again with `table.resolve`; it is
offered only if that decision runs what it promises: with no violation, or,
for the override, the named model on that backend.
"""

from __future__ import annotations

from smartollama.errors import SollamaError
from smartollama.record import replace
from smartollama.routing import policies, rank, standins, table
from smartollama.routing.context import model_key
from smartollama.routing.records import Outcome, Query, Suggested
from smartollama.vocab import AUTO

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.fleet import Request
    from smartollama.routing.context import Context
    from smartollama.verdict import Suggestion

#: model suggestions on a refusal; on a run with violations (what would comply)
MAX_ON_REFUSAL = 4
MAX_ON_RUN = 2


def for_outcome(ctx: Context, out: Outcome) -> list[Suggested]:
    """The verified suggestions an outcome carries (none for a run without violations)."""
    q = out.query
    if out.action != "refuse" and not out.violations:
        return []
    limit = MAX_ON_REFUSAL if out.action == "refuse" else MAX_ON_RUN
    found: list[Suggested] = []
    if out.ask and out.conflict is not None:
        found += _override(ctx, out)
    if q.key != AUTO:
        found += _models(ctx, q, limit)
    found += _modes(ctx, q)
    return found


def as_query(q: Query, s: Suggested) -> Query:
    """The query a suggestion's printed command makes (model, --backend, --mode, --policy)."""
    return Query(model_key(s.model) if s.model else q.key, s.mode or q.mode, s.backend,
                 s.policy or "prefer_mode")


def as_request(request: Request, s: Suggestion) -> Request:
    """The request a suggestion's printed command makes: for the front door's menu."""
    return replace(request, model=s.model or request.model, mode=s.mode or request.mode,
                   backend=s.backend, policy=s.policy, can_ask=False)


def works(ctx: Context, q: Query, s: Suggested) -> bool:
    """Decided again as printed, does the suggestion do what it promises?"""
    again = as_query(q, s)
    try:
        o = table.resolve(ctx, again)
    except SollamaError:
        return False
    c = o.chosen
    if c is None or o.action == "refuse" or c.backend != s.backend:
        return False
    if again.key != AUTO and c.key != again.key:
        return False
    if s.kind == "override":
        return True
    return o.action == "run" and not o.violations


def _override(ctx: Context, out: Outcome) -> list[Suggested]:
    """For `ask`: what prefer_model would run (the named model, or its best stand-in)."""
    assert out.conflict is not None
    pick = policies.prefer_model(ctx, out.conflict).chosen
    if pick is None:
        return []
    s = Suggested("override", pick.model, pick.backend,
                  policy="prefer_model", candidate=pick)
    return [s] if works(ctx, out.query, s) else []


def _models(ctx: Context, q: Query, limit: int) -> list[Suggested]:
    found: list[Suggested] = []
    for m in standins.equivalents(ctx, q.key, threshold=False):
        clean = ctx.clean_candidates(m, None, q.mode)
        if not clean:
            continue
        best = rank.ranked(ctx, clean, q.mode)[0]
        s = Suggested("model", best.model, best.backend, candidate=best)
        if works(ctx, q, s):
            found.append(s)
            if len(found) >= limit:
                break
    return found


def _modes(ctx: Context, q: Query) -> list[Suggested]:
    found: list[Suggested] = []
    for other in ctx.cfg.modes:
        if other == q.mode:
            continue
        try:
            o = table.resolve(ctx, Query(q.key, other, q.pin, "prefer_mode"))
        except SollamaError:
            continue
        if o.action != "run" or o.violations or o.chosen is None:
            continue
        s = Suggested("mode", None, o.chosen.backend, mode=other, candidate=o.chosen)
        if works(ctx, q, s):
            found.append(s)
    return found
