"""sollama's own requests in flight, per backend: how busy a host is with us."""

from __future__ import annotations

import os
from typing import Any

#: a request older than this no longer counts as in flight, alive or not
IN_FLIGHT_MAX_AGE_S = 3600.0


class InFlightMixin:
    """`State`'s ``in_flight`` field: backend → [{"id", "pid", "since", "until"}]
    (``until``: when its decision expected it to end, if it had an estimate)."""

    in_flight: dict[str, Any]

    def begin_request(self, backend: str, request_id: str, pid: int, now: float,
                      busy_s: float | None = None) -> None:
        entries = self._live_requests(backend, now)
        entries[:] = [e for e in entries if e.get("id") != request_id]
        entry: dict[str, Any] = {"id": request_id, "pid": int(pid), "since": now}
        if busy_s is not None:
            entry["until"] = now + busy_s
        entries.append(entry)

    def end_request(self, backend: str, request_id: str) -> None:
        entries = self.in_flight.get(backend)
        if isinstance(entries, list):
            entries[:] = [e for e in entries if not (isinstance(e, dict)
                                                     and e.get("id") == request_id)]
            if not entries:
                del self.in_flight[backend]

    def in_flight_count(self, backend: str, now: float) -> int:
        """Requests running on ``backend`` now; entries whose process is gone, or
        older than an hour, expire."""
        entries = self._live_requests(backend, now)
        if not entries:
            self.in_flight.pop(backend, None)
        return len(entries)

    def in_flight_busy(self, backend: str, now: float) -> list[float]:
        """Seconds until each live request on ``backend`` is expected to end (0 when
        overdue), for those whose mark recorded an estimate."""
        return [max(0.0, float(e["until"]) - now) for e in self._live_requests(backend, now)
                if isinstance(e.get("until"), int | float) and not isinstance(e["until"], bool)]

    def _live_requests(self, backend: str, now: float) -> list[dict[str, Any]]:
        entries = self.in_flight.get(backend)
        if not isinstance(entries, list):
            entries = []
        live = [e for e in entries if isinstance(e, dict)
                and isinstance(e.get("since"), int | float)
                and now - e["since"] <= IN_FLIGHT_MAX_AGE_S and _alive(e.get("pid"))]
        self.in_flight[backend] = live
        return live


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True     # exists, owned by someone else (or cannot tell: keep it)
    return True
