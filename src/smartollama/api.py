"""The core's two entry points, shared by the CLI, the proxy and the replay.

``route(request, env) -> Verdict``: gather the fleet in one pass, decide
(`decide()` is pure), ask a person when the policy says so and a terminal is
there. ``run(verdict, options, env) -> RunOutcome``: stream the answer with
fallback, then write everything the call learned and decided to the state in
one locked write. A call takes the state lock at most twice: once when the
snapshot refreshes what expired (the request is marked in flight inside it),
once for the final write; a warm call takes it once. The in-flight marks are
files beside the state (`smartollama.state.inflight`), not a write of it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.env import Environment
    from smartollama.fleet import FleetSnapshot, Request
    from smartollama.run.stream import RunOptions, RunOutcome
    from smartollama.state import State
    from smartollama.verdict import Verdict


def route(request: Request, env: Environment, *, prompt: str | None = None,
          will_run: bool = False) -> Verdict:
    """Decide where ``request`` runs (a verdict with ``ask`` set leaves the
    asking to the front door: `snapshot_of` gives it the snapshot). ``prompt``: its length and hash (the text
    too, with ``history.store_prompts``) go on the verdict. The snapshot is
    ``env.gather``'s: the hosts and the state cache for the CLI, what a front
    door keeps in memory for the proxy and the replay. ``will_run``: the
    caller runs the verdict next, so a refresh of the state cache also marks
    the request in flight, inside the same lock."""
    from smartollama.errors import SollamaError

    config = env.config
    decided: dict[str, Verdict] = {}

    failed: list[SollamaError] = []

    def in_lock(st: State, snap: FleetSnapshot) -> None:
        try:
            v = decided["v"] = _decide(request, snap, env)
        except SollamaError as e:   # raised after the write: what the pass learned is kept
            failed.append(e)
            return
        if will_run and v.action != "refuse" and v.backend_used and not (v.ask and request.can_ask):
            _begin(env, v.backend_used, v.id, busy_s(v, v.backend_used, request.answer_tokens))

    snap = env.gather(models=(request.model,), capabilities=bool(request.needs), then=in_lock)
    if failed:
        raise failed[0]
    verdict = decided.get("v") or _decide(request, snap, env)
    verdict.__dict__["_snapshot"] = snap    # for a front door's `ask` menu, not recorded
    if prompt is not None:
        from smartollama.state import prompt_fields

        for k, v in prompt_fields(prompt, config.history.store_prompts).items():
            setattr(verdict, k, v)
    return verdict


def snapshot_of(verdict: Verdict) -> FleetSnapshot | None:
    """The snapshot ``route`` decided ``verdict`` from (to decide again on it)."""
    snap: FleetSnapshot | None = verdict.__dict__.get("_snapshot")
    return snap


def embeds(verdict: Verdict) -> bool:
    """Is the verdict's model an embedding model (its host lists only `embedding`
    among generate and embed)? Then it is run through `/api/embed`."""
    snap = snapshot_of(verdict)
    return snap is not None and embeds_on(snap, verdict.backend_used, verdict.model_used)


def embeds_on(snap: FleetSnapshot, backend: str | None, model: str | None) -> bool:
    st = snap.backends.get(backend or "")
    info = st.models.get((model or "").lower()) if st is not None else None
    return info is not None and info.embeds_only


def run(verdict: Verdict, options: RunOptions, env: Environment) -> RunOutcome:
    """Run a runnable verdict on its host, falling back along its choices;
    ``verdict.outcome`` is filled and the verdict recorded."""
    from smartollama.run.execute import execute

    return execute(verdict, options, env.config, env.store, out=env.stdout, err=env.stderr)


def record(verdict: Verdict, env: Environment) -> None:
    """Record a verdict that is not run (a refusal) in the decision history."""
    config = env.config
    if config.history.enabled:
        with env.store.update(wait_s=writer_wait_s(env.store.lock_timeout_s)) as st:
            st.add_verdict(verdict.to_dict(), config.history.size)
            prune(st, env)


def prune(st: State, env: Environment) -> None:
    """Forget state of backends and hosts no longer configured (see State.prune)."""
    config = env.config
    st.prune({b.id for b in config.backends}, {b.host for b in config.backends}, env.now())


def writer_wait_s(lock_timeout_s: float) -> float:
    """How long a writer with a decision to keep waits for the lock: far longer
    than a reader (a lock holder is bounded by its own time-outs, and the
    kernel drops the lock of a process that dies)."""
    return max(60.0, 12 * lock_timeout_s)


def nonce() -> str:
    """A request's nonce: 48 bits of randomness (the verdict id's suffix)."""
    return os.urandom(6).hex()


def busy_s(verdict: Verdict, backend: str, answer_tokens: int | None = None) -> float | None:
    """How long the request will keep ``backend`` busy, as its verdict expects it:
    the wait there (queue, load, first token) plus the answer at the expected
    speed. Recorded with the request in flight, it is what the next decisions'
    queue estimates count on (`routing.fit.queue_s`). None: no estimate."""
    from smartollama.routing.fit import TOKENS_PER_ANSWER

    choice = next((c for c in verdict.choices if c.backend == backend), None)
    tps = verdict.estimate.tokens_per_s
    if choice is None or choice.wait_s is None or not tps:
        return None
    return choice.wait_s + (answer_tokens or TOKENS_PER_ANSWER) / tps


def _decide(request: Request, snap: FleetSnapshot, env: Environment) -> Verdict:
    return env.decide(request, snap)


def _begin(env: Environment, backend: str, request_id: str, busy: float | None) -> None:
    # inside the refresh's lock: a burst's callers waiting for it see the mark
    env.store.in_flight.begin(backend, request_id, env.now(), busy)


__all__ = ["busy_s", "nonce", "prune", "record", "route", "run", "snapshot_of", "writer_wait_s"]
