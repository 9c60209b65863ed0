"""The replay's metrics, each defined once here (and in docs/replay.md, in the same words).

Over the trace's requests (preloads are not requests; their loads and energy count):

- ``ttft_p50_interactive_s`` / ``ttft_p95_interactive_s``: time to first token
  (arrival to first token: queueing, loading, prompt evaluation) of the
  answered interactive and critical requests, nearest-rank percentiles;
  ``..._critical_s`` the same for critical requests alone. None: no such request.
- ``loads_per_hour``: model loads (preloads included) / the trace's hours.
- ``vram_efficiency``: of the device memory that held models, time-weighted,
  the share holding a model that a request started on, on that host, within
  the next hour.
- ``quality_met``: the share of requests answered by a model whose quality
  for the task is at least the request's ``min_quality``; without one, whose
  tier is not below the lower of ``substitution_quality_threshold`` and the
  requested model's own tier (asking for a small model is no shortfall).
- ``fallback_rate``: the share of requests that needed a second host.
- ``oom``: attempts that ended out of memory (the model did not fit the host
  at all, or waited 120 s for memory in vain).
- ``refused``: requests the policy refused.
- ``energy_wh``: the energy the whole fleet drew, idle included, until the
  later of the trace's last hour and the last answer.
- ``mode_compliance``: of the answered requests, the share whose host stayed
  within every limit of the mode in force at their arrival, from their start
  to their last token (a missing reading counts per ``unknown_telemetry``).
- ``requests``: the trace's requests.

The five production targets (docs/replay.md) are `TARGETS`.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from smartollama.config import Config
from smartollama.replay.loop import Job, RunResult

#: metric → (comparison, limit): the production targets of the design notes
TARGETS: dict[str, tuple[str, float]] = {
    "ttft_p95_interactive_s": ("<", 5.0),
    "loads_per_hour": ("<", 10.0),
    "vram_efficiency": (">", 0.80),
    "quality_met": (">", 0.95),
    "fallback_rate": ("<", 0.05),
}
#: metric → True when more is better (for "best per row")
HIGHER_IS_BETTER: dict[str, bool] = {
    "ttft_p50_interactive_s": False, "ttft_p95_interactive_s": False,
    "ttft_p50_critical_s": False, "ttft_p95_critical_s": False,
    "loads_per_hour": False, "vram_efficiency": True, "quality_met": True,
    "fallback_rate": False, "oom": False, "refused": False, "energy_wh": False,
    "mode_compliance": True,
}
USE_WINDOW_S = 3600.0
#: the urgencies whose time to first token the p50/p95 "interactive" metrics count
TIMED = ("interactive", "critical")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least ``p`` of them at or below it."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(p * len(s)) - 1)]


def compute(result: RunResult, config: Config) -> dict[str, Any]:
    from smartollama.routing.catalog import Scorer

    scorer = Scorer(config)
    jobs = result.jobs
    n = len(jobs)
    answered = [j for j in jobs if j.status == "ok"]
    inter = [j.ttft_s for j in answered if j.req.urgency in TIMED]
    crit = [j.ttft_s for j in answered if j.req.urgency == "critical"]
    met = sum(1 for j in answered if _quality_met(j, scorer))
    compliant = sum(1 for j in answered if complies(j, config))
    oom = sum(j.oom for j in jobs) + sum(j.oom for j in result.preloads)
    return {
        "ttft_p95_interactive_s": _r(percentile(inter, 0.95)),  # type: ignore[arg-type]
        "ttft_p50_interactive_s": _r(percentile(inter, 0.50)),  # type: ignore[arg-type]
        "ttft_p95_critical_s": _r(percentile(crit, 0.95)),  # type: ignore[arg-type]
        "ttft_p50_critical_s": _r(percentile(crit, 0.50)),  # type: ignore[arg-type]
        "loads_per_hour": round(len(result.loads) / result.hours, 2),
        "vram_efficiency": _r(vram_efficiency(result), 3),
        "quality_met": round(met / n, 3) if n else None,
        "fallback_rate": round(sum(1 for j in jobs if j.hosts_tried > 1) / n, 3) if n else None,
        "oom": oom,
        "refused": sum(1 for j in jobs if j.status == "refused"),
        "energy_wh": round(result.energy_j / 3600.0, 1),
        "mode_compliance": round(compliant / len(answered), 3) if answered else None,
        "requests": n,
    }


def _r(v: float | None, digits: int = 2) -> float | None:
    return None if v is None else round(v, digits)


def vram_efficiency(result: RunResult) -> float | None:
    """∫ device bytes holding a model used on its host within the next hour dt
    / ∫ device bytes holding models dt."""
    uses: dict[tuple[str, str], list[float]] = {}
    for res in result.residencies:
        uses.setdefault((res.host, res.model), []).extend(res.uses)
    for times in uses.values():
        times.sort()
    held = useful = 0.0
    for res in result.residencies:
        if res.vram <= 0 or res.end is None or res.end <= res.start:
            continue
        held += res.vram * (res.end - res.start)
        # the stretch [u - 1 h, u] before each use, within the stay, merged
        covered = 0.0
        lo = hi = None
        times = uses[(res.host, res.model)]
        for u in times[bisect.bisect_left(times, res.start):]:
            if u - USE_WINDOW_S >= res.end:
                break
            a, b = max(res.start, u - USE_WINDOW_S), min(res.end, u)
            if b <= a:
                continue
            if hi is None or a > hi:
                if hi is not None and lo is not None:
                    covered += hi - lo
                lo, hi = a, b
            else:
                hi = max(hi, b)
        if hi is not None and lo is not None:
            covered += hi - lo
        useful += res.vram * covered
    return useful / held if held > 0 else None


def _quality_met(job: Job, scorer: Any) -> bool:
    from smartollama import names

    key = names.canonical(job.model or "").lower()
    if job.req.min_quality is not None:
        return bool(scorer.score(key, job.req.task) >= job.req.min_quality - 1e-9)
    bar = scorer.threshold_index
    if job.req.model != "auto":
        bar = max(bar, scorer.tier(names.canonical(job.req.model).lower()))
    return bool(scorer.tier(key) <= bar)


def complies(job: Job, config: Config) -> bool:
    """Whether its host stayed within the mode in force while serving it."""
    return not over_limits(job, config)


def over_limits(job: Job, config: Config) -> list[str]:
    """The mode's limits its host broke while serving it: the reading's field (a
    reading missing where unknown telemetry is not allowed counts as broken)."""
    limits = config.modes.get(job.mode)
    if limits is None:
        return []
    allow_unknown = config.routing.unknown_telemetry == "allow"
    broken = []
    for field, limit in limits.limits().items():
        seen = job.peak.get(field)
        if (seen is None and not allow_unknown) or (seen is not None and seen > limit + 1e-9):
            broken.append(field)
    return broken


def meets(metric: str, value: Any) -> bool | None:
    """Whether a value meets its production target (None: no target, or no value)."""
    if metric not in TARGETS or value is None:
        return None
    op, limit = TARGETS[metric]
    return bool(value < limit) if op == "<" else bool(value > limit)
