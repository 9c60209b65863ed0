"""Decision time of `routing.decide()` for fleets of 3, 10 and 50 backends, 200 models each.

Pure decision only (no I/O): builds a config and a snapshot in memory, then
times `decide()` many times and prints the median in microseconds. Targets:
under 1 ms for a plain run at 10 backends, under 2 ms for a refusal with its
suggestions (each decided again), and time growing linearly in backends.

    python benchmarks/route.py [--runs N] [--cli-runs N] [--clock wall|cpu]

Then the whole command: the wall time of `sollama route llama3:8b` (a fresh
process, against the simulated demo fleet on loopback, with warm caches) and of
`sollama --help`, each against `python -c pass` measured in the same run.
Target: `sollama route` at most 5x the bare interpreter. With ``--history N``,
N `sollama run` calls first fill the decision history (as a long-used state
directory has it), and a warm `sollama run` is timed too.
"""

from __future__ import annotations

import argparse
import statistics
import time

from smartollama import routing
from smartollama.config import parse_config
from smartollama.fleet import BackendState, FleetSnapshot, LoadedModel, ModelInfo, Request
from smartollama.telemetry.base import Reading

FAMILIES = ["llama3", "llama3.1", "llama3.2", "qwen2.5", "qwen2.5-coder", "qwen3", "mistral",
            "gemma2", "gemma3", "phi3", "phi4", "deepseek-r1", "tinyllama", "codellama",
            "starcoder2", "mixtral", "smollm2", "granite3", "olmo2", "deepseek-coder"]
SIZES = [0.5, 1, 1.5, 3, 7, 8, 14, 32, 70, 4]
QUANTS = ["", "-q4_K_M", "-q8_0", "-q3_K_S", "-fp16"]
HARDWARE = ["nvidia", "amd", "igpu", "npu", "cpu"]
CAPACITY = {"nvidia": 24.0, "amd": 16.0, "igpu": 8.0, "npu": 2.0, "cpu": 16.0}
#: discrete GPUs are loud (outside quiet mode), the rest quiet
FAN = {"nvidia": 65.0, "amd": 55.0, "igpu": 30.0, "npu": 0.0, "cpu": 20.0}


def model_names(n: int = 200) -> list[str]:
    out: list[str] = []
    i = 0
    while len(out) < n:
        fam = FAMILIES[i % len(FAMILIES)]
        size = SIZES[(i // len(FAMILIES)) % len(SIZES)]
        quant = QUANTS[(i // (len(FAMILIES) * len(SIZES))) % len(QUANTS)]
        tag = (f"{size:g}b").replace(".0b", "b")
        out.append(f"{fam}:{tag}{quant}")
        i += 1
    return out


def fleet(n_backends: int, n_models: int = 200) -> tuple[object, FleetSnapshot]:
    parts = ['default_mode = "balanced"\n[model_equivalents]\n'
             'high_quality = ["llama3:70b", "qwen2.5:32b"]\n'
             'medium_quality = ["llama3:8b", "qwen2.5:7b", "mistral:7b"]\n'
             'low_quality = ["llama3.2:3b", "qwen2.5:1.5b"]\n'
             'ultra_efficient = ["qwen2.5:0.5b", "tinyllama:1b"]\n']
    for i in range(n_backends):
        hw = HARDWARE[i % len(HARDWARE)]
        parts.append(f'[[backends]]\nid = "b{i}-{hw}"\nhost = "http://127.0.0.1:{12000 + i}"\n'
                     f'hardware = "{hw}"\nmax_model_size_gb = {CAPACITY[hw]}\n')
    cfg = parse_config("".join(parts), "<bench>")
    names = model_names(n_models)
    backends: dict[str, BackendState] = {}
    for i, b in enumerate(cfg.backends):
        models = {}
        for name in names:
            size_b = float(name.split(":")[1].split("b")[0])
            models[name] = ModelInfo(name=name, size_bytes=int(size_b * 0.6e9),
                                     block_count=32, embedding_length=4096, head_count=32,
                                     head_count_kv=8, context_length=32768)
        loaded = {}
        first = names[i % len(names)]
        loaded[first] = LoadedModel(first, models[first].size_bytes, models[first].size_bytes)
        backends[b.id] = BackendState(
            id=b.id, models=models, loaded=loaded,
            reading=Reading(source="static", fan_pct=FAN[b.hardware], temp_c=60.0,
                            power_w=50.0, mem_total_gb=CAPACITY[b.hardware],
                            mem_free_gb=CAPACITY[b.hardware] - 2))
    return cfg, FleetSnapshot(time=1_795_000_000.0, backends=backends)


def bench(cfg: object, snap: FleetSnapshot, req: Request, runs: int,
          clock: str = "wall") -> tuple[float, str]:
    """Median µs of one decision. ``clock="cpu"``: this process's CPU time, which a
    machine shared with other jobs does not inflate the way it does wall time."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    samples = []
    v = routing.decide(req, snap, cfg)  # type: ignore[arg-type]
    for _ in range(runs):
        t0 = now()
        routing.decide(req, snap, cfg)  # type: ignore[arg-type]
        samples.append(now() - t0)
    return statistics.median(samples) * 1e6, v.action


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--cli-runs", type=int, default=15)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time decisions by the wall clock or by this process's CPU time")
    ap.add_argument("--history", type=int, default=0, metavar="N",
                    help="fill the history with N `sollama run` verdicts before timing")
    args = ap.parse_args()
    cases = [
        ("run (llama3:8b, balanced)", Request(model="llama3:8b", mode="balanced")),
        ("substitute (qwen2.5:32b, quiet)",
         Request(model="qwen2.5:32b", mode="quiet", urgency="interactive", policy="substitute")),
        ("refuse + suggestions (prefer_mode)",
         Request(model="llama3:70b", mode="quiet", urgency="background", policy="prefer_mode")),
        ("auto (code, batch)", Request(model="auto", mode="balanced", task="code",
                                       urgency="batch")),
    ]
    print(f"{'backends':>8}  {'case':<36} {'median µs':>10}  action")
    targets: dict[str, float] = {}
    for n in (3, 10, 50):
        cfg, snap = fleet(n)
        for label, req in cases:
            runs = args.runs if n <= 10 else max(args.runs // 5, 20)
            us, action = bench(cfg, snap, req, runs, args.clock)
            print(f"{n:>8}  {label:<36} {us:>10.0f}  {action}")
            if n == 10 and label.split()[0] in ("run", "refuse"):
                targets[label.split()[0]] = us
    for label, limit in (("run", 1000), ("refuse", 2000)):
        us = targets.get(label)
        if us is not None:
            verdict = "met" if us < limit else "MISSED"
            print(f"target ({label}, 10 backends, under {limit} µs): {verdict} ({us:.0f} µs)")
    if args.cli_runs:
        cli_wall(args.cli_runs, args.history)


def _wall(cmd: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of a command, in ms."""
    import subprocess

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def cli_wall(runs: int, history: int = 0) -> None:
    import os
    import sys
    import tempfile
    from pathlib import Path

    from smartollama.sim import Fleet, builtin_fleet

    sollama = str(Path(sys.executable).parent / "sollama")
    with tempfile.TemporaryDirectory() as tmp, Fleet(builtin_fleet("demo", time_scale=0.0)) as f:
        cfg = Path(tmp) / "config.toml"
        # warm caches: long TTLs so every timed call reads the state cache, not the hosts
        cfg.write_text(f.config_toml(cache={"ps_ttl_s": 3600, "telemetry_ttl_s": 3600,
                                            "tags_ttl_s": 3600}))
        env = {**os.environ, "SOLLAMA_CONFIG": str(cfg), "SOLLAMA_STATE_DIR": tmp}
        # installed, sollama's modules are byte-compiled (pip compiles them); under
        # PYTHONDONTWRITEBYTECODE an editable checkout would compile its sources again
        # on every call (~40 ms of a route), which no user pays
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        route = [sollama, "route", "llama3:8b"]
        run = [sollama, "run", "llama3:8b", "Why is the sky blue? Answer in one line."]
        _wall(route, env, 2)                          # fills the caches (and the bytecode)
        _wall([sollama, "--help"], env, 1)
        if history:
            _wall(run, env, history)
        base = _wall([sys.executable, "-c", "pass"], env, runs)
        help_ms = _wall([sollama, "--help"], env, runs)
        route_ms = _wall(route, env, runs)
        run_ms = _wall(run, env, runs)
    print(f"\ncommand wall time (median of {runs}, ms; {history} verdicts in the history "
          f"before timing):")
    print(f"  python -c pass            {base:7.1f}")
    print(f"  sollama --help            {help_ms:7.1f}  ({help_ms / base:.1f}x)")
    print(f"  sollama route llama3:8b   {route_ms:7.1f}  ({route_ms / base:.1f}x, target <= 5x)")
    print(f"  sollama run llama3:8b     {run_ms:7.1f}  ({run_ms / base:.1f}x)")


if __name__ == "__main__":
    main()
