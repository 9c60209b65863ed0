"""Run a verdict on its host: the fallback loop.

A host that fails before the answer starts (refused connection, out of
memory, 5xx, model gone) is skipped for the next choice of the verdict; once a
token has been printed there is no fallback, so no answer is printed twice.
The terminal side is `stream`; what a run teaches and records is `learn`.
"""

from __future__ import annotations

import sys

from smartollama import names
from smartollama.api import busy_s
from smartollama.config import Config
from smartollama.errors import BackendError, OutputError, SollamaError, UnreachableError
from smartollama.run.learn import begin, energy, finish
from smartollama.run.stream import Output, RunOptions, RunOutcome, stream, summary
from smartollama.state import StateStore
from smartollama.verdict import Choice, Outcome, Verdict

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import IO

__all__ = ["RunOutcome", "RunOptions", "execute"]


def _without_host(error: SollamaError, config: Config, backend_id: str) -> str:
    """The error's text without the failed backend's URL in front: the line names the
    backend already, and a URL of 30 characters would push it past 100 columns."""
    b = config.backend(backend_id)
    text = error.message
    if b is not None and text.startswith(f"{b.host}: "):
        return text[len(b.host) + 2:]
    return text


def execute(verdict: Verdict, opts: RunOptions, config: Config, store: StateStore, *,
            out: IO[str] | None = None, err: IO[str] | None = None) -> RunOutcome:
    """Run the verdict, falling back along its choices; fill `verdict.outcome`.

    Whatever happens (an answer, every host failing, Ctrl-C, a closed stdout),
    the run is recorded and nothing is left in flight."""
    output = Output(out or sys.stdout)
    err = err or sys.stderr
    choices = list(verdict.choices) or [Choice(backend=verdict.backend_used or "",
                                               host=verdict.host or "",
                                               model=verdict.model_used or "")]
    outcome = Outcome(status="error")
    verdict.outcome = outcome
    last_error: SollamaError | None = None
    for choice in choices:
        backend = config.backend(choice.backend)
        if backend is None:
            continue
        if last_error is not None:
            failed = outcome.attempts[-1]["backend"]
            err.write(f"sollama: {failed} failed ({_without_host(last_error, config, failed)});"
                      f"\nsollama: falling back to {choice.model} on {choice.backend}\n")
        energy_before = energy(config, store, choice.backend, verdict, fresh=False)
        begin(store, choice.backend, verdict.id, busy_s(verdict, choice.backend))
        answer = RunOutcome(choice=choice)
        try:
            stream(choice, backend, config.timeouts, opts, answer, output, err)
        except (UnreachableError, BackendError) as e:
            outcome.attempts.append({"backend": choice.backend, "model": choice.model,
                                     "error": e.message})
            last_error = e
            _give_up_unless_worth_a_fallback(e, verdict, choice, answer, output, config, store)
            finish(store, config, verdict, choice, None, record=False)
            continue
        except (KeyboardInterrupt, OutputError) as e:
            # Ctrl-C, or stdout went away (`| head`, a full disk): recorded as cut short
            outcome.status = "interrupted"
            outcome.error = e.message if isinstance(e, OutputError) else None
            finish(store, config, verdict, choice, answer, record=True)
            raise
        answered(verdict, choice, answer)
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
    if last_error is not None and _cloud_refused(last_error, choices[-1]):
        raise SollamaError(f"{choices[-1].model} is a cloud model and {choices[-1].backend} "
                           f"could not use the cloud: {last_error.message}")
    raise SollamaError(f"{verdict.model_used}: every backend failed; last: "
                       f"{last_error.message if last_error else 'none'}")


def _give_up_unless_worth_a_fallback(e: SollamaError, verdict: Verdict, choice: Choice,
                                     answer: RunOutcome, output: Output, config: Config,
                                     store: StateStore) -> None:
    """Record the run and raise (exit 1) when no other host should be tried: the
    request itself was refused, or the answer had started (never printed twice)."""
    assert verdict.outcome is not None
    if not _worth_a_fallback(e, choice):
        # a bad option, an unsupported feature: another host would refuse it too
        message = f"{choice.backend} ({e.message})"
    elif answer.printed:
        output.end_line()     # the error on a line of its own, not after the partial answer
        message = f"{choice.backend} broke off the answer: {e.message}"
    else:
        return
    verdict.outcome.error = e.message
    finish(store, config, verdict, choice, None, record=True)
    raise SollamaError(message) from None


def answered(verdict: Verdict, choice: Choice, answer: RunOutcome) -> None:
    """The outcome of an answer; the verdict names where it really ran (the failed
    choices stay in the attempts)."""
    outcome = verdict.outcome
    assert outcome is not None
    outcome.status = "ok"
    outcome.error = None
    fill_outcome(outcome, answer)
    if choice.backend == verdict.backend_used and choice.model == verdict.model_used:
        return
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


#: what the cloud answers for a cloud model this host cannot use now: not signed in,
#: cloud disabled, rate limited (another choice may still answer)
CLOUD_REFUSALS = (401, 403, 429)


def _worth_a_fallback(e: SollamaError, choice: Choice) -> bool:
    """Host trouble (down, out of memory, 5xx, model gone) is, and a cloud model's
    refusal; a refused request is not."""
    if isinstance(e, UnreachableError):
        return True
    status = getattr(e, "status", None)
    if _cloud_refused(e, choice):
        return True
    return status is None or status >= 500 or status == 404


def _cloud_refused(e: SollamaError, choice: Choice) -> bool:
    return getattr(e, "status", None) in CLOUD_REFUSALS and names.is_cloud(choice.model)


def fill_outcome(outcome: Outcome, answer: RunOutcome) -> None:
    f = answer.final
    load = f.get("load_duration")
    outcome.load_s = round(load / 1e9, 3) if load else 0.0
    outcome.eval_tokens = f.get("eval_count")
    if f.get("eval_count") and f.get("eval_duration"):
        outcome.tokens_per_s = round(f["eval_count"] / (f["eval_duration"] / 1e9), 2)
    if f.get("total_duration"):
        outcome.total_s = round(f["total_duration"] / 1e9, 3)


