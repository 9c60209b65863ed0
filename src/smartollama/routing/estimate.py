"""Memory need of a model on a backend, the way Ollama estimates it, and speed defaults.

Need = weights (the model file) + KV cache for the context length used + the
compute graph. Followed from Ollama's source:

* `fs/ggml/ggml.go`, `GGML.GraphSize()`: the KV cache per attention layer is
  ``context * (head_dim_k + head_dim_v) * head_count_kv * bytes_per_element``
  (f16: 2 bytes), summed over `block_count` layers; the graph for the llama
  family when fully offloaded is ``max(4*batch*(1 + 4*embedding +
  context*(1 + heads)), 4*batch*(embedding + vocab))``.
* `llm/memory.go`, `EstimateGPULayers()` (the older per-layer layout): the
  same KV term and, when the architecture is unknown, a graph of
  ``GQA * kv / 6``.

We take the larger of the two graph terms (conservative: we do not know the
vocabulary size, so we assume a large one), and the batch is
``min(num_ctx, 512)`` (Ollama's default `num_batch`).

What was observed beats the formula: `/api/ps` after a load reports `size`
(and `size_vram`); a model loaded now, or recorded in the state cache's
`observed` figures, gives its real size (basis "observed"). Without
`/api/show` figures the KV cache and graph are guessed from the parameter
count (basis "tags" with the file size from `/api/tags`, "name" when only the
name is known: params × bits-per-weight / 8).

All sizes in GB (1e9 bytes), like the rest of sollama. Pure, stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from smartollama import names
from smartollama.fleet import GB, BackendState, LoadedModel, ModelInfo
from smartollama.record import record
from smartollama.routing import catalog

#: Ollama's default num_batch
NUM_BATCH = 512
#: bytes per KV-cache element at f16 (Ollama's default OLLAMA_KV_CACHE_TYPE)
KV_BYTES_F16 = 2
#: vocabulary size assumed for the graph's output term (qwen2.5's, the larger
#: of the common ones; llama3 has 128256)
VOCAB_GUESS = 152_064
#: name-only KV guess: bytes per token per sqrt(billion parameters) at f16
#: (llama3:8b is 128 KiB/token, llama3:70b 320 KiB/token: this guesses 141 and 418)
_KV_PER_TOKEN_PER_SQRT_B = 50 * 1024
#: name-only graph guess: at least this, or half the KV cache
_GRAPH_MIN_BYTES = 0.3 * GB

#: default load speed (GB/s from disk cache into the device) by hardware
LOAD_GB_PER_S: dict[str, float] = {
    "nvidia": 2.0, "amd": 2.0, "igpu": 1.0, "npu": 0.5, "cpu": 1.0, "auto": 1.5,
}
#: default decode speed: tokens/s ≈ this / billions of parameters (whole model on the device)
TPS_TIMES_PARAMS: dict[str, float] = {
    "nvidia": 900.0, "amd": 700.0, "igpu": 150.0, "npu": 60.0, "cpu": 40.0, "auto": 300.0,
}
#: how much slower the part of a model in system RAM runs than on the device
RAM_SLOWDOWN = 10.0
TPS_MIN, TPS_MAX = 0.2, 500.0


@record(frozen=True, kw_only=False)
class MemoryNeed:
    """How much memory a model needs loaded, and from what that was worked out."""

    memory_gb: float
    basis: str                          # observed | model_info | tags | name
    num_ctx: int
    weights_gb: float | None = None
    kv_gb: float | None = None
    graph_gb: float | None = None
    #: share of the model that sat on the device when it was observed
    observed_gpu_share: float | None = None

    def describe(self) -> str:
        if self.weights_gb is None:
            return f"~{self.memory_gb:.1f} GB ({self.basis})"
        return (f"~{self.memory_gb:.1f} GB = {self.weights_gb:.1f} weights + "
                f"{self.kv_gb or 0:.1f} KV cache ({self.num_ctx} tokens) + "
                f"{self.graph_gb or 0:.1f} graph ({self.basis})")


GIB = 1 << 30
#: Ollama's default context by total device memory (server/routes.go): from 47 GiB,
#: from 23 GiB, below (the thresholds a little under 48 and 24 GiB, as there)
CONTEXT_TIERS = ((47 * GIB, 262144), (23 * GIB, 32768), (0, 4096))


def ollama_default_context(device_gb: float | None, hardware: str) -> int:
    """What Ollama loads a model with when nothing names a context length: by the
    device's total memory; a CPU-only host (no device memory) 4096."""
    total = 0.0 if hardware == "cpu" or not device_gb else device_gb * GB
    return next(n for floor, n in CONTEXT_TIERS if total >= floor)


def planned_context(requested: int | None, backend_ctx: int | None, config_ctx: int | None,
                    device_gb: float | None, hardware: str, info: ModelInfo | None) -> int:
    """The context a load on this backend gets: the request's or the config's
    `num_ctx` (sollama sends those), else what the server picks itself: its
    OLLAMA_CONTEXT_LENGTH (`context_length`), else its default for the device;
    capped at the model's own maximum, as the server caps it."""
    default = config_ctx or backend_ctx or ollama_default_context(device_gb, hardware)
    return context_length(requested, default, info)


def kv_slots(num_parallel: int, info: ModelInfo | None) -> int:
    """How many KV caches a loaded model holds: OLLAMA_NUM_PARALLEL, 1 for an
    embedding model (the server gives those one slot)."""
    return 1 if info is not None and info.embeds_only else max(1, num_parallel)


def context_length(requested: int | None, default: int, info: ModelInfo | None = None) -> int:
    """The context length a load will use: the request's, else the config's, capped by the model's."""
    ctx = requested if requested and requested > 0 else default
    if info is not None and info.context_length:
        ctx = min(ctx, info.context_length)
    return max(int(ctx), 1)


def kv_cache_bytes(*, block_count: int, head_count_kv: int, key_length: int,
                   value_length: int, num_ctx: int, bytes_per_element: float = KV_BYTES_F16) -> int:
    """KV cache: 2 tensors (K, V) per layer, per KV head, per token (GraphSize's default case)."""
    return int(num_ctx * block_count * (key_length + value_length) * head_count_kv
               * bytes_per_element)


def graph_bytes(*, embedding_length: int | None, head_count: int | None,
                head_count_kv: int | None, num_ctx: int, kv_bytes: int) -> int:
    """Compute-graph memory.

    With the embedding length and head count: GraphSize's llama-family
    full-offload graph (the larger of the attention and the output term).
    Without them: EstimateGPULayers' fallback for an unknown architecture,
    ``GQA * kv / 6``.
    """
    batch = min(num_ctx, NUM_BATCH)
    if embedding_length and head_count:
        return max(4 * batch * (1 + 4 * embedding_length + num_ctx * (1 + head_count)),
                   4 * batch * (embedding_length + VOCAB_GUESS))
    heads = head_count or 1
    gqa = max(heads // max(head_count_kv or heads, 1), 1)
    return int(gqa * kv_bytes / 6)


#: every this-many-th layer of a sliding-window model keeps the whole context (gemma3)
GLOBAL_LAYER_EVERY = 6


def from_model_info(info: ModelInfo, num_ctx: int, slots: int = 1) -> MemoryNeed | None:
    """Ollama's formula from `/api/show` figures; None when they are missing.
    ``num_ctx``: the tokens of every slot together; ``slots``: how many (a
    sliding-window layer keeps ``slots`` windows and one batch, GraphSize's gemma3 case)."""
    if not info.block_count or not info.embedding_length or info.size_bytes <= 0:
        return None
    heads = info.head_count or 1
    heads_kv = info.head_count_kv or heads
    head_dim = info.embedding_length // heads
    k_len = info.key_length or head_dim
    v_len = info.value_length or head_dim
    layers = max(1, info.block_count - (info.shared_kv_layers or 0))   # each with a cache
    kv = kv_cache_bytes(block_count=layers, head_count_kv=heads_kv, key_length=k_len,
                        value_length=v_len, num_ctx=num_ctx)
    if info.sliding_window:
        local = layers - layers // GLOBAL_LAYER_EVERY
        window = min(num_ctx, max(1, slots) * info.sliding_window + NUM_BATCH)
        kv -= kv_cache_bytes(block_count=local, head_count_kv=heads_kv, key_length=k_len,
                             value_length=v_len, num_ctx=num_ctx - window)
    graph = graph_bytes(embedding_length=info.embedding_length, head_count=heads,
                        head_count_kv=heads_kv, num_ctx=num_ctx, kv_bytes=kv)
    total = info.size_bytes + kv + graph
    return MemoryNeed(total / GB, "model_info", num_ctx, info.size_bytes / GB, kv / GB, graph / GB)


def _guess_kv_graph(params_b: float, num_ctx: int) -> tuple[float, float]:
    kv = num_ctx * _KV_PER_TOKEN_PER_SQRT_B * math.sqrt(max(params_b, 0.01))
    graph = max(_GRAPH_MIN_BYTES, kv / 2)
    return kv, graph


def from_name(name: str, num_ctx: int, *, size_bytes: int | None = None,
              params_b: float | None = None, quantization: str | None = None) -> MemoryNeed:
    """A guess from the name (and the file size when `/api/tags` gave one).

    Weights: the file size, else params × bits-per-weight / 8. KV cache and
    graph: guessed from the parameter count (see `_KV_PER_TOKEN_PER_SQRT_B`).
    """
    quant = catalog.quantization_of(name, quantization)
    bpw = names.bits_per_weight(quant)
    if params_b is None and size_bytes:
        params_b = size_bytes / GB * 8 / bpw
    p = catalog.params_of(name, params_b)
    if size_bytes and size_bytes > 0:
        weights, basis = float(size_bytes), "tags"
    else:
        weights, basis = p * 1e9 * bpw / 8, "name"
    kv, graph = _guess_kv_graph(p, num_ctx)
    return MemoryNeed((weights + kv + graph) / GB, basis, num_ctx, weights / GB, kv / GB,
                      graph / GB)


def from_observed(size_bytes: int, size_vram_bytes: int, num_ctx: int) -> MemoryNeed:
    share = size_vram_bytes / size_bytes if size_bytes > 0 else None
    return MemoryNeed(size_bytes / GB, "observed", num_ctx,
                      observed_gpu_share=None if share is None else min(1.0, share))


def observed_size(key: str, num_ctx: int, state: BackendState | None,
                  elsewhere: Mapping[tuple[str, int], tuple[int, int]] | None = None,
                  ) -> tuple[int, int] | None:
    """(size, size_vram) seen for this model at this context: loaded now, else recorded.

    This backend first; then what other backends recorded (`elsewhere`: the
    total size does not depend on the host; its share on the device does, and
    is worked out again from the host's capacity).
    """
    if state is not None:
        lm = state.loaded.get(key)
        if lm is not None and _same_ctx(lm, num_ctx) and lm.size_bytes > 0:
            return lm.size_bytes, lm.size_vram_bytes
        obs = state.observed.get((key, num_ctx))
        if obs is not None and obs[0] > 0:
            return obs
    if elsewhere:
        obs = elsewhere.get((key, num_ctx))
        if obs is not None and obs[0] > 0:
            return obs[0], obs[0]
    return None


def _same_ctx(lm: LoadedModel, num_ctx: int) -> bool:
    return lm.context_length is None or lm.context_length == num_ctx


def loaded_here(key: str, num_ctx: int, state: BackendState) -> bool:
    """Loaded on this host with the context length this request needs (no reload)."""
    lm = state.loaded.get(key)
    return lm is not None and _same_ctx(lm, num_ctx)


def memory_need(name: str, num_ctx: int, *, info: ModelInfo | None = None,
                observed: tuple[int, int] | None = None, slots: int = 1) -> MemoryNeed:
    """The best estimate available: observed, else Ollama's formula, else the name."""
    if observed is not None:
        return from_observed(observed[0], observed[1], num_ctx)
    if info is not None:
        need = from_model_info(info, num_ctx, slots)
        if need is not None:
            return need
        return from_name(name, num_ctx, size_bytes=info.size_bytes or None,
                         params_b=names.parse_parameter_size(info.parameter_size),
                         quantization=info.quantization)
    return from_name(name, num_ctx)


# -- speed --------------------------------------------------------------------------


def default_tokens_per_s(hardware: str, params_b: float) -> float:
    """Decode speed with the whole model on the device, by hardware and size."""
    k = TPS_TIMES_PARAMS.get(hardware, TPS_TIMES_PARAMS["auto"])
    return min(TPS_MAX, max(TPS_MIN, k / max(params_b, 0.1)))


def offload_tokens_per_s(base: float, gpu_share: float) -> float:
    """Speed with `gpu_share` of the model on the device and the rest ~10× slower in RAM."""
    share = min(1.0, max(0.0, gpu_share))
    return base / (share + (1.0 - share) * RAM_SLOWDOWN)


def default_load_gb_per_s(hardware: str) -> float:
    return LOAD_GB_PER_S.get(hardware, LOAD_GB_PER_S["auto"])


def default_ttft_s(params_b: float) -> float:
    """Time to first token of a loaded model with a short prompt."""
    return 0.2 + 0.01 * max(params_b, 0.0)
