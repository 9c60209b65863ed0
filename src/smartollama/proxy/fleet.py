"""The proxy's Environment: the fleet kept in memory, decisions recorded in batches.

A CLI call gathers the fleet once and exits. The proxy serves many requests a
second, so it must not ask the hosts (or take the state lock) per request:

* **The snapshot** is gathered by `smartollama.snapshot.gather` (the same code
  and the same state-cache TTLs as the CLI) in a background thread, every
  `interval_s` (the shortest of the telemetry and `/api/ps` TTLs), and kept.
  A request decides from it at once; only a model never asked for before
  (its `/api/show` figures are not in it yet) waits for one gather.
* **In flight**: the snapshot counts other processes' requests (the state
  file's in-flight entries); the proxy adds its own, counted in memory.
* **Decided once**: `routing.decide()` is pure and reads the snapshot's time
  only for the verdict's id and time, so a request like one already decided
  from the same snapshot, with the same counts in flight, gets a copy of that
  verdict with its own id and time (under load, most requests are like the
  one before; a decision whose wait estimate breaks the urgency decides every
  suggestion again, several milliseconds).
* **Recording**: a decision is queued and a writer thread records everything
  queued in one locked state write (history lines and learned figures), so a
  burst costs one lock, never one per request, let alone per token.
"""

from __future__ import annotations

import collections
import dataclasses
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smartollama import names
from smartollama.env import Environment

if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.fleet import FleetSnapshot, Request
    from smartollama.state import State
    from smartollama.verdict import Verdict


class ProxyEnvironment(Environment):
    """An Environment whose `gather` answers from a snapshot kept fresh in the background."""

    def __init__(self, *, config: Config | None = None, state_dir: str | None = None,
                 interval_s: float | None = None) -> None:
        super().__init__(config=config, state_dir=state_dir)
        cache = self.config.cache
        #: how often the snapshot is gathered again (the state cache's shortest TTL)
        self.interval_s = interval_s if interval_s is not None else max(
            0.25, min(cache.telemetry_ttl_s, cache.ps_ttl_s))
        self._snap: FleetSnapshot | None = None
        self._generation = 0                # bumped by each gather
        self._decided: dict[tuple[Any, ...], Verdict] = {}   # this generation's decisions
        self._wanted: set[str] = set()      # models worth an /api/show, as asked for
        self._gather_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the proxy's own requests running on each backend now
        self.in_flight: collections.Counter[str] = collections.Counter()
        self.recorder = Recorder(self)
        #: the last background gather's error (a config that names no backend, say)
        self.error: str | None = None

    # -- the snapshot -------------------------------------------------------------------
    def warm_for(self, model: str) -> bool:
        """Whether a decision for ``model`` can be made from memory (no I/O)."""
        return self._snap is not None and (not _wants(model) or _key(model) in self._wanted)

    def gather(self, *, models: tuple[str, ...] = (), capabilities: bool = False,
               then: Callable[[State, FleetSnapshot], None] | None = None) -> FleetSnapshot:
        """The kept snapshot with this proxy's in-flight counts; gathered first when it
        lacks a model's figures. The kept one always has every model's capabilities.
        ``then`` is not called: no lock is taken here."""
        new = {_key(m) for m in models if _wants(m)}
        snap = self._snap
        if snap is None or not new <= self._wanted:
            snap = self.refresh(new)
        return self._with_in_flight(snap)

    def refresh(self, models: set[str] | None = None) -> FleetSnapshot:
        """Gather the fleet now (hosts and probes only where the state cache expired)."""
        from smartollama import snapshot

        with self._gather_lock:
            self._wanted |= models or set()
            self.store.read()       # what other processes wrote: the mode, their in-flight runs
            snap = snapshot.gather(self, models=tuple(sorted(self._wanted)), capabilities=True)
            self._generation += 1
            self._decided = {}
            self._snap = snap
        return snap

    def _with_in_flight(self, snap: FleetSnapshot) -> FleetSnapshot:
        from smartollama.fleet import FleetSnapshot

        mine = self.in_flight
        out = FleetSnapshot(time=self.now(), backends={
            k: dataclasses.replace(b, in_flight=b.in_flight + mine[k]) if mine[k] else b
            for k, b in snap.backends.items()})
        out.__dict__["_generation"] = (self._generation if snap is self._snap else None)
        return out

    def decide(self, request: Request, snap: FleetSnapshot) -> Verdict:
        """`routing.decide()`, or a copy of the same decision made from the same
        snapshot with the same counts in flight (its own id and time)."""
        from smartollama.routing import decide
        from smartollama.routing.build import iso, verdict_id

        generation = snap.__dict__.get("_generation")
        if generation is None:
            return decide(request, snap, self.config, explain=self.explain)
        key = (generation, dataclasses.replace(request, nonce=""),
               tuple(b.in_flight for b in snap.backends.values()))
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decided[key] = decide(request, snap, self.config,
                                                  explain=self.explain)
        return dataclasses.replace(decided, id=verdict_id(request, snap.time),
                                   time=iso(snap.time), warnings=list(decided.warnings))

    def start(self) -> None:
        """Gather once now, then keep gathering in the background; start the recorder."""
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="sollama-gather", daemon=True)
        self._thread.start()
        self.recorder.start()

    def close(self) -> None:
        """Stop gathering; record what is still queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.recorder.close()

    def _loop(self) -> None:
        from smartollama.errors import SollamaError

        while not self._stop.wait(self.interval_s):
            try:
                self.refresh()
                self.error = None
            except SollamaError as e:   # kept; requests decide from the last snapshot
                self.error = e.message
            self.warn_state()


def _wants(model: str) -> bool:
    return bool(model) and model != "auto"


def _key(model: str) -> str:
    return names.canonical(model).lower()


class Recorder:
    """Decisions queued by the request handlers, written by one thread in batches."""

    def __init__(self, env: ProxyEnvironment) -> None:
        self.env = env
        self._queue: collections.deque[Verdict] = collections.deque()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        #: how many state writes recorded decisions (a test checks the batching)
        self.writes = 0

    def add(self, verdict: Verdict) -> None:
        """Queue a decision (with its outcome, when it ran) to be recorded."""
        self._queue.append(verdict)
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sollama-record", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        self.flush()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Write everything queued, in one locked write."""
        batch: list[Verdict] = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return
        from smartollama.api import prune, writer_wait_s

        env = self.env
        config = env.config
        store = env.store
        now = time.time()
        try:
            with store.update(wait_s=writer_wait_s(store.lock_timeout_s)) as st:
                for v in batch:
                    _learn(st, v, now)
                    if config.history.enabled:
                        st.add_verdict(v.to_dict(), config.history.size)
                prune(st, env)
            self.writes += 1
        except Exception as e:  # noqa: BLE001 - the writer thread must outlive one bad batch
            print(f"sollama: warning: {len(batch)} decisions not recorded: {e}", file=sys.stderr)
        env.warn_state()


def _learn(st: State, v: Verdict, now: float) -> None:
    """The run's figures (Ollama's final object) folded into the backend's averages."""
    final: dict[str, Any] | None = v.__dict__.get("_final")
    if not final or not v.backend_used or not v.model_used:
        return
    st.learn_run(v.backend_used, v.model_used, load_duration_ns=final.get("load_duration"),
                 eval_count=final.get("eval_count"), eval_duration_ns=final.get("eval_duration"),
                 ttft_s=v.__dict__.get("_ttft_s"), total_duration_ns=final.get("total_duration"),
                 prompt_eval_duration_ns=final.get("prompt_eval_duration"),
                 prompt_eval_count=final.get("prompt_eval_count"), now=now)
