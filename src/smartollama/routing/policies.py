"""The conflict policies: what happens when every candidate breaks a soft constraint.

DESIGN.md, "The decision", step 2. Each policy is one function with one
signature, ``policy(ctx, conflict) -> Outcome``, and resolves a conflict the
same way whichever soft constraint (mode, wait, speed) is broken:

- `prefer_model`: the model you named answers. *How:* the candidate with
  the fewest violations (then in the candidates' own order) runs:
  `override` when it breaks the mode, else `run` (a stand-in, when the named
  model fits nowhere: `substitute`); the warnings and suggestions are added
  from the outcome by `reasons` and `suggest`.
- `substitute`: the best equivalent with no violation. *How:* the stand-ins
  of the named model, same tier first, then lower (`standins`); none, or
  substitution turned off: `refuse`.
- `prefer_mode`: `refuse` (exit 3), with suggestions.
- `ask`: on a terminal, `refuse` with `ask` set, so that the front door
  offers the options (each verified by `suggest`); without one, as
  `prefer_mode`.

`effective` applies `model_routing`'s `respect_efficiency_mode`, which makes
`prefer_model` act as `substitute` for its model.
"""

from __future__ import annotations

from collections.abc import Callable

from smartollama.routing import rank, standins
from smartollama.routing.records import Conflict, Outcome

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.routing.context import Context
    from smartollama.routing.records import Action

Policy = Callable[["Context", Conflict], Outcome]


def order_of(conflict: Conflict) -> str:
    return "auto" if conflict.auto else "substitute" if conflict.substituting else "rank"


def prefer_model(ctx: Context, conflict: Conflict) -> Outcome:
    q = conflict.query
    order = order_of(conflict)
    options = sorted(conflict.candidates,
                     key=lambda c: rank.conflict_key(ctx, c, q.mode, order))
    best = options[0]
    viol = ctx.violations(best, q.mode)
    broken = any(v.kind == "mode" for v in viol)
    # a model whose mode model_routing ignores, on a backend that breaks it: override too
    ignored = not broken and ctx.rules.ignores_mode(best.key) and bool(
        ctx.mode_violations(best.backend, q.mode))
    action: Action = ("substitute" if conflict.substituting else
                      "override" if broken or ignored else "run")
    return Outcome(action, q, "prefer_model", "conflict", chosen=best, violations=viol,
                   options=options, conflict=conflict, substituted=conflict.substituting,
                   mode_overridden=broken or ignored, mode_ignored=ignored)


def substitute(ctx: Context, conflict: Conflict) -> Outcome:
    q = conflict.query
    if conflict.substituting or conflict.auto:
        return refuse(conflict, "substitute", "no_compliant_equivalent")
    if not ctx.cfg.routing.allow_model_substitution:
        return refuse(conflict, "substitute", "substitution_off")
    found = standins.gather(ctx, standins.equivalents(ctx, q.key), q.pin, q.mode,
                            standins.substitute_level(ctx))
    if not found.clean:
        return refuse(conflict, "substitute", "no_compliant_equivalent")
    options = sorted(found.clean, key=lambda c: rank.substitute_key(ctx, c, q.mode))
    return Outcome("substitute", q, "substitute", "conflict", chosen=options[0],
                   options=options, conflict=conflict, substituted=True)


def prefer_mode(ctx: Context, conflict: Conflict) -> Outcome:
    return refuse(conflict, "prefer_mode", "prefer_mode")


def ask(ctx: Context, conflict: Conflict) -> Outcome:
    if ctx.req.can_ask:
        out = refuse(conflict, "ask", "ask")
        out.ask = True
        return out
    out = prefer_mode(ctx, conflict)
    out.no_terminal = True
    return out


def refuse(conflict: Conflict, policy: str, why: str) -> Outcome:
    return Outcome("refuse", conflict.query, policy, "conflict", conflict=conflict,
                   why_refused=why)


POLICIES: dict[str, Policy] = {
    "prefer_model": prefer_model,
    "substitute": substitute,
    "prefer_mode": prefer_mode,
    "ask": ask,
}


def effective(ctx: Context, key: str, policy: str) -> tuple[str, bool]:
    """The policy that applies to `key`, and whether model_routing changed it."""
    if policy == "prefer_model" and ctx.rules.respects_mode(key):
        allowed = ctx.cfg.routing.allow_model_substitution
        return ("substitute" if allowed else "prefer_mode"), True
    return policy, False


def resolve(ctx: Context, conflict: Conflict) -> Outcome:
    """Step 2: the query's policy (after model_routing) resolves the conflict."""
    policy, respected = effective(ctx, conflict.query.key, conflict.query.policy)
    out = POLICIES[policy](ctx, conflict)
    out.respected = respected
    out.policy = conflict.query.policy      # the verdict names the policy asked for
    return out
