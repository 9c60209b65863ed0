"""Gather a FleetSnapshot: every backend's models, loaded models and telemetry.

All I/O for a decision happens here, in parallel (one thread per backend),
each part under a time budget, and through the state cache's TTL entries so a
burst of calls in a script asks the hosts and the hardware once. The result is
plain data for `routing.decide()`. When the caches answer everything (a burst's
later calls), no thread is started.
"""

from __future__ import annotations

import time
from typing import Any

from smartollama import names
from smartollama.config import Backend, Config
from smartollama.errors import SollamaError
from smartollama.fleet import BackendState, FleetSnapshot, LoadedModel, ModelInfo
from smartollama.record import field, record
from smartollama.state import State, StateStore
from smartollama.telemetry.base import Reading

#: how long "unreachable" is remembered, so a burst does not wait on a dead host each call
UNREACHABLE_TTL_S = 2.0


@record(kw_only=False)
class _Gathered:
    """What one backend's worker found, plus the cache entries to write."""

    state: BackendState
    cache_puts: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] | None = None


def gather(config: Config, store: StateStore, *, models: tuple[str, ...] = (),
           now: float | None = None, telemetry: bool = True,
           backends: list[Backend] | None = None, state: State | None = None) -> FleetSnapshot:
    """Snapshot the fleet. `models` are names worth an `/api/show` (cached a day);
    ``state``: the state cache as the caller has already read it."""
    t = time.time() if now is None else now
    cached = state if state is not None else store.read()
    chosen = backends if backends is not None else config.backends
    wanted = tuple(names.canonical(m).lower() for m in models if m and m != "auto")

    # this machine's free RAM, read once per call, when a backend is local
    free_gb = _system_free_gb() if any(_is_local(b.host) for b in chosen) else None

    def one(b: Backend, offline: bool) -> _Gathered | None:
        return _one(b, config, cached, t, wanted, telemetry, offline=offline,
                    system_free_gb=free_gb if _is_local(b.host) else None)

    found = {b.id: one(b, True) for b in chosen}     # what the caches answer, at once
    todo = [b for b in chosen if found[b.id] is None]
    if len(todo) == 1:
        found[todo[0].id] = one(todo[0], False)
    elif todo:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(todo))) as pool:
            found.update(zip([b.id for b in todo], pool.map(lambda b: one(b, False), todo),
                             strict=True))
    results = [r for r in found.values() if r is not None]
    snap = FleetSnapshot(time=t)
    puts = [r for r in results if r.cache_puts or r.memo is not None]
    for r in results:
        snap.backends[r.state.id] = r.state
    if puts:
        with store.update() as st:
            for r in puts:
                for key, value in r.cache_puts.items():
                    st.cache_put(key, value, t)
                if r.memo is not None:
                    st.memos[r.state.id] = r.memo
    return snap


def _one(b: Backend, config: Config, cached: State, now: float, wanted: tuple[str, ...],
         telemetry: bool, *, offline: bool = False,
         system_free_gb: float | None = None) -> _Gathered | None:
    """One backend's state. ``offline``: from the state cache only; None when
    that would need a host or a probe."""
    g = _Gathered(BackendState(id=b.id))
    st = g.state
    st.system_free_gb = system_free_gb
    client = None
    try:
        down = cached.cache_get(f"down:{b.id}", UNREACHABLE_TTL_S, now)
        if down:
            # remembered as down: not asked again, and not re-stamped (it expires)
            st.reachable, st.error = False, str(down)
            raise _Remembered
        tags = cached.cache_get(f"tags:{b.id}", config.cache.tags_ttl_s, now)
        if tags is None:
            if offline:
                return None
            client = _client(b, config)
            tags = client.tags()
            g.cache_puts[f"tags:{b.id}"] = tags
        ps = cached.cache_get(f"ps:{b.id}", config.cache.ps_ttl_s, now)
        if ps is None:
            if offline:
                return None
            client = client or _client(b, config)
            ps = client.ps()
            g.cache_puts[f"ps:{b.id}"] = ps
        st.models = {}
        for m in tags:
            info = model_info_from_tags(m)
            st.models[info.name.lower()] = info
        st.loaded = {}
        for m in ps:
            lm = loaded_from_ps(m)
            st.loaded[lm.name.lower()] = lm
        for key in wanted:
            if key in st.models:
                show = cached.cache_get(f"show:{b.id}:{key}", config.cache.show_ttl_s, now)
                if show is None:
                    if offline:
                        return None
                    client = client or _client(b, config)
                    try:
                        show = _show_summary(client.show(st.models[key].name))
                    except SollamaError:
                        show = {}
                    g.cache_puts[f"show:{b.id}:{key}"] = show
                st.models[key] = with_show(st.models[key], show)
    except _Remembered:
        pass
    except SollamaError as e:
        st.reachable = False
        st.error = e.message
        g.cache_puts[f"down:{b.id}"] = e.message
    finally:
        if client is not None:
            client.close()
    if telemetry:
        hit = cached.cache_get(f"telemetry:{b.id}", config.cache.telemetry_ttl_s, now)
        if hit is None and offline:
            return None
        st.reading, fresh, g.memo = _reading(b, config, cached, now)
        if fresh:
            g.cache_puts[f"telemetry:{b.id}"] = st.reading.to_dict()
    # the learned figures last: an offline pass that needs a host stops before them
    st.learned = cached.learned_figures(b.id)
    st.in_flight = cached.in_flight_count(b.id, now)
    st.observed = cached.observed_for(b.id)
    return g


class _Remembered(Exception):
    """A backend the state cache remembers as unreachable (for UNREACHABLE_TTL_S)."""


def _client(b: Backend, config: Config) -> Any:
    from smartollama.ollama import OllamaClient

    return OllamaClient.for_backend(b, config.timeouts)


def _reading(b: Backend, config: Config, cached: State, now: float
             ) -> tuple[Reading, bool, dict[str, Any] | None]:
    """(reading, whether it is fresh, the probe's memo to keep)."""
    hit = cached.cache_get(f"telemetry:{b.id}", config.cache.telemetry_ttl_s, now)
    if hit is not None:
        return Reading.from_dict(hit), False, None
    from smartollama.telemetry import probe

    reading, memo = probe(b.telemetry, hardware=b.hardware, memo=cached.memos.get(b.id), now=now)
    return reading, True, memo


def fresh_reading(b: Backend, store: StateStore) -> Reading:
    """Probe one backend now, bypassing the cache (energy before/after a run)."""
    from smartollama.telemetry import probe

    memo = store.read().memos.get(b.id)
    reading, _ = probe(b.telemetry, hardware=b.hardware, memo=memo, now=time.time())
    return reading


# -- shaping Ollama's JSON into fleet data -------------------------------------


def model_info_from_tags(m: dict[str, Any]) -> ModelInfo:
    d = m.get("details") or {}
    name = str(m.get("name") or m.get("model") or "")
    return ModelInfo(
        name=names.canonical(name),
        size_bytes=int(m.get("size") or 0),
        parameter_size=d.get("parameter_size") or None,
        quantization=d.get("quantization_level") or None,
        family=d.get("family") or None,
    )


def loaded_from_ps(m: dict[str, Any]) -> LoadedModel:
    name = str(m.get("name") or m.get("model") or "")
    return LoadedModel(
        name=names.canonical(name),
        size_bytes=int(m.get("size") or 0),
        size_vram_bytes=int(m.get("size_vram") or 0),
        context_length=m.get("context_length") or None,
        expires_at=m.get("expires_at") or None,
    )


_SHOW_KEYS = ("block_count", "embedding_length", "attention.head_count",
              "attention.head_count_kv", "attention.key_length", "attention.value_length",
              "context_length")


def _show_summary(show: dict[str, Any]) -> dict[str, Any]:
    """The few `/api/show` numbers the estimate needs (what the cache keeps)."""
    info = show.get("model_info") or {}
    arch = info.get("general.architecture") or (show.get("details") or {}).get("family") or ""
    out: dict[str, Any] = {}
    for k in _SHOW_KEYS:
        v = info.get(f"{arch}.{k}")
        if isinstance(v, list):  # per-layer arrays (some archs): take the max
            v = max((x for x in v if isinstance(x, int | float)), default=None)
        if isinstance(v, int | float):
            out[k.replace("attention.", "")] = int(v)
    d = show.get("details") or {}
    for k in ("parameter_size", "quantization_level", "family"):
        if d.get(k):
            out[k] = d[k]
    return out


def with_show(info: ModelInfo, show: dict[str, Any]) -> ModelInfo:
    from dataclasses import replace

    if not show:
        return info
    return replace(
        info,
        parameter_size=info.parameter_size or show.get("parameter_size"),
        quantization=info.quantization or show.get("quantization_level"),
        family=info.family or show.get("family"),
        block_count=show.get("block_count"),
        embedding_length=show.get("embedding_length"),
        head_count=show.get("head_count"),
        head_count_kv=show.get("head_count_kv"),
        key_length=show.get("key_length"),
        value_length=show.get("value_length"),
        context_length=show.get("context_length"),
    )


def _is_local(host: str) -> bool:
    return "://127." in host or "://localhost" in host or "://[::1]" in host


def _system_free_gb() -> float | None:
    """MemAvailable of this machine (offload headroom for backends on loopback)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        return None
    return None
    return None
