"""The soft constraints a candidate breaks: each a `Violation` with its numbers.

DESIGN.md, "Soft constraints":

* `mode`: each of the mode's limits holds for the backend's reading; a
  missing reading counts per `[routing] unknown_telemetry` (`deny`: a
  violation with no value). A reading within its limit now breaks it all
  the same when the reading plus how far it rose over past runs there
  (learned from at least `HEAT_MIN_SAMPLES` of them) is over the limit: a
  `predicted` violation, as serving the request would take it there.
  `model_routing` `ignore_efficiency_mode` drops these for its model (the
  caller notes it);
* `wait`: the expected wait (load + queue + first token) within the
  urgency's `max_wait_s`;
* `speed`: the expected tokens/s at least the urgency's `min_tokens_per_s`;
* `quality`, for a stand-in only (a substitute, or a model `auto` chose):
  at least `--min-quality`, and its tier not below
  `substitution_quality_threshold`. No policy waives it: a model that breaks
  it is not offered as a stand-in at all (`standins`), so the policies only
  ever weigh the other three.
"""

from __future__ import annotations

from smartollama.routing.records import Candidate, Violation

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.fleet import BackendState
    from smartollama.routing.context import Context


#: runs a backend's rise under load must be learned from before it counts
HEAT_MIN_SAMPLES = 3


def mode_violations(ctx: Context, backend: str, mode: str) -> list[Violation]:
    """The mode's limits the backend's reading breaks (or cannot show, under `deny`),
    now or, learned, under load."""
    st = ctx.states[backend]
    reading = st.reading
    deny = ctx.cfg.routing.unknown_telemetry == "deny"
    out = []
    for fld, lim in ctx.limits(mode).items():
        val = reading.get(fld)
        if val is None:
            if deny:
                out.append(Violation("mode", lim, None, field=fld, na=reading.reason(fld)))
        elif val > lim:
            out.append(Violation("mode", lim, val, field=fld))
        else:
            hot = under_load(st, fld)
            if hot is not None and hot[0] > lim:     # a percentage shown at most 100
                shown = min(hot[0], 100.0) if fld.endswith("_pct") else hot[0]
                out.append(Violation("mode", lim, shown, field=fld, predicted=True,
                                     runs=hot[1]))
    return out


def under_load(st: BackendState, fld: str) -> tuple[float, int] | None:
    """What the reading is expected to reach while the host serves this request:
    the reading now plus how far it rose over past runs there (learned), once
    for this request and once for each request in flight there (serving them
    one after another keeps it under load that much longer, and one begun a
    moment ago has not shown in the reading yet), and from how many runs it was
    learned; None until `HEAT_MIN_SAMPLES` runs taught it, or when it has been
    seen to rise by nothing. Power is a rate, not a store of heat: it rises once
    however many requests wait, and never past the host's power limit (a host
    busy now reads its load's draw already)."""
    n = st.learned.heat_samples.get(fld, 0)
    rise = st.learned.heat_rise.get(fld)
    now = st.reading.get(fld)
    if rise is None or now is None or n < HEAT_MIN_SAMPLES or rise <= 0:
        return None
    if fld != "power_w":
        return now + rise * (1 + st.in_flight), n
    cap = st.reading.get("power_limit_w")
    return (now + rise if cap is None else min(now + rise, max(cap, now))), n


def violations(ctx: Context, c: Candidate, mode: str) -> list[Violation]:
    """The mode, wait and speed violations of a candidate (quality: see `quality_violations`).

    A cloud model has none: its compute is not this machine's."""
    if c.remote:
        return []
    out = [] if ctx.rules.ignores_mode(c.key) else list(ctx.mode_violations(c.backend, mode))
    urg = ctx.urgency
    if urg.max_wait_s is not None and c.wait_s > urg.max_wait_s:
        out.append(Violation("wait", urg.max_wait_s, c.wait_s))
    if urg.min_tokens_per_s is not None and c.tps < urg.min_tokens_per_s:
        out.append(Violation("speed", urg.min_tokens_per_s, c.tps))
    return out


def quality_violations(ctx: Context, key: str) -> list[Violation]:
    """A stand-in's quality against --min-quality and the substitution threshold."""
    out = []
    mq = ctx.req.min_quality
    q = ctx.quality(key)
    if mq is not None and q < mq:
        out.append(Violation("quality", mq, q, what="min_quality"))
    threshold = ctx.scorer.threshold_index
    if ctx.tier(key) > threshold:
        out.append(Violation("quality", threshold, ctx.tier(key), what="threshold"))
    return out
