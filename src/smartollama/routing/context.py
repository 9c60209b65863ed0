"""One decision's inputs, checked, and the caches that live as long as it.

`Context` holds the request, the snapshot and the config, answers the facts
every step asks for (a model's `/api/tags` entry, its quality and tier, the
mode's limits, the pool of models on the hosts) and memoizes the per-pair
results of `fit` and `compliance`, so that a suggestion decided again costs
little. Nothing here decides.
"""

from __future__ import annotations

import functools

from smartollama import names, vocab
from smartollama.config import Backend, Config, UrgencyLimits
from smartollama.errors import SollamaError, UnreachableError
from smartollama.fleet import GB, BackendState, FleetSnapshot, ModelInfo, Request
from smartollama.routing import catalog, compliance, estimate, fit, rules
from smartollama.routing.estimate import MemoryNeed
from smartollama.routing.records import Candidate, Rejection, Violation


@functools.lru_cache(maxsize=4096)
def canonical(name: str) -> str:
    return names.canonical(name).lower()


def model_key(raw: str) -> str:
    """The request's model as a canonical lower-case key ("auto" stays "auto")."""
    text = raw.strip()
    if text.lower() == vocab.AUTO:
        return vocab.AUTO
    try:
        return names.parse(text).full.lower()
    except names.NameError_ as e:
        raise SollamaError(f"invalid model name {raw!r}: {e}") from None


class Context:
    """The inputs of one `decide()` call and its memoized facts."""

    def __init__(self, request: Request, snapshot: FleetSnapshot, config: Config) -> None:
        self.req = request
        self.snap = snapshot
        self.cfg = config
        self.backends: list[Backend] = list(config.backends)
        self.by_id: dict[str, Backend] = {b.id: b for b in self.backends}
        self.order: dict[str, int] = {b.id: i for i, b in enumerate(self.backends)}
        self.states: dict[str, BackendState] = {
            b.id: snapshot.backends.get(b.id) or BackendState(
                id=b.id, reachable=False, error="no state for this backend")
            for b in self.backends}
        self.reachable = [b for b in self.backends if self.states[b.id].reachable]
        self.requested = model_key(request.model)
        self.urgency: UrgencyLimits = _validate(request, config, self)
        self.rules = rules.Rules(config)
        self.scorer = catalog.Scorer(config)
        self._fits: dict[tuple[str, str], Candidate | Rejection] = {}
        self._viol: dict[tuple[str, str, str], list[Violation]] = {}
        self._info: dict[str, ModelInfo | None] = {}
        self._quality: dict[str, float] = {}
        self._tier: dict[str, int] = {}
        self._pool: list[str] | None = None
        self._observed: dict[tuple[str, int], tuple[int, int]] | None = None
        self._limits: dict[str, dict[str, float]] = {}
        self._mode_viol: dict[tuple[str, str], list[Violation]] = {}
        self._loaded_gb: dict[str, float] = {}
        self._needs: dict[tuple[str, int, int, tuple[int, int] | None, int], MemoryNeed] = {}

    # -- facts about models ----------------------------------------------------------

    def info(self, key: str) -> ModelInfo | None:
        """The model's `/api/tags` (+ `/api/show`) entry on the first reachable host holding it."""
        if key not in self._info:
            self._info[key] = next((self.states[b.id].models[key] for b in self.reachable
                                    if key in self.states[b.id].models), None)
        return self._info[key]

    def needs(self, key: str) -> tuple[str, ...]:
        """The capabilities `key` must list to answer this request: the request's own,
        and for a stand-in (`auto`, a substitute) what the named model does, generate
        or embed (an embedding model never stands in for a chat model, nor the reverse)."""
        if key == self.requested:
            return self.req.needs
        named = self.info(self.requested) if self.requested != vocab.AUTO else None
        embeds = "embedding" in self.req.needs or bool(
            named and named.capabilities and "embedding" in named.capabilities)
        kind = "embedding" if embeds else "completion"
        return self.req.needs if kind in self.req.needs else (*self.req.needs, kind)

    def cloud_last(self, key: str) -> bool:
        """A cloud model that `[routing] cloud = "fallback"` puts after every local choice."""
        if self.cfg.routing.cloud != "fallback":
            return False
        mi = self.info(key)
        return mi is not None and fit.is_remote(key, mi)

    def present(self, key: str) -> bool:
        return self.info(key) is not None

    def _figures(self, key: str) -> tuple[float | None, str | None]:
        mi = self.info(key)
        return (names.parse_parameter_size(mi.parameter_size) if mi else None,
                mi.quantization if mi else None)

    def quality(self, key: str) -> float:
        """The model's score for the request's task, 0..1."""
        v = self._quality.get(key)
        if v is None:
            v = self._quality[key] = self.scorer.score(key, self.req.task, *self._figures(key))
        return v

    def tier(self, key: str) -> int:
        """The model's tier index (0 = best)."""
        v = self._tier.get(key)
        if v is None:
            v = self._tier[key] = self.scorer.tier(key, *self._figures(key))
        return v

    def pool(self) -> list[str]:
        """Every model on a reachable host, sorted."""
        if self._pool is None:
            self._pool = sorted({m for b in self.reachable for m in self.states[b.id].models})
        return self._pool

    def observed_anywhere(self) -> dict[tuple[str, int], tuple[int, int]]:
        """What any reachable host recorded: (model, num_ctx) → (size, size_vram)."""
        if self._observed is None:
            merged: dict[tuple[str, int], tuple[int, int]] = {}
            for b in self.reachable:
                for k, v in self.states[b.id].observed.items():
                    merged.setdefault(k, v)
            self._observed = merged
        return self._observed

    def loaded_gb(self, backend: str) -> float:
        """Device memory the host's loaded models take."""
        v = self._loaded_gb.get(backend)
        if v is None:
            v = self._loaded_gb[backend] = sum(
                lm.size_vram_bytes for lm in self.states[backend].loaded.values()) / GB
        return v

    def memory_need(self, key: str, num_ctx: int, info: ModelInfo | None,
                    observed: tuple[int, int] | None, slots: int = 1) -> MemoryNeed:
        """`estimate.memory_need`, once per input (a suggestion decided again asks again).

        Keyed by the record's identity: hashing a record by value costs more than
        the estimate."""
        k = (key, num_ctx, id(info), observed, slots)
        v = self._needs.get(k)
        if v is None:
            v = self._needs[k] = estimate.memory_need(key, num_ctx, info=info, observed=observed,
                                                      slots=slots)
        return v

    def limits(self, mode: str) -> dict[str, float]:
        """The mode's limits: reading field → limit."""
        v = self._limits.get(mode)
        if v is None:
            v = self._limits[mode] = self.cfg.modes[mode].limits()
        return v

    # -- memoized per-pair steps -----------------------------------------------------

    def fit(self, key: str, backend: Backend) -> Candidate | Rejection:
        """The hard constraints of a model on a backend (pins and model_routing aside)."""
        k = (key, backend.id)
        f = self._fits.get(k)
        if f is None:
            f = self._fits[k] = fit.evaluate(self, key, backend)
        return f

    def placed(self, key: str, backend: Backend, pin: str | None) -> Candidate | Rejection:
        """`fit`, after the pin and model_routing's force_backend had their say."""
        rejected = self.rules.excluded(key, backend.id, pin)
        if rejected is not None:
            return rejected
        return self.fit(key, backend)

    def candidates(self, key: str, pin: str | None) -> list[Candidate]:
        """Every backend where the model passes the hard constraints."""
        out = []
        for b in self.rules.allowed(key, pin, self.backends, self.by_id):
            f = self.fit(key, b)
            if isinstance(f, Candidate):
                out.append(f)
        return out

    def mode_violations(self, backend: str, mode: str) -> list[Violation]:
        """The mode's limits the backend's reading breaks (the model aside)."""
        k = (backend, mode)
        v = self._mode_viol.get(k)
        if v is None:
            v = self._mode_viol[k] = compliance.mode_violations(self, backend, mode)
        return v

    def clean_candidates(self, key: str, pin: str | None, mode: str) -> list[Candidate]:
        """The candidates with no violation; backends that break the mode are not fitted."""
        ignore = self.rules.ignores_mode(key)
        out = []
        for b in self.rules.allowed(key, pin, self.backends, self.by_id):
            if not ignore and self.mode_violations(b.id, mode) and not self._remote(key, b):
                continue
            f = self.fit(key, b)
            if isinstance(f, Candidate) and not self.violations(f, mode):
                out.append(f)
        return out

    def _remote(self, key: str, b: Backend) -> bool:
        info = self.states[b.id].models.get(key)
        return info is not None and fit.is_remote(key, info)

    def violations(self, c: Candidate, mode: str) -> list[Violation]:
        """The soft constraints `c` breaks in `mode`."""
        k = (c.key, c.backend, mode)
        v = self._viol.get(k)
        if v is None:
            v = self._viol[k] = compliance.violations(self, c, mode)
        return v


def _validate(r: Request, c: Config, ctx: Context) -> UrgencyLimits:
    """The request's names against the config; the urgency's limits."""
    if r.mode not in c.modes:
        raise c.unknown_mode(r.mode)
    urg = c.urgency.get(r.urgency)
    if urg is None:
        raise SollamaError(f"unknown urgency {r.urgency!r}; expected one of {', '.join(c.urgency)}")
    if r.task not in vocab.TASKS:
        raise SollamaError(f"unknown task {r.task!r}; expected one of {', '.join(vocab.TASKS)}")
    if r.policy is not None and r.policy not in vocab.POLICIES:
        raise SollamaError(f"unknown policy {r.policy!r}; expected one of "
                           f"{', '.join(vocab.POLICIES)}")
    if r.min_quality is not None and not 0.0 <= r.min_quality <= 1.0:
        raise SollamaError(f"--min-quality must be within 0..1, got {r.min_quality}")
    if not ctx.backends:
        raise SollamaError("no backends configured", hint="run `sollama init`")
    if r.backend is not None and r.backend not in ctx.by_id:
        import difflib  # only for this error: not on every call

        close = difflib.get_close_matches(r.backend, list(ctx.by_id), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise SollamaError(f"--backend {r.backend!r} names no backend; backends are "
                           f"{', '.join(ctx.by_id)}{hint}")
    if r.backend is not None and not ctx.states[r.backend].reachable:
        b = ctx.by_id[r.backend]
        err = ctx.states[r.backend].error or "no answer"
        raise UnreachableError(f"{b.id} ({b.host}) is unreachable: {err}", host=b.host)
    if not ctx.reachable:
        parts = [f"{b.id} ({ctx.states[b.id].error or 'no answer'})" for b in ctx.backends]
        raise UnreachableError("no backend reachable: " + ", ".join(parts),
                               hint="is `ollama serve` running on the configured hosts?")
    return urg
