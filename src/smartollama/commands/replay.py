"""`sollama replay TRACE`: a trace through sollama and the baselines, in simulated time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.sim.spec import FleetSpec

BASELINE_NAMES = ("biggest", "round-robin", "loaded-first", "least-busy")
POLICY_NAMES = ("prefer_model", "prefer_mode", "substitute", "ask")
#: a trace at least this long gets a progress bar on a terminal
PROGRESS_MIN = 2000

HELP = """Replay a trace of requests through sollama and the baselines, in simulated time.

\b
Each request is decided by sollama's own decision (the one `sollama run`
makes) against a simulated fleet: memory, loads with eviction, partial
offload, queues, and temperature and fan that follow the power each host
draws. The baselines route the same trace on a fresh copy of the same fleet:
biggest, round-robin, loaded-first, least-busy. Nothing sleeps: a day
replays in seconds. The table marks the best value in each row; metrics and
baselines are defined in docs/replay.md.

\b
TRACE is JSONL, one request a line (only t and model are required):
  {"t": 3605.2, "model": "qwen2.5-coder:7b", "task": "code",
   "urgency": "interactive", "prompt_tokens": 512, "answer_tokens": 200,
   "min_quality": 0.6, "mode": "quiet", "policy": "prefer_model"}
t: seconds from the trace's start (00:00 of the simulated day); model: a
name or "auto"; task: general|code|reasoning|chat|summarize; urgency:
critical|interactive|background|batch; mode: sets the mode from this
request on (as `sollama mode` would); policy: this request's conflict
policy. Unknown keys are an error naming the line.

\b
--fleet: demo, tower, laptop, or a fleet spec file (.json/.toml, as
`python -m smartollama.sim` takes; thermal figures: idle_w, full_w,
full_temp_c, thermal_tau_s, fan_curve). --config: a sollama config for
routing, modes and [[preload]]; its backends, if any, must be the fleet's
hosts by id (without backends: one per host, as --config-out writes them).
Without --config, the config is derived from the fleet.
"""


def fleet_and_config(fleet: str, config_path: str | None) -> tuple[FleetSpec, Config]:
    """The fleet spec and the config the replay decides with (see HELP)."""
    import tomllib

    from smartollama import config_schema
    from smartollama.config import Config
    from smartollama.errors import ConfigError, SollamaError
    from smartollama.sim.fleet import spec_config
    from smartollama.sim.spec import SpecError, load_fleet_spec

    try:
        spec = load_fleet_spec(fleet)
    except SpecError as e:
        raise SollamaError(f"--fleet {e}") from None
    derived = spec_config(spec)
    source = "<derived from the fleet>"
    data = derived
    if config_path is not None:
        source = config_path
        try:
            with open(config_path, "rb") as f:
                data = tomllib.loads(f.read().decode("utf-8", errors="replace"))
        except FileNotFoundError:
            raise ConfigError(f"{config_path}: config file not found") from None
        except OSError as e:
            raise ConfigError(f"{config_path}: cannot read config file: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{config_path}: invalid TOML: {e}") from None
        if not data.get("backends"):
            data["backends"] = derived["backends"]
        data.setdefault("model_equivalents", derived["model_equivalents"])
    try:
        config = Config.from_dict(config_schema.validate(data, source), source)
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None
    hosts = {h.name for h in spec.hosts}
    for b in config.backends:
        if b.id not in hosts:
            raise ConfigError(f"{source}: backend {b.id!r} is not a host of fleet "
                              f"{spec.name!r} ({', '.join(sorted(hosts))})")
    return spec, config


@click.command("replay", help=HELP)
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--fleet", default="demo", show_default=True, metavar="demo|tower|laptop|FILE",
              help="The simulated fleet.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="A sollama config for routing settings (else derived).")
@click.option("--policy", type=click.Choice(POLICY_NAMES), default=None,
              help="sollama's conflict policy for requests that name none.")
@click.option("--baseline", "baselines", type=click.Choice(BASELINE_NAMES), multiple=True,
              help="A baseline to compare with (repeatable; default: all four).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              metavar="FILE.png", help="Plot TTFT, fan and loads over the day (needs matplotlib).")
@click.option("--hindsight", is_flag=True,
              help="Also send each request sollama answered after 5 s to every host that "
                   "holds its model, as it came: would any have answered within 5 s?")
@click.option("--from-history", is_flag=True,
              help="First write TRACE from your recorded decisions (`sollama why --list`), "
                   "then replay it.")
def replay_command(trace: str, fleet: str, config_path: str | None, policy: str | None,
                   baselines: tuple[str, ...], as_json: bool, plot_path: str | None,
                   hindsight: bool, from_history: bool) -> int:
    import json
    import sys

    from smartollama.replay import trace as traces

    if plot_path is not None:
        from smartollama.replay.plot import check_available

        check_available()
    spec, config = fleet_and_config(fleet, config_path)
    if from_history:
        _write_history_trace(trace)
    requests = traces.read_trace(trace, config.modes)
    from smartollama.replay.compare import compare

    runs = 1 + len(baselines or BASELINE_NAMES)
    bar = _progress(len(requests) * runs) if len(requests) >= PROGRESS_MIN \
        and sys.stderr.isatty() else None
    try:
        result = compare(requests, spec, config, policy=policy,
                         baselines=list(baselines) or None,
                         progress=bar[1] if bar else None)
    finally:
        if bar:
            bar[0].stop()
    found = None
    if hindsight:
        from smartollama.replay import hindsight as hs

        bar = _progress(None, "looking back") if len(requests) >= PROGRESS_MIN \
            and sys.stderr.isatty() else None
        try:
            found = hs.hindsight(requests, spec, config, policy=policy,
                                 progress=bar[1] if bar else None)
        finally:
            if bar:
                bar[0].stop()
        result.report["hindsight"] = hs.summary(found)
    if as_json:
        click.echo(json.dumps(result.report))
    else:
        from smartollama.replay.table import render, text

        if sys.stdout.isatty() and not _no_color():
            render(result.report, sys.stdout, color=True)
        else:
            click.echo(text(result.report), nl=False)
        if found is not None:
            click.echo("\n" + hs.text(found), nl=False)
    if plot_path is not None:
        from smartollama.replay.plot import plot

        try:
            plot(result.results, plot_path, f"{requests and len(requests)} requests, "
                 f"fleet {spec.name}")
        except OSError as e:
            from smartollama.errors import SollamaError

            raise SollamaError(f"{plot_path}: cannot write the plot: {e.strerror or e}") from None
        click.echo(f"plot written to {plot_path}", err=True)
    return 0


def _no_color() -> bool:
    import os

    return bool(os.environ.get("NO_COLOR"))


def _progress(total: int | None, what: str = "replaying"
              ) -> tuple[Any, Callable[..., None]]:
    """A transient bar on stderr, and its update: (done, total=None: unchanged)."""
    from rich.progress import Progress

    bar = Progress(transient=True, console=_stderr_console())
    task = bar.add_task(what, total=total)
    bar.start()

    def update(done: int, total: int | None = None) -> None:
        if total is None:
            bar.update(task, completed=done)
        else:
            bar.update(task, completed=done, total=total)

    return bar, update


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _write_history_trace(path: str) -> None:
    from smartollama.env import Environment
    from smartollama.errors import SollamaError
    from smartollama.replay.trace import from_history, write_trace

    env = Environment()
    entries = env.store.read().history
    requests = from_history(list(entries))
    if not requests:
        raise SollamaError(f"no recorded decisions in {env.store.history_path} to build a trace from")
    try:
        n = write_trace(path, requests)
    except OSError as e:
        raise SollamaError(f"{path}: cannot write the trace: {e.strerror or e}") from None
    click.echo(f"wrote {n} requests from the decision history to {path}", err=True)
