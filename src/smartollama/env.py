"""The Environment: everything the core reads from or writes to the world.

`api.route` and `api.run` take one: the config, the state store, the clock,
stdio and terminal facts, and host access (Ollama clients, telemetry probes).
The CLI builds the real one for each command (`Environment()`); a test builds
one in a temporary directory; the proxy keeps one for many requests and the
replay gives one a simulated clock. Nothing here is a module-level cache:
what is loaded once is loaded once per Environment.

Kept free of heavy imports (no httpx, pydantic or rich): a routed call builds one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import IO, Any

    from smartollama.config import Backend, Config
    from smartollama.fleet import FleetSnapshot, Request
    from smartollama.state import State, StateStore
    from smartollama.telemetry.base import Reading
    from smartollama.telemetry.dispatch import Pages
    from smartollama.verdict import Verdict


class Environment:
    """One front door's view of the world (see the module's docstring).

    ``config``: a loaded Config (default: loaded from SOLLAMA_CONFIG or the
    user config dir on first use). ``state_dir``: where the state lives
    (default: SOLLAMA_STATE_DIR or the user state dir). ``store``: a ready
    StateStore (the proxy's in-memory one, say) instead. ``clock``: epoch
    seconds (default ``time.time``). A front door that knows the fleet without
    asking the hosts (the proxy's kept snapshot, the replay's simulation)
    overrides `gather`. ``explain``: False for a front door that shows no verdict (the replay):
    verdicts then come without their prose (see `routing.decide`).
    """

    def __init__(self, *, config: Config | None = None, state_dir: str | None = None,
                 store: StateStore | None = None, clock: Callable[[], float] | None = None,
                 stdin: IO[str] | None = None, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None, explain: bool = True) -> None:
        self.explain = explain
        self._config = config
        self._state_dir = state_dir
        self._store = store
        self.clock = clock or time.time
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    # -- config and state ---------------------------------------------------------
    @property
    def config(self) -> Config:
        """The config, loaded on first use (a config error is raised from here)."""
        if self._config is None:
            from smartollama.config import load_config

            self._config = load_config(state_dir=self.state_dir)   # its validated copy kept there
        return self._config

    @property
    def state_dir(self) -> str:
        if self._state_dir is None:
            from smartollama.paths import state_dir_name

            self._state_dir = state_dir_name()
        return self._state_dir

    @property
    def store(self) -> StateStore:
        """The state store (made on first use, with the config's lock time-out
        and history size; the defaults when the config cannot be loaded)."""
        if self._store is None:
            from smartollama.errors import ConfigError
            from smartollama.state import StateStore

            try:
                cfg = self.config
            except ConfigError:
                self._store = StateStore(self.state_dir)
            else:
                self._store = StateStore(self.state_dir, lock_timeout_s=cfg.cache.lock_timeout_s,
                                         history_size=cfg.history.size)
        return self._store

    def state(self) -> State:
        """The state as this call last saw it: read once, then what it wrote."""
        return self.store.view()

    def now(self) -> float:
        return self.clock()

    # -- stdio --------------------------------------------------------------------
    def is_tty(self, stream: IO[str]) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError, OSError):   # closed or not a file
            return False

    @property
    def stdin_tty(self) -> bool:
        return self.is_tty(self.stdin)

    @property
    def stdout_tty(self) -> bool:
        return self.is_tty(self.stdout)

    @property
    def stderr_tty(self) -> bool:
        return self.is_tty(self.stderr)

    def warn_state(self) -> None:
        """The state store's warnings on stderr, each once."""
        if self._store is None:
            return
        for w in dict.fromkeys(self._store.drain_warnings()):
            self.stderr.write(f"sollama: warning: {w}\n")
        self.stderr.flush()

    # -- the fleet ----------------------------------------------------------------
    def gather(self, *, models: tuple[str, ...] = (), capabilities: bool = False,
               then: Callable[[State, FleetSnapshot], None] | None = None) -> FleetSnapshot:
        """The fleet as a decision sees it (`smartollama.snapshot.gather`: one pass
        through the state cache's TTL entries, asking the hosts for what expired).
        A front door that keeps the fleet in memory (the proxy) answers from there
        instead; ``then`` runs only inside a refresh's lock, so such a front door
        that takes no lock does not call it."""
        from smartollama import snapshot

        return snapshot.gather(self, models=models, capabilities=capabilities, then=then)

    def decide(self, request: Request, snap: FleetSnapshot) -> Verdict:
        """`routing.decide()` (pure: the same request and snapshot give the same
        verdict, which lets a front door that decides many requests from one
        snapshot keep what it decided)."""
        from smartollama.routing import decide

        return decide(request, snap, self.config, explain=self.explain)

    # -- host access --------------------------------------------------------------
    def client(self, backend: Backend) -> Any:
        """An Ollama client for ``backend``'s host, within the config's
        `[timeouts]` for look-ups (the HTTP client: imported only now)."""
        from smartollama.ollama import OllamaClient

        return OllamaClient.for_backend(backend, self.config.timeouts)

    def probe(self, backend: Backend, memo: dict[str, Any] | None, now: float, *,
              pages: Pages | None = None) -> tuple[Reading, dict[str, Any]]:
        """Read ``backend``'s telemetry now: (reading, memo for next time).
        ``pages``: exporter pages this pass already fetched (one scrape each)."""
        from smartollama.telemetry import probe

        return probe(backend.telemetry, hardware=backend.hardware, memo=memo, now=now,
                     pages=pages)
