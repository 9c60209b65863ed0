"""`sollama mode [NAME]`: show or set the current efficiency mode.

The mode of a call comes from, in order: `--mode`, `SOLLAMA_MODE`, the mode
saved in the state cache (`sollama mode NAME`), the config's `default_mode`
(`app.current_mode`, shared with `run`, `route` and `status`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from smartollama.complete import complete_modes

if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.state import StateStore

#: where a mode came from → how `sollama mode` says it
SOURCES = {
    "flag": "from --mode",
    "env": "from SOLLAMA_MODE",
    "state": "saved with `sollama mode NAME`",
    "default": "the config's default_mode",
}


def resolve_mode(config: Config, store: StateStore) -> tuple[str, str]:
    """The mode in force and where it came from (a key of SOURCES), by
    `app.current_mode`'s rule: SOLLAMA_MODE, the saved mode, default_mode."""
    from smartollama import app

    name, where = app.current_mode(config, store)
    key = {"--mode": "flag", "SOLLAMA_MODE": "env", "default_mode": "default"}.get(where, "state")
    return name, key


def _limits(config: Config, name: str) -> dict[str, float]:
    return config.modes[name].limits()


def _report(config: Config, store: StateStore, name: str, source: str) -> dict[str, Any]:
    return {
        "mode": name,
        "source": source,
        "limits": _limits(config, name),
        "default_mode": config.default_mode,
        "saved_mode": store.view().mode,
        "modes": {m: {"limits": lim.limits(), **({"description": lim.description}
                                                  if lim.description else {})}
                  for m, lim in config.modes.items()},
        "config": config.source,
        "state_file": str(store.path),
        "history_file": str(store.history_path),
    }


@click.command("mode")
@click.argument("name", required=False, metavar="[NAME]", shell_complete=complete_modes)
@click.option("--reset", is_flag=True, help="Forget the saved mode (back to default_mode).")
@click.option("--json", "as_json", is_flag=True, help="Print the mode and the modes as JSON.")
def mode_command(name: str | None, reset: bool, as_json: bool) -> None:
    """Show the current efficiency mode and its limits, or set it.

    With NAME, saves NAME as the mode for later calls (below --mode and
    SOLLAMA_MODE, above default_mode). Without it, shows the mode in force,
    where it came from, and the configured modes.
    """
    from smartollama.env import Environment
    from smartollama.errors import SollamaError, UsageError

    if name and reset:
        raise UsageError("give a mode NAME or --reset, not both")
    env = Environment()
    config = env.config
    store = env.store
    try:
        if name or reset:
            if name and name not in config.modes:
                raise config.unknown_mode(name)
            with store.update() as st:
                st.mode = name
            if not store.saved:
                why = "; ".join(store.drain_warnings()) or "the state cache could not be written"
                raise SollamaError(f"mode not saved: {why}")
            from_env = os.environ.get("SOLLAMA_MODE", "").strip()
            if from_env and from_env != name:
                store.warn(f"SOLLAMA_MODE={from_env} is set and overrides the saved mode here")
        saved = store.view().mode
        if saved and saved not in config.modes:
            store.warn(f"the saved mode {saved!r} is not in the config; "
                       f"using default_mode {config.default_mode!r}")
        current, source = resolve_mode(config, store)
        if as_json:
            import json

            click.echo(json.dumps(_report(config, store, current, source), ensure_ascii=False))
            return
        if name and current == name:
            lead = "mode set to"
        elif name:
            lead = f"mode {name} saved; in force here:"
        elif reset:
            lead = "saved mode cleared; mode:"
        else:
            lead = "mode:"
        _show(config, current, source, lead)
    finally:
        for w in store.drain_warnings():
            click.echo(f"sollama: warning: {w}", err=True)


def _show(config: Config, current: str, source: str, lead: str) -> None:
    from smartollama.explain import describe_limits

    click.echo(f"{lead} {current} ({SOURCES.get(source, source)})")
    click.echo(f"limits: {describe_limits(_limits(config, current))}")
    click.echo("")
    click.echo(f"modes ({config.source}):")
    width = max(len(m) for m in config.modes)
    for m, lim in config.modes.items():
        mark = "*" if m == current else " "
        line = f"{mark} {m.ljust(width)}  {describe_limits(lim.limits())}"
        if lim.description:
            line += f"  — {lim.description}"
        if m == config.default_mode:
            line += "  (default)"
        click.echo(line)
