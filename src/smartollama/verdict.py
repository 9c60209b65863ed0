"""The Verdict: what the router decided and why, and its renderings.

JSON shape: DESIGN.md, "Verdict". `why --json` prints a recorded verdict and it
must round-trip through :meth:`Verdict.from_dict`.

Records (`smartollama.record`: dataclass-like), not pydantic models: the router
builds a verdict on every call, and a routed call that imports pydantic (~23 ms)
and builds these six models (~5 ms more) cannot come near 5x `python -c pass`
(11.6 ms; a warm `sollama route` now takes ~62 ms). Pydantic still validates
what is read back (:meth:`Verdict.from_dict`, a TypeAdapter over these same
classes), where only `sollama why` pays for its import.
"""

from __future__ import annotations

from smartollama.record import field, fields_of, is_record, record

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any, Literal

    Action = Literal["run", "substitute", "override", "refuse"]
#: Action's values, for pydantic (`_adapter`)
ACTIONS = ("run", "substitute", "override", "refuse")


@record
class Violation:
    """A soft constraint broken: `kind` mode (with `field`), wait, speed or quality.

    `value` is the reading or estimate (None: not available, `na` says why).
    `predicted` (kind mode): the value is what the reading reaches under load
    there, learned from past runs, not what it reads now.
    """

    kind: str
    limit: float
    value: float | None = None
    field: str | None = None
    na: str | None = None
    predicted: bool | None = None


@record
class ChainEntry:
    backend: str
    accepted: bool
    reason: str
    model: str | None = None        # set when the entry is about another model (a substitute)
    #: a rejection's code (too_large, not_pulled, not_admitted, unreachable, ...)
    code: str | None = None
    #: the numbers behind a rejection (need_gb, limit_gb, offload_gb, free_gb)
    numbers: dict[str, float] | None = None
    #: the soft constraints a candidate breaks
    violations: list[Violation] | None = None


@record
class Suggestion:
    model: str | None = None
    backend: str | None = None
    mode: str | None = None
    why: str = ""
    #: the conflict policy to decide again with (an "ask" override: prefer_model)
    policy: str | None = None

    def label(self) -> str:
        if self.mode and not self.model:
            return f"--mode {self.mode}" + (f" (on {self.backend})" if self.backend else "")
        return f"{self.model} on {self.backend}" if self.backend else str(self.model)


@record
class Choice:
    """A runnable (backend, model) pair, best first: execute falls back along these."""

    backend: str
    host: str
    model: str
    wait_s: float | None = None
    gpu_share: float | None = None


@record
class Estimate:
    memory_gb: float | None = None
    basis: str = "name"             # observed | model_info | name
    gpu_share: float | None = None  # share of layers on the device (1.0 = whole)
    wait_s: float | None = None
    wait_basis: str | None = None   # "learned from N runs" | "default"
    loaded: bool = False
    quality: float | None = None
    tokens_per_s: float | None = None


@record
class Outcome:
    status: Literal["ok", "error", "interrupted"] = "ok"
    load_s: float | None = None
    eval_tokens: int | None = None
    tokens_per_s: float | None = None
    total_s: float | None = None
    energy_j: float | None = None
    error: str | None = None
    backend_used: str | None = None     # when a fallback answered instead
    attempts: list[dict[str, Any]] = field(default_factory=list)


@record
class Verdict:
    id: str
    time: str
    action: Action
    model_requested: str
    model_used: str | None = None
    backend_used: str | None = None
    host: str | None = None
    mode: str
    urgency: str = "interactive"
    task: str = "general"
    policy: str | None = None
    min_quality: float | None = None
    num_ctx: int | None = None
    mode_overridden: bool = False
    model_substituted: bool = False
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    fallback_chain: list[ChainEntry] = field(default_factory=list)
    estimate: Estimate = field(default_factory=Estimate)
    telemetry: dict[str, dict[str, float]] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)   # the mode's limits
    choices: list[Choice] = field(default_factory=list)
    ask: bool = False               # policy "ask" wants a person to choose
    prompt_chars: int | None = None
    prompt_sha256: str | None = None
    prompt: str | None = None       # only with history.store_prompts = true
    outcome: Outcome | None = None


    @property
    def runnable(self) -> bool:
        return self.action != "refuse" and self.backend_used is not None

    @property
    def changed(self) -> bool:
        """Something other than "run as asked": shown even with --quiet."""
        return self.action != "run" or bool(self.warnings)

    # -- JSON ------------------------------------------------------------------------
    def to_json(self, indent: int | None = None) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: unset (None) fields left out; `model_used`/`backend_used`
        always present (null on a refusal, as DESIGN.md says)."""
        d: dict[str, Any] = _plain(self)
        for key in ("model_used", "backend_used", "host"):
            d.setdefault(key, None)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> Verdict:
        """Validate a recorded verdict (a JSON object); keys it does not know
        are ignored. Raises :class:`VerdictError` naming the first bad key."""
        from pydantic import ValidationError

        try:
            verdict: Verdict = _adapter(cls).validate_python(data)
            return verdict
        except ValidationError as e:
            raise VerdictError.from_validation(e) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Verdict:
        from pydantic import ValidationError

        try:
            verdict: Verdict = _adapter(cls).validate_json(text)
            return verdict
        except ValidationError as e:
            raise VerdictError.from_validation(e) from None

    # -- text ------------------------------------------------------------------------
    def suggestion_command(self, sug: Suggestion) -> str:
        """A suggestion as the command that follows it: with the mode it was checked
        in (and --policy for an override, non-default urgency and task), so that
        running it gives the decision the suggestion promised."""
        import shlex

        argv = ["sollama", "run", sug.model or self.model_requested]
        if sug.backend:
            argv += ["--backend", sug.backend]
        argv += ["--mode", sug.mode or self.mode]
        if sug.policy:
            argv += ["--policy", sug.policy]
        if self.urgency and self.urgency != "interactive":
            argv += ["--urgency", self.urgency]
        if self.task and self.task != "general":
            argv += ["--task", self.task]
        if self.min_quality is not None:
            argv += ["--min-quality", f"{self.min_quality:g}"]
        if self.num_ctx is not None:
            argv += ["--num-ctx", str(self.num_ctx)]
        return shlex.join(argv)

    def line(self) -> str:
        """The one-line summary printed on stderr (`sollama: ...`): `smartollama.brief`."""
        from smartollama.brief import line

        return line(self)


class VerdictError(ValueError):
    """A recorded verdict that does not validate: ``where`` (a dotted key path) and ``msg``."""

    def __init__(self, where: str, msg: str) -> None:
        super().__init__(f"{where}: {msg}")
        self.where = where
        self.msg = msg

    @classmethod
    def from_validation(cls, e: Any) -> VerdictError:
        err = e.errors()[0]
        return cls(".".join(str(p) for p in err.get("loc", ())) or "(top level)",
                   str(err.get("msg")))


def _adapter(cls: type) -> Any:
    """pydantic's TypeAdapter over ``cls``. pydantic reads the fields' annotations
    (strings) in this module, where the typing names they use exist only for type
    checkers (see TYPE_CHECKING above): they are bound here, first."""
    from typing import Any, Literal

    from pydantic import TypeAdapter

    globals().update(Any=Any, Literal=Literal, Action=Literal[ACTIONS])
    return TypeAdapter(cls)


def _plain(value: Any) -> Any:
    """A field's JSON value: nested records as dicts without their None fields;
    lists and dicts copied."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if is_record(value):
        return {f.name: _plain(v) for f in fields_of(value)
                if (v := getattr(value, f.name)) is not None}
    return value
