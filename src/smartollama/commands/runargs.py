"""The options of `sollama run` and `sollama route`, and a parser for them
that needs no click.

A warm `sollama run` is the call a person makes before every prompt, and
importing click costs it ~40 ms (`python -X importtime`: click.core, click.types,
inspect and typing; `python -c pass` is ~12 ms on the same machine). So the two
routed commands parse their own arguments from one table (`OPTIONS`), which
`commands.run` also turns into click options for help, completion and error
messages. `parse` takes only what it is sure of: anything else (`--help`, an
unknown option, a value out of range, a bad duration, `-qv`) returns None and
click parses the line instead, with its own words for the error. A test checks
over generated command lines that whatever this parser accepts, click parses to
the same values.
"""

from __future__ import annotations

from smartollama.vocab import POLICIES, TASKS, URGENCIES

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any


class Opt:
    """One option: its parameter name, flags, kind (flag, text, int, float, choice),
    default, bounds or choices, help, and which commands have it."""

    __slots__ = ("choices", "commands", "default", "dest", "flags", "help", "high", "kind",
                 "low", "metavar")

    def __init__(self, dest: str, flags: tuple[str, ...], kind: str, help: str, *,
                 default: Any = None, metavar: str | None = None,
                 choices: tuple[str, ...] = (), low: float | None = None,
                 high: float | None = None, commands: tuple[str, ...] = ("run", "route")) -> None:
        self.dest, self.flags, self.kind, self.help = dest, flags, kind, help
        self.default, self.metavar, self.choices = default, metavar, choices
        self.low, self.high, self.commands = low, high, commands


#: `ollama run`'s `--think` values (cmd/cmd.go)
THINK_VALUES = ("true", "false", "high", "medium", "low", "max")
THINK_METAVAR = "[=true|false|high|medium|low|max]"

#: every option of `run` and `route`, in the order `--help` lists them
OPTIONS: tuple[Opt, ...] = (
    Opt("fmt", ("--format",), "text", "Response format (e.g. json).", metavar="FORMAT",
        commands=("run",)),
    Opt("keepalive", ("--keepalive",), "duration", "Duration to keep a model loaded (e.g. 5m).",
        metavar="DURATION", commands=("run",)),
    Opt("verbose", ("--verbose",), "flag", "Show timings for response.", default=False,
        commands=("run",)),
    Opt("nowordwrap", ("--nowordwrap",), "flag",
        "Don't wrap words to the next line automatically.", default=False, commands=("run",)),
    Opt("think", ("--think",), "think",
        "Enable thinking (`--think`), or set it (`--think=false`, `--think=high`).",
        metavar=THINK_METAVAR, commands=("run",)),
    Opt("hidethinking", ("--hidethinking",), "flag", "Hide thinking output (if provided).",
        default=False, commands=("run",)),
    Opt("insecure", ("--insecure",), "flag", "Use an insecure registry (passed through).",
        default=False, commands=("run",)),
    Opt("truncate", ("--truncate",), "flag", "Truncate inputs that exceed the context length.",
        commands=("run",)),
    Opt("dimensions", ("--dimensions",), "int",
        "Truncate output embeddings to N dimensions (embedding models only).", metavar="N",
        low=1, commands=("run",)),
    Opt("think", ("--think",), "think", "Decide for a run with thinking (only models that think).",
        metavar=THINK_METAVAR, commands=("route",)),
    Opt("mode", ("--mode",), "text",
        "This call's mode (else SOLLAMA_MODE, the state cache's, then default_mode).",
        metavar="NAME"),
    Opt("urgency", ("--urgency",), "choice", "How long the caller can wait.",
        default="interactive", choices=URGENCIES),
    Opt("task", ("--task",), "choice", "What the answer is for; selects quality scores.",
        default="general", choices=TASKS),
    Opt("min_quality", ("--min-quality",), "float", "Lowest acceptable quality, 0..1.",
        metavar="Q", low=0, high=1),
    Opt("policy", ("--policy",), "choice", "This call's model/mode conflict policy.",
        choices=POLICIES),
    Opt("backend_id", ("--backend",), "text", "Pin a backend (still checked for fit).",
        metavar="ID"),
    Opt("num_ctx", ("--num-ctx",), "int",
        "Context length to plan memory for (Ollama's num_ctx).", metavar="N", low=256),
    Opt("as_json", ("--json",), "flag",
        "Print the verdict as JSON (run: on stderr; route: on stdout).", default=False),
    Opt("quiet", ("-q", "--quiet"), "flag",
        "No verdict line unless the model or mode was changed or refused.", default=False),
    Opt("verbose", ("-v", "--verbose"), "flag",
        "The reason in full, and why each suggestion would work.", default=False,
        commands=("route",)),
)


def options_of(command: str) -> list[Opt]:
    return [o for o in OPTIONS if command in o.commands]


def think_args(args: list[str]) -> list[str]:
    """`--think` takes a value only as `--think=VALUE`, as `ollama run`'s flag does
    (cobra's NoOptDefVal): a bare `--think` before `--` is `--think=true`."""
    cut = args.index("--") if "--" in args else len(args)
    return ["--think=true" if a == "--think" else a for a in args[:cut]] + args[cut:]


def _value(o: Opt, text: str) -> Any:
    """The option's value, or raise ValueError when click might see it otherwise."""
    if o.kind in ("text", "duration", "think") and text.startswith("-"):
        raise ValueError(text)
    if o.kind == "choice" and text not in o.choices:
        raise ValueError(text)
    if o.kind == "duration" and duration_error(text):
        raise ValueError(text)
    if o.kind == "think" and think_error(text):
        raise ValueError(text)
    if o.kind in ("int", "float"):
        if text != text.strip() or not text or "_" in text:
            raise ValueError(text)
        n: float = int(text) if o.kind == "int" else float(text)
        if not (o.low is None or n >= o.low) or not (o.high is None or n <= o.high):
            raise ValueError(text)
        return n
    return text


def parse(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``argv`` (``run ...`` or ``route ...``) as the command's parameters, or
    None when click should parse it."""
    if not argv or argv[0] not in ("run", "route"):
        return None
    command, args = argv[0], think_args(argv[1:])
    table = {f: o for o in options_of(command) for f in o.flags}
    params: dict[str, Any] = {o.dest: o.default for o in options_of(command)}
    words: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            words += args[i:]
            break
        if not a.startswith("-") or a == "-":
            if a == "-":
                return None
            words.append(a)
            continue
        name, eq, text = a.partition("=")
        o = table.get(name)
        if o is None or (eq and not name.startswith("--")):
            return None     # -h, --help, an unknown or grouped option: click's to say
        if o.kind == "flag":
            if eq:
                return None
            params[o.dest] = True
            continue
        if not eq:
            if o.kind == "think" or i >= len(args):
                return None
            text = args[i]
            i += 1
        try:
            params[o.dest] = _value(o, text)
        except ValueError:
            return None
    if not words or (command == "route" and len(words) > 1):
        return None
    params["model"] = words[0]
    if command == "run":
        params["prompt"] = tuple(words[1:])
    return command, params


def duration_error(value: str) -> str | None:
    """Why ``value`` is not a Go duration, as `ollama run` parses `--keepalive`
    ("1.5" lacks a unit); None when it is one."""
    from smartollama import goduration

    try:
        goduration.parse(value.strip())
    except goduration.DurationError as e:
        return str(e)
    return None


def think_error(think: str) -> str | None:
    """Why ``think`` is not one of `--think`'s values; None when it is."""
    if think in THINK_VALUES:
        return None
    return f"invalid value for --think: {think!r} (must be true, false, high, medium, low, or max)"
