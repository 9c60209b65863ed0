"""Go's `time.ParseDuration`, which `ollama run --keepalive` applies to its value.

`ollama run` parses the flag and sends the result as Ollama's api.Duration does
(`"1m30s"`, or -1 for a negative one), so "1.5" (no unit) is an error there, not
a request Ollama would refuse with 400. Import-light: stdlib `re` only.
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


class DurationError(ValueError):
    """Go's own message: `time: missing unit in duration "1.5"`."""


def parse(text: str) -> int:
    """Nanoseconds, as Go's time.ParseDuration reads `text` ("1h30m", "-5m", "0")."""
    orig, s = text, text
    sign = -1 if s.startswith("-") else 1
    s = s[1:] if s[:1] in "+-" else s
    if s == "0":
        return 0
    if not s:
        raise DurationError(f'time: invalid duration "{orig}"')
    total = 0
    while s:
        m = _PART.match(s)
        whole, frac, unit = (m.group(1), m.group(2), m.group(3)) if m else ("", None, "")
        if not whole and not frac:
            raise DurationError(f'time: invalid duration "{orig}"')
        if not unit:
            raise DurationError(f'time: missing unit in duration "{orig}"')
        if unit not in _UNITS:
            raise DurationError(f'time: unknown unit "{unit}" in duration "{orig}"')
        scale = _UNITS[unit]
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        s = s[m.end():] if m else ""
    return sign * total


def keep_alive(text: str) -> str | int:
    """What `ollama run` sends for `--keepalive TEXT`: Go's Duration.String(), -1 if negative."""
    from smartollama.ollama import go_duration

    ns = parse(text.strip())
    return -1 if ns < 0 else go_duration(ns)
