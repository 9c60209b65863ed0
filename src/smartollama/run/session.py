"""The interactive session's slash commands, as cmd/interactive.go has them.

`/set` (parameter, system, format, think, verbose, wordwrap, history), `/show`
(info, license, modelfile, parameters, system, template: from the host that
runs the session's model), `/load`, `/save`, `/list`, `/clear`, and the help
pages (`/?`, `/? set`, `/? show`, `/? shortcuts`); sollama's own `/route`,
`/why` and `/mode`. Help goes to stderr and confirmations to stdout, with
Ollama's words. `/load` and `/mode` route again with the same `api.route` the
session started with: the model they name may run elsewhere.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartollama.env import Environment
    from smartollama.fleet import Request
    from smartollama.run.stream import RunOptions
    from smartollama.verdict import Verdict

USAGE = """Available Commands:
  /set            Set session variables
  /show           Show model information
  /load <model>   Load a session or model
  /save <model>   Save your current session
  /clear          Clear session context
  /list           List the models on every backend
  /route          Where this session runs, and why
  /why            Explain the last decision in full
  /mode [name]    Show or change this session's mode
  /bye            Exit
  /?, /help       Help for a command
  /? shortcuts    Help for keyboard shortcuts

Use \"\"\" to begin a multi-line message.

"""
USAGE_SET = """Available Commands:
  /set parameter ...     Set a parameter
  /set system <string>   Set system message
  /set history           Enable history
  /set nohistory         Disable history
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
  /show info         Show details for this model
  /show license      Show model license
  /show modelfile    Show Modelfile for this model
  /show parameters   Show parameters for this model
  /show system       Show system message
  /show template     Show prompt template

"""
USAGE_SHORTCUTS = """Available keyboard shortcuts:
  Ctrl + a            Move to the beginning of the line (Home)
  Ctrl + e            Move to the end of the line (End)
   Alt + b            Move back (left) one word
   Alt + f            Move forward (right) one word
  Ctrl + k            Delete the sentence after the cursor
  Ctrl + u            Delete the sentence before the cursor
  Ctrl + w            Delete the word before the cursor

  Ctrl + l            Clear the screen
  Ctrl + c            Stop the model from responding
  Ctrl + d            Exit sollama (/bye)

"""


@dataclasses.dataclass
class Session:
    """What the session runs and has said: the routed verdict (and the request
    it was routed from), the options, the conversation, the last turn's record."""

    verdict: Verdict
    request: Request
    opts: RunOptions
    env: Environment
    messages: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    last: Verdict | None = None     # the last turn as recorded (with its outcome)


_FLAGS = {"wordwrap": ("wordwrap", True), "nowordwrap": ("wordwrap", False),
          "verbose": ("verbose", True), "quiet": ("verbose", False)}


def _out(text: str) -> None:
    sys.stdout.write(text)


def _err(text: str) -> None:
    sys.stderr.write(text)


def command(line: str, s: Session) -> None:
    """Act on one slash command (not /bye); an unknown one says so."""
    args = line.split()
    head = args[0]
    if head in ("/?", "/help"):
        topic = args[1] if len(args) > 1 else ""
        _err({"set": USAGE_SET, "/set": USAGE_SET, "show": USAGE_SHOW, "/show": USAGE_SHOW,
              "shortcut": USAGE_SHORTCUTS, "shortcuts": USAGE_SHORTCUTS}.get(topic, USAGE)
             if topic else USAGE)
    elif head == "/clear":
        s.messages[:] = [m for m in s.messages if m["role"] == "system"][-1:]
        _out("Cleared session context\n")
    elif head == "/set":
        _set(args, line, s.opts, s.messages)
    elif head == "/show":
        _show(args, s)
    elif head in _MORE:
        _MORE[head](args, s)
    else:
        _out(f"Unknown command '{head}'. Type /? for help\n")


def _set(args: list[str], line: str, opts: RunOptions, messages: list[dict[str, Any]]) -> None:
    what = args[1] if len(args) > 1 else ""
    if not what:
        _err(USAGE_SET)
    elif what in ("history", "nohistory"):
        pass        # input() keeps a line history either way; Ollama says nothing here
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


def _show(args: list[str], s: Session) -> None:
    what = args[1] if len(args) > 1 else ""
    if not what:
        _err(USAGE_SHOW)
        return
    if what not in ("info", "license", "modelfile", "parameters", "system", "template"):
        _out(f"Unknown command '/show {what}'. Type /? for help\n")
        return
    show = _model_show(s)
    if show is None:
        _out("error: couldn't get model\n")
        return
    system = next((m["content"] for m in reversed(s.messages) if m["role"] == "system"), "")
    if what == "info":
        _err(_info(show))
    elif what == "license":
        lic = show.get("license")
        lic = "\n".join(lic) if isinstance(lic, list) else str(lic or "")
        _out((lic or "No license was specified for this model.") + "\n")
    elif what == "modelfile":
        _out(f"{show.get('modelfile') or ''}\n")
    elif what == "template":
        _out(f"{show['template']}\n" if show.get("template")
             else "No prompt template was specified for this model.\n")
    elif what == "system":
        system = system or str(show.get("system") or "")
        _out(system + "\n\n" if system else "No system message was specified for this model.\n")
    else:
        _parameters(str(show.get("parameters") or ""), s.opts)


def _parameters(defined: str, opts: RunOptions) -> None:
    _out("Model defined parameters:\n")
    if defined:
        _out("".join(f"  {line}\n" for line in defined.split("\n")))
    else:
        _out("  No additional parameters were specified for this model.\n")
    _out("\n")
    if opts.options:
        _out("User defined parameters:\n")
        for k, v in opts.options.items():
            shown = " ".join(map(str, v)) if isinstance(v, list) else v
            _out(f"  {k:<30} {shown}\n")
        _out("\n")


def _model_show(s: Session) -> dict[str, Any] | None:
    """`/api/show` of the session's model, from the host that runs it."""
    from smartollama.errors import SollamaError

    backend = _backend(s)
    if backend is None:
        return None
    try:
        with s.env.client(backend) as client:
            show: dict[str, Any] = client.show(s.verdict.model_used or "")
    except SollamaError:
        return None
    return show


def _info(show: dict[str, Any]) -> str:
    """`/show info` as showInfo lays it out: the Model table, then Capabilities."""
    details: dict[str, Any] = _dict(show.get("details"))
    info: dict[str, Any] = _dict(show.get("model_info"))
    rows: list[tuple[str, str]] = []
    if show.get("remote_host"):
        rows += [("Remote model", str(show.get("remote_model") or "")),
                 ("Remote URL", str(show["remote_host"]))]
    arch = str(info.get("general.architecture") or details.get("family") or "")
    if arch:
        rows.append(("architecture", arch))
    params = details.get("parameter_size") or info.get("general.parameter_count")
    if params:
        rows.append(("parameters", str(params)))
    for key, label in (("context_length", "context length"),
                       ("embedding_length", "embedding length")):
        if isinstance(info.get(f"{arch}.{key}"), int | float):
            rows.append((label, f"{info[f'{arch}.{key}']:g}"))
    rows.append(("quantization", str(details.get("quantization_level") or "")))
    width = max(len(k) for k, _ in rows)
    out = "  Model\n" + "".join(f"    {k:<{width}}    {v}\n" for k, v in rows) + "\n"
    caps = show.get("capabilities")
    if isinstance(caps, list) and caps:
        out += "  Capabilities\n" + "".join(f"    {c}\n" for c in caps) + "\n"
    return out


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _backend(s: Session) -> Any:
    return next((b for b in s.env.config.backends if b.id == s.verdict.backend_used), None)


# -- loading, saving, routing -------------------------------------------------------------


def _load(args: list[str], s: Session) -> None:
    if len(args) != 2:
        _out("Usage:\n  /load <modelname>\n")
        return
    name = args[1]
    _out(f"Loading model '{name}'\n")
    verdict = _reroute(s, dataclasses.replace(s.request, model=name), missing=name)
    if verdict is not None:
        s.messages.clear()


def _mode(args: list[str], s: Session) -> None:
    if len(args) < 2:
        _out(f"Mode: {s.request.mode}\n")
        return
    name = args[1]
    if name not in s.env.config.modes:
        known = ", ".join(s.env.config.modes)
        _out(f"Unknown mode '{name}' (modes: {known})\n")
        return
    if _reroute(s, dataclasses.replace(s.request, mode=name)) is not None:
        _out(f"Set mode to '{name}'.\n")


def _reroute(s: Session, request: Request, *, missing: str | None = None) -> Verdict | None:
    """Route ``request``; a runnable verdict becomes the session's (its line on
    stderr, as at the start), anything else leaves the session as it was."""
    from smartollama import api
    from smartollama.commands.routed import report
    from smartollama.errors import ModelNotFoundError

    request = dataclasses.replace(request, nonce=api.nonce())
    try:
        verdict = api.route(request, s.env)
    except ModelNotFoundError as e:
        _out(f"Couldn't find model '{missing}'\n" if missing else f"error: {e.message}\n")
        return None
    report(verdict, s.env)
    if verdict.action == "refuse":
        api.record(verdict, s.env)
        return None
    if api.embeds(verdict):
        _out(f"error: {verdict.model_used} is an embedding model: it cannot chat\n")
        return None
    s.verdict, s.request = verdict, request
    return verdict


def _save(args: list[str], s: Session) -> None:
    from smartollama.errors import SollamaError
    from smartollama.state import key

    if len(args) != 2:
        _out("Usage:\n  /save <modelname>\n")
        return
    backend = _backend(s)
    system = next((m["content"] for m in reversed(s.messages) if m["role"] == "system"), None)
    turns = [m for m in s.messages if m["role"] != "system"]
    fields = {"from": s.verdict.model_used, "system": system, "parameters": s.opts.options or None,
              "messages": turns or None}
    try:
        with s.env.client(backend) as client:
            client.create(args[1], **fields)
    except SollamaError as e:
        if "invalid model name" in e.message:
            _out(f"error: The model name '{args[1]}' is invalid\n")
        else:
            _out(f"error: {e.message}\n")
        return
    with s.env.store.update() as st:     # the next decision sees the new model
        st.cache_drop(key("tags", backend.host))
    _out(f"Created new model '{args[1]}' on {backend.id}\n")


def _list(args: list[str], s: Session) -> None:
    from smartollama.commands.models import list_command

    list_command.callback(args[1] if len(args) > 1 else None, False)  # type: ignore[misc]


def _route(args: list[str], s: Session) -> None:
    from smartollama.brief import route_lines

    _out("\n".join(route_lines(s.verdict, verbose="-v" in args)) + "\n")


def _why(args: list[str], s: Session) -> None:
    import shutil

    from smartollama.explain import render

    width = min(100, shutil.get_terminal_size((100, 24)).columns)
    _out(render(s.last or s.verdict, s.env.config, width=width) + "\n")


_MORE = {"/load": _load, "/save": _save, "/list": _list, "/route": _route, "/why": _why,
         "/mode": _mode}
