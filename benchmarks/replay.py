"""Replay speed: 10,000 requests through sollama and the four baselines.

Builds a seeded synthetic trace (a day of 10,000 requests over the tower
fleet's models, mixed urgencies and tasks, modes switching every few hours),
writes it to a temporary file and runs it as `sollama replay` does (reading
the trace included), in this process. Prints the wall and CPU seconds, in
all, here and in the second process that runs the baselines (on a machine
with two cores). Target: under 10 s on the 2-core CI machine.

    python benchmarks/replay.py [--requests N] [--fleet tower] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from pathlib import Path

from smartollama.replay.trace import TraceRequest, read_trace, write_trace

MODES = ["balanced", "quiet", "balanced", "performance", "efficiency"]


def synthetic(n: int, models: list[str], seed: int) -> list[TraceRequest]:
    rng = random.Random(seed)
    day = 86400.0
    times = sorted(rng.uniform(0, day) for _ in range(n))
    out = []
    mode = None
    for t in times:
        hour_mode = MODES[int(t // (5 * 3600)) % len(MODES)]
        out.append(TraceRequest(
            t=round(t, 3), model=rng.choice(models),
            task=rng.choice(["code", "general", "chat"]),
            urgency=rng.choices(["interactive", "critical", "background", "batch"],
                                [6, 1, 2, 1])[0],
            prompt_tokens=rng.randint(50, 2000), answer_tokens=rng.randint(20, 400),
            mode=hour_mode if hour_mode != mode else None))
        mode = hour_mode
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--fleet", default="tower")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()

    from smartollama.commands.replay import fleet_and_config
    from smartollama.replay.compare import compare

    spec, config = fleet_and_config(args.fleet, None)
    load = os.getloadavg()[0]
    models = sorted({m.name for h in spec.hosts for m in h.models if not m.remote})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        write_trace(path, synthetic(args.requests, models, args.seed))
        wall, cpu = time.perf_counter(), time.process_time()
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        trace = read_trace(path, config.modes)
        result = compare(trace, spec, config)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (after.ru_utime + after.ru_stime) - (child.ru_utime + child.ru_stime)
    print(f"{len(trace)} requests on {args.fleet}, sollama + {len(result.results) - 1} baselines: "
          f"{wall:.2f} s wall; CPU {cpu:.2f} s here (sollama), {child_cpu:.2f} s in the "
          f"baselines' process; load average before: {load:.1f}")


if __name__ == "__main__":
    main()
