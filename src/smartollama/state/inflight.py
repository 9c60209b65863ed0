"""sollama's own requests in flight, per backend: how busy a host is with us.

A request in flight is a small file in the state directory's ``in_flight/``,
named ``<pid>-<request id>``, holding ``{"backend", "pid", "since"}`` and
``until`` (when its decision expected it to end, if it had an estimate): made
(``O_EXCL | O_NOFOLLOW``) before the answer is asked for and removed after
it. A mark costs one file, not a locked rewrite of ``state.json`` (~2 ms of a
warm ``sollama run``: the call writes ``state.json`` once, at the end), and
two calls at once never touch each other's marks. Nothing needs fsync: a mark
lost to a crash is a request that no longer runs. A mark whose process is
gone (killed, crashed), or older than an hour, no longer counts, and the next
call that marks one removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable

IN_FLIGHT_DIR = "in_flight"
#: a request older than this no longer counts as in flight, alive or not
IN_FLIGHT_MAX_AGE_S = 3600.0
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class InFlight:
    """The marks in ``<state directory>/in_flight``. ``unsafe(directory)``
    says why the state directory must not be written into (then nothing is
    marked, silently: the state store warns about that directory)."""

    def __init__(self, state_dir: str, unsafe: Callable[[], str | None] | None = None) -> None:
        self._state_dir = state_dir
        self._dir = os.path.join(state_dir, IN_FLIGHT_DIR)
        self._unsafe = unsafe
        #: (backend, request id) pairs this process marked, not yet ended
        self.begun: set[tuple[str, str]] = set()

    def begin(self, backend: str, request_id: str, now: float, busy_s: float | None = None,
              *, pid: int | None = None) -> bool:
        """Mark ``request_id`` in flight on ``backend`` (once), expected to keep it
        busy ``busy_s`` (None: no estimate); False when it could not be marked
        (the directory is not writable or not safe)."""
        if (backend, request_id) in self.begun:
            return True
        pid = os.getpid() if pid is None else pid
        if self._unsafe is not None and self._unsafe():
            return False
        mark: dict[str, object] = {"backend": backend, "pid": pid, "since": now}
        if busy_s is not None:
            mark["until"] = now + busy_s
        data = json.dumps(mark).encode()
        try:
            fd = self._open_dir(create=True)
        except OSError:
            return False
        try:
            self._remove_dead(fd, now)
            name = _name(pid, request_id)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)      # the same request marked again
            f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                        0o600, dir_fd=fd)
            try:
                os.write(f, data)
            except OSError:     # a full disk: no half mark left behind
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=fd)
                raise
            finally:
                os.close(f)
        except OSError:
            return False
        finally:
            os.close(fd)
        self.begun.add((backend, request_id))
        return True

    def end(self, backend: str, request_id: str, pid: int | None = None) -> None:
        """The request is over: its mark is removed (nothing when there is none)."""
        self.begun.discard((backend, request_id))
        with contextlib.suppress(OSError):
            fd = self._open_dir(create=False)
            try:
                os.unlink(_name(os.getpid() if pid is None else pid, request_id), dir_fd=fd)
            finally:
                os.close(fd)

    def live(self, now: float) -> dict[str, list[float | None]]:
        """backend → one entry per request running on it now (live processes, under
        an hour): the seconds until its decision expected it to end (0 when
        overdue), or None when it recorded no estimate."""
        out: dict[str, list[float | None]] = {}
        try:
            fd = self._open_dir(create=False)
        except OSError:
            return out      # none marked yet (or unreadable: none known)
        try:
            for _, entry in _entries(fd):
                if entry is not None and _counts(entry, now):
                    until = entry.get("until")
                    left = (max(0.0, float(until) - now) if isinstance(until, int | float)
                            and not isinstance(until, bool) else None)
                    out.setdefault(str(entry["backend"]), []).append(left)
        finally:
            os.close(fd)
        return out

    def _open_dir(self, *, create: bool) -> int:
        flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
        try:
            return os.open(self._dir, flags)
        except FileNotFoundError:
            if not create:
                raise
        os.makedirs(self._state_dir, mode=0o700, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self._dir, 0o700)
        return os.open(self._dir, flags)

    def _remove_dead(self, fd: int, now: float) -> None:
        """Remove the marks of processes that are gone, and those over an hour old
        (a file that is not a mark, or half written by a call killed then, goes
        when its process is gone)."""
        for name, entry in _entries(fd):
            if entry is None:
                pid = _pid_of(name)
                if pid is not None and _alive(pid):
                    continue    # being written now
            elif _counts(entry, now):
                continue
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=fd)


def _name(pid: int, request_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in ".:_-" else "_" for c in request_id)
    return f"{int(pid)}-{safe}"


def _pid_of(name: str) -> int | None:
    head = name.partition("-")[0]
    return int(head) if head.isdigit() else None


def _entries(fd: int) -> list[tuple[str, dict[str, object] | None]]:
    """Every file in the directory and its mark (None: not a whole mark)."""
    out: list[tuple[str, dict[str, object] | None]] = []
    for name in os.listdir(fd):
        entry = None
        try:
            f = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            try:
                raw = os.read(f, 4096)
            finally:
                os.close(f)
            value = json.loads(raw)
        except (OSError, ValueError):
            value = None
        if (isinstance(value, dict) and isinstance(value.get("backend"), str)
                and isinstance(value.get("since"), int | float)
                and _pid_of(name) == value.get("pid")):
            entry = value
        out.append((name, entry))
    return out


def _counts(entry: dict[str, object], now: float) -> bool:
    since = entry["since"]
    return (isinstance(since, int | float) and now - since <= IN_FLIGHT_MAX_AGE_S
            and _alive(entry.get("pid")))


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True     # exists, owned by someone else (or cannot tell: keep it)
    return True
