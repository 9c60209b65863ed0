"""What a run teaches and records: the in-flight entry, learned figures, the history line.

The learned figures: load speed, tokens/s and time to first token from
Ollama's final chunk; how far the host's fan, temperature and power rose
over the run, from the reading taken after it against the one the decision
saw (when this call took both: see `energy`); the memory the model took,
from `/api/ps`.

Before an attempt the request is marked in flight (`begin`, unless
`api.route` marked it already: a file beside the state, `state.inflight`);
after it (`finish`) the mark is removed and the state learns from Ollama's
final chunk and `/api/ps` and records the verdict. Everything `finish` has is written in one locked write, and a
writer waits for the lock rather than drop a decision; an attempt that
failed leaves its changes for the next write (`StateStore.defer`).
"""

from __future__ import annotations

import time

from smartollama.errors import SollamaError
from smartollama.ollama import OllamaClient
from smartollama.state import MIN_LOAD_NS, StateStore, key

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

    from smartollama.config import Config
    from smartollama.run.stream import RunOutcome
    from smartollama.verdict import Choice, Verdict


def energy(config: Config, store: StateStore, backend_id: str, verdict: Verdict, *,
           fresh: bool = True) -> float | None:
    """The backend's energy counter (J), when its telemetry has one and this
    call read it (telemetry once per call: a reading the state cache answered
    is not read again after the run, so a warm run probes nothing; its
    energy is not measured, as the cached reading may be from long before).

    ``fresh=False`` (before a run): the snapshot's reading, no probe. Else a
    fresh probe, whose reading replaces the cached one (the run changed the
    host's memory), so the next call needs none. Only a source whose reading in
    the snapshot had an energy counter is probed, so hardware without one
    costs no sample."""
    seen = verdict.telemetry.get(backend_id, {})
    if "energy_j" not in seen or not _read_this_call(verdict, backend_id):
        return None
    if not fresh:
        value = seen.get("energy_j")
        return float(value) if isinstance(value, int | float) else None
    b = config.backend(backend_id)
    if b is None:
        return None
    from smartollama.env import Environment

    now = time.time()
    reading, memo = Environment(config=config, store=store).probe(
        b, store.view().memos.get(b.id), now)

    # kept on the verdict (not a field: never recorded) for `finish` to cache
    verdict.__dict__.setdefault("_after_run", {})[b.host] = (b.id, reading.to_dict(), memo, now)
    return reading.get("energy_j")


def _read_this_call(verdict: Verdict, backend_id: str) -> bool:
    """Whether the snapshot behind ``verdict`` probed the backend (its reading is
    as new as the snapshot) rather than taking its reading from the state cache."""
    from smartollama.api import snapshot_of

    snap = snapshot_of(verdict)
    state = snap.backends.get(backend_id) if snap is not None else None
    return snap is None or state is None or state.reading.time >= snap.time


def begin(store: StateStore, backend: str, request_id: str,
          busy_s: float | None = None) -> None:
    """Mark the request in flight on ``backend`` (unless `api.route` did), with how
    long its decision expects it to keep the backend busy: a file, not a write of
    the state (`smartollama.state.inflight`)."""
    store.in_flight.begin(backend, request_id, time.time(), busy_s)


def finish(store: StateStore, config: Config, verdict: Verdict, choice: Choice,
            answer: RunOutcome | None, *, record: bool, end: bool = True) -> None:
    """End the in-flight entry; learn from the final chunk; record the verdict."""
    observed = None
    if answer is not None and answer.final and not _already_observed(verdict, choice, answer):
        observed = _observe(choice, config)
    now = time.time()
    after = verdict.__dict__.get("_after_run", {}).get(choice.host)

    if end:
        store.in_flight.end(choice.backend, verdict.id)

    def change(st: Any) -> None:
        if after is not None:       # read after the run: the next call needs no probe
            backend_id, reading, memo, t = after
            st.cache_put(key("telemetry", choice.host), reading, t)
            if memo:
                st.memos[backend_id] = memo
        elif answer is None or _loaded(answer):
            # the run changed this backend's memory: its cached reading is stale now
            # (a model already loaded changed nothing: the reading stays, and the
            # next call needs no probe)
            st.cache_drop(key("telemetry", choice.host))
        if answer is not None and answer.final:
            if after is not None:   # the host as the run left it, against the reading before
                st.learn_heat(choice.backend, verdict.telemetry.get(choice.backend, {}),
                              after[1], now=after[3])
            f = answer.final
            size = _model_size(st, choice)
            st.learn_run(choice.backend, choice.model, size_bytes=size,
                         load_duration_ns=f.get("load_duration"), eval_count=f.get("eval_count"),
                         eval_duration_ns=f.get("eval_duration"), ttft_s=answer.ttft_s,
                         total_duration_ns=f.get("total_duration"),
                         prompt_eval_duration_ns=f.get("prompt_eval_duration"),
                         prompt_eval_count=f.get("prompt_eval_count"), now=now)
        if observed is not None:
            ps, found = observed
            st.cache_put(key("ps", choice.host), ps, now)
            if found is not None:
                num_ctx = int(found.get("context_length") or config.num_ctx or 0)
                if num_ctx > 0:      # filed under the context it was loaded with
                    st.observe_memory(choice.backend, choice.model, num_ctx,
                                      int(found.get("size") or 0), int(found.get("size_vram") or 0),
                                      now)
        if record and config.history.enabled:
            st.add_verdict(verdict.to_dict(), config.history.size)
        st.prune({b.id for b in config.backends}, {b.host for b in config.backends}, now)

    if not record:
        store.defer(change)     # a failed attempt: written with the next one
        return
    from smartollama.api import writer_wait_s

    with store.update(wait_s=writer_wait_s(store.lock_timeout_s)) as st:
        change(st)


def _loaded(answer: RunOutcome) -> bool:
    """The answer's model was loaded for it (or we cannot tell)."""
    load_ns = answer.final.get("load_duration")
    return load_ns is None or load_ns >= MIN_LOAD_NS


def _already_observed(verdict: Verdict, choice: Choice, answer: RunOutcome) -> bool:
    """Nothing new to learn from `/api/ps`: the model was loaded already and its
    memory here was known (the estimate came from an observation)."""
    loaded_before = (answer.final.get("load_duration") or 0) < MIN_LOAD_NS
    return (loaded_before and verdict.estimate.basis == "observed"
            and choice.backend == verdict.backend_used and choice.model == verdict.model_used)


def _observe(choice: Choice, config: Config) -> tuple[list[dict[str, Any]], dict[str, Any] | None] | None:
    """`/api/ps` after a run: what the model really takes on this host.

    It runs after the answer was printed: a Ctrl-C here skips the observation,
    not the recording of the run."""
    b = config.backend(choice.backend)
    try:
        if b is None:
            return None
        with OllamaClient.for_backend(b, config.timeouts, host=choice.host) as c:
            ps = c.ps()
    except (SollamaError, KeyboardInterrupt):
        return None
    from smartollama import names

    want = names.canonical(choice.model).lower()
    found = next((m for m in ps if names.canonical(str(m.get("name", ""))).lower() == want), None)
    return ps, found


def _model_size(st: Any, choice: Choice) -> int | None:
    from smartollama import names

    tags = (st.caches.get(key("tags", choice.host)) or {}).get("v") or []
    want = names.canonical(choice.model).lower()
    for m in tags:
        if names.canonical(str(m.get("name", ""))).lower() == want:
            return int(m.get("size") or 0) or None
    return None
