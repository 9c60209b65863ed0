"""What `sollama run` and `sollama route` do, without click: `main` runs the
command a line names when `runargs.parse` is sure of it (see `runargs`)."""

from __future__ import annotations

from collections.abc import Callable

from smartollama.commands.runargs import parse

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import IO, Any

    from smartollama.env import Environment
    from smartollama.fleet import Request
    from smartollama.verdict import Verdict


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
    request = build_request(model, env, needs=needs, prompt_chars=len(text), **_routing(routing))
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
    if keepalive is None:   # the schedule's stay, or its use's, not Ollama's 5 minutes
        opts.keepalive = _keep_alive(env, verdict, verdict.model_used or model)
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


def _keep_alive(env: Environment, verdict: Verdict, model: str) -> str | None:
    """The keep-alive a run sends when it names none (schedule.keep_alive_now), from
    the model's past runs on its backend and its `/api/ps` row there."""
    from smartollama import api
    from smartollama.schedule import keep_alive_now

    return keep_alive_now(env.config, model, env.now(), api.snapshot_of(verdict),
                          verdict.backend_used)


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


#: characters per token, roughly, in the prompts of the models Ollama runs
CHARS_PER_TOKEN = 4


def build_request(model: str, env: Environment, *, mode: str | None, urgency: str | None,
                  task: str | None, min_quality: float | None, policy: str | None,
                  backend_id: str | None, num_ctx: int | None,
                  interactive: bool = True, needs: tuple[str, ...] = (),
                  prompt_chars: int = 0) -> Request:
    """The request as the router sees it; ``interactive``: a person may be asked
    (policy `ask`) when both stdin and stderr are a terminal; ``prompt_chars``: the
    prompt's length (its tokens are estimated from it, about four characters each)."""
    from smartollama.api import nonce
    from smartollama.app import current_mode
    from smartollama.fleet import Request

    return Request(
        model=model, mode=current_mode(env.config, env.store, mode, state=env.state())[0],
        urgency=urgency or "interactive",
        task=task or "general", min_quality=min_quality, policy=policy, backend=backend_id,
        num_ctx=num_ctx, can_ask=interactive and env.stdin_tty and env.stderr_tty,
        nonce=nonce(), needs=needs, prompt_tokens=-(-prompt_chars // CHARS_PER_TOKEN) or None,
    )


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
