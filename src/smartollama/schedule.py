"""The keep-alive a run asks for (`sollama run`, the proxy and the replay ask the same
functions; docs/decisions.md, "Keep-alive"):

- the `[[preload]]` schedule's: a model the schedule loaded stays for the rest of
  its window (`sollama preload` loads the models, `config.rules_for_hour` says which);
- its use's: a model run here every few minutes stays loaded until its next
  run is due, rather than for Ollama's 5 minutes (`[routing] keep_alive_from_use`).

And where `sollama preload` (and the replay's) loads a scheduled model.
"""

from __future__ import annotations

import math

from smartollama.config import PreloadRule, parse_hours, rules_for_hour

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.fleet import FleetSnapshot
    from smartollama.verdict import Verdict

#: Ollama's own keep-alive (`OLLAMA_KEEP_ALIVE`'s default): only a longer one is asked
SERVER_KEEP_ALIVE_S = 300.0
#: gaps between a model's runs needed before its use sets a keep-alive
USE_MIN_GAPS = 3
#: a model run less often than this (its usual gap) is not held in memory for it
USE_MAX_GAP_S = 1800.0
#: the keep-alive is the usual gap and a quarter more, in whole minutes
USE_MARGIN = 1.25


def scheduled_keep_alive_s(rules: list[PreloadRule], model: str, hour: int,
                           into_hour_s: float = 0.0) -> float | None:
    """How long a run of ``model`` should keep it loaded so that the `[[preload]]`
    schedule's stay is not cut short: the seconds left of the longest window
    that names the model at ``hour`` (``into_hour_s`` seconds past it); None
    when no window does. Without it, a prompt's request (Ollama's default
    keep-alive, 5 minutes) would replace the preload's keep-alive, and the
    model the schedule loaded would be gone 5 minutes after its first use."""
    from smartollama import names

    left = [((parse_hours(r.hours)[1] - hour - 1) % 24 + 1) * 3600.0 - into_hour_s
            for r in rules_for_hour(rules, hour)
            if any(names.same(model, m) for m in r.models)]
    return max(left) if left else None


def use_keep_alive_s(uses: list[float], now: float) -> float | None:
    """How long a run of a model at ``now`` should keep it loaded, going by its
    last runs on that host (``uses``, epoch s): the gap that three in four of
    the gaps between them (this run's included) stay within, a quarter more,
    in whole minutes. None with fewer than `USE_MIN_GAPS` gaps, when that is
    within Ollama's 5 minutes anyway, or when the usual gap is over half an
    hour (a model used that rarely is not worth the memory)."""
    times = sorted(t for t in uses if t <= now)
    times.append(now)
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    if len(gaps) < USE_MIN_GAPS:
        return None
    usual = gaps[math.ceil(0.75 * len(gaps)) - 1]
    if usual > USE_MAX_GAP_S:
        return None
    keep = math.ceil(usual * USE_MARGIN / 60.0) * 60.0
    return keep if keep > SERVER_KEEP_ALIVE_S else None


def keep_alive_s(config: Config, model: str, hour: int, into_hour_s: float, *,
                 uses: list[float] | None = None, now: float = 0.0,
                 expires_at: str | float | None = None,
                 elsewhere: bool = False) -> float | None:
    """The keep-alive a run of ``model`` sends (seconds), when it names none: the
    longer of the schedule's (`scheduled_keep_alive_s` at ``hour``) and its use's
    (`use_keep_alive_s` over ``uses`` at ``now``, with `[routing]
    keep_alive_from_use`). The use's is not sent where the model is loaded
    already until later (``expires_at``: `/api/ps`'s, RFC 3339 or epoch s; a
    server whose own keep-alive is longer is not cut short). The schedule's is
    not sent for a second copy (``elsewhere``: the model is loaded on another
    backend too): the schedule asks for the model loaded once, and a copy held
    for it on every card the model ran on would hold memory nothing uses; for
    a second copy ``uses`` are its own backend's (`use_of`). None: the server's."""
    scheduled = scheduled_keep_alive_s(config.preload, model, hour, into_hour_s) \
        if config.preload and not elsewhere else None
    used = use_keep_alive_s(uses, now) if uses and config.routing.keep_alive_from_use else None
    if used is not None and expires_at is not None:
        until = loaded_until(expires_at) if isinstance(expires_at, str) else expires_at
        if until is not None and until >= now + used:
            used = None
    keeps = [k for k in (scheduled, used) if k is not None]
    return max(keeps) if keeps else None


def use_of(snap: FleetSnapshot | None, backend: str | None,
           model: str) -> tuple[list[float], str | None, bool]:
    """What `keep_alive_s` needs from a snapshot: the times of ``model``'s last runs
    (on every backend: the run now keeps it where it runs; only on ``backend``
    when another reachable backend has it loaded too, as its uses there are
    what a second copy is for), its `/api/ps` row's `expires_at` on ``backend``,
    and whether another backend has it loaded."""
    if snap is None:
        return [], None, False
    key = model.lower()
    elsewhere = any(b != backend and other.reachable and key in other.loaded
                    for b, other in snap.backends.items())
    st = snap.backends.get(backend or "")
    here = [st] if st is not None else []
    uses = sorted(t for s in (here if elsewhere else snap.backends.values())
                  for t in s.learned.uses.get(model, ()))
    row = st.loaded.get(key) if st is not None else None
    return uses, row.expires_at if row is not None else None, elsewhere


def keep_alive_now(config: Config, model: str, now: float, snap: FleetSnapshot | None,
                   backend: str | None) -> str | None:
    """`keep_alive_s` at the local time of ``now`` (epoch s) for a run of ``model`` on
    ``backend`` decided from ``snap``, as the Go duration a request's `keep_alive`
    takes (``"9600s"``); None: none."""
    import time

    t = time.localtime(now)
    uses, expires_at, elsewhere = use_of(snap, backend, model)
    keep = keep_alive_s(config, model, t.tm_hour, t.tm_min * 60 + t.tm_sec, uses=uses, now=now,
                        expires_at=expires_at, elsewhere=elsewhere)
    return None if keep is None else f"{max(1, int(keep))}s"


def loaded_until(expires_at: str | None) -> float | None:
    """Epoch seconds of an `/api/ps` row's `expires_at` (RFC 3339); None: unknown."""
    if not expires_at:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def preload_decision(model: str, mode: str, snap: FleetSnapshot, config: Config) -> Verdict:
    """Where `sollama preload` loads ``model``: decided as a batch request under
    prefer_mode, first on a reachable backend that has it loaded already (its stay
    is renewed there, not a second copy loaded on another card), else anywhere.
    Raises `SollamaError` as `decide` does."""
    from smartollama import names
    from smartollama.fleet import Request
    from smartollama.record import replace  # not dataclasses': a warm run imports this module
    from smartollama.routing import decide

    key = names.canonical(model).lower()
    request = Request(model=model, mode=mode, urgency="batch", policy="prefer_mode")
    there = next((b for b, st in snap.backends.items() if st.reachable and key in st.loaded), None)
    if there is not None:
        v = decide(replace(request, backend=there), snap, config)
        if v.action != "refuse":
            return v
    return decide(request, snap, config)
