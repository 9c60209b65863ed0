"""The README's Speed figures: what a person pays for sollama before each prompt.

Every figure is the median of alternating pairs (A, B, A, B, ...: both sides
see the same machine load), with the min and max, on the machine it runs on,
against the simulated demo fleet on loopback (simulated load time 0):

- ``python -c pass`` against a warm ``sollama route llama3:8b`` (target: 5x or less);
- ``curl`` asking the host sollama chose for the same streamed answer, against a
  warm ``sollama run`` (target: within 60 ms), and against a run whose caches'
  default TTLs have run out (telemetry, /api/ps and /api/tags read again; target:
  within 120 ms);
- a warm route against a route right after a run (target: the same);
- the peak RSS of a warm ``sollama run`` (target: 40 MB or less).

    .venv/bin/python benchmarks/speed.py [--pairs N]

The harness is stdlib only (subprocess, time, statistics, os.wait4); the fleet
is the project's simulator.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PROMPT = "Why is the sky blue? Answer in one line."
MODEL = "llama3:8b"
#: the cache TTLs a user has by default are 2 s (telemetry, /api/ps) and 30 s (/api/tags):
#: "expired" sets them to 0 so every call reads the hosts again, as one every few seconds would
WARM = {"ps_ttl_s": 3600, "telemetry_ttl_s": 3600, "tags_ttl_s": 3600}
EXPIRED = {"ps_ttl_s": 0, "telemetry_ttl_s": 0, "tags_ttl_s": 0}


def timed(cmd: Sequence[str], env: dict[str, str]) -> float:
    """Wall time of one command in ms (output discarded; a failure stops the benchmark)."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       check=False)
    ms = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        sys.exit(f"speed: {' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-300:]}")
    return ms


def pairs(a: Callable[[], float], b: Callable[[], float], n: int) -> tuple[list[float],
                                                                          list[float]]:
    """n alternating samples of a and b (one warm-up pair first)."""
    a(), b()
    xs, ys = [], []
    for _ in range(n):
        xs.append(a())
        ys.append(b())
    return xs, ys


def stats(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f}  (min {min(xs):.1f}, max {max(xs):.1f})"


def row(label: str, xs: list[float]) -> None:
    print(f"  {label:<44} {stats(xs)}")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def peak_rss_mb(cmd: Sequence[str], env: dict[str, str]) -> float:
    """Peak RSS of this one child, in MB: `os.wait4`'s rusage is the child's own
    (RUSAGE_CHILDREN would be the largest of every child waited for so far:
    the benchmark's own curl and python runs included)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"speed: {' '.join(cmd)} exited {proc.returncode}")
    return usage.ru_maxrss / 1024  # kB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=21, help="alternating pairs per figure")
    args = ap.parse_args()
    n = args.pairs
    load_before = os.getloadavg()[0]

    from smartollama.sim import Fleet, builtin_fleet

    sollama = str(Path(sys.executable).parent / "sollama")
    with tempfile.TemporaryDirectory() as tmp, \
            Fleet(builtin_fleet("demo", time_scale=0.0)) as fleet:
        env = {**os.environ, "SOLLAMA_STATE_DIR": tmp, "NO_COLOR": "1"}
        # installed, sollama's modules are byte-compiled: no user pays for compiling them
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        configs = {}
        for name, cache in (("warm", WARM), ("expired", EXPIRED)):
            path = Path(tmp) / f"{name}.toml"
            path.write_text(fleet.config_toml(cache=cache))
            configs[name] = {**env, "SOLLAMA_CONFIG": str(path)}
        warm, expired = configs["warm"], configs["expired"]
        route = [sollama, "route", MODEL]
        run = [sollama, "run", MODEL, PROMPT]
        timed(run, warm)   # loads the model and fills the caches
        chosen = json.loads(subprocess.run([*route, "--json"], env=warm, capture_output=True,
                                           text=True, check=True).stdout)
        body = json.dumps({"model": chosen["model_used"], "prompt": PROMPT, "stream": True})
        curl = ["curl", "-sS", "-N", "-o", "/dev/null", f"{chosen['host']}/api/generate",
                "-d", body]

        def py() -> float:
            return timed([sys.executable, "-c", "pass"], env)

        base, route_ms = pairs(py, lambda: timed(route, warm), n)
        curl_ms, run_ms = pairs(lambda: timed(curl, env), lambda: timed(run, warm), n)
        curl2_ms, cold_ms = pairs(lambda: timed(curl, env), lambda: timed(run, expired), n)

        def route_after_run() -> float:
            timed(run, warm)
            return timed(route, warm)

        def route_after_route() -> float:
            timed(route, warm)
            return timed(route, warm)

        plain_ms, after_run_ms = pairs(route_after_route, route_after_run, n)
        rss = max(peak_rss_mb(run, warm) for _ in range(3))

    print(f"sollama speed, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median of {n} alternating pairs, ms")
    print(f"  load average (1 min) before {load_before:.1f}, after {os.getloadavg()[0]:.1f}: "
          f"other jobs on the machine inflate every figure")
    row("python -c pass", base)
    row(f"sollama route {MODEL} (warm)", route_ms)
    row(f"curl /api/generate to {chosen['backend_used']}", curl_ms)
    row(f"sollama run {MODEL} (warm)", run_ms)
    row(f"sollama run {MODEL} (caches expired)", cold_ms)
    row("sollama route, right after a route", plain_ms)
    row("sollama route, right after a run", after_run_ms)
    ratio = statistics.median(route_ms) / statistics.median(base)
    warm_delta = statistics.median(r - c for r, c in zip(run_ms, curl_ms, strict=True))
    cold_delta = statistics.median(r - c for r, c in zip(cold_ms, curl2_ms, strict=True))
    after = statistics.median(after_run_ms) - statistics.median(plain_ms)
    print("targets:")
    print(f"  warm route / python -c pass     {ratio:6.1f}x   (<= 5x: {verdict(ratio <= 5)})")
    print(f"  warm run - curl                 {warm_delta:6.1f} ms (<= 60: "
          f"{verdict(warm_delta <= 60)})")
    print(f"  expired-cache run - curl        {cold_delta:6.1f} ms (<= 120: "
          f"{verdict(cold_delta <= 120)})")
    print(f"  route after a run - warm route  {after:6.1f} ms (about 0: "
          f"{verdict(after <= 5)})")
    print(f"  warm run peak RSS               {rss:6.1f} MB (<= 40: {verdict(rss <= 40)})")


if __name__ == "__main__":
    main()
