"""How wide the verdict lines are: each common case on the demo fleet, through `route` and `run`.

    python benchmarks/verdict_lines.py [-v]

Starts the demo fleet at a tiny time scale, runs the installed `sollama route` and
`sollama run` for each case in turn (one state directory, so later runs see what
earlier ones learned, as a user's would), and prints the width of the verdict line
(route: its first stdout line; run: its first `sollama:` line on stderr, prefix
included) and of the widest line it printed. `-v` prints the lines too. The target:
each verdict line at most 100 columns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from smartollama.sim import Fleet, builtin_fleet

SOLLAMA = str(Path(sys.executable).parent / "sollama")
CASES = [
    ["llama3:8b"],
    ["llama3:8b", "--mode", "quiet"],
    ["llama3:70b", "--mode", "quiet"],
    ["llama3:70b", "--mode", "balanced"],
    ["llama3:70b", "--mode", "performance"],
    ["llama3:70b", "--mode", "quiet", "--policy", "prefer_mode"],
    ["llama3:70b", "--mode", "quiet", "--policy", "substitute"],
    ["llama3:70b", "--mode", "balanced", "--policy", "prefer_mode"],
    ["llama3:70b", "--mode", "balanced", "--policy", "substitute"],
    ["llama3:70b", "--backend", "ollama-igpu"],          # fits nowhere it may go
    ["llama3:70b", "--num-ctx", "131072"],
    ["mixtral:8x7b", "--mode", "quiet"],
    ["qwen2.5:0.5b", "--mode", "efficiency"],
    ["auto"],
    ["auto", "--task", "code", "--mode", "quiet"],
    ["auto", "--urgency", "batch"],
]


def main() -> None:
    verbose = "-v" in sys.argv
    with tempfile.TemporaryDirectory() as tmp, \
            Fleet(builtin_fleet("demo", time_scale=0.001)) as fleet:
        config = Path(tmp) / "config.toml"
        config.write_text(fleet.config_toml())
        env = {**os.environ, "SOLLAMA_CONFIG": str(config), "SOLLAMA_STATE_DIR": f"{tmp}/state",
               "NO_COLOR": "1"}
        print(f"{'command':<62} {'line':>5} {'widest':>6}")
        for command in ("route", "run"):
            for case in CASES:
                args = [command, *case] + (["hi"] if command == "run" else [])
                r = subprocess.run([SOLLAMA, *args], capture_output=True, text=True, env=env,
                                   stdin=subprocess.DEVNULL)
                lines = (r.stdout.splitlines() if command == "route" else
                         [x for x in r.stderr.splitlines() if x.startswith("sollama:")])
                first = ("sollama: " if command == "route" else "") + (lines[0] if lines else "")
                widest = max(map(len, lines), default=0)
                print(f"{' '.join(args):<62} {len(first):>5} {widest:>6}")
                if verbose:
                    print("".join(f"    | {x}\n" for x in lines), end="")


if __name__ == "__main__":
    main()
