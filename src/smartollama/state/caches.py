"""Short-lived caches of what hosts and probes reported, and the small helpers
every part of the state document uses.

Entries are ``{"t": epoch seconds, "v": value}`` under a key that names the
host by its URL (``tags:http://127.0.0.1:11434``), never by a backend's id, so
a changed ``OLLAMA_HOST`` or ``host`` is asked afresh on the next call.
"""

from __future__ import annotations

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

#: TTL cache entries older than this are pruned on write
CACHE_MAX_AGE_S = 86_400.0
#: keys that carry credentials; never written to the state file
SECRET_KEYS = frozenset({"headers", "authorization", "proxy-authorization", "cookie"})


def key(kind: str, host: str, *more: str) -> str:
    """A cache key: ``kind:host[:more...]`` (``show:http://h:1:llama3:8b``)."""
    return ":".join((kind, host, *more))


class CachesMixin:
    """`State`'s TTL caches (the ``caches`` field)."""

    caches: dict[str, Any]

    def cache_get(self, key: str, ttl_s: float, now: float, *,
                  until: float | None = None) -> Any | None:
        """The cached value when it is at most ``ttl_s`` old at ``now``, else None.
        ``until``: entries stamped after ``now`` but by then count too (another
        call refreshed them while this one waited for the lock)."""
        entry = self.caches.get(key)
        if not isinstance(entry, dict) or "v" not in entry:
            return None
        t = entry.get("t")
        latest = now if until is None else max(now, until)
        if not isinstance(t, int | float) or not now - ttl_s <= t <= latest:
            return None
        return entry["v"]

    def cache_put(self, key: str, value: Any, now: float) -> None:
        self.caches[key] = {"t": now, "v": scrub(value)}
        for k in [k for k, e in self.caches.items() if stale(e, now, CACHE_MAX_AGE_S)]:
            del self.caches[k]

    def cache_drop(self, key: str) -> None:
        self.caches.pop(key, None)

    def prune_caches(self, hosts: set[str]) -> None:
        """Drop host caches (``kind:URL...``) of hosts no longer configured."""
        for k in list(self.caches):
            kind, sep, rest = k.partition(":")
            if sep and "://" in rest and not any(rest == h or rest.startswith(h + ":")
                                                 for h in hosts):
                del self.caches[k]


def scrub(value: Any) -> Any:
    """A copy of ``value`` without credential-bearing keys."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()
                if not (isinstance(k, str) and k.lower() in SECRET_KEYS)}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def slot(d: dict[str, Any], key: str) -> dict[str, Any]:
    """``d[key]`` as a dict, made (or remade) when it is not one."""
    v = d.get(key)
    if not isinstance(v, dict):
        v = d[key] = {}
    return v


def time_of(e: Any) -> float:
    t = e.get("t") if isinstance(e, dict) else None
    return float(t) if isinstance(t, int | float) else 0.0


def stale(e: Any, now: float, max_age: float) -> bool:
    t = e.get("t") if isinstance(e, dict) else None
    return not isinstance(t, int | float) or abs(now - t) > max_age
