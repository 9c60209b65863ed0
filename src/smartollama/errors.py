"""One error tree. Every error carries its exit code (DESIGN.md, "Exit codes").

Only the CLI boundary (`cli.main`) turns these into a line on stderr and an exit
status; everything below raises.
"""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    REFUSED = 3
    UNREACHABLE = 4
    INTERRUPTED = 130


class SollamaError(Exception):
    """Base of every error sollama reports. `str(err)` is the one line shown."""

    exit_code: int = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(SollamaError):
    """The config file is unreadable or invalid; the message names file and key."""


class UsageError(SollamaError):
    exit_code = ExitCode.USAGE


class BackendError(SollamaError):
    """A host answered with an error (HTTP status + Ollama's `error` text)."""

    def __init__(self, message: str, *, status: int | None = None, host: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.host = host


class ModelNotFoundError(BackendError):
    """A model is not on the host(s) asked; the message names model and host."""

    closest: tuple[str, ...] = ()     # the names held that look most like it (the router's)


class UnreachableError(SollamaError):
    """No backend (or the one asked) can be reached."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, message: str, *, host: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.host = host


class OutputError(SollamaError):
    """Standard output cannot be written (a full disk, a closed pipe). A closed
    pipe (`sollama run ... | head`) is no error: the reader has what it wanted."""

    def __init__(self, e: OSError) -> None:
        self.closed = isinstance(e, BrokenPipeError) or e.errno == errno.EPIPE
        super().__init__("standard output closed early by its reader" if self.closed else
                         f"cannot write to standard output: {e.strerror or e}")


class RefusedError(SollamaError):
    """The routing policy refused the request; the verdict carries suggestions."""

    exit_code = ExitCode.REFUSED
