"""A recorded decision explained for a person (`sollama why`).

One function, :func:`explain`, builds the explanation once as sections of
rows, then lays it out with rich, wrapped to the terminal's width (`COLUMNS`;
80 when piped): plainly (piped output, NO_COLOR) or in a coloured panel (a
terminal). Both carry the same information: what was
asked, each backend in the fallback chain with its reading and why it was
accepted or rejected, the action and its reason, warnings, suggestions as
commands to type, and what happened when it ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartollama.names import printable
from smartollama.vocab import SHOWN_READINGS, number, reading_label

if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.verdict import ChainEntry, Suggestion, Verdict

_ACTION_WORDS = {
    "run": "run as asked",
    "substitute": "substituted a smaller equivalent model",
    "override": "ran the model, overriding the mode",
    "refuse": "ran nothing (see the suggestions)",
}
_BASIS_WORDS = {
    "observed": "as observed once loaded",
    "model_info": "from the model's metadata",
    "name": "estimated from the name",
}


@dataclass
class _Row:
    label: str
    text: str
    style: str = ""


@dataclass
class _Section:
    title: str
    rows: list[_Row] = field(default_factory=list)
    #: a table instead of rows: header, then one list of cells a row
    header: list[str] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)   # one a table row


def explain(verdict: Verdict, config: Config | None, *, rich: bool) -> Any:
    """The decision explained, as a rich renderable: in a coloured panel (``rich``, a
    terminal) or plain; :func:`render` makes the plain one text of a given width."""
    headline = verdict.line()
    subtitle = f"decision {verdict.id}" + (f" at {verdict.time}" if verdict.time else "")
    return _layout(headline, subtitle, _sections(verdict, config), verdict, styled=rich)


# -- what is said -------------------------------------------------------------------------


def _sections(v: Verdict, config: Config | None) -> list[_Section]:
    limits = dict(v.limits)
    if not limits and config is not None and v.mode in config.modes:
        limits = config.modes[v.mode].limits()
    out = [_asked(v, config, limits), _decision(v), _chain(v, limits)]
    if v.warnings:
        out.append(_Section("Warnings", [_Row("!", w, "yellow") for w in v.warnings]))
    if v.suggestions:
        out.append(_suggestions(v))
    out.append(_outcome(v))
    return [s for s in out if s.rows or s.table]


def _asked(v: Verdict, config: Config | None, limits: dict[str, float]) -> _Section:
    s = _Section("Asked")
    s.rows.append(_Row("model", printable(v.model_requested)))
    s.rows.append(_Row("mode", f"{v.mode} ({describe_limits(limits)})"))
    urgency = v.urgency
    if config is not None and v.urgency in config.urgency:
        u = config.urgency[v.urgency]
        bits = []
        if u.max_wait_s is not None:
            bits.append(f"wait ≤ {u.max_wait_s:g} s")
        if u.warn_wait_s is not None:
            bits.append(f"warn over {u.warn_wait_s:g} s")
        if u.min_tokens_per_s is not None:
            bits.append(f"≥ {u.min_tokens_per_s:g} tokens/s")
        urgency += f" ({', '.join(bits) or 'no limit'})"
    s.rows.append(_Row("urgency", urgency))
    s.rows.append(_Row("task", v.task))
    if v.policy:
        s.rows.append(_Row("policy", v.policy))
    if v.prompt_chars is not None:
        text = f"{v.prompt_chars} characters"
        if v.prompt_sha256:
            text += f", sha256 {v.prompt_sha256[:12]}…"
        s.rows.append(_Row("prompt", text))
    return s


def _decision(v: Verdict) -> _Section:
    s = _Section("Decision")
    action = f"{v.action}: {_ACTION_WORDS.get(v.action, v.action)}"
    flags = [f for f, on in (("mode overridden", v.mode_overridden and v.action != "override"),
                             ("model substituted",
                              v.model_substituted and v.action != "substitute")) if on]
    if flags:
        action += f" ({', '.join(flags)})"
    style = {"run": "green", "substitute": "cyan", "override": "yellow", "refuse": "red"}
    s.rows.append(_Row("action", action, style.get(v.action, "")))
    if v.reason:
        s.rows.append(_Row("reason", v.reason))
    if v.model_used or v.backend_used:
        used = printable(f"{v.model_used or '?'} on {v.backend_used or '?'}")
        if v.host:
            used += f" ({v.host})"
        s.rows.append(_Row("used", used))
    est = _estimate(v)
    if est:
        s.rows.append(_Row("estimate", est))
    return s


def _estimate(v: Verdict) -> str:
    e = v.estimate
    bits: list[str] = []
    if e.memory_gb is not None:
        bits.append(f"needs ~{e.memory_gb:.1f} GB ({_BASIS_WORDS.get(e.basis, e.basis)})")
    if e.gpu_share is not None and e.gpu_share < 1:
        bits.append(f"{e.gpu_share:.0%} of layers on the device")
    if e.loaded:
        bits.append("already loaded")
    if e.wait_s is not None:
        w = f"wait ~{e.wait_s:.1f} s"
        if e.wait_basis:
            w += f" ({e.wait_basis})"
        bits.append(w)
    if e.tokens_per_s is not None:
        bits.append(f"~{e.tokens_per_s:.1f} tokens/s")
    if e.quality is not None:
        bits.append(f"quality {e.quality:.2f}")
    return ", ".join(bits)


def _chain(v: Verdict, limits: dict[str, float]) -> _Section:
    s = _Section("Backends (fallback chain, in the order considered)")
    s.header = ["", "backend", "model", "reading", "verdict"]
    seen: set[str] = set()
    chosen_done = False
    for e in v.fallback_chain:
        model = printable(e.model or "")
        chosen = (not chosen_done and e.accepted and e.backend == v.backend_used
                  and (e.model is None or e.model == v.model_used))
        chosen_done = chosen_done or chosen
        status = _status(e, chosen)
        mark = "✓" if e.accepted else "✗"
        s.table.append([mark, printable(e.backend), model,
                        describe_reading(v.telemetry.get(e.backend), limits), printable(status)])
        s.styles.append("green" if chosen else ("" if e.accepted else "red"))
        seen.add(e.backend)
    for backend, reading in v.telemetry.items():
        if backend not in seen:
            s.table.append(["·", backend, "", describe_reading(reading, limits),
                            "not considered"])
            s.styles.append("dim")
    return s


def _status(e: ChainEntry, chosen: bool) -> str:
    """chosen / accepted (a fallback) / "not chosen" (it could run, with a violation) / rejected."""
    word = ("chosen" if chosen else "accepted" if e.accepted else
            "not chosen" if e.violations else "rejected")
    return f"{word}: {e.reason}" if e.reason else word


def _suggestions(v: Verdict) -> _Section:
    s = _Section("Suggestions (each would succeed if asked)")
    for sug in v.suggestions:
        s.rows.append(_Row("$", suggestion_command(v, sug) + (f"\n# {sug.why}" if sug.why else ""),
                           "cyan"))
    return s


def _outcome(v: Verdict) -> _Section:
    s = _Section("Outcome")
    o = v.outcome
    if o is None:
        s.rows.append(_Row("status", "not run (decided only, or interrupted before running)"))
        return s
    style = {"ok": "green", "error": "red", "interrupted": "yellow"}.get(o.status, "")
    s.rows.append(_Row("status", o.status, style))
    if o.backend_used and o.backend_used != v.backend_used:
        s.rows.append(_Row("answered", f"by {o.backend_used} (fallback)"))
    figures: list[str] = []
    if o.load_s is not None:
        figures.append(f"load {o.load_s:.2f} s" if o.load_s else "no load (already loaded)")
    if o.eval_tokens is not None:
        t = f"{o.eval_tokens} tokens"
        if o.tokens_per_s is not None:
            t += f" at {o.tokens_per_s:.1f} tokens/s"
        figures.append(t)
    elif o.tokens_per_s is not None:
        figures.append(f"{o.tokens_per_s:.1f} tokens/s")
    if o.total_s is not None:
        figures.append(f"{o.total_s:.2f} s in all")
    if o.energy_j is not None:
        figures.append(f"energy {o.energy_j:.0f} J")
    if figures:
        s.rows.append(_Row("figures", ", ".join(figures)))
    for i, a in enumerate(o.attempts, 1):
        s.rows.append(_Row(f"attempt {i}", _attempt(a)))
    if o.error:
        s.rows.append(_Row("error", o.error, "red"))
    return s


def _attempt(a: dict[str, Any]) -> str:
    who = " ".join(str(a[k]) for k in ("backend", "model") if a.get(k))
    what = next((str(a[k]) for k in ("error", "reason", "status") if a.get(k)), "")
    rest = {k: x for k, x in a.items() if k not in ("backend", "model", "error", "reason",
                                                    "status")}
    text = f"{who or '?'}: {what}" if what else (who or "?")
    if rest:
        text += " (" + ", ".join(f"{k} {x}" for k, x in rest.items()) + ")"
    return text


# -- small, public helpers ----------------------------------------------------------------


def describe_limits(limits: dict[str, float]) -> str:
    """{"fan_pct": 40, "temp_c": 80} → "fan ≤ 40%, temp ≤ 80 °C"."""
    bits = []
    for f, limit in limits.items():
        label, unit = reading_label(f)
        bits.append(f"{label} ≤ {number(limit)}{unit}")
    return ", ".join(bits) or "no limits"


def describe_reading(reading: dict[str, float] | None, limits: dict[str, float]) -> str:
    """A backend's reading, each value over the mode's limit marked; a limited
    value the device could not give is shown as n/a."""
    if reading is None:
        return "not read"
    bits = []
    for f in SHOWN_READINGS:
        label, unit = reading_label(f)
        value = reading.get(f)
        if value is None:
            if f in limits:
                bits.append(f"{label} n/a")
            continue
        text = f"{label} {number(value)}{unit}"
        if f in limits and value > limits[f]:
            text += f" (over {number(limits[f])})"
        bits.append(text)
    return ", ".join(bits) or "no reading"


def suggestion_command(v: Verdict, sug: Suggestion) -> str:
    """A suggestion as the command that would follow it."""
    return v.suggestion_command(sug)


# -- layouts -----------------------------------------------------------------------------


def render(verdict: Verdict, config: Config | None, *, width: int) -> str:
    """The plain layout as text, wrapped to ``width`` columns (piped output, NO_COLOR)."""
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=max(width, 40), no_color=True, color_system=None, highlight=False,
            emoji=False).print(explain(verdict, config, rich=False))
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


def _layout(headline: str, subtitle: str, sections: list[_Section], v: Verdict, *,
            styled: bool) -> Any:
    """Rows as a two-column grid and the chain as one row a backend (its reading, then
    its verdict, under it), each wrapped by rich to the console's width; ``styled``: in a
    panel, in colour."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    def text(value: str, style: str = "") -> Text:
        return Text(value, style=style if styled else "")

    style = {"run": "green", "substitute": "cyan", "override": "yellow", "refuse": "red"}
    parts: list[Any] = [text(headline, f"bold {style.get(v.action, '')}".strip())]
    if not styled:
        parts.append(Text(subtitle))
    for s in sections:
        parts += [Text(""), text(s.title, "bold")]
        grid = Table.grid(padding=(0, 2), pad_edge=True)
        grid.add_column(style="dim" if styled else "", no_wrap=True)
        if s.table:
            grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for r in s.rows:
            grid.add_row(text(r.label), text(r.text, r.style))
        for row, row_style in zip(s.table, s.styles, strict=False):
            mark, backend, model, reading, verdict = row
            detail = text(reading, "dim")
            detail.append("\n" + (f"{model}: " if model else "") + verdict,
                          style=row_style if styled else "")
            grid.add_row(text(mark, row_style), text(backend, row_style), detail)
        parts.append(grid)
    if not styled:
        return Group(*parts)
    return Panel(Group(*parts), title="sollama why", subtitle=subtitle,
                 title_align="left", subtitle_align="right")
