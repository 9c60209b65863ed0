"""What the routing steps hand each other: data, never sentences.

A (model, backend) pair is either a `Rejection` (a hard constraint failed:
a code and the numbers behind it) or a `Candidate` (it can run there: how it
fits, how soon and how fast). A candidate may break soft constraints: each
is a `Violation` with the reading or estimate and the limit. A `Query` is one
question `decide` answers (the request, or a suggestion decided again); an
`Outcome` is the answer, before `reasons` and `build` turn it into a Verdict.
Sentences are made from these at the end, in `reasons`. Records
(`smartollama.record`), not dataclasses: cheaper to define on every call.
"""

from __future__ import annotations

from smartollama.record import field, record
from smartollama.routing.estimate import MemoryNeed

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms

#: hard-constraint codes, in the order they are checked (DESIGN.md "Hard
#: constraints"); a new constraint (capabilities, cloud) adds its code here,
#: its check in `fit` and its sentence in `reasons`
REJECTIONS: tuple[str, ...] = (
    "unreachable",        # the host does not answer
    "not_pinned",         # --backend names another backend
    "forced_elsewhere",   # model_routing force_backend names another backend
    "not_admitted",       # supported_models / model_patterns leave it out
    "too_large",          # larger than the device (and what offload allows)
    "not_pulled",         # not on the host
    "lacks_capability",   # the host says it cannot (thinking, tools, vision, embedding, ...)
    "cloud_off",          # a cloud model the user did not name, with [routing] cloud = "never"
    "no_room",            # fits the device, not the memory free now (idle models unloaded)
    "offload_too_small",  # would be offloaded, but too little device memory is free
)
if TYPE_CHECKING:     # the types below are the type checker's; values are plain strings
    from typing import Literal

    Code = Literal["unreachable", "not_pinned", "forced_elsewhere", "not_admitted", "too_large",
                   "not_pulled", "lacks_capability", "cloud_off", "no_room", "offload_too_small"]
    #: soft-constraint kinds (DESIGN.md "Soft constraints")
    Kind = Literal["mode", "wait", "speed", "quality"]
    #: how a candidate fits: loaded now, whole on the device, partly in system RAM, or
    #: not here at all (a cloud model: the host passes the prompt on to its remote host)
    FitKind = Literal["loaded", "whole", "offload", "remote"]
    Action = Literal["run", "substitute", "override", "refuse"]


@record(frozen=True, kw_only=False)
class Rejection:
    """A (model, backend) pair that fails a hard constraint."""

    key: str
    backend: str
    code: Code
    need_gb: float | None = None
    limit_gb: float | None = None       # device capacity
    offload_gb: float | None = None     # the most a partly offloaded model may take
    free_gb: float | None = None        # device memory usable now
    detail: str | None = None           # the host's error; the pinned or forced backend;
                                        # the capability lacking


@record(frozen=True, kw_only=False)
class Eviction:
    """A loaded model a candidate would unload, and what loading it again costs."""

    model: str
    size_gb: float
    reload_s: float


@record(kw_only=False)
class Candidate:
    """A model that can run on a backend (every hard constraint holds)."""

    key: str                     # canonical lower-case name
    model: str                   # as the host lists it
    backend: str
    order: int                   # the backend's place in the config
    need: MemoryNeed
    fit: FitKind
    gpu_share: float             # share of the model on the device (1.0: whole)
    usable_gb: float | None      # device memory it may use now (None: unknown)
    tps: float                   # expected tokens/s
    tps_basis: str               # "learned" | "default"
    load_s: float
    queue_s: float
    ttft_s: float
    wait_basis: str              # "learned from N runs" | "default"
    evicts: tuple[Eviction, ...] = ()
    quality: float = 0.0
    tier: int = 0
    preferred: bool = False      # model_routing prefer_backend names this backend

    @property
    def loaded(self) -> bool:
        return self.fit == "loaded"

    @property
    def remote(self) -> bool:
        return self.fit == "remote"

    @property
    def whole(self) -> bool:
        return self.gpu_share >= 0.999

    @property
    def wait_s(self) -> float:
        """Expected wait before the first token: load + queue + first token."""
        return self.load_s + self.queue_s + self.ttft_s

    @property
    def evict_s(self) -> float:
        return sum(e.reload_s for e in self.evicts)


@record(frozen=True, kw_only=False)
class Violation:
    """A soft constraint a candidate breaks: the reading or estimate, and the limit.

    `value` None: the reading is not available (`na`: why) and
    `unknown_telemetry = "deny"` counts that against the mode.
    """

    kind: Kind
    limit: float
    value: float | None
    field: str | None = None     # the reading, for kind "mode"
    na: str | None = None
    what: str | None = None      # for kind "quality": "min_quality" | "threshold"
    #: for kind "mode": the value is what the host's reading reaches under load
    #: (learned from `runs` past runs there), not what it reads now
    predicted: bool = False
    runs: int = 0


@record(frozen=True, kw_only=False)
class Query:
    """One question for `decide`: a model (or "auto"), a mode, a pin, a policy."""

    key: str
    mode: str
    pin: str | None
    policy: str


@record(kw_only=False)
class Conflict:
    """Step 2's input: candidates exist and every one has a violation.

    `substituting`: the candidates are equivalents of a model that fits
    nowhere (step 3); `auto`: the request let sollama choose the model.
    """

    query: Query
    candidates: list[Candidate]
    substituting: bool = False
    auto: bool = False


@record(kw_only=False)
class Outcome:
    """What was decided for a query, as data."""

    action: Action
    query: Query
    policy: str                  # the policy that decided (after model_routing)
    step: str                    # "compliant" | "conflict" | "nowhere" | "auto"
    chosen: Candidate | None = None
    violations: list[Violation] = field(default_factory=list)   # the chosen one's
    options: list[Candidate] = field(default_factory=list)      # fallback order
    conflict: Conflict | None = None
    mode_ignored: bool = False   # model_routing ignore_efficiency_mode dropped mode violations
    substituted: bool = False
    mode_overridden: bool = False
    ask: bool = False            # a person is to choose (policy ask, on a terminal)
    no_terminal: bool = False    # policy ask without a terminal acted as prefer_mode
    respected: bool = False      # model_routing respect_efficiency_mode changed the policy
    why_refused: str | None = None   # "no_compliant_equivalent" | "substitution_off" | policy


@record(frozen=True, kw_only=False)
class Suggested:
    """A suggestion, checked by deciding it again (see `suggest`)."""

    kind: Literal["model", "mode", "override"]
    model: str | None            # None: the requested model
    backend: str
    mode: str | None = None
    policy: str | None = None
    candidate: Candidate | None = None
