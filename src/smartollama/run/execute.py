"""Run a verdict on its host: the fallback loop.

A host that fails before the answer starts (refused connection, out of
memory, 5xx, model gone) is skipped for the next choice of the verdict; once a
token has been printed there is no fallback, so no answer is printed twice.
The terminal side is `stream`; what a run teaches and records is `learn`.
"""

from __future__ import annotations

import sys
from typing import IO

from smartollama.config import Config
from smartollama.errors import BackendError, SollamaError, UnreachableError
from smartollama.run.learn import begin, energy, finish
from smartollama.run.stream import Answer, RunOptions, stream, summary
from smartollama.state import StateStore
from smartollama.verdict import Choice, Outcome, Verdict

__all__ = ["Answer", "RunOptions", "execute"]


def execute(verdict: Verdict, opts: RunOptions, config: Config, store: StateStore, *,
            out: IO[str] | None = None, err: IO[str] | None = None) -> Answer:
    """Run the verdict, falling back along its choices; fill `verdict.outcome`."""
    out = out or sys.stdout
    err = err or sys.stderr
    choices = list(verdict.choices) or [Choice(backend=verdict.backend_used or "",
                                               host=verdict.host or "",
                                               model=verdict.model_used or "")]
    outcome = Outcome(status="error")
    verdict.outcome = outcome
    last_error: SollamaError | None = None
    for n, choice in enumerate(choices):
        backend = config.backend(choice.backend)
        if backend is None:
            continue
        if n > 0:
            err.write(f"sollama: falling back to {choice.model} on {choice.backend}\n")
        energy_before = energy(config, store, choice.backend, verdict, fresh=False)
        begin(store, choice.backend, verdict.id)
        answer = Answer(choice=choice)
        try:
            stream(choice, backend.headers, opts, answer, out, err)
            if not answer.printed and answer.final.get("done") is None:
                raise BackendError(f"{choice.host}: stream ended without an answer")
        except (UnreachableError, BackendError) as e:
            outcome.attempts.append({"backend": choice.backend, "model": choice.model,
                                     "error": e.message})
            last_error = e
            if not _worth_a_fallback(e):
                # the request itself was refused (bad option, unsupported feature):
                # another host would refuse it too
                outcome.error = e.message
                finish(store, config, verdict, choice, None, record=True)
                raise SollamaError(f"{choice.backend} ({e.message})") from None
            if answer.printed:  # the answer had started: never print it twice
                outcome.error = e.message
                finish(store, config, verdict, choice, None, record=True)
                raise
            finish(store, config, verdict, choice, None, record=False)
            continue
        except KeyboardInterrupt:
            outcome.status = "interrupted"
            finish(store, config, verdict, choice, answer, record=True)
            raise
        outcome.status = "ok"
        outcome.error = None
        _fill_outcome(outcome, answer)
        if choice.backend != verdict.backend_used or choice.model != verdict.model_used:
            # the verdict names where it really ran; the failed choice stays in attempts
            verdict.warnings.append(
                f"{verdict.backend_used} failed ({outcome.attempts[-1]['error']}); "
                f"answered by {choice.model} on {choice.backend}")
            outcome.backend_used = choice.backend
            verdict.backend_used, verdict.host = choice.backend, choice.host
            if choice.model != verdict.model_used:
                verdict.model_used = choice.model
                verdict.model_substituted = choice.model != verdict.model_requested
                if verdict.model_substituted and verdict.action == "run":
                    verdict.action = "substitute"
        energy_after = (energy(config, store, choice.backend, verdict)
                        if energy_before is not None else None)
        if energy_before is not None and energy_after is not None and energy_after >= energy_before:
            outcome.energy_j = round(energy_after - energy_before, 3)
        finish(store, config, verdict, choice, answer, record=True)
        if opts.verbose:
            summary(answer.final, err)
        return answer
    outcome.error = last_error.message if last_error else "no backend to run on"
    finish(store, config, verdict, choices[-1], None, record=True, end=False)
    if isinstance(last_error, UnreachableError) and len(outcome.attempts) == len(choices):
        raise UnreachableError(
            f"every choice failed; last: {last_error.message}", host=last_error.host)
    raise SollamaError(f"{verdict.model_used}: every backend failed; last: "
                       f"{last_error.message if last_error else 'none'}")


def _worth_a_fallback(e: SollamaError) -> bool:
    """Host trouble (down, out of memory, 5xx, model gone) is; a refused request is not."""
    if isinstance(e, UnreachableError):
        return True
    status = getattr(e, "status", None)
    return status is None or status >= 500 or status == 404


def _fill_outcome(outcome: Outcome, answer: Answer) -> None:
    f = answer.final
    load = f.get("load_duration")
    outcome.load_s = round(load / 1e9, 3) if load else 0.0
    outcome.eval_tokens = f.get("eval_count")
    if f.get("eval_count") and f.get("eval_duration"):
        outcome.tokens_per_s = round(f["eval_count"] / (f["eval_duration"] / 1e9), 2)
    if f.get("total_duration"):
        outcome.total_s = round(f["total_duration"] / 1e9, 3)


