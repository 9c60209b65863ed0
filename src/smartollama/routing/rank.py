"""Named orders over candidates: best first.

`RankKey` is DESIGN.md's ranking (step 1): `prefer_backend` first; a model
whole on the device before one partly offloaded; then the least expected
cost, in whole seconds (costs within about a second count as equal): the
wait, plus the answer's generation at the expected speed, plus the reload
time of every loaded model the candidate would evict (seating an 8B on the
card where a 42 GB model sits, when another card has room, costs that
model's next user its reload); then the mode's own preference (quiet: the
lowest fan; efficiency: the least power; otherwise the most free device
memory); then the config's backend order and the name, so that the order
is total.

Stand-ins are ordered by `substitute_key` (same tier first, then lower; by
quality, then wait) and `auto` by `auto_key` (the best quality first); a
conflict's candidates by `conflict_key` (the fewest violations first).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from smartollama import vocab
from smartollama.routing.fit import TOKENS_PER_ANSWER
from smartollama.routing.records import Candidate

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.routing.context import Context

    #: (not preferred, offloaded, cost in whole seconds, the mode's preference, the
    #: config's order, the model): a plain tuple, as a NamedTuple needs typing
    RankKey = tuple[bool, bool, int, float, int, str]


def cost_s(ctx: Context, c: Candidate) -> float:
    """Time to the whole answer, plus the reloads the candidate causes, plus the
    wait beyond the urgency's `warn_wait_s` once more (a first token later than
    the urgency asks is worth avoiding twice over, for the answer's end alone
    can hide it: a fast card behind a queue against a slow one free now)."""
    tokens = ctx.req.answer_tokens or TOKENS_PER_ANSWER
    warn = ctx.urgency.warn_wait_s
    late = max(0.0, c.wait_s - warn) if warn is not None else 0.0
    return c.wait_s + tokens / max(c.tps, 0.1) + c.evict_s + late


def fast_enough(ctx: Context, c: Candidate) -> bool:
    """Whether the first token comes within the urgency's `warn_wait_s` (without
    one, its `max_wait_s`; without either, any wait does), at its
    `min_tokens_per_s` or faster: the request is served as its urgency asks."""
    urg = ctx.urgency
    limit = urg.warn_wait_s if urg.warn_wait_s is not None else urg.max_wait_s
    return ((limit is None or c.wait_s <= limit)
            and (urg.min_tokens_per_s is None or c.tps >= urg.min_tokens_per_s))


def rank_cost(ctx: Context, c: Candidate, mode: str) -> int:
    """The cost `rank_key` compares, in whole seconds. In a mode that prefers a
    reading over speed (quiet, efficiency), a candidate `fast_enough` for the
    urgency costs only the reloads it causes: its speed no longer counts
    against a quieter (thriftier) host's, and the mode's preference decides."""
    if mode in vocab.MODE_PREFERENCE and fast_enough(ctx, c):
        return round(c.evict_s)
    return round(cost_s(ctx, c))


def mode_preference(ctx: Context, backend: str, mode: str) -> float:
    """Lower is better: the mode's preferred reading, else minus the free device memory."""
    reading = ctx.states[backend].reading
    fld = vocab.MODE_PREFERENCE.get(mode)
    if fld is not None:
        v = reading.get(fld)
        return math.inf if v is None else v
    free = reading.get("mem_free_gb")
    return 0.0 if free is None else -free


def rank_key(ctx: Context, c: Candidate, mode: str) -> RankKey:
    return (not c.preferred, not c.whole, rank_cost(ctx, c, mode),
            mode_preference(ctx, c.backend, mode), c.order, c.key)


def ranked(ctx: Context, cands: Iterable[Candidate], mode: str) -> list[Candidate]:
    return sorted(cands, key=lambda c: rank_key(ctx, c, mode))


def substitute_key(ctx: Context, c: Candidate, mode: str) -> tuple[int, float, int, RankKey]:
    return c.tier, -c.quality, round(c.wait_s), rank_key(ctx, c, mode)


def auto_key(ctx: Context, c: Candidate, mode: str) -> tuple[float, RankKey]:
    return -c.quality, rank_key(ctx, c, mode)


#: the orders candidates compete in: the requested model's, stand-ins', auto's
ORDERS = {"rank": rank_key, "substitute": substitute_key, "auto": auto_key}


def conflict_key(ctx: Context, c: Candidate, mode: str, order: str) -> tuple[int, int, object]:
    """Fewest violations first; of as many, the fewest of the mode (a wait longer
    than the urgency's is the smaller breach: the mode is what the user set);
    then the order the candidates compete in."""
    broken = ctx.violations(c, mode)
    return len(broken), sum(v.kind == "mode" for v in broken), ORDERS[order](ctx, c, mode)
