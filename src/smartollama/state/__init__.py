"""The state cache: the state document, its store, and the decision history.

``store`` (the lock and atomic writes), ``document`` (schema and migrations),
``caches``, ``learned``, ``inflight``, ``history``: see each module. Only the
standard library is imported here: every call reads the state.
"""

from __future__ import annotations

from smartollama.state.caches import CACHE_MAX_AGE_S, key
from smartollama.state.document import SCHEMA, State
from smartollama.state.history import HISTORY_FILE, prompt_fields
from smartollama.state.inflight import IN_FLIGHT_DIR, IN_FLIGHT_MAX_AGE_S, InFlight
from smartollama.state.learned import MIN_LOAD_NS, OBSERVED_PER_BACKEND
from smartollama.state.store import LOCK_FILE, STATE_FILE, StateStore

__all__ = [
    "CACHE_MAX_AGE_S", "HISTORY_FILE", "IN_FLIGHT_DIR", "IN_FLIGHT_MAX_AGE_S", "LOCK_FILE",
    "MIN_LOAD_NS", "OBSERVED_PER_BACKEND", "SCHEMA", "STATE_FILE", "InFlight", "State",
    "StateStore", "key",
    "prompt_fields",
]
