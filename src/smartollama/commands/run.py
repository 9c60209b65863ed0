"""`sollama run` and `sollama route` as click commands: help, completion and
click's error messages, built from `runargs.OPTIONS`. What the commands do is
`routed.run` and `routed.route`; a command line `runargs.parse` is sure of runs
them without importing this module (see `runargs`'s docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from smartollama.commands import routed, runargs
from smartollama.commands.routed import build_request, report  # noqa: F401  (used elsewhere)
from smartollama.commands.runargs import THINK_VALUES  # noqa: F401
from smartollama.complete import complete_backends, complete_models, complete_modes

_COMPLETE = {"mode": complete_modes, "backend_id": complete_backends}


def _check(error: Callable[[str], str | None]) -> Callable[[Any, Any, str | None], str | None]:
    def callback(ctx: Any, param: Any, value: str | None) -> str | None:
        why = None if value is None else error(value)
        if why:
            raise click.BadParameter(why)
        return value
    return callback


def _option(o: runargs.Opt) -> Callable[[Any], Any]:
    kw: dict[str, Any] = {"help": o.help}
    if o.kind == "flag":
        kw.update(is_flag=True, default=o.default)
    elif o.kind == "choice":
        kw.update(type=click.Choice(o.choices), default=o.default,
                  show_default=o.default is not None)
    elif o.kind == "int":
        kw.update(type=click.IntRange(_int(o.low), _int(o.high)), metavar=o.metavar)
    elif o.kind == "float":
        kw.update(type=click.FloatRange(o.low, o.high), metavar=o.metavar)
    else:
        kw.update(default=None, metavar=o.metavar)
    if o.kind == "duration":
        kw["callback"] = _check(runargs.duration_error)
    if o.kind == "think":
        kw["callback"] = _check(runargs.think_error)
    if o.dest in _COMPLETE:
        kw["shell_complete"] = _COMPLETE[o.dest]
    return click.option(*o.flags, o.dest, **kw)


def _int(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


def _options(command: str) -> Callable[[Any], Any]:
    def decorate(f: Any) -> Any:
        for o in reversed(runargs.options_of(command)):
            f = _option(o)(f)
        return f
    return decorate


class _RunCommand(click.Command):
    """`--think` takes a value only as `--think=VALUE` (`runargs.think_args`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, runargs.think_args(args))


@click.command("run", cls=_RunCommand)
@click.argument("model", shell_complete=complete_models)
@click.argument("prompt", nargs=-1)
@_options("run")
def run_command(**params: Any) -> int:
    """Route, then run MODEL with PROMPT (as `ollama run`).

    Piped standard input is put before the PROMPT words, joined with one space,
    as `ollama run` does. With neither a prompt nor piped input on a terminal,
    an interactive session starts (/bye to leave, \"\"\" for several lines).
    """
    return routed.run(**params)


@click.command("route", cls=_RunCommand)
@click.argument("model", shell_complete=complete_models)
@_options("route")
def route_command(**params: Any) -> int:
    """Decide where MODEL would run, and print the verdict; run nothing.

    Exit 0 for a runnable decision, 3 for a refusal (with suggestions). The
    line fits 100 columns; `-v` and `sollama why` give the long form.
    """
    return routed.route(**params)


def check_duration(value: str | None) -> str | None:
    """`--keepalive`'s check, for other commands' duration options."""
    return _check(runargs.duration_error)(None, None, value)
