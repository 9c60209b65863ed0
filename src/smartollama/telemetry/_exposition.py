"""Prometheus' text exposition format, as far as sollama's adapters read it.

Why not `prometheus_client.parser`: importing it imports the whole
`prometheus_client` package, whose exposition module brings in `http.server`,
`urllib.request`, `wsgiref` and `ssl`: ~25 ms of each call whose telemetry
cache expired (measured with ``python -X importtime`` on the 2-core CI
machine, where a whole warm `sollama run` takes ~60 ms), for a few dozen
lines that `prometheus.select` kept of the page. This reads what those lines
hold (format 0.0.4): ``name{label="value",...} value [timestamp]``, label
values with their escapes (``\\\\``, ``\\"``, ``\\n``), ``NaN`` and ``±Inf``;
``# TYPE`` lines say which series are counters. A line it cannot read is a
ValueError naming it, as the library's parser would raise.
"""

from __future__ import annotations

from collections.abc import Iterator

#: one sample: (name, labels, value, type of its family: counter, gauge, untyped...)
Sample = tuple[str, dict[str, str], float, str]
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def samples(text: str) -> Iterator[Sample]:
    """Each sample line of ``text``, in order."""
    types: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        name, labels, value = _sample(line)
        typ = types.get(name) or (types.get(name[:-6]) if name.endswith("_total") else None)
        yield name, labels, value, typ or "untyped"


def metric_name(line: str) -> str:
    """A sample line's metric name: up to its labels or the first blank."""
    end = len(line)
    for sep in ("{", " ", "\t"):
        i = line.find(sep)
        if 0 <= i < end:
            end = i
    return line[:end]


def _sample(line: str) -> tuple[str, dict[str, str], float]:
    name = metric_name(line)
    end = len(name)
    if not name or not _valid_name(name):
        raise ValueError(f"invalid metric name in {line[:80]!r}")
    labels: dict[str, str] = {}
    rest = line[end:]
    if rest.startswith("{"):
        labels, rest = _labels(rest, line)
    fields = rest.split()
    if not fields or len(fields) > 2 or rest[:1] not in (" ", "\t"):
        raise ValueError(f"no value in {line[:80]!r}")
    return name, labels, _value(fields[0], line)


def _labels(rest: str, line: str) -> tuple[dict[str, str], str]:
    """``{a="x",b="y"}`` at the start of ``rest`` → (labels, what follows)."""
    labels: dict[str, str] = {}
    i = 1
    while True:
        while i < len(rest) and rest[i] in " \t,":
            i += 1
        if i < len(rest) and rest[i] == "}":
            return labels, rest[i + 1:]
        eq = rest.find("=", i)
        if eq < 0:
            raise ValueError(f"invalid labels in {line[:80]!r}")
        key = rest[i:eq].strip()
        j = eq + 1
        while j < len(rest) and rest[j] in " \t":
            j += 1
        if not _valid_name(key) or j >= len(rest) or rest[j] != '"' or key in labels:
            raise ValueError(f"invalid labels in {line[:80]!r}")
        value, i = _quoted(rest, j + 1, line)
        labels[key] = value
        while i < len(rest) and rest[i] in " \t":
            i += 1
        if i >= len(rest) or rest[i] not in ",}":
            raise ValueError(f"invalid labels in {line[:80]!r}")


def _quoted(rest: str, i: int, line: str) -> tuple[str, int]:
    """A label value from just after its opening quote: (value, index past the closing one)."""
    out: list[str] = []
    while i < len(rest):
        c = rest[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\" and i + 1 < len(rest):
            out.append(_ESCAPES.get(rest[i + 1], "\\" + rest[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    raise ValueError(f"unclosed label value in {line[:80]!r}")


def _value(text: str, line: str) -> float:
    if "_" in text:
        raise ValueError(f"invalid value in {line[:80]!r}")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"invalid value in {line[:80]!r}") from None


def _valid_name(name: str) -> bool:
    return (name[0].isalpha() or name[0] in "_:") and all(
        c.isalnum() or c in "_:" for c in name) and name.isascii()
