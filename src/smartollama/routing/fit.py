"""The hard constraints of one model on one backend, and how it would run there.

`evaluate` checks, in order (DESIGN.md "Hard constraints"): the host answers;
the backend admits the model (`supported_models` + `model_patterns`; both
empty, or `*`: everything); the model is on the host (a model too large for
the backend is `too_large` whether pulled there or not: pulling it would not
help); the host lists the capabilities the request needs (`Context.needs`; a
host that lists none admits it); a cloud model (`remote_host`, or a `-cloud`
tag) is one the user named or `[routing] cloud` allows, and takes no local
memory (placement `remote`); it fits. *Fits* is one of three placements,
tried in this order:

* `loaded`: loaded now at the context length the request needs;
* `whole`: the memory need (`estimate.memory_need`) within what the device
  can hold now, ``min(capacity, free + what loaded models take)``, where
  capacity is `max_model_size_gb`, else the reading's `mem_total_gb` (both
  unknown: it fits). When the free memory alone is too small, loaded models
  are evicted, the smallest first, until it fits: each eviction is recorded
  with what reloading it would cost;
* `offload` (backends that offload): up to `max_offload_gb` in total
  (default: what the device can hold plus the host's free RAM, else no cap),
  with the device's share of the layers and the slowdown that brings.

A failure is a `Rejection` with its code and numbers; a pass is a
`Candidate` with the expected speed and wait (load + queue + first token).
Independent of the mode and the urgency's limits (see `compliance`).
"""

from __future__ import annotations

import math

from smartollama import names
from smartollama.config import Backend
from smartollama.fleet import GB, BackendState, LoadedModel, ModelInfo
from smartollama.routing import catalog, estimate
from smartollama.routing.records import Candidate, Eviction, Rejection
from smartollama.routing.rules import matches

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.routing.context import Context
    from smartollama.routing.records import Code, FitKind

#: a partly offloaded model needs at least this much device memory (GB), and this share
MIN_OFFLOAD_DEVICE_GB = 0.5
MIN_OFFLOAD_SHARE = 0.05
#: tokens assumed per answer (a queued request's, and the cost of this one)
TOKENS_PER_ANSWER = 256
#: a cloud model's assumed speed (tokens/s): not this machine's to measure or limit
REMOTE_TOKENS_PER_S = 50.0


def capacity(b: Backend, st: BackendState) -> float | None:
    """What fits on the device: `max_model_size_gb`, else the reading's total, else unknown."""
    return b.max_model_size_gb if b.max_model_size_gb is not None else st.reading.get("mem_total_gb")


def device_gb(b: Backend, st: BackendState) -> float | None:
    """The device's total memory as Ollama sees it: the reading's, else `max_model_size_gb`."""
    total = st.reading.get("mem_total_gb")
    return total if total is not None else b.max_model_size_gb


def offload_cap(b: Backend, st: BackendState, device_gb: float | None) -> float | None:
    """The most a partly offloaded model may take in all; None: no offload here."""
    if not b.offloads:
        return None
    if b.max_offload_gb is not None:
        return b.max_offload_gb
    if st.system_free_gb is not None and device_gb is not None:
        return device_gb + st.system_free_gb
    return math.inf


def load_gb_per_s(b: Backend, st: BackendState) -> tuple[float, int]:
    """Load speed (learned, else the hardware's default) and how many runs it was learned from."""
    lr = st.learned
    if lr.load_gb_per_s is not None and lr.load_gb_per_s > 0 and lr.load_samples > 0:
        return lr.load_gb_per_s, lr.load_samples
    return estimate.default_load_gb_per_s(b.hardware), 0


def evaluate(ctx: Context, key: str, b: Backend) -> Candidate | Rejection:
    st = ctx.states[b.id]
    if not st.reachable:
        return Rejection(key, b.id, "unreachable", detail=st.error or "no answer")
    patterns = [*b.supported_models, *b.model_patterns]
    if patterns and not any(matches(key, p) for p in patterns):
        return Rejection(key, b.id, "not_admitted")
    info = st.models.get(key)
    ref = info if info is not None else ctx.info(key)
    num_ctx = estimate.planned_context(ctx.req.num_ctx, b.context_length, ctx.cfg.num_ctx,
                                       device_gb(b, st), b.hardware, ref)
    slots = estimate.kv_slots(b.num_parallel, ref)
    kv_ctx = num_ctx * slots   # one KV cache per slot
    cap = capacity(b, st)
    if info is None:
        size = ctx.memory_need(key, kv_ctx, ref, None, slots).memory_gb
        most = offload_cap(b, st, cap)
        if cap is not None and size > cap and (most is None or size > most):
            return Rejection(key, b.id, "too_large", need_gb=size, limit_gb=cap, offload_gb=most)
        return Rejection(key, b.id, "not_pulled")
    missing = next((n for n in ctx.needs(key) if info.capabilities is not None
                    and n not in info.capabilities), None)
    if missing is not None:
        return Rejection(key, b.id, "lacks_capability", detail=missing)
    if is_remote(key, info):
        if key != ctx.requested and ctx.cfg.routing.cloud == "never":
            return Rejection(key, b.id, "cloud_off", detail=info.remote_host)
        return _remote(ctx, key, b, info, num_ctx)
    observed = estimate.observed_size(key, num_ctx, st, ctx.observed_anywhere())
    need = ctx.memory_need(key, kv_ctx, info, observed, slots)
    placed = _place(ctx, b, st, key, need.memory_gb, cap, estimate.loaded_here(key, num_ctx, st),
                    need.observed_gpu_share)
    if isinstance(placed, Rejection):
        return placed
    how, share, usable, evicts = placed
    params = catalog.params_of(key, names.parse_parameter_size(info.parameter_size))
    learned_tps = st.learned.tokens_per_s.get(key) or st.learned.tokens_per_s.get(info.name)
    if learned_tps is not None and learned_tps > 0:
        tps, tps_basis = learned_tps, "learned"     # measured here, at whatever share it ran
    else:
        base = estimate.default_tokens_per_s(b.hardware, params)
        tps, tps_basis = estimate.offload_tokens_per_s(base, share), "default"
    speed, samples = load_gb_per_s(b, st)
    load_s = 0.0 if how == "loaded" else need.memory_gb / speed
    ptps = st.learned.prompt_tokens_per_s.get(key) or st.learned.prompt_tokens_per_s.get(
        info.name)
    if ctx.req.prompt_tokens and ptps:      # this prompt, at the speed learned for it here
        ttft = ctx.req.prompt_tokens / ptps
        samples = max(samples, st.learned.ttft_samples)
    elif st.learned.ttft_s is not None and st.learned.ttft_samples > 0:
        ttft = max(st.learned.ttft_s, 0.0)
        samples = max(samples, st.learned.ttft_samples)
    else:
        ttft = estimate.default_ttft_s(params)
    queue = queue_s(st, b.num_parallel, ttft + TOKENS_PER_ANSWER / max(tps, 0.1), bool(evicts))
    basis = f"learned from {samples} run{'s' if samples != 1 else ''}" if samples else "default"
    quality, tier = ctx.quality(key), ctx.tier(key)
    return Candidate(key=key, model=info.name or key, backend=b.id, order=ctx.order[b.id],
                     need=need, fit=how, gpu_share=round(share, 3), usable_gb=usable, tps=tps,
                     tps_basis=tps_basis, load_s=load_s, queue_s=queue, ttft_s=ttft,
                     wait_basis=basis, evicts=evicts, quality=quality, tier=tier,
                     preferred=ctx.rules.preferred(key, b.id))


def queue_s(st: BackendState, slots: int, per_request: float, evicts: bool) -> float:
    """How long a request sent to the backend now waits for a slot: until enough
    of the requests in flight there end that fewer than ``slots`` remain (or,
    when it must evict a model, until the first ends and frees its memory).
    Their expected ends are the estimates their decisions recorded; without
    one for each of them, every request ahead counts as one more
    ``per_request`` (this request's own time)."""
    n = st.in_flight
    if n <= 0 or (n < slots and not evicts):
        return 0.0
    ahead = n - slots + 1 if n >= slots else 1      # ends to wait for
    if len(st.busy_s) >= n:
        return sorted(st.busy_s)[ahead - 1]
    return ahead * per_request


def is_remote(key: str, info: ModelInfo) -> bool:
    """A cloud model: the host lists a `remote_host`, or the name says so."""
    return info.remote_host is not None or names.is_cloud(key)


def _remote(ctx: Context, key: str, b: Backend, info: ModelInfo, num_ctx: int) -> Candidate:
    """A cloud model: no local memory, no load, no local queue; the speed is the catalog's."""
    params = catalog.params_of(key, names.parse_parameter_size(info.parameter_size))
    return Candidate(key=key, model=info.name or key, backend=b.id, order=ctx.order[b.id],
                     need=estimate.MemoryNeed(0.0, "remote", num_ctx), fit="remote",
                     gpu_share=1.0, usable_gb=None, tps=REMOTE_TOKENS_PER_S, tps_basis="default",
                     load_s=0.0, queue_s=0.0, ttft_s=estimate.default_ttft_s(params),
                     wait_basis="default", quality=ctx.quality(key), tier=ctx.tier(key),
                     preferred=ctx.rules.preferred(key, b.id))


def _place(ctx: Context, b: Backend, st: BackendState, key: str, need: float, cap: float | None,
           loaded: bool, observed_share: float | None,
           ) -> Rejection | tuple[FitKind, float, float | None, tuple[Eviction, ...]]:
    """Where the model's memory goes: (placement, device share, usable GB, evictions)."""
    if loaded:
        return "loaded", observed_share if observed_share is not None else 1.0, None, ()
    free = st.reading.get("mem_free_gb")
    avail = None if free is None else free + ctx.loaded_gb(b.id)
    usable = avail if cap is None else cap if avail is None else min(cap, avail)
    if usable is None or need <= usable:
        return "whole", 1.0, usable, _evictions(b, st, need, free, key)
    most = offload_cap(b, st, usable)
    if most is None:
        code: Code = "too_large" if cap is not None and need > cap else "no_room"
        return Rejection(key, b.id, code, need_gb=need, limit_gb=cap, free_gb=usable)
    if need > most:
        return Rejection(key, b.id, "too_large", need_gb=need, limit_gb=cap if cap is not None
                         else usable, offload_gb=most)
    if usable < MIN_OFFLOAD_DEVICE_GB or usable / need < MIN_OFFLOAD_SHARE:
        return Rejection(key, b.id, "offload_too_small", need_gb=need, limit_gb=cap,
                         free_gb=max(usable, 0.0))
    return "offload", usable / need, usable, _evictions(b, st, usable, free, key)


def _evictions(b: Backend, st: BackendState, device_gb: float, free: float | None,
               key: str) -> tuple[Eviction, ...]:
    """The loaded models unloaded to make `device_gb` free, smallest first."""
    if free is None or device_gb <= free:
        return ()
    speed = load_gb_per_s(b, st)[0]
    out: list[Eviction] = []
    room = free
    for name, lm in sorted(st.loaded.items(), key=lambda kv: (_vram(kv[1]), kv[0])):
        if room >= device_gb:
            break
        if name == key:
            continue
        room += _vram(lm)
        out.append(Eviction(name, lm.size_bytes / GB, lm.size_bytes / GB / speed))
    return tuple(out)


def _vram(lm: LoadedModel) -> float:
    return lm.size_vram_bytes / GB
