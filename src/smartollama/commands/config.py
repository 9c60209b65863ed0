"""`sollama config show|check|path`: the effective config, validated."""

from __future__ import annotations

import click


@click.group("config")
def config_command() -> None:
    """Show or check the effective config (SOLLAMA_CONFIG, else the user config dir)."""


@config_command.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of TOML.")
def show(as_json: bool) -> int:
    """Print the effective config: the file merged with the built-in defaults."""
    from smartollama.env import Environment

    cfg = Environment().config
    data = cfg.to_dict(exclude_none=True)
    for b in data.get("backends", []):   # never print credentials
        if b.get("headers"):
            b["headers"] = {k: "***" for k in b["headers"]}
        for table, key in ((b, "host"), (b.get("telemetry") or {}, "url")):
            if table.pop("auth", None):
                table[key] = _with_stars(table[key])
    if as_json:
        import json

        click.echo(json.dumps(data, indent=2))
    else:
        import tomli_w

        click.echo(f"# effective config, from {cfg.source}")
        click.echo(tomli_w.dumps(data).rstrip())
    return 0


def _with_stars(url: str) -> str:
    """A URL whose credentials were split off, shown with them as `***`."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest}"


@config_command.command("check")
def check() -> int:
    """Validate the config file; exit 1 with the file and key on an error."""
    from smartollama.env import Environment

    cfg = Environment().config
    click.echo(f"{cfg.source}: ok ({len(cfg.backends)} backend(s), modes: "
               f"{', '.join(cfg.modes)}; default mode {cfg.default_mode})")
    return 0


@config_command.command("path")
def path() -> int:
    """Print where sollama looks for its config file."""
    from smartollama.paths import config_path

    click.echo(str(config_path()))
    return 0
