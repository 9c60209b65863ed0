"""Write the two synthetic day traces beside this script (seeded: the same files every time).

- `tower-coding-day.jsonl` (fleet `tower`, config `tower-coding-day.toml`):
  the tower's day from the design notes. Coding hours 09-17 (qwen2.5-coder:7b
  and deepseek-coder:6.7b, interactive; a critical question to llama3.2:3b
  now and then; background summaries; a few large code reviews with
  qwen2.5-coder:32b, which fits neither card whole), general use 18-22
  (mistral:7b, llama3.2:3b), tinyllama:1b at night; quiet mode from 21:00.
  The config's `[[preload]]` hours are the notes' preloading hours.
- `laptop-day.jsonl` (fleet `laptop`): a laptop whose owner switches modes:
  balanced in the morning, quiet in a library, efficiency on battery at
  lunch, balanced in the afternoon, performance in the early evening, quiet
  at night; code, chat, summaries and some qwen2.5:14b reasoning.

    python benchmarks/traces/make_traces.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
H = 3600.0


def poisson(rng: random.Random, start_h: float, end_h: float, mean_gap_s: float) -> list[float]:
    """Arrival times (s) of a Poisson stream between two hours of the day."""
    out, t = [], start_h * H
    while True:
        t += rng.expovariate(1.0 / mean_gap_s)
        if t >= end_h * H:
            return out
        out.append(round(t, 1))


def stream(rng: random.Random, start_h: float, end_h: float, gap_s: float, **fields: object
           ) -> list[dict[str, object]]:
    rows = []
    for t in poisson(rng, start_h, end_h, gap_s):
        row: dict[str, object] = {"t": t}
        for k, v in fields.items():
            if isinstance(v, list):
                v = rng.choice(v)
            elif isinstance(v, tuple):
                v = rng.randint(*v)
            row[k] = v
        rows.append(row)
    return rows


def with_modes(rows: list[dict[str, object]], modes: list[tuple[float, str]]) -> list[dict[str, object]]:
    """Sort by time; the first request at or after each hour sets that hour's mode."""
    rows.sort(key=lambda r: float(r["t"]))  # type: ignore[arg-type]
    pending = sorted(modes)
    for r in rows:
        while pending and float(r["t"]) >= pending[0][0] * H:  # type: ignore[arg-type]
            r["mode"] = pending.pop(0)[1]
    return rows


def tower(rng: random.Random) -> list[dict[str, object]]:
    code = {"model": ["qwen2.5-coder:7b"] * 3 + ["deepseek-coder:6.7b"] * 2, "task": "code",
            "urgency": "interactive", "prompt_tokens": (200, 2500), "answer_tokens": (80, 450)}
    rows = []
    rows += stream(rng, 0, 9, 1500, model=["tinyllama:1b"], task="summarize",
                   urgency="background", prompt_tokens=(200, 1500), answer_tokens=(50, 200))
    rows += stream(rng, 9, 12, 80, **code)
    rows += stream(rng, 13, 17, 80, **code)
    rows += stream(rng, 9, 17, 1800, model="llama3.2:3b", task="general", urgency="critical",
                   prompt_tokens=(50, 300), answer_tokens=(30, 120))
    rows += stream(rng, 9, 17, 900, model="qwen2.5:7b", task="summarize", urgency="background",
                   prompt_tokens=(1000, 3000), answer_tokens=(100, 300))
    rows += stream(rng, 12, 13, 600, model="llama3.2:3b", task="chat", urgency="interactive",
                   prompt_tokens=(50, 400), answer_tokens=(50, 250))
    rows += stream(rng, 12, 13, 1500, model="qwen2.5-coder:32b", task="code", urgency="batch",
                   prompt_tokens=(2000, 3500), answer_tokens=(200, 500))
    rows += stream(rng, 18, 22, 240, model="mistral:7b", task="general", urgency="interactive",
                   prompt_tokens=(100, 800), answer_tokens=(100, 400))
    rows += stream(rng, 18, 22, 300, model="llama3.2:3b", task="chat", urgency="interactive",
                   prompt_tokens=(50, 400), answer_tokens=(50, 250))
    rows += stream(rng, 22, 24, 900, model="tinyllama:1b", task="chat", urgency="interactive",
                   prompt_tokens=(50, 300), answer_tokens=(30, 150))
    return with_modes(rows, [(0, "balanced"), (21, "quiet")])


def laptop(rng: random.Random) -> list[dict[str, object]]:
    rows = []
    rows += stream(rng, 7, 8, 300, model="llama3.2:3b", task="chat", urgency="interactive",
                   prompt_tokens=(50, 400), answer_tokens=(50, 250))
    for start, end in ((8, 12), (13, 17)):
        rows += stream(rng, start, end, 120, model="qwen2.5-coder:7b", task="code",
                       urgency="interactive", prompt_tokens=(200, 2500), answer_tokens=(80, 450))
    rows += stream(rng, 8, 12, 600, model="qwen2.5:1.5b", task="summarize", urgency="background",
                   prompt_tokens=(500, 3000), answer_tokens=(80, 250))
    rows += stream(rng, 12, 13, 240, model=["qwen2.5:1.5b", "llama3.2:3b"], task="chat",
                   urgency="interactive", prompt_tokens=(50, 400), answer_tokens=(50, 250))
    rows += stream(rng, 13, 17, 1200, model="qwen2.5:14b", task="reasoning", urgency="background",
                   prompt_tokens=(500, 2000), answer_tokens=(200, 600))
    rows += stream(rng, 13, 17, 360, model="mistral:7b", task="general", urgency="interactive",
                   prompt_tokens=(100, 800), answer_tokens=(100, 350))
    rows += stream(rng, 17, 19, 300, model="qwen2.5:14b", task="reasoning", urgency="interactive",
                   prompt_tokens=(200, 1500), answer_tokens=(150, 500))
    rows += stream(rng, 17, 19, 400, model="llama3:8b", task="chat", urgency="interactive",
                   prompt_tokens=(50, 400), answer_tokens=(50, 300))
    rows += stream(rng, 19, 23, 300, model="llama3.2:3b", task="chat", urgency="interactive",
                   prompt_tokens=(50, 400), answer_tokens=(50, 250))
    rows += stream(rng, 19, 23, 900, model="qwen2.5:1.5b", task="summarize", urgency="background",
                   prompt_tokens=(500, 3000), answer_tokens=(80, 250))
    return with_modes(rows, [(7, "balanced"), (8, "quiet"), (12, "efficiency"), (13, "balanced"),
                             (17, "performance"), (19, "quiet")])


TOWER_CONFIG = """\
# Routing settings for `sollama replay tower-coding-day.jsonl --fleet tower`:
# the backends are derived from the fleet; the preloading hours are the design notes'.
default_mode = "balanced"

[[preload]]
hours = "09-17"
models = ["qwen2.5-coder:7b", "deepseek-coder:6.7b"]

[[preload]]
hours = "18-22"
models = ["mistral:7b", "llama3.2:3b"]

[[preload]]
hours = "22-09"
models = ["tinyllama:1b"]
"""


def write(name: str, rows: list[dict[str, object]]) -> None:
    with open(HERE / name, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"{HERE / name}: {len(rows)} requests")


def main() -> None:
    write("tower-coding-day.jsonl", tower(random.Random(20261123)))
    (HERE / "tower-coding-day.toml").write_text(TOWER_CONFIG, encoding="utf-8")
    write("laptop-day.jsonl", laptop(random.Random(20261124)))


if __name__ == "__main__":
    main()
