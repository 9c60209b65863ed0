"""File-level rules of the state directory: is it safe to write into, making a
rename durable, and what is wrong with a state file that does not parse."""

from __future__ import annotations

import json
import os
import stat


def unsafe_directory(directory: str) -> str | None:
    """Why ``directory`` must not be written into (another user owns it, or
    others can write to it and so plant files there), or None when it is safe
    (or absent: the write itself says what is wrong). A directory shared with
    one's own group (umask 002, a group per user) is not refused."""
    try:
        st = os.stat(directory)
    except OSError:
        return None
    getuid = getattr(os, "getuid", None)
    if getuid is not None and st.st_uid != getuid():
        return f"{directory} is owned by another user (uid {st.st_uid})"
    if st.st_mode & stat.S_IWOTH:
        return (f"{directory} is writable by others (mode {stat.S_IMODE(st.st_mode):o}); "
                f"`chmod 700 {directory}` fixes it")
    return None


def json_problem(e: BaseException, raw: bytes) -> str:
    if not raw.strip():
        return "empty file"
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(e, json.JSONDecodeError):
        if e.pos >= len(raw.rstrip()) or e.msg.startswith("Unterminated"):
            return f"truncated JSON ({len(raw)} bytes)"
        return f"invalid JSON at byte {e.pos}: {e.msg}"
    return "invalid JSON"


def fsync_dir(directory: str) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
