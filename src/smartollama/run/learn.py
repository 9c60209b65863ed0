"""What a run teaches and records: the in-flight entry, learned figures, the history line.

The state is touched before an attempt (`begin`: the request is in flight)
and after it (`finish`: learn from Ollama's final chunk and `/api/ps`, record
the verdict).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from smartollama.errors import SollamaError
from smartollama.ollama import OllamaClient
from smartollama.state import MIN_LOAD_NS, StateStore

if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.run.stream import RunOutcome
    from smartollama.verdict import Choice, Verdict


def energy(config: Config, store: StateStore, backend_id: str, verdict: Verdict) -> float | None:
    """The backend's energy counter now (J), when its telemetry has one: a fresh probe.

    Only a source whose reading in the snapshot had an energy counter is probed
    again, so a run on hardware without one costs no extra sample."""
    if "energy_j" not in verdict.telemetry.get(backend_id, {}):
        return None
    b = config.backend(backend_id)
    if b is None:
        return None
    from smartollama.snapshot import fresh_reading

    return fresh_reading(b, store).get("energy_j")


def begin(store: StateStore, backend: str, request_id: str) -> None:
    with store.update() as st:
        st.begin_request(backend, request_id, os.getpid(), time.time())


def finish(store: StateStore, config: Config, verdict: Verdict, choice: Choice,
            answer: RunOutcome | None, *, record: bool, end: bool = True) -> None:
    """End the in-flight entry; learn from the final chunk; record the verdict."""
    observed = None
    if answer is not None and answer.final and not _already_observed(verdict, choice, answer):
        observed = _observe(choice, config)
    now = time.time()
    with store.update() as st:
        if end:
            st.end_request(choice.backend, verdict.id)
        # the run changed this backend's memory: its cached reading is stale now
        st.cache_drop(f"telemetry:{choice.backend}")
        if answer is not None and answer.final:
            f = answer.final
            size = _model_size(st, choice)
            st.learn_run(choice.backend, choice.model, size_bytes=size,
                         load_duration_ns=f.get("load_duration"), eval_count=f.get("eval_count"),
                         eval_duration_ns=f.get("eval_duration"), ttft_s=answer.ttft_s, now=now)
        if observed is not None:
            ps, found = observed
            st.cache_put(f"ps:{choice.backend}", ps, now)
            if found is not None:
                num_ctx = int(found.get("context_length") or config.num_ctx)
                st.observe_memory(choice.backend, choice.model, num_ctx,
                                  int(found.get("size") or 0), int(found.get("size_vram") or 0), now)
        if record and config.history.enabled:
            st.add_verdict(verdict.to_dict(), config.history.size)


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

    tags = (st.caches.get(f"tags:{choice.backend}") or {}).get("v") or []
    want = names.canonical(choice.model).lower()
    for m in tags:
        if names.canonical(str(m.get("name", ""))).lower() == want:
            return int(m.get("size") or 0) or None
    return None
