"""`sollama run` and `sollama route`, without click: the options, a parser for
them, and what each command does.

A warm `sollama run` is the call a person makes before every prompt, and
importing click costs it ~40 ms (`python -X importtime`: click.core, click.types,
inspect and typing; `python -c pass` is ~12 ms on the same machine). So the two
routed commands parse their own arguments from one table (`OPTIONS`), which
`commands.run` also turns into click options for help, completion and error
messages. The parser here takes only what it is sure of: anything else (`--help`,
an unknown option, a value out of range, a bad duration, `-qv`) returns None and
click parses the line instead, with its own words for the error. A test checks
over generated command lines that whatever this parser accepts, click parses to
the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from smartollama.vocab import POLICIES, TASKS, URGENCIES

if TYPE_CHECKING:
    from smartollama.env import Environment
    from smartollama.fleet import Request
    from smartollama.verdict import Verdict


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


def main(argv: list[str]) -> Callable[[], int] | None:
    """The routed command ``argv`` names, ready to call; None: click's to parse."""
    parsed = parse(argv)
    if parsed is None:
        return None
    command, params = parsed
    fn = run if command == "run" else route
    return lambda: fn(**params)


# -- the commands ----------------------------------------------------------------------


def run(model: str, prompt: tuple[str, ...], fmt: str | None, keepalive: str | None,
        verbose: bool, nowordwrap: bool, think: str | None, hidethinking: bool,
        insecure: bool, truncate: bool | None, dimensions: int | None,
        **routing: Any) -> int:
    """`sollama run`: route, then run (or start a session), as `ollama run` does."""
    from smartollama import api
    from smartollama.env import Environment

    env = Environment()
    words = list(prompt)
    stdin_tty = env.stdin_tty
    if not stdin_tty and (piped := _piped_text(env.stdin)):
        words = [piped, *words]      # an empty pipe adds nothing (not even a space)
    text = " ".join(words)
    _check_text(text)
    interactive = stdin_tty and env.stdout_tty and not words
    from smartollama.run.files import extract

    text, images, image = extract(text, env.stderr)
    needs = (*_needs(think), *(("vision",) if image else ()))
    request = build_request(model, env, needs=needs, **_routing(routing))
    verdict = _route_or_pull(request, env, prompt=text)
    if not routing.get("as_json") and (not routing.get("quiet") or verdict.changed):
        report(verdict, env)
    if verdict.action == "refuse":
        api.record(verdict, env)
        if routing.get("as_json"):
            env.stderr.write(verdict.to_json() + "\n")
        env.warn_state()
        return 3
    from smartollama.run.stream import RunOptions  # the HTTP client: only to run

    opts = RunOptions(
        prompt=text, format=fmt, keepalive=keepalive, think=think, hidethinking=hidethinking,
        truncate=truncate, wordwrap=env.stdout_tty and not nowordwrap and stdin_tty,
        verbose=verbose, spinner=env.stderr_tty, dimensions=dimensions, images=images,
        embed=api.embeds(verdict),
    )
    if request.num_ctx or env.config.num_ctx:     # planned for: sent (else the server picks)
        opts.options["num_ctx"] = request.num_ctx or env.config.num_ctx
    if interactive and not opts.embed:
        from smartollama.run.interactive import repl

        return repl(verdict, opts, env, request)
    try:
        api.run(verdict, opts, env)
    finally:
        if routing.get("as_json"):
            env.stderr.write(verdict.to_json() + "\n")
        env.warn_state()
    return 0


def route(model: str, think: str | None, verbose: bool, **routing: Any) -> int:
    """`sollama route`: decide, print the verdict, run nothing (3 for a refusal)."""
    from smartollama.env import Environment

    env = Environment()
    request = build_request(model, env, interactive=False, needs=_needs(think),
                            **_routing(routing))
    verdict = _route(request, env, prompt=None)
    if routing.get("as_json"):
        text = verdict.to_json()
    else:
        from smartollama.brief import route_lines

        text = "\n".join(route_lines(verdict, verbose=verbose))
    env.stdout.write(text + "\n")
    env.warn_state()
    return 3 if verdict.action == "refuse" else 0


def _piped_text(stdin: IO[str]) -> str:
    """Standard input as the prompt's first part: UTF-8 text, as Ollama's API wants."""
    from smartollama.errors import SollamaError

    buffer = getattr(stdin, "buffer", None)
    if buffer is None:      # a text stream an Environment was given
        return str(stdin.read())
    data: bytes = buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SollamaError(
            f"standard input is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
            hint="convert it first, e.g. `iconv -f latin1 -t utf-8`") from None


def _check_text(text: str) -> None:
    """A prompt whose arguments were not UTF-8 (kept as surrogates by Python)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        from smartollama.errors import SollamaError

        raise SollamaError(f"the prompt is not UTF-8 text (character {e.start} of its "
                           "arguments)") from None


def _routing(routing: dict[str, Any]) -> dict[str, Any]:
    keys = ("mode", "urgency", "task", "min_quality", "policy", "backend_id", "num_ctx")
    return {k: routing.get(k) for k in keys}


def build_request(model: str, env: Environment, *, mode: str | None, urgency: str | None,
                  task: str | None, min_quality: float | None, policy: str | None,
                  backend_id: str | None, num_ctx: int | None,
                  interactive: bool = True, needs: tuple[str, ...] = ()) -> Request:
    """The request as the router sees it; ``interactive``: a person may be asked
    (policy `ask`) when both stdin and stderr are a terminal."""
    from smartollama.api import nonce
    from smartollama.app import current_mode
    from smartollama.fleet import Request

    return Request(
        model=model, mode=current_mode(env.config, env.store, mode, state=env.state())[0],
        urgency=urgency or "interactive",
        task=task or "general", min_quality=min_quality, policy=policy, backend=backend_id,
        num_ctx=num_ctx, can_ask=interactive and env.stdin_tty and env.stderr_tty,
        nonce=nonce(), needs=needs,
    )


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


def _needs(think: str | None) -> tuple[str, ...]:
    """The capabilities the run needs: thinking, unless `--think=false` (or no --think)."""
    return () if think is None or think == "false" else ("thinking",)


def _route(request: Request, env: Environment, *, prompt: str | None,
           will_run: bool = False) -> Verdict:
    """`api.route`, then the `ask` menu when the policy wants a person and one is there."""
    from smartollama import api

    verdict = api.route(request, env, prompt=prompt, will_run=will_run)
    snap = api.snapshot_of(verdict)
    if verdict.ask and request.can_ask and snap is not None:
        fields = {k: getattr(verdict, k) for k in ("prompt_chars", "prompt_sha256", "prompt")
                  if hasattr(verdict, k)}
        verdict = _ask(verdict, request, snap, env)
        for k, v in fields.items():
            setattr(verdict, k, v)
    return verdict


def _route_or_pull(request: Request, env: Environment, *, prompt: str) -> Verdict:
    """Route a run; a model no host holds is pulled first where it would run
    (as `ollama run` pulls), then routed again."""
    from smartollama.errors import ModelNotFoundError

    try:
        return _route(request, env, prompt=prompt, will_run=True)
    except ModelNotFoundError as missing:
        from smartollama.run import pull

        if not pull.pullable(request.model):
            raise
        pull.pull_then_route(request, env, missing)
    return _route(request, env, prompt=prompt, will_run=True)


def report(verdict: Verdict, env: Environment) -> None:
    """The verdict line and warnings on stderr."""
    from smartollama.brief import PREFIX, stderr_lines

    env.stderr.write("".join(f"{PREFIX}{line}\n" for line in stderr_lines(verdict)))
    env.stderr.flush()


def _ask(verdict: Verdict, request: Request, snap: Any, env: Environment) -> Verdict:
    """Policy `ask` on a terminal: each verified option (running the model anyway
    first), or cancel. An option is acted on by deciding again the request its
    printed command makes, so that it does what the menu said."""
    from smartollama.routing import decide as route
    from smartollama.routing.suggest import as_request

    err = env.stderr
    err.write(f"sollama: {verdict.reason}\n")
    for i, s in enumerate(verdict.suggestions, 1):
        err.write(f"  {i}) {_menu_label(s, request)}\n")
    err.write("  0) cancel\n")
    import click  # only to ask a person

    choice = click.prompt("choose", type=click.IntRange(0, len(verdict.suggestions)), default=0,
                          err=True, show_default=True)
    if choice == 0:
        verdict.ask = False
        return verdict
    picked = verdict.suggestions[choice - 1]
    chosen = route(as_request(request, picked), snap, env.config)
    if chosen.model_used and chosen.model_used != verdict.model_requested \
            and chosen.action == "run":
        chosen.action = "substitute"
        chosen.model_substituted = True
        chosen.model_requested = verdict.model_requested
    chosen.warnings.insert(0, f"chosen at the prompt: {_menu_label(picked, request)}")
    return chosen


def _menu_label(s: Any, request: Request) -> str:
    """One menu line: what choosing the suggestion runs, and where."""
    model = s.model or request.model
    if s.policy:
        return f"run {model} anyway on {s.backend} ({s.why})"
    if s.mode:
        return f"run {model} in {s.mode} mode on {s.backend}"
    return f"use {model} on {s.backend} ({s.why})"
