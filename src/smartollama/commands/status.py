"""`sollama status`: backends, telemetry against the mode's limits, loaded models."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.fleet import FleetSnapshot

#: reading field → (column, unit, mode limit key)
COLUMNS = (
    ("fan_pct", "FAN", "%"),
    ("temp_c", "TEMP", "°C"),
    ("power_w", "POWER", "W"),
)


def status_data(config: Config, snap: FleetSnapshot, mode: str, mode_source: str
                ) -> dict[str, Any]:
    limits = config.modes[mode].limits()
    backends = []
    for b in config.backends:
        st = snap.backends[b.id]
        over = {f: st.reading.get(f) for f in limits
                if st.reading.get(f) is not None and st.reading.get(f) > limits[f]}  # type: ignore[operator]
        backends.append({
            "id": b.id, "hardware": b.hardware, "host": b.host, "reachable": st.reachable,
            "error": st.error, "max_model_size_gb": b.max_model_size_gb,
            "reading": st.reading.to_dict(), "over_limits": sorted(over),
            "models": len(st.models), "in_flight": st.in_flight,
            "loaded": [{"name": m.name, "size": m.size_bytes, "size_vram": m.size_vram_bytes,
                        "expires_at": m.expires_at} for m in st.loaded.values()],
        })
    return {"mode": mode, "mode_source": mode_source, "limits": limits, "backends": backends}


def _cell(value: float | None, unit: str, limit: float | None) -> str:
    if value is None:
        return "[dim]n/a[/dim]"
    text = f"{value:.0f}{unit}"
    if limit is None:
        return text
    if value > limit:
        return f"[bold red]{text}[/bold red][dim]/{limit:.0f}[/dim]"
    return f"{text}[dim]/{limit:.0f}[/dim]"


def render(data: dict[str, Any], width: int = 120) -> Any:
    """The table, then a note per unreachable host and per reading that is not available.

    Narrower than 110 columns, the HOST column is left out (unreachable hosts are
    still named in the notes under the table)."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from smartollama.commands.models import human_bytes
    from smartollama.explain import describe_limits
    from smartollama.names import printable
    from smartollama.telemetry.base import Reading

    limits = data["limits"]
    lim_text = describe_limits(limits)
    table = Table(title=f"mode [bold]{data['mode']}[/bold] ({data['mode_source']}: {lim_text}); "
                        "free memory / total, loaded models",
                  title_justify="left", box=None, header_style="bold", pad_edge=False)
    wide = width >= 110
    cols = ("BACKEND", "HW", "HOST", "FAN", "TEMP", "POWER", "MEMORY") if wide else \
        ("BACKEND", "HW", "FAN", "TEMP", "POWER", "MEMORY")
    for col in cols:
        table.add_column(col, no_wrap=True)
    table.add_column("LOADED", overflow="fold", min_width=14)
    notes: list[str] = []
    for b in data["backends"]:
        r = Reading.from_dict(b["reading"])
        hostport = escape(b["host"].split("://", 1)[-1])
        if b["reachable"]:
            host = f"[green]✓[/green] {hostport}"
        else:
            host = f"[red]✗ {hostport}[/red]"
            notes.append(f"✗ {b['id']}: {printable(str(b['error']))}")
        cells = [_cell(r.get(f), unit, limits.get(f)) for f, _, unit in COLUMNS]
        missing = [f"{col.lower()} {r.reason(f)}" for f, col, _ in COLUMNS
                   if r.get(f) is None and r.reason(f) and b["reachable"]]
        if missing:
            notes.append(f"  {b['id']}: n/a: " + "; ".join(missing))
        free, total = r.get("mem_free_gb"), r.get("mem_total_gb")
        if free is not None and total is not None:
            mem = f"{free:.1f}/{total:.0f} GB"
        elif b["max_model_size_gb"]:
            mem = f"[dim]≤ {b['max_model_size_gb']:g} GB[/dim]"
        else:
            mem = "[dim]n/a[/dim]"
        loaded = "\n".join(
            f"{escape(printable(m['name']))} {human_bytes(m['size'])}"
            + ("" if m["size_vram"] >= m["size"] else
               f" [yellow]{m['size_vram'] * 100 // max(m['size'], 1)}% GPU[/yellow]")
            for m in b["loaded"]) or "[dim]-[/dim]"
        row = [escape(b["id"]), escape(b["hardware"]), host, *cells, mem, loaded]
        if not wide:
            row.pop(2)
        table.add_row(*row)
    if not notes:
        return table
    return Group(table, Text(""), *(Text(n, style="dim") for n in notes))


@click.command("status")
@click.option("--mode", "mode_name", metavar="NAME",
              help="Show the limits of this mode instead of the current one.")
@click.option("--json", "as_json", is_flag=True, help="Print the same data as JSON.")
@click.option("--watch", is_flag=True, help="Refresh in place (Ctrl-C to stop).")
@click.option("--interval", type=click.FloatRange(0.2), default=2.0, show_default=True,
              help="Seconds between refreshes with --watch.")
def status_command(mode_name: str | None, as_json: bool, watch: bool, interval: float) -> int:
    """Backends, their telemetry against the current mode's limits, loaded models."""
    from smartollama import snapshot
    from smartollama.app import current_mode
    from smartollama.env import Environment

    def collect() -> dict[str, Any]:
        env = Environment()     # each refresh reads the state afresh
        mode, source = current_mode(env.config, env.store, mode_name, state=env.state())
        snap = snapshot.gather(env)
        return status_data(env.config, snap, mode, source)

    if as_json:
        import json

        data = collect()
        click.echo(json.dumps(data, indent=2))
        return _exit_code(data)
    from rich.console import Console

    console = Console()
    if not watch:
        data = collect()
        console.print(render(data, console.width))
        return _exit_code(data)
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):     # Ctrl-C is how --watch stops: no error
        _watch(console, collect, interval)
    return 0


def _exit_code(data: dict[str, Any]) -> int:
    """4 when no backend answers (DESIGN.md's "no backend reachable"), after the table."""
    return 0 if any(b["reachable"] for b in data["backends"]) else 4


def _watch(console: Any, collect: Any, interval: float) -> None:
    if console.is_dumb_terminal or not console.is_terminal:
        # no cursor control here (TERM=dumb, a pipe): print the table at each refresh
        while True:
            console.print(render(collect(), console.width))
            console.print()
            time.sleep(interval)
    from rich.live import Live

    with Live(render(collect(), console.width), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(interval)
            live.update(render(collect(), console.width), refresh=True)
