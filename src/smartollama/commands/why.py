"""`sollama why [N]`: explain a recorded decision; list, locate or clear the history."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.state import StateStore


@click.command("why")
@click.argument("n", metavar="[N|ID]", default="1", required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print the decision as recorded (with --list: all of them, as an array).")
@click.option("--list", "as_list", is_flag=True, help="List the recorded decisions, newest first.")
@click.option("--path", "show_path", is_flag=True,
              help="Print the state directory (state.json, history.jsonl).")
@click.option("--clear", is_flag=True,
              help="Forget the recorded decisions (the mode and learned figures stay).")
def why_command(n: str, as_json: bool, as_list: bool, show_path: bool, clear: bool) -> None:
    """Explain the last decision, or the N-th last (2 = the one before), or the one
    with decision ID (what `sollama proxy` sends as X-Sollama-Decision).

    Shows what was asked, each backend considered with its reading and why it
    was accepted or rejected, the action and its reason, warnings,
    suggestions as commands to type, and what happened when it ran.
    """
    decision_id = None
    if not n.isdigit():
        decision_id = n
    elif int(n) < 1:
        raise click.BadParameter(f"{n} is not in the range x>=1.", param_hint="'[N|ID]'")
    config, store = _config_and_store()
    try:
        _why(config, store, int(n) if decision_id is None else 1, decision_id, as_json=as_json, as_list=as_list, show_path=show_path,
             clear=clear)
    finally:
        for w in store.drain_warnings():
            click.echo(f"sollama: warning: {w}", err=True)


def _config_and_store() -> tuple[Config | None, StateStore]:
    """The config and state store; with a broken config, the history can
    still be explained (without the config's limits), so warn and go on."""
    from smartollama.env import Environment
    from smartollama.errors import ConfigError

    env = Environment()
    try:
        return env.config, env.store
    except ConfigError as e:
        store = env.store       # the default lock time-out and history size
        store.warn(f"config not loaded ({e.message}); explaining without it")
        return None, store


def _why(config: Config | None, store: StateStore, n: int, decision_id: str | None, *,
         as_json: bool, as_list: bool, show_path: bool, clear: bool) -> None:
    import json

    from smartollama.errors import SollamaError

    if show_path:
        click.echo(str(store.directory))
        return
    if clear:
        with store.update() as st:
            count = len(st.history)
            st.history.clear()
        if not store.saved:
            why = "; ".join(store.drain_warnings()) or "the state cache could not be written"
            raise SollamaError(f"history not cleared: {why}")
        click.echo(f"cleared {count} recorded decision{'s' if count != 1 else ''} "
                   f"from {store.history_path}")
        return
    history = store.read().history
    if as_list:
        if as_json:
            click.echo(json.dumps(history, ensure_ascii=False))
            return
        if not history:
            raise SollamaError("no decisions recorded yet")
        _list(history)
        return
    if not history:
        off = config is not None and not config.history.enabled
        raise SollamaError("no decisions recorded yet",
                           hint="recording is off: [history] enabled = false in the config"
                           if off else "each `sollama run` records one")
    if decision_id is not None:
        n = next((i for i, h in enumerate(history, 1) if h.get("id") == decision_id), 0)
        if not n:
            raise SollamaError(f"no decision {decision_id!r} among the {len(history)} recorded",
                               hint="`sollama why --list` shows them")
    if n > len(history):
        count = len(history)
        raise SollamaError(
            f"no decision {n}: {count} recorded "
            f"(`sollama why {count}` is the oldest)" if count > 1 else
            f"no decision {n}: only 1 recorded (`sollama why` shows it)")
    record = history[n - 1]
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False))
        return
    _explain(config, record, n)


def _explain(config: Config | None, record: dict[str, Any], n: int) -> None:
    from smartollama.errors import SollamaError
    from smartollama.explain import explain
    from smartollama.verdict import Verdict, VerdictError

    try:
        # a refusal recorded without its null model_used/backend_used still reads
        verdict = Verdict.from_dict({"model_used": None, "backend_used": None, **record})
    except VerdictError as e:
        raise SollamaError(
            f"decision {n} does not read as a verdict ({e.where}: {e.msg})",
            hint=f"`sollama why {n} --json` shows it as recorded") from None
    if sys.stdout.isatty():
        from rich.console import Console

        from smartollama import app

        Console(no_color=not app.use_color(), highlight=False).print(
            explain(verdict, config, rich=True))
    else:
        import shutil

        from smartollama.explain import render

        click.echo(render(verdict, config, width=shutil.get_terminal_size().columns), nl=False)


# -- the list ----------------------------------------------------------------------------


def _row(i: int, rec: dict[str, Any]) -> list[str]:
    time_ = str(rec.get("time") or "")
    short = time_.replace("T", " ")[:19] if time_ else "?"
    requested = str(rec.get("model_requested") or "?")
    used = rec.get("model_used")
    model = requested if not used or used == requested else f"{requested} → {used}"
    outcome = rec.get("outcome")
    if isinstance(outcome, dict):
        out = str(outcome.get("status") or "?")
        tps = outcome.get("tokens_per_s")
        if isinstance(tps, int | float):
            out += f" {tps:.1f} tok/s"
    else:
        out = "-" if rec.get("action") != "refuse" else "refused"
    return [str(i), short, str(rec.get("action") or "?"), model,
            str(rec.get("backend_used") or "-"), str(rec.get("mode") or "?"), out]


_HEADER = ["N", "time", "action", "model (requested → used)", "backend", "mode", "outcome"]


def _list(history: list[dict[str, Any]]) -> None:
    rows = [_row(i, rec) for i, rec in enumerate(history, 1)]
    if sys.stdout.isatty():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        from smartollama import app

        table = Table(title=f"{len(rows)} recorded decisions, newest first",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                      collapse_padding=True, show_edge=False)
        for i, h in enumerate(_HEADER):
            table.add_column("model" if i == 3 else h, no_wrap=i in (0, 1, 2, 4, 5),
                             min_width={3: 14, 6: 13}.get(i),
                             justify="right" if i == 0 else "left")
        styles = {"run": "green", "substitute": "cyan", "override": "yellow", "refuse": "red"}
        for row in rows:
            short_time = row[1][5:16] if len(row[1]) >= 16 else row[1]   # MM-DD HH:MM
            table.add_row(row[0], short_time, *row[2:], style=styles.get(row[2]))
        Console(no_color=not app.use_color(), highlight=False).print(table)
        return
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    for r in [_HEADER, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
