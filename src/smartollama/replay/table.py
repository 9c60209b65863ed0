"""The replay's table: one row a metric, one column a policy, the best in each row marked."""

from __future__ import annotations

from typing import IO, Any

from smartollama.replay.metrics import HIGHER_IS_BETTER, TARGETS, meets

#: metric → (label, format)
ROWS: dict[str, tuple[str, str]] = {
    "ttft_p50_interactive_s": ("TTFT p50, interactive", "s"),
    "ttft_p95_interactive_s": ("TTFT p95, interactive", "s"),
    "ttft_p50_critical_s": ("TTFT p50, critical", "s"),
    "ttft_p95_critical_s": ("TTFT p95, critical", "s"),
    "loads_per_hour": ("loads per hour", "f"),
    "vram_efficiency": ("VRAM efficiency", "%"),
    "quality_met": ("quality threshold met", "%"),
    "fallback_rate": ("fallback rate", "%"),
    "oom": ("out of memory", "n"),
    "refused": ("refused", "n"),
    "energy_wh": ("energy", "Wh"),
    "mode_compliance": ("mode compliance", "%"),
}


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "s":
        return f"{value:.2f} s"
    if kind == "%":
        return f"{100 * value:.1f} %"
    if kind == "n":
        return str(int(value))
    if kind == "Wh":
        return f"{value:,.0f} Wh"
    return f"{value:.2f}"


def target_text(metric: str) -> str:
    if metric not in TARGETS:
        return ""
    op, limit = TARGETS[metric]
    kind = ROWS[metric][1]
    shown = f"{100 * limit:.0f} %" if kind == "%" else f"{limit:g} s" if kind == "s" else f"{limit:g}"
    return f"{op} {shown}"


def best(metric: str, values: list[Any]) -> set[int]:
    """Columns holding the row's best value (all of them on a tie)."""
    present = [v for v in values if v is not None]
    if not present or metric not in HIGHER_IS_BETTER:
        return set()
    top = max(present) if HIGHER_IS_BETTER[metric] else min(present)
    return {i for i, v in enumerate(values) if v is not None and v == top}


def text(report: dict[str, Any]) -> str:
    """The table as plain text, 110 columns, without trailing spaces (the README's copy)."""
    import io

    buf = io.StringIO()
    render(report, buf, color=False, width=WIDTH)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


#: the table's width when the output is not a terminal
WIDTH = 110


def render(report: dict[str, Any], out: IO[str], *, color: bool, width: int | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    runs = report["runs"]
    tr = report["trace"]
    table = Table(title=f"{tr['requests']} requests over {tr['hours']:g} h on fleet "
                        f"{report['fleet']!r}", title_justify="left")
    table.add_column("metric")
    for r in runs:
        table.add_column(r["name"], justify="right")
    table.add_column("target", justify="right")
    for metric, (label, kind) in ROWS.items():
        values = [r["metrics"].get(metric) for r in runs]
        top = best(metric, values)
        cells = []
        for i, v in enumerate(values):
            text = fmt(v, kind) + (" *" if i in top and len(top) < len(values) else "  ")
            style = "bold green" if i in top and len(top) < len(values) else ""
            if meets(metric, v) is False:
                style = "red"
            cells.append(f"[{style}]{text}[/]" if style else text)
        table.add_row(label, *cells, target_text(metric))
    console = Console(file=out, no_color=not color, highlight=False, width=width,
                      force_terminal=color or None, emoji=False)
    console.print(table)
    console.print("* best in its row; red: misses its target. Metrics: docs/replay.md")
