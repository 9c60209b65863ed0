#!/usr/bin/env python3
"""Regenerate the README's examples and the demo's figures from the demo fleet.

    python scripts/readme-examples.py           rewrite them where they changed
    python scripts/readme-examples.py --check   exit 1 (with a diff) when they are stale

Run it with the Python that has sollama installed (the dev venv): it starts the
simulated demo fleet on loopback at a tiny time scale and runs the installed
`sollama` against it, as `sollama demo` does, so what the README shows is what
sollama prints today (as llm keeps its docs current with cog).

- README.md: each block between `<!-- example: NAME -->` and `<!-- end example -->`
  is the command of EXAMPLES[NAME] and what it printed on stderr, each example on a
  fresh fleet with an empty state directory; the fleet's ports are shown as the
  usual ones (11434 ...).
- src/smartollama/commands/demo.py: the `FACTS` block (between `# [[[facts]]]` and
  `# [[[end]]]`), the figures the demo's narration quotes, measured on the fleet.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOLLAMA = str(Path(sys.executable).parent / "sollama")
#: the port each demo host is shown with, whatever port it got
PORTS = {"ollama-nvidia": 11434, "ollama-igpu": 11435, "ollama-npu": 11436, "ollama-cpu": 11437}
FAIL = "llama runner process has terminated: exit status 2"

#: name → (sollama's arguments, what to do to the fleet first)
EXAMPLES: dict[str, tuple[list[str], Callable[[Any], None] | None]] = {
    "run": (["run", "llama3:8b", "--mode", "quiet", "Why is the sky blue?"], None),
    "override": (["run", "llama3:70b", "--mode", "quiet", "Summarize the design notes."], None),
    "refuse": (["run", "llama3:70b", "--mode", "quiet", "--policy", "prefer_mode",
                "Summarize the design notes."], None),
    "substitute": (["run", "llama3:70b", "--mode", "quiet", "--policy", "substitute",
                    "Summarize the design notes."], None),
    "fallback": (["run", "llama3:8b", "Why is the sky blue?"],
                 lambda fleet: fleet["ollama-igpu"].fail_next(500, FAIL)),
}
BLOCK = re.compile(r"(<!-- example: (?P<name>[\w-]+) -->\n```\n)(?P<body>.*?)(```\n<!-- end example -->)",
                   re.DOTALL)
FACTS = re.compile(r"(# \[\[\[facts\]\]\]\n)(?P<body>.*?)(# \[\[\[end\]\]\])", re.DOTALL)


class Demo:
    """The demo fleet and a fresh state directory, with `sollama` run against them."""

    def __enter__(self) -> Demo:
        sys.path.insert(0, str(ROOT / "src"))
        from smartollama.sim import Fleet, builtin_fleet

        self._tmp = tempfile.TemporaryDirectory(prefix="sollama-examples-")
        self.fleet = Fleet(builtin_fleet("demo", time_scale=0.001)).start()
        config = Path(self._tmp.name) / "config.toml"
        config.write_text(self.fleet.config_toml())
        self.config = self.fleet.config()
        self.env = {**os.environ, "SOLLAMA_CONFIG": str(config), "NO_COLOR": "1",
                    "SOLLAMA_STATE_DIR": str(Path(self._tmp.name) / "state"), "COLUMNS": "100"}
        for var in ("SOLLAMA_MODE", "OLLAMA_HOST", "SOLLAMA_DEBUG"):
            self.env.pop(var, None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.fleet.stop()
        self._tmp.cleanup()

    def sollama(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([SOLLAMA, *args], capture_output=True, text=True, env=self.env,
                           stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode not in (0, 3):
            raise SystemExit(f"sollama {' '.join(args)} exited {r.returncode}:\n{r.stderr}")
        return r

    def shown(self, text: str) -> str:
        for name, host in self.fleet.hosts.items():
            text = text.replace(host.url, f"http://127.0.0.1:{PORTS[name]}")
        return text


def example(name: str) -> str:
    import shlex

    args, setup = EXAMPLES[name]
    with Demo() as demo:
        if setup is not None:
            setup(demo.fleet)
        r = demo.sollama(*args)
    out = r.stdout if args[0] == "route" else r.stderr
    return demo.shown(f"$ sollama {shlex.join(args)}\n{out}")


def facts() -> str:
    """The figures `sollama demo` narrates, as the FACTS block of commands/demo.py."""
    with Demo() as demo:
        big = json.loads(demo.sollama("route", "llama3:70b", "--json").stdout)
        config = demo.config
        nvidia = next(h for h in demo.fleet.spec.hosts if h.name == "ollama-nvidia")
        nv = next(b for b in config["backends"] if b["id"] == "ollama-nvidia")
    est = big["estimate"]
    values = {
        "size_70b": f"{est['memory_gb']:.0f}",
        "card_gb": f"{nv['max_model_size_gb']:g}",
        "tps_70b": f"{est['tokens_per_s']:.0f}",
        "min_tps": f"{config['urgency']['interactive']['min_tokens_per_s']:g}",
        "reload_70b": f"{est['memory_gb'] / nvidia.load_gb_per_s:.0f}",
        "quiet_fan": f"{config['modes']['quiet']['max_fan_pct']:g}",
        "nvidia_fan": f"{big['telemetry']['ollama-nvidia']['fan_pct']:g}",
    }
    return ("FACTS: dict[str, str] = {\n"
            + "".join(f'    "{k}": "{v}",\n' for k, v in values.items()) + "}\n")


def regenerate(readme: str, demo: str) -> tuple[str, str]:
    """Both files as they should read; each example on its own fleet, a few at once."""
    from concurrent.futures import ThreadPoolExecutor

    names = [m["name"] for m in BLOCK.finditer(readme)]
    unknown = [n for n in names if n not in EXAMPLES]
    if unknown:
        raise SystemExit(f"README: no example named {unknown[0]!r}; known: " + ", ".join(EXAMPLES))
    if len(FACTS.findall(demo)) != 1:
        raise SystemExit("demo.py: no `# [[[facts]]]` ... `# [[[end]]]` block")
    with ThreadPoolExecutor(max_workers=3) as pool:
        figures = pool.submit(facts)
        shown = dict(zip(names, pool.map(example, names), strict=True))
        new_demo = FACTS.sub(lambda m: m.group(1) + figures.result() + m.group(3), demo)
    return BLOCK.sub(lambda m: m.group(1) + shown[m["name"]] + m.group(4), readme), new_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 with a diff when a file is stale")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--demo", type=Path, default=ROOT / "src/smartollama/commands/demo.py")
    args = parser.parse_args(argv)
    files = [args.readme, args.demo]
    old = [p.read_text(encoding="utf-8") for p in files]
    stale = False
    for path, before, after in zip(files, old, regenerate(*old), strict=True):
        if before == after:
            continue
        stale = True
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                before.splitlines(True), after.splitlines(True), str(path), f"{path} (today)"))
        else:
            path.write_text(after, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print("stale: run `python scripts/readme-examples.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
