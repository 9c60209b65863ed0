"""Figures learned from past runs: load speed, time to first token and tokens/s
per backend (moving averages), how far the host's fan, temperature and power
rise while it serves a run, and the memory models really took (``/api/ps``).
"""

from __future__ import annotations

import math

from smartollama.state.caches import slot, time_of

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

    from smartollama.fleet import Learned

#: a load shorter than this was no real load (the model was already there)
MIN_LOAD_NS = 50_000_000
#: observed memory entries kept per backend (newest win)
OBSERVED_PER_BACKEND = 64
#: the smallest weight a new sample gets in a moving average
EMA_MIN_ALPHA = 0.2
#: figures for a model (and observations) not seen for this long are dropped
UNSEEN_MAX_AGE_S = 30 * 86_400.0
#: the times of a model's last runs kept per backend (for the keep-alive its use asks)
USES_KEPT = 12
#: the rise counted against a mode's limit: its average and this many times its
#: average deviation (as TCP times a round trip: a run longer than most goes further)
HEAT_DEVIATIONS = 1.0
#: the readings that follow the heat a run makes, whose rise over a run is learned
#: (utilisation is left out: it reads ~100 % under load on every host)
HEAT_FIELDS = ("fan_pct", "temp_c", "power_w")


class LearnedMixin:
    """`State`'s ``learned`` and ``observed`` fields."""

    #: backend → {"load": ema, "ttft": ema, "tps": {model: ema}, "ptps": {model: ema},
    #: "heat": {field: ema},
    #: "uses": {model: [epoch s of its last runs]}}; ema = {"v", "n", "t"}
    learned: dict[str, Any]
    #: backend → {"model|num_ctx": {"size", "size_vram", "t"}}
    observed: dict[str, Any]

    def learn_run(self, backend: str, model: str, *, size_bytes: int | None = None,
                  load_duration_ns: int | None = None, eval_count: int | None = None,
                  eval_duration_ns: int | None = None, ttft_s: float | None = None,
                  total_duration_ns: int | None = None,
                  prompt_eval_duration_ns: int | None = None,
                  prompt_eval_count: int | None = None, now: float) -> None:
        """Fold one run's figures (Ollama's final response fields) into the
        backend's moving averages. Figures that are missing or implausible are
        skipped; a load under 50 ms was no real load and teaches no speed.

        The time to first token learned is that of the model in place: the
        router adds the load and the queue it expects on top of it, so the
        measured one less `load_duration` (Ollama's: the scheduler's wait and
        the load) and less the wait for a slot (what `total_duration` has
        beyond the load, the prompt's evaluation and the generation)."""
        b = slot(self.learned, backend)
        uses = slot(b, "uses")
        kept = uses.get(model)
        kept = [t for t in kept if _finite(t)] if isinstance(kept, list) else []
        uses[model] = [*kept, now][-USES_KEPT:]
        if (pos(size_bytes) and pos(load_duration_ns)
                and load_duration_ns is not None and load_duration_ns > MIN_LOAD_NS
                and size_bytes is not None):
            gb_per_s = (size_bytes / 1e9) / (load_duration_ns / 1e9)
            _ema(slot(b, "load"), gb_per_s, now)
        if pos(eval_count) and pos(eval_duration_ns) and eval_count and eval_duration_ns:
            tps = eval_count / (eval_duration_ns / 1e9)
            _ema(slot(slot(b, "tps"), model), tps, now)
        if pos(prompt_eval_count) and pos(prompt_eval_duration_ns) and prompt_eval_count \
                and prompt_eval_duration_ns:
            ptps = prompt_eval_count / (prompt_eval_duration_ns / 1e9)
            _ema(slot(slot(b, "ptps"), model), ptps, now)
        if ttft_s is not None and isinstance(ttft_s, int | float) and math.isfinite(ttft_s) \
                and ttft_s >= 0:
            ready = float(ttft_s) - _ns_s(load_duration_ns)
            parts = (load_duration_ns, prompt_eval_duration_ns, eval_duration_ns)
            if pos(total_duration_ns) and all(pos(x) or x == 0 for x in parts):
                ready -= max(0.0, _ns_s(total_duration_ns) - sum(_ns_s(x) for x in parts))
            _ema(slot(b, "ttft"), max(0.0, ready), now)

    def learn_heat(self, backend: str, before: dict[str, Any], after: dict[str, Any], *,
                   now: float) -> None:
        """Fold how far the host's readings rose over a run (``after``: read as it
        ended, the host still warm from it; ``before``: read when it was decided)
        into the backend's moving averages. A field missing or not finite on
        either side is skipped."""
        for fld in HEAT_FIELDS:
            a, b = after.get(fld), before.get(fld)
            if isinstance(a, int | float) and isinstance(b, int | float) \
                    and _finite(a) and _finite(b):
                heat = slot(slot(self.learned, backend), "heat")
                rise, entry = float(a) - float(b), slot(heat, fld)
                # the deviation from the average so far (the first run: none)
                dev = abs(rise - float(entry["v"])) if ema_ok(entry) else 0.0
                _ema(entry, rise, now)
                _ema(slot(slot(slot(self.learned, backend), "heat_dev"), fld), dev, now)

    def learned_figures(self, backend: str) -> Learned:
        from smartollama.fleet import Learned

        b = self.learned.get(backend)
        out = Learned()
        if not isinstance(b, dict):
            return out
        load: Any = b.get("load")
        ttft: Any = b.get("ttft")
        tps: Any = b.get("tps")
        if ema_ok(load):
            out.load_gb_per_s, out.load_samples = float(load["v"]), int(load["n"])
        if ema_ok(ttft):
            out.ttft_s, out.ttft_samples = float(ttft["v"]), int(ttft["n"])
        if isinstance(tps, dict):
            for model, e in tps.items():
                if ema_ok(e):
                    out.tokens_per_s[model] = float(e["v"])
                    out.tps_samples[model] = int(e["n"])
        ptps: Any = b.get("ptps")
        if isinstance(ptps, dict):
            for model, e in ptps.items():
                if ema_ok(e):
                    out.prompt_tokens_per_s[model] = float(e["v"])
        uses: Any = b.get("uses")
        if isinstance(uses, dict):
            for model, times in uses.items():
                if isinstance(times, list):
                    out.uses[model] = [float(t) for t in times if _finite(t)]
        heat: Any = b.get("heat")
        if isinstance(heat, dict):
            for fld in HEAT_FIELDS:
                h: Any = heat.get(fld)
                if ema_ok(h):
                    d: Any = (b.get("heat_dev") or {}).get(fld)
                    dev = float(d["v"]) if ema_ok(d) else 0.0
                    out.heat_rise[fld] = float(h["v"]) + HEAT_DEVIATIONS * dev
                    out.heat_samples[fld] = int(h["n"])
        return out

    def observe_memory(self, backend: str, model: str, num_ctx: int, size: int,
                       size_vram: int, now: float) -> None:
        """What ``/api/ps`` reported a model really took once loaded."""
        b = slot(self.observed, backend)
        b[f"{model}|{int(num_ctx)}"] = {"size": int(size), "size_vram": int(size_vram), "t": now}
        if len(b) > OBSERVED_PER_BACKEND:
            keep = sorted(b, key=lambda k: time_of(b[k]), reverse=True)[:OBSERVED_PER_BACKEND]
            for k in set(b) - set(keep):
                del b[k]

    def observed_for(self, backend: str) -> dict[tuple[str, int], tuple[int, int]]:
        out: dict[tuple[str, int], tuple[int, int]] = {}
        b = self.observed.get(backend)
        if not isinstance(b, dict):
            return out
        for key, e in b.items():
            model, sep, ctx = str(key).rpartition("|")
            if not sep or not ctx.isdigit() or not isinstance(e, dict):
                continue
            size, vram = e.get("size"), e.get("size_vram")
            if isinstance(size, int) and isinstance(vram, int):
                out[(model, int(ctx))] = (size, vram)
        return out

    def prune_learned(self, now: float) -> None:
        """Per-model figures and observations unseen for 30 days go; so does a
        backend left with nothing."""
        for b in list(self.learned.values()):
            for per_model in ("tps", "ptps"):
                tps = b.get(per_model) if isinstance(b, dict) else None
                if isinstance(tps, dict):
                    for model in [m for m, e in tps.items() if _unseen(e, now)]:
                        del tps[model]
            uses = b.get("uses") if isinstance(b, dict) else None
            if isinstance(uses, dict):
                for model in [m for m, ts in uses.items() if not isinstance(ts, list) or not ts
                              or not _finite(ts[-1]) or now - ts[-1] > UNSEEN_MAX_AGE_S]:
                    del uses[model]
        for b in self.observed.values():
            if isinstance(b, dict):
                for k in [k for k, e in b.items() if _unseen(e, now)]:
                    del b[k]
        for d in (self.learned, self.observed):
            for k in [k for k, v in d.items() if not v]:
                del d[k]


def _unseen(e: Any, now: float) -> bool:
    """Last seen more than 30 days ago (a time of 0, a migrated figure, is unknown: kept)."""
    t = time_of(e)
    return t > 0 and now - t > UNSEEN_MAX_AGE_S


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _ns_s(ns: Any) -> float:
    """Nanoseconds (an Ollama duration) as seconds; 0 for a missing or odd one."""
    return float(ns) / 1e9 if pos(ns) else 0.0


def pos(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _ema(entry: dict[str, Any], x: float, now: float) -> None:
    """Exponential moving average with weight max(1/n, 0.2): the first samples
    converge fast, later ones still follow a change in the hardware."""
    n = entry.get("n")
    n = n + 1 if isinstance(n, int) and n > 0 and ema_ok(entry) else 1
    alpha = max(1.0 / n, EMA_MIN_ALPHA)
    old = float(entry["v"]) if n > 1 else x
    entry["v"] = old + alpha * (x - old)
    entry["n"] = n
    entry["t"] = now


def ema_ok(e: Any) -> bool:
    return (isinstance(e, dict) and isinstance(e.get("v"), int | float)
            and isinstance(e.get("n"), int) and e["n"] > 0)
