"""The data the router decides from: a request and a snapshot of the fleet.

Plain records (`smartollama.record`: dataclass-like, cheaper to define), no I/O. `snapshot.py` fills them from the hosts, the
telemetry probes and the state cache; `routing.decide()` reads them.
"""

from __future__ import annotations

from smartollama.record import field, record
from smartollama.telemetry.base import Reading

GB = 1e9


@record(frozen=True, kw_only=False)
class ModelInfo:
    """A model present on a host: `/api/tags` plus, when known, `/api/show`."""

    name: str                       # canonical name as the host lists it ("llama3:8b")
    size_bytes: int                 # file size
    parameter_size: str | None = None   # "8.0B"
    quantization: str | None = None     # "Q4_K_M"
    family: str | None = None           # "llama"
    # model_info from /api/show (None when not fetched)
    block_count: int | None = None
    embedding_length: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    key_length: int | None = None
    value_length: int | None = None
    context_length: int | None = None
    #: tokens a local (sliding-window) layer keeps, for an architecture whose KV cache
    #: Ollama sizes that way (gemma3: five layers in six); None: every layer is global
    sliding_window: int | None = None
    #: layers that reuse an earlier layer's KV cache and keep none of their own
    #: (`attention.shared_kv_layers`: gemma3n, gemma4)
    shared_kv_layers: int | None = None
    #: what the host says the model can do ("completion", "tools", "thinking", "vision",
    #: "insert", "embedding"); None: the host did not say (an older Ollama)
    capabilities: tuple[str, ...] | None = None
    remote_host: str | None = None      # a cloud model: where its prompts go ("https://ollama.com:443")

    @property
    def embeds_only(self) -> bool:
        """An embedding model: it embeds and does not generate (run through /api/embed)."""
        caps = self.capabilities
        return caps is not None and "embedding" in caps and "completion" not in caps


@record(frozen=True, kw_only=False)
class LoadedModel:
    """A model in a host's `/api/ps`."""

    name: str
    size_bytes: int
    size_vram_bytes: int
    context_length: int | None = None
    expires_at: str | None = None


@record(kw_only=False)
class Learned:
    """Figures learned from past runs on a backend (state cache)."""

    load_gb_per_s: float | None = None
    load_samples: int = 0
    ttft_s: float | None = None
    ttft_samples: int = 0
    tokens_per_s: dict[str, float] = field(default_factory=dict)   # per model
    tps_samples: dict[str, int] = field(default_factory=dict)
    #: how fast a prompt is evaluated, tokens/s, per model (Ollama's prompt_eval_*)
    prompt_tokens_per_s: dict[str, float] = field(default_factory=dict)
    #: how far the host's readings rise while it serves a run (the reading at its
    #: end less the one before it): field ("fan_pct", "temp_c", "power_w") → moving
    #: average, and its sample count
    heat_rise: dict[str, float] = field(default_factory=dict)
    heat_samples: dict[str, int] = field(default_factory=dict)
    #: model → the times (epoch s) of its last runs here, oldest first
    uses: dict[str, list[float]] = field(default_factory=dict)


@record(kw_only=False)
class BackendState:
    id: str
    reachable: bool = True
    error: str | None = None        # why unreachable
    models: dict[str, ModelInfo] = field(default_factory=dict)      # key: canonical lower name
    loaded: dict[str, LoadedModel] = field(default_factory=dict)    # key: canonical lower name
    reading: Reading = field(default_factory=lambda: Reading(source="none"))
    in_flight: int = 0              # sollama's own requests running on this host now
    #: seconds until each of them is expected to end (its decision's estimate, as
    #: recorded with it); shorter than ``in_flight`` when some recorded none
    busy_s: list[float] = field(default_factory=list)
    learned: Learned = field(default_factory=Learned)
    #: memory a model really took here after loading: (model, num_ctx) → (size, size_vram)
    observed: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    system_free_gb: float | None = None   # RAM free for offload (local backends)


@record(kw_only=False)
class FleetSnapshot:
    time: float                     # epoch seconds: the decision's clock
    backends: dict[str, BackendState] = field(default_factory=dict)


@record(frozen=True, kw_only=False)
class Request:
    model: str                      # as typed, or "auto"
    mode: str
    urgency: str = "interactive"
    task: str = "general"
    min_quality: float | None = None
    policy: str | None = None       # None: the config's routing.model_mode_conflict
    backend: str | None = None      # --backend pin
    num_ctx: int | None = None
    can_ask: bool = False           # a terminal is there to ask on (policy "ask")
    nonce: str = ""                 # 12 hex digits: the verdict id's randomness (else a hash)
    answer_tokens: int | None = None    # expected answer length (ranking's cost); None: 256
    #: the prompt's length in tokens, when known (the first token's estimate)
    prompt_tokens: int | None = None
    #: capabilities the request needs ("thinking" for --think, "vision" for an image,
    #: "tools", "embedding"): a model without one of them is not a candidate
    needs: tuple[str, ...] = ()
