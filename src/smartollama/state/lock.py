"""The state file's lock: ``fcntl.flock`` on ``state.json.lock``.

The kernel drops a flock when its process dies, SIGKILL included, so a
crashed call never blocks the next one. filelock is the fallback where
``fcntl`` does not exist.
"""

from __future__ import annotations

import errno
import os
import time

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class LockTimeout(Exception):
    """The lock was not had within the time asked for."""


try:
    import fcntl
except ImportError:     # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


def lock(path: str, timeout_s: float) -> Any:
    """An exclusive lock on ``path``, waited for at most ``timeout_s``."""
    if fcntl is None:   # pragma: no cover - not POSIX
        import filelock

        lk = filelock.FileLock(str(path), mode=0o600)
        try:
            lk.acquire(timeout=timeout_s)
        except filelock.Timeout:
            raise LockTimeout from None
        return lk
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
    except BaseException:
        os.close(fd)
        raise


def unlock(handle: Any) -> None:
    if isinstance(handle, int):
        try:
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            os.close(handle)
    else:               # pragma: no cover - filelock fallback
        handle.release()
