"""`model_routing` and `--backend`: where a model may go and how the mode applies to it.

DESIGN.md, "The decision", step 5: `force_backend` limits a model's
candidates to that backend; `prefer_backend` puts it first among equals;
`ignore_efficiency_mode` drops its mode violations; `respect_efficiency_mode`
makes `prefer_model` act as `substitute` for it. A `--backend` pin limits
candidates to that backend and wins over `force_backend`. An entry naming the
model exactly wins over a pattern (`llama3*`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from smartollama import names
from smartollama.config import Backend, Config, ModelRoute
from smartollama.routing.records import Rejection

#: pattern matching parses both names: memoized (pure, so the answers do not change)
matches = functools.lru_cache(maxsize=16384)(names.matches)


class Rules:
    """The config's `model_routing`, looked up per model (memoized)."""

    def __init__(self, config: Config) -> None:
        self._table = [(names.canonical(p).lower(), p, r)
                       for p, r in config.model_routing.items()]
        self._cache: dict[str, ModelRoute | None] = {}
        self._ids = {b.id for b in config.backends}

    def route(self, key: str) -> ModelRoute | None:
        if key not in self._cache:
            found = next((r for canon, _, r in self._table if canon == key), None)
            if found is None:
                found = next((r for _, p, r in self._table if matches(key, p)), None)
            self._cache[key] = found
        return self._cache[key]

    def forced(self, key: str) -> str | None:
        """The backend model_routing forces the model onto (one that exists), if any."""
        r = self.route(key)
        if r is not None and r.force_backend and r.force_backend in self._ids:
            return r.force_backend
        return None

    def allowed(self, key: str, pin: str | None, backends: Sequence[Backend],
                by_id: Mapping[str, Backend]) -> Sequence[Backend]:
        """The backends a model may use: the pin, else force_backend, else all."""
        only = pin if pin is not None else self.forced(key)
        return [by_id[only]] if only is not None else backends

    def excluded(self, key: str, backend: str, pin: str | None) -> Rejection | None:
        """Why a backend is out for this model before its fit is looked at, if it is."""
        if pin is not None:
            return None if backend == pin else Rejection(key, backend, "not_pinned", detail=pin)
        forced = self.forced(key)
        if forced is not None and backend != forced:
            return Rejection(key, backend, "forced_elsewhere", detail=forced)
        return None

    def preferred(self, key: str, backend: str) -> bool:
        r = self.route(key)
        return r is not None and r.prefer_backend == backend

    def ignores_mode(self, key: str) -> bool:
        r = self.route(key)
        return r is not None and r.ignore_efficiency_mode and not r.respect_efficiency_mode

    def respects_mode(self, key: str) -> bool:
        r = self.route(key)
        return r is not None and r.respect_efficiency_mode
