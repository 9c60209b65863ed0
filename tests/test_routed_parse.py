"""`sollama run` and `sollama route` parse their own arguments (no click on the hot
path): whatever that parser accepts, click parses to the same values; what it is
not sure of goes to click, which says what is wrong."""

from __future__ import annotations

from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_sollama
from smartollama.commands import runargs
from smartollama.commands.run import route_command, run_command

COMMANDS = {"run": run_command, "route": route_command}


def click_params(argv: list[str]) -> dict[str, Any] | None:
    """What click makes of the command line; None where it refuses it."""
    cmd = COMMANDS[argv[0]]
    try:
        with cmd.make_context(argv[0], list(argv[1:])) as ctx:
            return dict(ctx.params)
    except (click.ClickException, click.exceptions.Exit):
        return None


FLAGS = sorted({f for o in runargs.OPTIONS for f in o.flags}
               | {"-h", "--help", "--nope", "-qv", "-", "--", "--json=1", "-q=1"})
VALUES = ["0", "1", "0.5", "1.5", "-1", "256", "255", "4096", " 12", "1_000", "1e-1", "nan",
          "json", "5m", "1.5", "-5m", "true", "false", "high", "max", "maybe", "quiet",
          "critical", "batch", "code", "substitute", "ask", "bogus", "ollama-nvidia", ""]
WORDS = ["llama3:8b", "qwen2.5:0.5b", "hi", "why is the sky blue?", "-x", "--think=high",
         "--think=maybe", "--mode=quiet", "--num-ctx=8192", "--min-quality=0.7",
         "--keepalive=10m", "--format=json", "--urgency=batch", "--think"]
token = st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES), st.sampled_from(WORDS))


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(["run", "route"]), st.lists(token, max_size=8))
def test_what_the_fast_parser_accepts_click_parses_the_same(command: str,
                                                            tokens: list[str]) -> None:
    argv = [command, *tokens]
    fast = runargs.parse(argv)
    if fast is None:
        return
    assert fast[0] == command
    assert click_params(argv) == fast[1], argv


@pytest.mark.parametrize("argv", [
    ["run", "llama3:8b", "hi"],
    ["run", "llama3:8b", "why", "is", "the", "sky", "blue?"],
    ["run", "llama3:70b", "--mode", "quiet", "--policy", "prefer_mode", "hi"],
    ["run", "qwen3:8b", "--think", "hi"],
    ["run", "qwen3:8b", "--think=high", "--hidethinking", "hi"],
    ["run", "llama3:8b", "--keepalive", "10m", "--format", "json", "--verbose", "hi"],
    ["run", "nomic-embed-text", "--dimensions", "64", "text"],
    ["run", "llama3:8b", "hi", "--json", "-q"],
    ["run", "llama3:8b", "--", "--not-an-option"],
    ["route", "llama3:8b"],
    ["route", "llama3:70b", "--mode", "quiet", "--json"],
    ["route", "auto", "--task", "code", "--min-quality", "0.7", "--urgency", "batch", "-v"],
    ["route", "llama3:8b", "--backend", "ollama-nvidia", "--num-ctx", "8192"],
])
def test_the_usual_command_lines_take_the_fast_path(argv: list[str]) -> None:
    fast = runargs.parse(argv)
    assert fast is not None, argv
    assert click_params(argv) == fast[1]


@pytest.mark.parametrize("argv", [
    ["run"], ["run", "--help"], ["route", "-h"], ["route", "a", "b"],
    ["run", "m", "--urgency", "soon"], ["run", "m", "--num-ctx", "12"],
    ["run", "m", "--think=maybe"], ["run", "m", "--keepalive", "1.5"], ["route", "m", "-qv"],
    ["run", "m", "--unknown"], ["run", "m", "--mode"],
])
def test_anything_else_is_clicks_to_parse(argv: list[str]) -> None:
    assert runargs.parse(argv) is None


def test_a_bad_value_still_gets_clicks_message_and_exit_2() -> None:
    r = run_sollama("route", "llama3:8b", "--urgency", "soon")
    assert r.returncode == 2
    assert "Invalid value for '--urgency': 'soon' is not one of" in r.stderr
    assert "Usage: sollama route [OPTIONS] MODEL" in r.stderr
