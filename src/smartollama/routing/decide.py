"""`decide()`: the whole routing decision, as a pure function.

No network, no files, no clock reads, no randomness: the time is
`snapshot.time` and the verdict id comes from the request's nonce (or a hash
of the request). The same request, snapshot and config always give the same
verdict.

The flow: `Context` checks the inputs; `table.resolve` applies the decision
table (`fit` → `compliance` → `rank` → `policies`, shaped by `rules`);
`suggest` adds the suggestions, each decided again; `build` makes the
Verdict, with every sentence from `reasons`.

Errors are `SollamaError`s: `UnreachableError` (exit 4) when no backend
answers, `ModelNotFoundError` for a model no host holds (with the closest
names), `RefusedError` (exit 3) for a refusal nothing could lift, plain
`SollamaError` (exit 1) for bad input and a model that fits nowhere.
"""

from __future__ import annotations

from smartollama.config import Config
from smartollama.fleet import FleetSnapshot, Request
from smartollama.routing import build, failures, suggest, table
from smartollama.routing.context import Context, model_key
from smartollama.routing.records import Query
from smartollama.verdict import Verdict


def decide(request: Request, snapshot: FleetSnapshot, config: Config, *,
           explain: bool = True) -> Verdict:
    """Decide where (and with which model) a request runs. Pure; see the module doc.
    ``explain=False``, for a front door that shows no verdict (the replay): the
    same decision, without its prose (reason, warnings, the fallback chain) and,
    unless it is a refusal (which needs them to be one), its suggestions."""
    ctx = Context(request, snapshot, config)
    query = Query(model_key(request.model), request.mode, request.backend,
                  request.policy or config.routing.model_mode_conflict)
    out = table.resolve(ctx, query)
    suggested = suggest.for_outcome(ctx, out) if explain or out.action == "refuse" else []
    if out.action == "refuse" and not suggested:
        raise failures.refused_error(ctx, out)
    return build.verdict(ctx, out, suggested, explain=explain)
