"""`sollama ps` and `sollama list`: `ollama ps` / `ollama list` across every backend.

The columns are Ollama's (NAME first, so scripts that parse `ollama list` keep
working through `alias ollama=sollama`), with a BACKEND column added.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from smartollama.complete import complete_models
from smartollama.names import printable


def _ask_all(method: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """(backend id, rows) for every reachable backend; warnings for the others."""
    from concurrent.futures import ThreadPoolExecutor

    from smartollama.env import Environment
    from smartollama.errors import SollamaError, UnreachableError
    from smartollama.ollama import OllamaClient

    config = Environment().config

    def one(b: Any) -> tuple[str, list[dict[str, Any]] | str]:
        try:
            with OllamaClient.for_backend(b, config.timeouts) as c:
                return b.id, getattr(c, method)()
        except SollamaError as e:
            return b.id, e.message

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(config.backends)))) as pool:
        results = list(pool.map(one, config.backends))
    ok = [(bid, rows) for bid, rows in results if isinstance(rows, list)]
    if not ok:      # one message for the failure, not a warning per host before it
        raise UnreachableError("no backend reachable: " + ", ".join(
            f"{bid} ({rows})" for bid, rows in results))
    for bid, rows in results:
        if isinstance(rows, str):
            sys.stderr.write(f"sollama: warning: {bid}: {rows}\n")
    return ok


def human_bytes(n: int | float) -> str:
    """Ollama's format.HumanBytes: decimal units, "4.7 GB", "397 MB"."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
        value /= 1000
    return f"{value:.0f} TB"


def human_time(stamp: str | None, never: str = "Never") -> str:
    """Ollama's format.HumanTime: "3 minutes ago", "4 minutes from now", "Forever"."""
    if not stamp:
        return never
    try:
        t = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    if t.year >= 2200:
        return "Forever"
    delta = (t - datetime.now(UTC)).total_seconds()
    future = delta > 0
    s = abs(delta)
    if s < 1:
        return "Now"
    for size, unit in ((86400 * 365, "year"), (86400 * 7, "week"), (86400, "day"),
                       (3600, "hour"), (60, "minute"), (1, "second")):
        if s >= size:
            n = int(s // size)
            if n == 1:
                text = "About an hour" if unit == "hour" else f"1 {unit}"
            else:
                text = f"{n} {unit}s"
            return f"{text} from now" if future else f"{text} ago"
    return "Now"


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        click.echo("    ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _processor(size: int, vram: int) -> str:
    if vram == 0:
        return "100% CPU"
    if vram == size:
        return "100% GPU"
    if vram > size or size == 0:
        return "Unknown"
    cpu = round((size - vram) / size * 100)
    return f"{cpu}%/{100 - cpu}% CPU/GPU"


@click.command("list")
@click.argument("prefix", required=False, shell_complete=complete_models)
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
def list_command(prefix: str | None, as_json: bool) -> int:
    """Models available on every backend (as `ollama list`, plus BACKEND)."""
    merged: dict[str, dict[str, Any]] = {}
    for bid, models in _ask_all("tags"):
        for m in models:
            name = str(m.get("name", ""))
            if prefix and not name.startswith(prefix):
                continue
            entry = merged.setdefault(name, {**m, "backends": []})
            entry["backends"].append(bid)
    if as_json:
        import json

        click.echo(json.dumps(list(merged.values()), indent=2))
        return 0
    rows = [[printable(name), printable(str(m.get("digest", ""))[:12]),
             human_bytes(int(m.get("size") or 0)),
             human_time(m.get("modified_at")), ",".join(m["backends"])]
            for name, m in sorted(merged.items())]
    _table(["NAME", "ID", "SIZE", "MODIFIED", "BACKENDS"], rows)
    return 0


@click.command("ps")
@click.argument("prefix", required=False, shell_complete=complete_models)
@click.option("--json", "as_json", is_flag=True, help="Print the loaded models as JSON.")
def ps_command(prefix: str | None, as_json: bool) -> int:
    """Models loaded now on every backend (as `ollama ps`, plus BACKEND)."""
    rows: list[list[str]] = []
    out: list[dict[str, Any]] = []
    for bid, models in _ask_all("ps"):
        for m in models:
            name = str(m.get("name", ""))
            if prefix and not name.startswith(prefix):
                continue
            out.append({**m, "backend": bid})
            size, vram = int(m.get("size") or 0), int(m.get("size_vram") or 0)
            rows.append([printable(name), printable(str(m.get("digest", ""))[:12]),
                         human_bytes(size),
                         _processor(size, vram), human_time(m.get("expires_at")), bid])
    if as_json:
        import json

        click.echo(json.dumps(out, indent=2))
        return 0
    _table(["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL", "BACKEND"], rows)
    return 0
