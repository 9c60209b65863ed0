"""Routing: the pure decision, `decide(request, snapshot, config) -> Verdict`.

One concern a module: `decide` (orchestration), `context` (inputs, caches),
`fit` (hard constraints), `compliance` (soft constraints), `rules`
(model_routing and pins), `rank` (named orders), `policies` (one function a
policy), `standins` (substitutes and auto's pool), `table` (the decision
table), `suggest` (suggestions, each decided again), `reasons` (every
sentence), `failures` (the one-line errors), `build` (the Verdict),
`estimate` and `catalog` (model facts).
"""

from smartollama.routing.build import verdict_id
from smartollama.routing.decide import decide

__all__ = ["decide", "verdict_id"]
