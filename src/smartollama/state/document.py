"""The state document (``state.json``): its fields, schema and migrations.

``schema`` is 2. Keys a newer sollama wrote are kept as they are; a file from
before the version key (schema 0, the prototype's layout: ``current_mode``,
``history`` oldest first, ``learned`` without sample counts, ``cache``
entries as ``{"time", "value"}``) is converted. Schema 1 kept the history in
``state.json`` (newest first); the first locked update moves it to
``history.jsonl``, after any entries already there.
"""

from __future__ import annotations

from smartollama.record import field, record
from smartollama.state.caches import CachesMixin, slot
from smartollama.state.history import HistoryMixin
from smartollama.state.learned import LearnedMixin, pos

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

SCHEMA = 2
#: "in_flight" was a field before requests in flight became files (`state.inflight`): dropped
_KNOWN = ("schema", "mode", "history", "learned", "caches", "observed", "in_flight", "memos",
          "history_lines")
#: fields keyed by backend id, pruned when the backend leaves the config
_PER_BACKEND = ("learned", "observed", "memos")


@record(kw_only=False)
class State(CachesMixin, LearnedMixin, HistoryMixin):
    """The state cache's contents: plain JSON values, mutated in place inside
    :meth:`StateStore.update`."""

    schema: int = SCHEMA
    mode: str | None = None
    #: backend → {"load": ema, "ttft": ema, "tps": {model: ema}}; ema = {"v", "n", "t"}
    learned: dict[str, Any] = field(default_factory=dict)
    #: key → {"t": epoch seconds, "v": value}
    caches: dict[str, Any] = field(default_factory=dict)
    #: backend → {"model|num_ctx": {"size", "size_vram", "t"}}
    observed: dict[str, Any] = field(default_factory=dict)
    #: backend → telemetry memos (free-form)
    memos: dict[str, Any] = field(default_factory=dict)
    #: lines in the history file (None: not counted yet)
    history_lines: int | None = None
    #: keys this version does not know (from a newer sollama), kept as they were
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], problems: list[str] | None = None) -> State:
        """Build a State from a parsed file, converting older schemas.

        Fields of the wrong type are replaced by empty ones and described in
        ``problems``; unknown keys are kept in ``extra``.
        """
        problems = problems if problems is not None else []
        version = data.get("schema")
        if version is None:
            data = _migrate_v0(data)
            version = SCHEMA
        elif not isinstance(version, int) or isinstance(version, bool):
            problems.append(f"ignored schema {version!r} (expected a number)")
            version = SCHEMA
        st = cls(schema=max(version, SCHEMA))
        mode = data.get("mode")
        if mode is None or isinstance(mode, str):
            st.mode = mode
        else:
            problems.append(f"ignored 'mode' {mode!r} (expected a name)")
        hist = data.get("history", [])
        if isinstance(hist, list):     # schema 0 and 1: moved to the history file on write
            legacy = [h for h in hist if isinstance(h, dict)]
            if legacy:
                st.__dict__["_legacy"] = legacy
        else:
            problems.append("ignored 'history' (expected a list)")
        for key in ("learned", "caches", "observed", "memos"):
            value = data.get(key, {})
            if isinstance(value, dict):
                setattr(st, key, value)
            else:
                problems.append(f"ignored {key!r} (expected an object)")
        lines = data.get("history_lines")
        if isinstance(lines, int) and not isinstance(lines, bool) and lines >= 0:
            st.history_lines = lines
        st.extra = {k: v for k, v in data.items() if k not in _KNOWN}
        return st

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            schema=self.schema, mode=self.mode, learned=self.learned,
            caches=self.caches, observed=self.observed, memos=self.memos,
        )
        if self.history_lines is not None:
            out["history_lines"] = self.history_lines
        return out

    def memo(self, backend: str) -> dict[str, Any]:
        """The backend's telemetry memo dict, created when absent (mutable)."""
        return slot(self.memos, backend)

    def prune(self, backends: set[str], hosts: set[str], now: float) -> None:
        """Forget what belongs to backends and hosts no longer configured, and
        learned figures unseen for 30 days."""
        for name in _PER_BACKEND:
            d = getattr(self, name)
            for k in [k for k in d if k not in backends]:
                del d[k]
        self.prune_caches(hosts)
        self.prune_learned(now)


def _migrate_v0(data: dict[str, Any]) -> dict[str, Any]:
    """The prototype's layout (no ``schema`` key) → schema 1."""
    out = {k: v for k, v in data.items()
           if k not in ("current_mode", "history", "learned", "cache", "mode")}
    mode = data.get("mode", data.get("current_mode"))
    out["mode"] = mode if isinstance(mode, str) else None
    hist = data.get("history")
    out["history"] = list(reversed(hist)) if isinstance(hist, list) else []
    learned: dict[str, Any] = {}
    old = data.get("learned")
    for backend, figs in (old.items() if isinstance(old, dict) else ()):
        if not isinstance(figs, dict):
            continue
        new: dict[str, Any] = {}
        for old_key, new_key in (("load_gb_per_s", "load"), ("ttft_s", "ttft")):
            v: Any = figs.get(old_key)
            if pos(v):
                new[new_key] = {"v": float(v), "n": 1, "t": 0.0}
        tps = figs.get("tokens_per_s")
        if isinstance(tps, dict):
            new["tps"] = {m: {"v": float(v), "n": 1, "t": 0.0} for m, v in tps.items() if pos(v)}
        learned[str(backend)] = new
    out["learned"] = learned
    caches: dict[str, Any] = {}
    cache = data.get("cache")
    for key, e in (cache.items() if isinstance(cache, dict) else ()):
        if isinstance(e, dict) and isinstance(e.get("time"), int | float) and "value" in e:
            caches[str(key)] = {"t": e["time"], "v": e["value"]}
    out["caches"] = caches
    return out
