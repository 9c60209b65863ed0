"""sollama in the replay: the real decision, through `api.route`, on the simulated fleet.

`SimEnvironment.gather` gives `api.route` the simulation's snapshot of the
moment (no hosts asked, no state written) and its clock the simulated time, so the request is decided by
the same `decide()` the CLI uses, never a copy of its rules; the verdict's
choices are the hosts the run falls back along, as `api.run` would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartollama.env import Environment
from smartollama.errors import SollamaError
from smartollama.fleet import Request
from smartollama.replay.loop import EPOCH, Decision

if TYPE_CHECKING:
    from collections.abc import Callable

    from smartollama.config import Config
    from smartollama.fleet import FleetSnapshot
    from smartollama.replay.loop import Chooser, Simulation
    from smartollama.replay.trace import TraceRequest
    from smartollama.state import State


class SimEnvironment(Environment):
    """An Environment on a simulation: its snapshot, its clock, no state file."""

    def __init__(self, config: Config, sim: Simulation, *, explain: bool) -> None:
        super().__init__(config=config, clock=lambda: EPOCH + sim.now, explain=explain)
        self.sim = sim

    def gather(self, *, models: tuple[str, ...] = (), capabilities: bool = False,
               then: Callable[[State, FleetSnapshot], None] | None = None) -> FleetSnapshot:
        """The simulated fleet now (``then`` is not called: no lock, no write)."""
        return self.sim.snapshot()


def sollama(config: Config, policy: str | None = None, *, explain: bool = False) -> Chooser:
    """A chooser that decides each request with `api.route` (``policy``: for
    requests whose trace line names none, instead of the config's; ``explain``:
    verdicts with their prose, as the CLI's, which a replay does not show)."""
    from smartollama import api
    from smartollama.schedule import keep_alive_s, use_of

    env: list[SimEnvironment] = []

    def choose(r: TraceRequest, mode: str, sim: Simulation, index: int) -> Decision:
        if not env or env[0].sim is not sim:
            env[:] = [SimEnvironment(config, sim, explain=explain)]
        request = Request(model=r.model, mode=mode, urgency=r.urgency, task=r.task,
                          min_quality=r.min_quality, policy=r.policy or policy,
                          answer_tokens=r.answer_tokens, prompt_tokens=r.prompt_tokens,
                          nonce=f"{index:012x}")
        try:
            v = api.route(request, env[0])
        except SollamaError:        # fits nowhere, and no substitute allowed
            return Decision(refused=True, action="refuse")
        if v.action == "refuse" or not v.backend_used or not v.model_used:
            return Decision(refused=True, action="refuse")
        choices = [(c.backend, c.model) for c in v.choices] or [(v.backend_used, v.model_used)]
        into_day = sim.now % 86400.0      # the trace's day starts at 00:00
        uses, expires_at, elsewhere = use_of(api.snapshot_of(v), v.backend_used, v.model_used)
        keep = keep_alive_s(config, v.model_used, int(into_day // 3600), into_day % 3600,
                            uses=uses, now=EPOCH + sim.now, expires_at=expires_at,
                            elsewhere=elsewhere)
        busy = [api.busy_s(v, b, r.answer_tokens) for b, _ in choices]
        return Decision(choices=choices, action=v.action, keep_alive_s=keep, busy_s=busy)

    return choose


def preload_choice(sim: Simulation, model: str) -> tuple[str, str] | None:
    """Where `sollama preload` would load ``model`` now: decided as a batch
    request under prefer_mode, as that command does; None where it would not."""
    from smartollama.schedule import preload_decision

    try:
        v = preload_decision(model, sim.mode, sim.snapshot(), sim.config)
    except SollamaError:
        return None
    if v.action == "refuse" or not v.backend_used or not v.model_used:
        return None
    return v.backend_used, v.model_used
