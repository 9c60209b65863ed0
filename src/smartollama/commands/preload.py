"""`sollama preload`: load the models of the time-of-day schedule where they fit."""

from __future__ import annotations

import click

from smartollama.config import rules_for_hour


def _self_path() -> str:
    """This sollama by absolute path, as the shell found it (a link in ~/.local/bin stays a
    link, so an upgrade keeps the line working)."""
    import os
    import shutil
    import sys

    argv0 = sys.argv[0]
    found = argv0 if os.sep in argv0 else shutil.which(argv0)
    return os.path.abspath(found or argv0)


def _check_duration(value: str) -> str:
    from smartollama.commands.run import check_duration

    return check_duration(value) or value


@click.command("preload")
@click.option("--now", "when", flag_value="now", default=True,
              help="Load the models scheduled for this hour (default).")
@click.option("--schedule", "when", flag_value="schedule",
              help="Print the schedule and a crontab line to run it hourly.")
@click.option("--dry-run", is_flag=True,
              help="Say where this hour's models would load, and load nothing.")
@click.option("--keepalive", default="1h", show_default=True, metavar="DURATION",
              callback=lambda c, p, v: _check_duration(v),
              help="How long the loaded models stay loaded.")
def preload_command(when: str, dry_run: bool, keepalive: str) -> int:
    """Load models per the time-of-day schedule (`[[preload]]` in the config)."""
    import time

    from smartollama.env import Environment

    env = Environment()
    config = env.config
    if when == "schedule":
        if not config.preload:
            click.echo("no [[preload]] rules in the config")
            return 0
        for r in config.preload:
            click.echo(f"{r.hours}: {', '.join(r.models)}")
        click.echo("\nto run it every hour, add to `crontab -e` (cron's PATH is short, so the "
                   f"full path):\n  0 * * * * {_self_path()} preload --now\n"
                   "or install a systemd user timer with `./install.sh --timer`")
        return 0
    hour = time.localtime().tm_hour
    rules = rules_for_hour(config.preload, hour)
    models = list(dict.fromkeys(m for r in rules for m in r.models))
    if not models:
        click.echo(f"nothing scheduled for {hour:02d}:00")
        return 0
    from smartollama import snapshot
    from smartollama.api import embeds_on
    from smartollama.app import current_mode
    from smartollama.errors import SollamaError
    from smartollama.ollama import OllamaClient, StreamBudget
    from smartollama.run.stream import parse_keepalive
    from smartollama.schedule import preload_decision

    store = env.store
    mode = current_mode(config, store, state=env.state())[0]
    snap = snapshot.gather(env, models=tuple(models))
    failed = 0
    for model in models:
        try:
            v = preload_decision(model, mode, snap, config)
            if v.action == "refuse" or not v.backend_used:
                click.echo(f"{model}: not loaded ({v.reason})")
                failed += 1
                continue
            if dry_run:
                click.echo(f"{v.model_used}: would load on {v.backend_used} ({v.reason})")
                continue
            b = config.backend(v.backend_used)
            budget = StreamBudget.of(config.timeouts, v.estimate.wait_s)
            started = time.monotonic()
            with (OllamaClient.for_backend(b, config.timeouts, host=v.host) if b else
                  OllamaClient(v.host or "")) as c:
                if embeds_on(snap, v.backend_used, v.model_used):   # /api/generate refuses it
                    c.embed(v.model_used or model, "", budget, keep_alive=parse_keepalive(keepalive))
                else:
                    for _ in c.generate(v.model_used or model, "", budget,
                                        keep_alive=parse_keepalive(keepalive)):
                        pass
            click.echo(f"{v.model_used}: loaded on {v.backend_used} for {keepalive}")
            if b is not None:
                # the next model is planned with this host's memory as it is now
                from smartollama.state import key

                took_ns = int((time.monotonic() - started) * 1e9)
                info = snap.backends[b.id].models.get((v.model_used or model).lower())
                with store.update() as st:
                    st.cache_drop(key("ps", b.host))
                    st.cache_drop(key("telemetry", b.host))
                    if not v.estimate.loaded and info is not None:
                        # Ollama's answer to a load carries no durations: the call's own
                        # time is the load's, and teaches the host's load speed
                        st.learn_run(b.id, v.model_used or model, size_bytes=info.size_bytes,
                                     load_duration_ns=took_ns, now=time.time())
                fresh = snapshot.gather(env, models=tuple(models), backends=[b])
                snap.backends[b.id] = fresh.backends[b.id]
        except SollamaError as e:
            click.echo(f"{model}: not loaded ({e.message})")
            failed += 1
    return 1 if failed else 0
