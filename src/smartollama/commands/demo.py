"""`sollama demo`: the design notes' machine, simulated on loopback, walked through.

Starts the simulated fleet (an NPU, an Intel iGPU, a loud 24 GB NVIDIA card
holding llama3:70b, a CPU) on free loopback ports, points a temporary config
and state directory at it, and runs real `sollama` commands against it,
printing each command line and what it printed. Needs no GPU, no Ollama and
no network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click

#: The figures the narration quotes, measured on the demo fleet by
#: `scripts/readme-examples.py` (which rewrites this block; a test fails when it is stale).
# [[[facts]]]
FACTS: dict[str, str] = {
    "size_70b": "42",
    "card_gb": "24",
    "tps_70b": "3",
    "min_tps": "10",
    "reload_70b": "21",
    "quiet_fan": "40",
    "nvidia_fan": "65",
}
# [[[end]]]

#: (what the step shows, with FACTS' {names}; sollama arguments; exit code expected)
STEPS: list[tuple[str, list[str], int]] = [
    ("Where is everything? Backends, their readings against the mode's limits, loaded models.",
     ["status"], 0),
    ("A 7B model in balanced mode: it runs where it fits and the fans allow.",
     ["run", "mistral:7b", "Why is the sky blue?"], 0),
    ("llama3:70b (~{size_70b} GB) fits only the {card_gb} GB NVIDIA card, partly offloaded to "
     "RAM (it is loaded there). Before sollama has seen it run, it expects ~{tps_70b} tokens/s, "
     "below the {min_tps} an interactive request wants. Under the default policy, "
     "prefer_model, the model you named is the model that answers: it runs, with a warning; "
     "sollama learns how fast this card really runs it.",
     ["run", "llama3:70b", "--verbose", "Summarize the design notes."], 0),
    ("llama3:8b fits the NVIDIA card too, but only by unloading the 70B, which its next user "
     "would wait ~{reload_70b} s to load again; the quiet iGPU has room, so it goes there.",
     ["run", "llama3:8b", "Why is the sky blue?"], 0),
    ("Now quiet mode (fan ≤ {quiet_fan}%). The NVIDIA fan reads {nvidia_fan}%; prefer_model "
     "runs the 70B there anyway and warns that the mode was overridden.",
     ["run", "llama3:70b", "--mode", "quiet", "Summarize the design notes."], 0),
    ("The same when the mode must win (--policy prefer_mode): refused, exit 3, with "
     "suggestions, each checked by deciding it again.",
     ["run", "llama3:70b", "--mode", "quiet", "--policy", "prefer_mode", "Summarize."], 3),
    ("Or substitute the best equivalent on a quiet backend (--policy substitute).",
     ["run", "llama3:70b", "--mode", "quiet", "--policy", "substitute", "Summarize."], 0),
    ("Decide only, for scripts: `sollama route` (-v for the long form, --json for the whole "
     "verdict).",
     ["route", "qwen2.5:0.5b", "--mode", "efficiency"], 0),
    ("Ask afterwards why the last run went where it did.",
     ["why"], 0),
]


@click.command("demo")
@click.option("--time-scale", type=click.FloatRange(0, 10), default=0.05, show_default=True,
              help="Real seconds per simulated second (model loads, token streaming).")
@click.option("--keep", is_flag=True,
              help="Keep the fleet running after the walkthrough (Ctrl-C to stop).")
def demo_command(time_scale: float, keep: bool) -> int:
    """Run the embedded demo: a simulated fleet on loopback, walked through."""
    from smartollama.sim import Fleet, builtin_fleet

    spec = builtin_fleet("demo", time_scale=time_scale)
    with tempfile.TemporaryDirectory(prefix="sollama-demo-") as tmp, Fleet(spec) as fleet:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(fleet.config_toml())
        env = {**os.environ, "SOLLAMA_CONFIG": str(cfg), "SOLLAMA_STATE_DIR": str(Path(tmp) / "state")}
        env.pop("SOLLAMA_MODE", None)
        say = click.echo
        say("sollama demo: a simulated fleet on loopback (no GPU, no Ollama needed)\n")
        for name, host in fleet.hosts.items():
            say(f"  {name:<14} {host.url}")
        say(f"\n  config: {cfg}\n")
        failures = 0
        for i, (what, args, expected) in enumerate(STEPS, 1):
            say(click.style(f"{i}. {what.format(**FACTS)}", bold=True))
            say(click.style("$ sollama " + " ".join(_quote(a) for a in args), fg="cyan"))
            sys.stdout.flush()
            rc = subprocess.call([sys.executable, "-m", "smartollama", *args], env=env)
            if rc != expected:
                failures += 1
                say(click.style(f"(exit {rc}, expected {expected})", fg="red"))
            elif rc:
                say(click.style(f"(exit {rc}: refused by policy, as asked)", dim=True))
            say("")
        failures += _proxy_step(len(STEPS) + 1, env)
        say("Try it yourself against the same fleet:" if keep else
            "That was the demo. Point sollama at your own Ollama hosts with `sollama init`.")
        if keep:
            say(f"  export SOLLAMA_CONFIG={cfg} SOLLAMA_STATE_DIR={Path(tmp) / 'state'}")
            say("  (Ctrl-C to stop the fleet)")
            try:
                while True:
                    import time

                    time.sleep(3600)
            except KeyboardInterrupt:
                say("")
        return 1 if failures else 0


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


#: the proxy step's request (curl's -d)
PROXY_BODY = '{"model": "llama3:8b", "prompt": "Why is the sky blue?", "stream": false}'


def _proxy_step(number: int, env: dict[str, str]) -> int:
    """`sollama proxy` in front of the same fleet: one request with curl (or, without
    curl, the same request from Python), its decision headers, and its `why`.
    Returns 1 if the step failed."""
    import json
    import re
    import shutil
    import time

    say = click.echo
    say(click.style(f"{number}. Any Ollama or OpenAI client can be routed: `sollama proxy` serves "
                    "both APIs and routes each request (headers X-Sollama-Mode, -Urgency, "
                    "-Task, -Policy); each answer names its decision, which `sollama why` "
                    "explains.", bold=True))
    say(click.style("$ sollama proxy --listen 127.0.0.1:0 &", fg="cyan"))
    sys.stdout.flush()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "smartollama", "proxy", "--listen",
                                 "127.0.0.1:0"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
        try:
            url = None
            deadline = time.monotonic() + 30
            while url is None and time.monotonic() < deadline and proc.poll() is None:
                log.seek(0)
                m = re.search(rb"listening on (http://\S+)", log.read())
                url = m.group(1).decode() if m else None
                if url is None:
                    time.sleep(0.02)
            if url is None:
                log.seek(0)
                say(click.style("(the proxy did not start: "
                                f"{log.read().decode(errors='replace').strip()})", fg="red"))
                return 1
            say(f"sollama proxy: listening on {url}")
            endpoint = f"{url}/api/generate"
            say(click.style(f"$ curl -si {endpoint} -d {_quote(PROXY_BODY)}", fg="cyan"))
            status, headers, body = _post(endpoint, PROXY_BODY, curl=shutil.which("curl"))
            say(status)
            for name, value in headers:
                if name.lower().startswith("x-sollama-"):
                    say(f"{name}: {value}")
            try:
                answer = json.loads(body).get("response", body)
            except ValueError:
                answer = body
            say(f"... \"response\": {json.dumps(answer, ensure_ascii=False)} ...")
            decision = next((v for k, v in headers if k.lower() == "x-sollama-decision"), None)
            if decision is None:
                say(click.style("(no X-Sollama-Decision header)", fg="red"))
                return 1
            say("")
            say(click.style(f"$ sollama why {decision}", fg="cyan"))
            sys.stdout.flush()
            rc = subprocess.call([sys.executable, "-m", "smartollama", "why", decision], env=env)
            say("")
            return 1 if rc else 0
        finally:
            proc.terminate()
            proc.wait(30)


def _post(url: str, body: str, *, curl: str | None) -> tuple[str, list[tuple[str, str]], str]:
    """(status line, headers, body) of a POST: with curl when it is there."""
    if curl:
        out = subprocess.run([curl, "-si", url, "-d", body], capture_output=True, text=True,
                             timeout=60).stdout
        head, _, rest = out.replace("\r\n", "\n").partition("\n\n")
        lines = head.splitlines()
        headers = [(k.strip(), v.strip()) for k, _, v in (x.partition(":") for x in lines[1:])]
        return (lines[0] if lines else "(no answer)"), headers, rest
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return f"HTTP/1.1 {r.status} {r.reason}", list(r.headers.items()), r.read().decode()
    except urllib.error.HTTPError as e:
        return f"HTTP/1.1 {e.code} {e.reason}", list(e.headers.items()), e.read().decode()
