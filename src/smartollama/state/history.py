"""The decision history: ``history.jsonl``, one verdict a line, oldest first.

Only ``sollama why`` reads the file. Recording a verdict appends its line
without reading the file: the state document counts the lines
(``history_lines``), and only when they pass twice ``history_size`` is the
file read and rewritten, newest ``history_size`` kept. A line cut short by a
killed writer is skipped by readers (with one warning) and cut off by the
next writer, which reads only the file's tail to find it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable

from smartollama.state.caches import scrub

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

HISTORY_FILE = "history.jsonl"
#: how far back from the end a cut line is looked for, per read
_TAIL_CHUNK = 4096


def _sha256() -> Any:
    """SHA-256 from CPython's own module: `import hashlib` loads OpenSSL's
    `_hashlib` first (~4 ms of a run's start-up, `python -X importtime`), for a
    digest of a few kilobytes that the built-in one computes as fast."""
    try:
        from _sha2 import sha256  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.11
        except ImportError:             # a build without them
            from hashlib import sha256
    return sha256


def prompt_fields(prompt: str, store: bool) -> dict[str, Any]:
    """The verdict fields that describe a prompt: its length and hash; the text
    itself only when ``history.store_prompts`` is true."""
    out: dict[str, Any] = {
        "prompt_chars": len(prompt),
        "prompt_sha256": _sha256()(prompt.encode("utf-8", "surrogatepass")).hexdigest(),
    }
    if store:
        out["prompt"] = prompt
    return out


class HistoryMixin:
    """`State`'s view of the history.

    Kept out of the record's fields (and out of ``state.json``): the history
    is read from its own file the first time ``history`` is asked for, which
    a routed call never does. Verdicts added before that are only queued
    (``_added``), and the store appends them; once ``history`` has been read
    inside an update, the store writes the whole list back instead.
    """

    @property
    def history(self) -> list[dict[str, Any]]:
        """Verdict dicts, newest first (read from the history file on first use)."""
        d = self.__dict__
        hist: list[dict[str, Any]] | None = d.get("_history")
        if hist is None:
            loader = d.get("_loader")
            saved: list[dict[str, Any]] = loader() if loader is not None else []
            legacy = d.get("_legacy", ())
            if legacy and saved:    # a move cut short: entries already in the file stay once
                ids = {h.get("id") for h in saved if isinstance(h.get("id"), str)}
                legacy = [h for h in legacy if h.get("id") not in ids]
            hist = [*reversed(d.get("_added", ())), *legacy, *saved]
            if "_cap" in d:
                del hist[d["_cap"]:]
            d["_history"] = hist
        return hist

    @history.setter
    def history(self, value: list[dict[str, Any]]) -> None:
        self.__dict__["_history"] = list(value)

    @property
    def history_loaded(self) -> bool:
        """Whether ``history`` was read (or set), so the store writes it whole."""
        return "_history" in self.__dict__

    def add_verdict(self, verdict: dict[str, Any], cap: int) -> None:
        """Record a verdict (a JSON dict) as the newest; keep at most ``cap``."""
        d = self.__dict__
        entry = scrub(verdict)
        cap = max(cap, 0)
        d["_cap"] = min(cap, d.get("_cap", cap))
        d.setdefault("_added", []).append(entry)
        hist = d.get("_history")
        if hist is not None:
            hist.insert(0, entry)
            del hist[cap:]


def line(entry: dict[str, Any]) -> bytes:
    """One history line: compact JSON, no raw newline (JSON escapes those)."""
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode("utf-8") + b"\n"


def read_lines(path: str, cap: int, warn: Callable[[str], None], shown: str
               ) -> list[dict[str, Any]]:
    """The newest ``cap`` verdicts in the file, newest first. Lines that do not
    parse (the last one cut short, or damage) are skipped with one warning."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        warn(f"history file {shown} unreadable ({e.strerror or e}); showing no history")
        return []
    lines = raw.split(b"\n")
    bad = 1 if lines.pop().strip() else 0     # text after the last newline: a cut line
    out: list[dict[str, Any]] = []
    for raw_line in reversed(lines):
        if len(out) >= max(cap, 0):
            break
        if not raw_line.strip():
            continue
        try:
            entry = json.loads(raw_line)
        except (ValueError, RecursionError):
            entry = None
        if isinstance(entry, dict):
            out.append(entry)
        else:
            bad += 1
    if bad:
        warn(f"history file {shown}: skipped {bad} unreadable "
             f"line{'s' if bad != 1 else ''} (an interrupted write?)")
    return out


def append(path: str, added: list[dict[str, Any]], cap: int, counted: int | None,
           replace: Callable[[bytes], bool]) -> int | None:
    """Append verdicts (oldest first); the file's line count after, or None
    when it could not be written (OSError propagates to the store).

    ``counted``: the lines the state document says the file holds (None: not
    known, so they are counted once). Past twice ``cap`` the file is rewritten
    through ``replace`` with the newest ``cap`` lines kept.
    """
    new = [line(v) for v in added[-cap:]] if cap else []
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | _NOFOLLOW | _CLOEXEC, 0o600)
    try:
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        size = os.fstat(fd).st_size
        end = _whole_lines_end(fd, size)
        if end < size:                         # a line cut short by a killed writer
            os.ftruncate(fd, end)
        if counted is None or counted < 0 or (end == 0 and counted):
            counted = _count_lines(fd, end)
        if counted + len(new) > 2 * cap:
            raw = os.pread(fd, end, 0) if end else b""
            old = [ln + b"\n" for ln in raw.split(b"\n")
                   if ln.startswith(b"{") and ln.rstrip().endswith(b"}")]
            keep = old[max(len(old) - (cap - len(new)), 0):] if cap > len(new) else []
            return len(keep) + len(new) if replace(b"".join(keep + new)) else None
        data = memoryview(b"".join(new))
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except BaseException:              # full disk, Ctrl-C: no partial line stays
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise
    finally:
        os.close(fd)
    return counted + len(new)


def _whole_lines_end(fd: int, size: int) -> int:
    """Where the last whole line ends: ``size`` when the file ends in a newline
    (one byte read), else the byte after the last newline (the tail read back)."""
    pos = size
    while pos > 0:
        start = max(pos - _TAIL_CHUNK, 0) if pos < size else size - 1
        chunk = os.pread(fd, pos - start, start)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            return start + nl + 1
        pos = start
    return 0


def _count_lines(fd: int, end: int) -> int:
    count, pos = 0, 0
    while pos < end:
        chunk = os.pread(fd, min(1 << 20, end - pos), pos)
        if not chunk:
            break
        count += chunk.count(b"\n")
        pos += len(chunk)
    return count


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
