"""The state store: two small files that survive anything.

sollama keeps nothing between calls but two files in the state directory:
``state.json`` (the document: `smartollama.state.document`), which every call
reads, and ``history.jsonl`` (`smartollama.state.history`), which only
``sollama why`` reads. Rules this module keeps:

* **Reads take no lock.** Every write is a temporary file in the same
  directory (opened with ``O_EXCL``), fsynced, then ``os.replace``d over
  ``state.json``, so a reader sees the old file or the new one, never half.
* **Writes happen under an exclusive lock** on ``state.json.lock``, re-reading
  the file first, so that concurrent calls never lose each other's updates.
  A call takes it at most twice: once to read (and refresh what expired, so a
  burst's other callers wait and then use what the first one wrote), once to
  write everything it learned and decided. A writer with something to keep
  (``update(wait_s=...)``) waits for the lock instead of dropping it. The
  lock is ``fcntl.flock``: the kernel drops it when its process dies, SIGKILL
  included, so a crashed call never blocks the next one. It is taken here
  directly because importing filelock costs several times what the whole
  read path does; filelock is the fallback where ``fcntl`` does not exist.
* **Never in the user's way.** A corrupt file is moved aside (kept, named in a
  warning; copies older than 30 days are removed) and a fresh state starts; a
  read-only or full disk, or a lock held too long, skip the write with a
  warning instead of failing the call.
* **Private and safe.** The directory is created 0700 and the files 0600.
  Files are opened without following symlinks (``O_NOFOLLOW``). A directory
  owned by another user, or writable by others, is never written into (one
  warning; the call goes on). Prompts are never stored (see
  :func:`~smartollama.state.history.prompt_fields`); host credentials
  (``headers``, ``authorization``) are dropped from anything recorded.

Only the standard library and the records are imported here: every call reads ``state.json``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from _thread import allocate_lock, get_ident  # threading's, without its ~0.7 ms import
from collections.abc import Callable, Iterator

from smartollama.state import history
from smartollama.state.document import State
from smartollama.state.files import fsync_dir, json_problem, unsafe_directory
from smartollama.state.history import HISTORY_FILE
from smartollama.state.inflight import InFlight
from smartollama.state.lock import LockTimeout as _LockTimeout
from smartollama.state.lock import lock as _lock
from smartollama.state.lock import unlock as _unlock

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

STATE_FILE = "state.json"
LOCK_FILE = "state.json.lock"
#: moved-aside corrupt files older than this are removed
CORRUPT_MAX_AGE_S = 30 * 86_400.0
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class StateStore:
    """The state file in ``directory``: lock-free reads, locked atomic updates.

    ``warnings`` collects one-line messages (a corrupt file moved aside, a
    write that could not be saved, a lock that timed out), each once; the CLI
    prints them (:meth:`drain_warnings`).
    """

    def __init__(self, directory: str | os.PathLike[str], *, lock_timeout_s: float = 5.0,
                 history_size: int = 200) -> None:
        # strings inside, Paths (`directory`, `path`, `lock_path`) outside: a
        # routed call leaves pathlib (~3.5 ms with what it imports) unimported
        self._dir = os.fspath(directory)
        self._file = os.path.join(self._dir, STATE_FILE)
        self._history_file = os.path.join(self._dir, HISTORY_FILE)
        self._lock_file = os.path.join(self._dir, LOCK_FILE)
        self.lock_timeout_s = lock_timeout_s
        self.history_size = history_size
        self.warnings: list[str] = []
        #: whether the last update() wrote the file
        self.saved = False
        self._thread_lock = allocate_lock()
        self._held: State | None = None     # the State of the update() in progress
        self._owner: int | None = None      # the thread running it
        self._corrupt = ""                  # why the file last failed to parse
        #: how many times this store took (or tried to take) the file lock
        self.locks = 0
        #: this process's requests in flight (files beside state.json: `state.inflight`)
        self.in_flight = InFlight(self._dir, self.unsafe_directory)
        self._last: State | None = None     # the state as this store last saw it
        self._deferred: list[Callable[[State], None]] = []

    @property
    def directory(self) -> Path:
        from pathlib import Path

        return Path(self._dir)

    @property
    def path(self) -> Path:
        """The state file."""
        return self.directory / STATE_FILE

    @property
    def history_path(self) -> Path:
        """The history file (one verdict a line, oldest first)."""
        return self.directory / HISTORY_FILE

    @property
    def lock_path(self) -> Path:
        return self.directory / LOCK_FILE

    # -- warnings ------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def drain_warnings(self) -> list[str]:
        """The warnings collected so far, once: the list is emptied."""
        out, self.warnings = self.warnings, []
        return out

    # -- reading -------------------------------------------------------------------------
    def read(self) -> State:
        """The state as saved (no lock; a fresh State when there is no file).

        A corrupt file is moved aside under the lock and a fresh State returned.
        """
        st = self._load(quarantine=False)
        if st is not None:
            st.__dict__["_loader"] = self._read_history
            self._last = st
            return st
        with self.update() as fresh:    # corrupt: move it aside under the lock
            pass
        return fresh

    def view(self) -> State:
        """The state as this store last read or wrote it (read once, without a lock)."""
        return self._last if self._last is not None else self.read()

    def defer(self, change: Callable[[State], None]) -> None:
        """Apply ``change`` in this store's next update (so that one lock and one
        write carry everything a call learned)."""
        self._deferred.append(change)

    def _read_history(self) -> list[dict[str, Any]]:
        """The newest ``history_size`` verdicts in the history file, newest first."""
        return history.read_lines(self._history_file, self.history_size, self.warn,
                                  str(self.history_path))

    def _load(self, *, quarantine: bool) -> State | None:
        """Parse the file (a fresh State when there is none). A corrupt file is
        moved aside when ``quarantine`` (the caller holds the lock); otherwise
        None is returned and ``_corrupt`` says why."""
        try:
            fd = os.open(self._file, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                raw = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return State()      # nothing saved yet (or the directory is not one)
        except OSError as e:
            why = f"unreadable: {e.strerror or e}"
        else:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError) as e:
                why = json_problem(e, raw)
            else:
                if isinstance(data, dict):
                    problems: list[str] = []
                    st = State.from_dict(data, problems)
                    for p in problems:
                        self.warn(f"state file {self.path}: {p}")
                    if not problems:
                        st.__dict__["_baseline"] = raw
                    return st
                why = f"top level is a JSON {type(data).__name__}, expected an object"
        self._corrupt = why
        if not quarantine:
            return None
        self._quarantine(why)
        return State()

    def _load_or_fresh(self, *, quarantine: bool) -> State:
        st = self._load(quarantine=quarantine)
        if st is None:
            self.warn(f"state file {self.path} is corrupt ({self._corrupt}); using a fresh state")
            st = State()
        return st

    def _quarantine(self, why: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.directory / f"{STATE_FILE}.corrupt-{stamp}"
        i = 1
        while aside.exists():
            i += 1
            aside = self.directory / f"{STATE_FILE}.corrupt-{stamp}-{i}"
        try:
            os.replace(self.path, aside)
        except OSError as e:
            self.warn(f"state file {self.path} is corrupt ({why}) and could not be moved aside "
                      f"({e.strerror or e}); using a fresh state")
        else:
            self.warn(f"state file was corrupt ({why}); moved aside to {aside}; "
                      f"starting with a fresh state")

    # -- updating -------------------------------------------------------------------------
    @contextlib.contextmanager
    def update(self, *, wait_s: float | None = None, required: bool = True) -> Iterator[State]:
        """Lock, re-read, yield a mutable State, write it back atomically.

        ``wait_s``: how long to wait for the lock (default ``lock_timeout_s``;
        a writer with a decision to keep passes longer). ``required=False``:
        a write that may be skipped (a cache refresh, an in-flight mark): a
        lock not had in time is no warning, and changes deferred to the next
        update wait for that one. Never raises for the
        state's sake: when the lock is not had in time or the directory cannot
        be written (or is not safe to write into), the State is
        still yielded (read without the lock) and the write is skipped with a
        warning. An exception in the block skips the write and propagates.
        An update() nested in another in the same thread shares its State;
        the outer one writes.
        """
        if self._held is not None and self._owner == get_ident():
            yield self._held
            return
        wait = self.lock_timeout_s if wait_s is None else max(wait_s, 0.0)
        if not self._thread_lock.acquire(timeout=wait):
            if required:
                self._lock_timed_out(wait)
            yield self._unlocked(apply=required)
            return
        try:
            self.saved = False
            self.locks += 1
            handle = self._acquire(wait, required)
            try:
                st = self._load_or_fresh(quarantine=handle is not None)
                st.__dict__["_loader"] = self._read_history
                if handle is not None or required:
                    self._apply_deferred(st)
                self._held, self._owner = st, get_ident()
                try:
                    yield st
                finally:
                    self._held, self._owner = None, None
                if handle is not None:
                    self._write(st, durable=required)
                self._last = st
            finally:
                if handle is not None:
                    with contextlib.suppress(OSError):
                        _unlock(handle)
        finally:
            self._thread_lock.release()

    def _unlocked(self, *, apply: bool) -> State:
        st = self._load_or_fresh(quarantine=False)
        st.__dict__["_loader"] = self._read_history
        if apply:
            self._apply_deferred(st)
        return st

    def _apply_deferred(self, st: State) -> None:
        changes, self._deferred = self._deferred, []
        for change in changes:
            change(st)

    def _acquire(self, wait_s: float, required: bool = True) -> Any | None:
        """Take the exclusive lock; None (with a warning) when it cannot be had."""
        try:
            os.makedirs(self._dir, mode=0o700, exist_ok=True)
        except OSError as e:
            self._not_saved(e)
            return None
        unsafe = self.unsafe_directory()
        if unsafe:
            self.warn(f"state not saved: {unsafe}")
            return None
        try:
            return _lock(self._lock_file, wait_s)
        except _LockTimeout:
            if required:
                self._lock_timed_out(wait_s)
            return None
        except OSError as e:
            self._not_saved(e)
            return None

    def unsafe_directory(self) -> str | None:
        """Why the state directory must not be written into, or None
        (`smartollama.state.files.unsafe_directory`)."""
        return unsafe_directory(self._dir)

    def _lock_timed_out(self, wait_s: float) -> None:
        self.warn(f"state cache {self.path} stayed locked for {wait_s:g} s "
                  f"by another sollama; state not saved this time")

    def _write(self, st: State, *, durable: bool = True) -> None:
        """Write the history (when it changed) and then ``state.json``; a history
        that could not be written leaves ``state.json`` as it was (so a schema 1
        history still in it is not lost). ``durable=False`` (a write that may be
        skipped: a cache refresh, an in-flight mark): the file is fsynced (a crash
        leaves the old or the new one whole), its directory not (~4 ms less)."""
        self._remove_leftovers()
        d = st.__dict__
        cap = max(min(self.history_size, d.get("_cap", self.history_size)), 0)
        try:
            if st.history_loaded or d.get("_legacy"):
                kept = st.history[:cap]
                if not self._replace(self._history_file, HISTORY_FILE,
                                     b"".join(history.line(v) for v in reversed(kept))):
                    return
                st.history_lines = len(kept)
            elif d.get("_added"):
                lines = history.append(
                    self._history_file, d["_added"], cap, st.history_lines,
                    lambda data: self._replace(self._history_file, HISTORY_FILE, data))
                if lines is None:
                    return
                st.history_lines = lines
        except OSError as e:
            self._not_saved(e)
            return
        d.pop("_added", None)
        d.pop("_legacy", None)
        data = json.dumps(st.to_dict(), ensure_ascii=False, separators=(",", ":"),
                          default=str).encode("utf-8")
        if data == d.get("_baseline"):      # nothing changed: no write, no fsync
            self.saved = True
            return
        if self._replace(self._file, STATE_FILE, data, durable=durable):
            d["_baseline"] = data
            self.saved = True

    def _replace(self, target: str, name: str, data: bytes, *, durable: bool = True) -> bool:
        """Write ``data`` to a temporary file, fsync it, ``os.replace`` it over
        ``target`` (then fsync the directory, when ``durable``); False (with a
        warning) when that cannot be done."""
        tmp = os.path.join(self._dir, f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
            try:
                with contextlib.suppress(OSError):
                    os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self._not_saved(e)
            return False
        except BaseException:           # Ctrl-C mid-write: the old file stays whole
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if durable:
            fsync_dir(self._dir)
        return True

    def _remove_leftovers(self) -> None:
        """Temp files left by a writer killed mid-write (every writer holds the
        lock we hold now, so any temp file here is a leftover), and corrupt
        files moved aside more than 30 days ago."""
        try:
            names = os.listdir(self._dir)
        except OSError:
            return
        now = time.time()
        for name in names:
            path = os.path.join(self._dir, name)
            if name.startswith((f".{STATE_FILE}.", f".{HISTORY_FILE}.")) and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            elif name.startswith(f"{STATE_FILE}.corrupt-"):
                with contextlib.suppress(OSError):
                    if now - os.lstat(path).st_mtime > CORRUPT_MAX_AGE_S:
                        os.unlink(path)

    def _not_saved(self, e: OSError) -> None:
        code = e.errno
        if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            self.warn(f"state not saved: no space left in {self.directory}")
        elif code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST):
            self.warn(f"state not saved: {self.directory} is read-only")
        else:
            self.warn(f"state not saved: {self.directory}: {e.strerror or e}")
