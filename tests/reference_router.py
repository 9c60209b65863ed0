"""A brute-force reference for `routing.decide()`, written from DESIGN.md's table.

It enumerates every (model, backend) candidate and applies "Decision
semantics" literally: the hard constraints, the soft constraints, the
ranking and each policy, in plain loops. It uses the model *facts* the
router uses (`estimate`: memory need and default speeds; `catalog`: quality
and tiers; `names`: parsing and patterns) but none of the router's fit,
compliance, ranking or policy code, so a wrong rule in one is caught by the
other. What it predicts is the action and the (model, backend) chosen, or
which error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from smartollama import names
from smartollama.config import Backend, Config
from smartollama.fleet import GB, FleetSnapshot, Learned, ModelInfo, Request
from smartollama.routing import catalog, estimate
from smartollama.routing.fit import REMOTE_TOKENS_PER_S

TOKENS = 256


@dataclass
class Cand:
    model: str
    backend: str
    order: int
    whole: bool
    tps: float
    wait: float
    evict_s: float
    preferred: bool
    quality: float
    tier: int
    mode_broken: list[str] = field(default_factory=list)   # reading fields over the limit
    mode_predicted: list[str] = field(default_factory=list)  # of those, over it only under load
    violations: list[str] = field(default_factory=list)    # kinds: mode, wait, speed


@dataclass
class Expected:
    kind: str                        # "verdict" | "error"
    action: str | None = None        # run | substitute | override | refuse
    model: str | None = None
    backend: str | None = None
    error: str | None = None         # not_found | nowhere | auto_none | unreachable
    chosen: Cand | None = None


class Reference:
    def __init__(self, req: Request, snap: FleetSnapshot, cfg: Config) -> None:
        self.req, self.snap, self.cfg = req, snap, cfg
        self.urg = cfg.urgency[req.urgency]
        self.scorer = catalog.Scorer(cfg)
        self.up = [b for b in cfg.backends if snap.backends[b.id].reachable]
        self.key = "auto" if req.model.strip().lower() == "auto" else names.parse(req.model).full.lower()

    # -- model_routing -----------------------------------------------------------------

    def route(self, m: str):  # type: ignore[no-untyped-def]
        for p, r in self.cfg.model_routing.items():
            if names.canonical(p).lower() == m:
                return r
        for p, r in self.cfg.model_routing.items():
            if names.matches(m, p):
                return r
        return None

    def allowed(self, m: str, pin: str | None) -> list[Backend]:
        if pin is not None:
            return [b for b in self.cfg.backends if b.id == pin]
        r = self.route(m)
        ids = [b.id for b in self.cfg.backends]
        if r is not None and r.force_backend in ids:
            return [b for b in self.cfg.backends if b.id == r.force_backend]
        return list(self.cfg.backends)

    # -- facts ----------------------------------------------------------------------------

    def info(self, m: str):  # type: ignore[no-untyped-def]
        for b in self.up:
            if m in self.snap.backends[b.id].models:
                return self.snap.backends[b.id].models[m]
        return None

    def quality(self, m: str) -> tuple[float, int]:
        i = self.info(m)
        p = names.parse_parameter_size(i.parameter_size) if i else None
        q = i.quantization if i else None
        return self.scorer.score(m, self.req.task, p, q), self.scorer.tier(m, p, q)

    # -- the table, literally ------------------------------------------------------------

    def candidate(self, m: str, b: Backend, mode: str) -> Cand | None:
        st = self.snap.backends[b.id]
        if not st.reachable or m not in st.models:
            return None
        pats = [*b.supported_models, *b.model_patterns]
        if pats and not any(names.matches(m, p) for p in pats):
            return None
        info = st.models[m]
        if info.capabilities is not None and any(n not in info.capabilities
                                                 for n in self.needs(m)):
            return None
        if self.cloud(m):
            if m != self.key and self.cfg.routing.cloud == "never":
                return None
            return self.remote(m, b, info)
        total = st.reading.get("mem_total_gb")
        ctx = estimate.planned_context(self.req.num_ctx, b.context_length, self.cfg.num_ctx,
                                       total if total is not None else b.max_model_size_gb,
                                       b.hardware, info)
        merged: dict[tuple[str, int], tuple[int, int]] = {}
        for u in self.up:
            for k, v in self.snap.backends[u.id].observed.items():
                merged.setdefault(k, v)
        need = estimate.memory_need(m, ctx * estimate.kv_slots(b.num_parallel, info), info=info,
                                    observed=estimate.observed_size(m, ctx, st, merged))
        n = need.memory_gb
        cap = b.max_model_size_gb if b.max_model_size_gb is not None else st.reading.get(
            "mem_total_gb")
        free = st.reading.get("mem_free_gb")
        lm = st.loaded.get(m)
        loaded = lm is not None and lm.context_length in (None, ctx)
        if loaded:
            share = need.observed_gpu_share if need.observed_gpu_share is not None else 1.0
            device = 0.0
        else:
            avail = None if free is None else free + sum(
                x.size_vram_bytes for x in st.loaded.values()) / GB
            known = [x for x in (cap, avail) if x is not None]
            usable = min(known) if known else math.inf
            if n <= usable:
                share, device = 1.0, n
            elif b.offloads:
                most = (b.max_offload_gb if b.max_offload_gb is not None else
                        usable + st.system_free_gb if st.system_free_gb is not None else math.inf)
                if n > most or usable < 0.5 or usable / n < 0.05:
                    return None
                share, device = usable / n, usable
            else:
                return None
        # evictions: the smallest loaded models until the device part fits
        speed = (st.learned.load_gb_per_s if st.learned.load_gb_per_s and
                 st.learned.load_samples > 0 else estimate.default_load_gb_per_s(b.hardware))
        evicted: list[float] = []
        room = free
        if free is not None and not loaded and device > free:
            for name, x in sorted(st.loaded.items(), key=lambda kv: (kv[1].size_vram_bytes / GB,
                                                                      kv[0])):
                if room is not None and room >= device:
                    break
                if name != m:
                    room = (room or 0.0) + x.size_vram_bytes / GB
                    evicted.append(x.size_bytes / GB / speed)
        params = catalog.params_of(m, names.parse_parameter_size(info.parameter_size))
        learned = st.learned.tokens_per_s.get(m)
        tps = learned if learned else estimate.offload_tokens_per_s(
            estimate.default_tokens_per_s(b.hardware, params), share)
        load = 0.0 if loaded else n / speed
        ptps = st.learned.prompt_tokens_per_s.get(m)
        if self.req.prompt_tokens and ptps:     # this prompt at the speed learned for it
            ttft = self.req.prompt_tokens / ptps
        else:
            ttft = (max(st.learned.ttft_s, 0.0) if st.learned.ttft_s is not None and
                    st.learned.ttft_samples > 0 else estimate.default_ttft_s(params))
        per = ttft + TOKENS / max(tps, 0.1)
        ahead = (st.in_flight - b.num_parallel + 1 if st.in_flight >= b.num_parallel
                 else 1 if evicted and st.in_flight > 0 else 0)
        if ahead == 0:
            queue = 0.0
        elif len(st.busy_s) >= st.in_flight:    # the ends the requests ahead recorded
            queue = sorted(st.busy_s)[ahead - 1]
        else:
            queue = ahead * per
        r = self.route(m)
        q, tier = self.quality(m)
        c = Cand(m, b.id, [x.id for x in self.cfg.backends].index(b.id), share >= 0.999, tps,
                 load + queue + ttft, sum(evicted),
                 r is not None and r.prefer_backend == b.id, q, tier)
        deny = self.cfg.routing.unknown_telemetry == "deny"
        for fld, lim in self.cfg.modes[mode].limits().items():
            v = st.reading.get(fld)
            if (v is None and deny) or (v is not None and v > lim):
                c.mode_broken.append(fld)
            elif v is not None and self.heats_past(st.learned, fld, v, lim, st.in_flight,
                                                   st.reading.get("power_limit_w")):
                c.mode_broken.append(fld)
                c.mode_predicted.append(fld)
        ignore = r is not None and r.ignore_efficiency_mode and not r.respect_efficiency_mode
        if c.mode_broken and not ignore:
            c.violations.append("mode")
        if self.urg.max_wait_s is not None and c.wait > self.urg.max_wait_s:
            c.violations.append("wait")
        if self.urg.min_tokens_per_s is not None and c.tps < self.urg.min_tokens_per_s:
            c.violations.append("speed")
        return c

    @staticmethod
    def heats_past(learned: Learned, fld: str, now: float, lim: float, in_flight: int,
                   power_limit: float | None) -> bool:
        """DESIGN's learned soft limit: the reading now plus how far it rose over the
        runs there (once for this request and once for each in flight) passes the
        limit, once three runs or more taught that rise. Power rises once, and
        not past the host's power limit (nor below what it draws now)."""
        if learned.heat_samples.get(fld, 0) < 3 or fld not in learned.heat_rise:
            return False
        rise = learned.heat_rise[fld]
        if fld != "power_w":
            return now + rise * (1 + in_flight) > lim
        expected = now + rise
        if power_limit is not None:
            expected = min(expected, max(power_limit, now))
        return expected > lim

    def needs(self, m: str) -> tuple[str, ...]:
        """The request's capabilities; a stand-in also does what the named model does."""
        if m == self.key:
            return self.req.needs
        named = self.info(self.key) if self.key != "auto" else None
        embeds = named is not None and "embedding" in (named.capabilities or ())
        return (*self.req.needs, "embedding" if embeds else "completion")

    def cloud(self, m: str) -> bool:
        i = self.info(m)
        return i is not None and (i.remote_host is not None or m.endswith("-cloud"))

    def last(self, m: str) -> bool:
        """A cloud model that [routing] cloud = "fallback" tries after every local one."""
        return self.cfg.routing.cloud == "fallback" and self.cloud(m)

    def remote(self, m: str, b: Backend, info: ModelInfo) -> Cand:
        """A cloud model: no memory here, no violations here."""
        params = catalog.params_of(m, names.parse_parameter_size(info.parameter_size))
        r = self.route(m)
        q, tier = self.quality(m)
        return Cand(m, b.id, [x.id for x in self.cfg.backends].index(b.id), True,
                    REMOTE_TOKENS_PER_S, estimate.default_ttft_s(params), 0.0,
                    r is not None and r.prefer_backend == b.id, q, tier)

    @staticmethod
    def count(c: Cand) -> int:
        """How many violations: each mode limit broken is one."""
        return len(c.violations) + (len(c.mode_broken) - 1 if "mode" in c.violations else 0)

    def rank(self, c: Cand, mode: str) -> tuple[object, ...]:
        reading = self.snap.backends[c.backend].reading
        pref_field = {"quiet": "fan_pct", "efficiency": "power_w"}.get(mode)
        if pref_field is not None:
            v = reading.get(pref_field)
            pref = math.inf if v is None else v
        else:
            free = reading.get("mem_free_gb")
            pref = 0.0 if free is None else -free
        tokens = self.req.answer_tokens or TOKENS
        urg = self.urg
        warn = urg.warn_wait_s
        late = max(0.0, c.wait - warn) if warn is not None else 0.0
        cost = c.wait + tokens / max(c.tps, 0.1) + c.evict_s + late
        limit = warn if warn is not None else urg.max_wait_s
        fast = ((limit is None or c.wait <= limit)
                and (urg.min_tokens_per_s is None or c.tps >= urg.min_tokens_per_s))
        if pref_field is not None and fast:      # quiet, efficiency: fast enough is enough
            cost = c.evict_s
        return (not c.preferred, not c.whole, round(cost), pref, c.order, c.model)

    @staticmethod
    def modes_broken(c: Cand) -> int:
        return len(c.mode_broken) if "mode" in c.violations else 0

    def sub_order(self, c: Cand, mode: str) -> tuple[object, ...]:
        return (self.last(c.model), c.tier, -c.quality, round(c.wait), self.rank(c, mode))

    def cands(self, m: str, pin: str | None, mode: str) -> list[Cand]:
        out = [self.candidate(m, b, mode) for b in self.allowed(m, pin)]
        return [c for c in out if c is not None]

    def fine(self, m: str, threshold: bool = True) -> bool:
        q, tier = self.quality(m)
        mq = self.req.min_quality
        return not (mq is not None and q < mq) and not (
            threshold and tier > self.scorer.threshold_index)

    def equivalents(self, key: str) -> list[str]:
        tier = self.quality(key)[1]
        listed = key in self.scorer.tier_of_listed
        pool = (list(self.scorer.tier_of_listed) if listed else
                sorted({m for b in self.up for m in self.snap.backends[b.id].models}))
        return [m for m in pool if m != key and self.info(m) is not None
                and self.quality(m)[1] >= tier and self.fine(m)]

    # -- the decision ------------------------------------------------------------------------

    def expect(self) -> Expected:
        req = self.req
        return self.decide(self.key, req.mode, req.backend,
                           req.policy or self.cfg.routing.model_mode_conflict)

    def decide(self, key: str, mode: str, pin: str | None, policy: str) -> Expected:
        if key == "auto":
            return self.auto(mode, pin, policy)
        if self.info(key) is None:
            return Expected("error", error="not_found")
        cs = self.cands(key, pin, mode)
        r = self.route(key)
        if policy == "prefer_model" and r is not None and r.respect_efficiency_mode:
            policy = "substitute" if self.cfg.routing.allow_model_substitution else "prefer_mode"
        if cs:
            clean = [c for c in cs if not c.violations]
            if clean:
                best = min(clean, key=lambda c: self.rank(c, mode))
                return self.run(best, "override" if best.mode_broken else "run")
            if policy == "prefer_model":
                best = min(cs, key=lambda c: (self.count(c), self.modes_broken(c), self.rank(c, mode)))
                return self.run(best, "override" if best.mode_broken else "run")
            if policy == "substitute" and self.cfg.routing.allow_model_substitution:
                subs = [c for m in self.equivalents(key) for c in self.cands(m, pin, mode)
                        if not c.violations]
                if subs:
                    return self.run(min(subs, key=lambda c: self.sub_order(c, mode)),
                                    "substitute")
            return Expected("verdict", "refuse")
        if not self.cfg.routing.allow_model_substitution:
            return Expected("error", error="nowhere")
        subs = [c for m in self.equivalents(key) for c in self.cands(m, pin, mode)]
        if not subs:
            return Expected("error", error="nowhere")
        clean = [c for c in subs if not c.violations]
        if clean:
            return self.run(min(clean, key=lambda c: self.sub_order(c, mode)), "substitute")
        if policy == "prefer_model":
            best = min(subs, key=lambda c: (self.count(c), self.modes_broken(c), self.sub_order(c, mode)))
            return self.run(best, "substitute")
        return Expected("verdict", "refuse")

    def auto(self, mode: str, pin: str | None, policy: str) -> Expected:
        hosts = [b for b in self.up if pin is None or b.id == pin]
        models = sorted({m for b in hosts for m in self.snap.backends[b.id].models})
        models = [m for m in models if self.fine(m)]
        if not models:
            return Expected("error", error="auto_none")
        cs = [c for m in models for c in self.cands(m, pin, mode)]
        if not cs:
            return Expected("error", error="auto_none")
        clean = [c for c in cs if not c.violations]
        if clean:
            best = min(clean, key=lambda c: (self.last(c.model), -c.quality, self.rank(c, mode)))
            return self.run(best, "override" if best.mode_broken else "run")
        if policy == "prefer_model":
            best = min(cs, key=lambda c: (self.count(c), self.modes_broken(c), -c.quality, self.rank(c, mode)))
            return self.run(best, "override" if best.mode_broken else "run")
        return Expected("verdict", "refuse")

    def run(self, c: Cand, action: str) -> Expected:
        return Expected("verdict", action, c.model, c.backend, chosen=c)
