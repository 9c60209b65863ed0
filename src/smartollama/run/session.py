"""The interactive session's slash commands, as cmd/interactive.go has them.

`/set` (parameter, system, format, think, verbose, wordwrap), `/show system`
and `/show parameters`, `/clear`, and the help pages (`/?`, `/? set`,
`/? show`, `/? shortcuts`). Help goes to stderr and confirmations to stdout,
with Ollama's words.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartollama.run.stream import RunOptions

USAGE = """Available Commands:
  /set            Set session variables
  /show           Show model information
  /clear          Clear session context
  /bye            Exit
  /?, /help       Help for a command
  /? shortcuts    Help for keyboard shortcuts

Use \"\"\" to begin a multi-line message.

"""
USAGE_SET = """Available Commands:
  /set parameter ...     Set a parameter
  /set system <string>   Set system message
  /set wordwrap          Enable wordwrap
  /set nowordwrap        Disable wordwrap
  /set format json       Enable JSON mode
  /set noformat          Disable formatting
  /set verbose           Show LLM stats
  /set quiet             Disable LLM stats
  /set think             Enable thinking
  /set nothink           Disable thinking

"""
USAGE_SHOW = """Available Commands:
  /show parameters   Show parameters for this model
  /show system       Show system message

"""
USAGE_SHORTCUTS = """Available keyboard shortcuts:
  Ctrl + a            Move to the beginning of the line (Home)
  Ctrl + e            Move to the end of the line (End)
  Ctrl + k            Delete the sentence after the cursor
  Ctrl + u            Delete the sentence before the cursor
  Ctrl + w            Delete the word before the cursor

  Ctrl + l            Clear the screen
  Ctrl + c            Stop the model from responding
  Ctrl + d            Exit sollama (/bye)

"""
_FLAGS = {"wordwrap": ("wordwrap", True), "nowordwrap": ("wordwrap", False),
          "verbose": ("verbose", True), "quiet": ("verbose", False)}


def _out(text: str) -> None:
    sys.stdout.write(text)


def _err(text: str) -> None:
    sys.stderr.write(text)


def command(line: str, opts: RunOptions, messages: list[dict[str, Any]]) -> None:
    """Act on one slash command (not /bye); an unknown one says so."""
    args = line.split()
    head = args[0]
    if head in ("/?", "/help"):
        topic = args[1] if len(args) > 1 else ""
        _err({"set": USAGE_SET, "/set": USAGE_SET, "show": USAGE_SHOW, "/show": USAGE_SHOW,
              "shortcut": USAGE_SHORTCUTS, "shortcuts": USAGE_SHORTCUTS}.get(topic, USAGE)
             if topic else USAGE)
    elif head == "/clear":
        messages[:] = [m for m in messages if m["role"] == "system"][-1:]
        _out("Cleared session context\n")
    elif head == "/set":
        _set(args, line, opts, messages)
    elif head == "/show":
        _show(args, opts, messages)
    else:
        _out(f"Unknown command '{head}'. Type /? for help\n")


def _set(args: list[str], line: str, opts: RunOptions, messages: list[dict[str, Any]]) -> None:
    what = args[1] if len(args) > 1 else ""
    if not what:
        _err(USAGE_SET)
    elif what in _FLAGS:
        name, value = _FLAGS[what]
        setattr(opts, name, value)
        _out(f"Set '{what}' mode.\n")
    elif what in ("think", "nothink"):
        level = args[2] if what == "think" and len(args) > 2 else None
        opts.think = level or what == "think"
        _out(f"Set 'think' mode to '{level}'.\n" if level else f"Set '{what}' mode.\n")
    elif what == "format":
        if len(args) < 3 or args[2] != "json":
            _out("Invalid or missing format. For 'json' mode use '/set format json'\n")
        else:
            opts.format = "json"
            _out("Set format to 'json' mode.\n")
    elif what == "noformat":
        opts.format = None
        _out("Disabled format.\n")
    elif what == "parameter":
        _parameter(args, opts)
    elif what == "system":
        _system(line, messages)
    else:
        _out(f"Unknown command '/set {what}'. Type /? for help\n")


def _parameter(args: list[str], opts: RunOptions) -> None:
    if len(args) < 4:
        _err("Available Parameters:\n  /set parameter <name> <value>\n\n")
        return
    name, values = args[2], args[3:]
    opts.options[name] = values if name == "stop" else _value(values[0])
    _out(f"Set parameter '{name}' to '{', '.join(values)}'\n")


def _value(text: str) -> Any:
    """A parameter's value: an integer, a number, a bool, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _system(line: str, messages: list[dict[str, Any]]) -> None:
    text = line.split(None, 2)[2] if len(line.split(None, 2)) > 2 else ""
    if not text:
        _err(USAGE_SET)
        return
    text = text.removeprefix('"""').removesuffix('"""')
    message = {"role": "system", "content": text}
    if messages and messages[-1]["role"] == "system":
        messages[-1] = message
    else:
        messages.append(message)
    _out("Set system message.\n")


def _show(args: list[str], opts: RunOptions, messages: list[dict[str, Any]]) -> None:
    what = args[1] if len(args) > 1 else ""
    if what == "system":
        system = next((m["content"] for m in reversed(messages) if m["role"] == "system"), "")
        _out(system + "\n\n" if system else "No system message was specified for this model.\n")
    elif what == "parameters":
        if not opts.options:
            _out("No parameters were set for this session.\n")
            return
        _out("User defined parameters:\n")
        for k, v in opts.options.items():
            shown = " ".join(map(str, v)) if isinstance(v, list) else v
            _out(f"{k:<30} {shown}\n")
        _out("\n")
    elif what:
        _out(f"Unknown command '/show {what}'. Type /? for help\n")
    else:
        _err(USAGE_SHOW)
