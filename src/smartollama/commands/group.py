"""The click group of every command: `sollama --help`, completion, and each
command's module loaded on first use (`cli.COMMANDS`)."""

from __future__ import annotations

from typing import Any

import click

from smartollama import __version__
from smartollama.cli import ALIASES, COMMANDS, PASSTHROUGH


class SollamaGroup(click.Group):
    """Loads each command's module on first use; unknown commands go to `ollama`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = ALIASES.get(cmd_name, cmd_name)
        if name not in COMMANDS:
            return None
        import importlib

        module = importlib.import_module(f"smartollama.commands.{COMMANDS[name][0]}")
        cmd: click.Command = getattr(module, name.replace("-", "_") + "_command")
        return cmd

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        items = super().shell_complete(ctx, incomplete)
        items += [CompletionItem(name, help="(the real ollama)") for name in PASSTHROUGH
                  if name.startswith(incomplete)]
        return items

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        rows.append(("<other>", "Handed to the real `ollama` (pull, show, create, rm, ...)."))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=SollamaGroup, context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=True)
@click.option("--debug", is_flag=True, envvar="SOLLAMA_DEBUG",
              help="Show tracebacks instead of one-line errors.")
@click.option("-v", "--version", "show_version", is_flag=True,
              help="Show sollama's version (and the real ollama's, if installed).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, show_version: bool) -> None:
    """sollama: `ollama run`, routed by model fit, thermals and efficiency mode.

    Each call reads the hardware's telemetry and the backends' models, then runs
    the model where it fits and the mode allows, substitutes a smaller
    equivalent, overrides the mode with a warning, or refuses with suggestions.
    `sollama why` explains the last decision.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if show_version:
        click.echo(f"sollama version {__version__}")
        from smartollama.passthrough import real_ollama

        binary = real_ollama()
        if binary:
            import subprocess

            ctx.exit(subprocess.call([binary, "--version"]))
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
