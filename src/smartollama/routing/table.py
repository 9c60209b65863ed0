"""The decision table (DESIGN.md, "The decision"), one query at a time.

1. Candidates for the named model with no violation: `run` the best
   (`rank.RankKey`).
2. Candidates, each with a violation: the policy resolves the conflict
   (`policies`).
3. No candidate ("fits nowhere"): with `allow_model_substitution`, steps 1-2
   over its equivalents (`model_substituted`); without it, an error naming
   the closest fit.
4. `auto`: the candidates are every model the fleet holds; step 1 takes the
   best quality with no violation, step 2 applies when none has one.
5. `model_routing` and `--backend` shape the candidates (`rules`).

`resolve` is what `decide` asks for the request, and what `suggest` asks
again for each suggestion, with the same context (and so the same caches).
"""

from __future__ import annotations

from smartollama.errors import SollamaError
from smartollama.routing import failures, policies, rank, standins
from smartollama.routing.records import Candidate, Conflict, Outcome, Query
from smartollama.vocab import AUTO

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.routing.context import Context
    from smartollama.routing.records import Action


def resolve(ctx: Context, q: Query) -> Outcome:
    if q.key == AUTO:
        return _auto(ctx, q)
    if not ctx.present(q.key):
        raise failures.not_found(ctx, q.key)
    cands = ctx.candidates(q.key, q.pin)
    if cands:
        clean = [c for c in cands if not ctx.violations(c, q.mode)]
        if clean:
            return run(ctx, q, rank.ranked(ctx, clean, q.mode), "compliant")
        return policies.resolve(ctx, Conflict(q, cands))
    return _nowhere(ctx, q)


def run(ctx: Context, q: Query, options: list[Candidate], step: str, *,
        substituted: bool = False) -> Outcome:
    """Step 1: the first of `options` (each without a violation) runs.

    A model whose mode model_routing ignores is `override` when the reading
    does break the mode (said in the reason, not warned about).
    """
    best = options[0]
    ignored = bool(ctx.rules.ignores_mode(best.key) and not best.remote
                   and ctx.mode_violations(best.backend, q.mode))
    action: Action = "substitute" if substituted else "override" if ignored else "run"
    return Outcome(action, q, q.policy, step, chosen=best, options=options,
                   mode_ignored=ignored, mode_overridden=ignored, substituted=substituted)


def _nowhere(ctx: Context, q: Query) -> Outcome:
    """Step 3: the named model passes the hard constraints nowhere it may go."""
    if not ctx.cfg.routing.allow_model_substitution:
        raise SollamaError(failures.nowhere_error(ctx, q, substitution_off=True))
    found = standins.gather(ctx, standins.equivalents(ctx, q.key), q.pin, q.mode,
                            standins.substitute_level(ctx))
    if found.clean:
        options = sorted(found.clean, key=lambda c: rank.substitute_key(ctx, c, q.mode))
        return run(ctx, q, options, "nowhere", substituted=True)
    if not found.candidates:
        raise SollamaError(failures.nowhere_error(ctx, q, substitution_off=False))
    out = policies.resolve(ctx, Conflict(q, found.candidates, substituting=True))
    out.step = "nowhere"
    return out


def _auto(ctx: Context, q: Query) -> Outcome:
    """Step 4: sollama chooses the model too."""
    models = standins.auto_models(ctx, q.pin)
    found = standins.gather(ctx, models, q.pin, q.mode, standins.auto_level(ctx))
    if found.clean:
        return run(ctx, q, sorted(found.clean, key=lambda c: rank.auto_key(ctx, c, q.mode)),
                   "auto")
    if not found.candidates:
        good = any(standins.fine(ctx, m) for m in models)
        raise SollamaError(failures.auto_none(ctx, q, good_enough=good))
    out = policies.resolve(ctx, Conflict(q, found.candidates, auto=True))
    out.step = "auto"
    return out
