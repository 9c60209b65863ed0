"""Gather a FleetSnapshot: every backend's models, loaded models and telemetry.

All I/O for a decision happens here, through the Environment's host access,
in one parallel pass (one thread per backend that the caches cannot answer),
each part under a time budget, and through the state cache's TTL entries so a
burst of calls in a script asks the hosts and the hardware once. The result is
plain data for `routing.decide()`. When the caches answer everything (a burst's
later calls), no thread is started and no lock is taken.
"""

from __future__ import annotations

from collections.abc import Callable

from smartollama import names
from smartollama.config import Backend
from smartollama.errors import SollamaError
from smartollama.fleet import BackendState, FleetSnapshot, LoadedModel, ModelInfo
from smartollama.record import field, record, replace
from smartollama.state import State, key
from smartollama.telemetry.base import Reading

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

    from smartollama.env import Environment

#: how long "unreachable" is remembered, so a burst does not wait on a dead host each call
UNREACHABLE_TTL_S = 2.0


@record(kw_only=False)
class _Gathered:
    """What one backend's worker found, plus the cache entries to write."""

    state: BackendState
    cache_puts: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] | None = None


def gather(env: Environment, *, models: tuple[str, ...] = (), telemetry: bool = True,
           backends: list[Backend] | None = None, capabilities: bool = False,
           then: Callable[[State, FleetSnapshot], None] | None = None) -> FleetSnapshot:
    """Snapshot the fleet. `models` are names worth an `/api/show` (cached a day);
    ``capabilities``: so is every model whose `/api/tags` entry lists no
    capabilities (an older server), for a request that needs some.

    One pass: what the state cache answers is used at once, and what it lacks
    is asked of every host and probe in parallel, under the state lock, so
    that in a burst the first caller refreshes and the others (waiting for
    the lock) use what it wrote. ``then(state, snapshot)`` runs inside that
    same lock (the caller's own changes ride on the same write); with nothing
    to refresh no lock is taken and ``then`` is not called.
    """
    config = env.config
    t = env.now()
    chosen = backends if backends is not None else config.backends
    wanted = tuple(names.canonical(m).lower() for m in models if m and m != "auto")
    # this machine's free RAM, read once per call, when a backend is local
    free_gb = _system_free_gb() if any(_is_local(b.host) for b in chosen) else None

    pages = None    # exporter pages shared by the probes: made only when they run

    def one(b: Backend, cached: State, offline: bool, until: float | None = None
            ) -> _Gathered | None:
        return _one(b, env, cached, t, wanted, telemetry, offline=offline, pages=pages,
                    until=until, system_free_gb=free_gb if _is_local(b.host) else None,
                    capabilities=capabilities)

    found = {b.id: one(b, env.state(), True) for b in chosen}   # the caches, at once
    if all(g is not None for g in found.values()):
        return _snapshot(t, found, env.store.in_flight.live(t))
    _prepare([b for b in chosen if found[b.id] is None], telemetry)
    if any(b.telemetry.source == "prometheus" for b in chosen):
        pages = _pages()
    with env.store.update(required=False) as st:    # waits while another caller refreshes
        locked_at = env.now()
        for b in chosen:
            if found[b.id] is None:
                found[b.id] = one(b, st, True, locked_at)     # what that caller wrote
        todo = [b for b in chosen if found[b.id] is None]
        if len(todo) == 1:
            found[todo[0].id] = one(todo[0], st, False)
        elif todo:
            found.update(_in_parallel(lambda b: one(b, st, False), todo))
        stamp = env.now()       # when they were asked: a waiter's clock has moved on
        for g in found.values():
            if g is not None:
                for key, value in g.cache_puts.items():
                    st.cache_put(key, value, stamp)
                if g.memo is not None:
                    st.memos[g.state.id] = g.memo
        # read in the lock: the marks of the burst's callers that held it before
        snap = _snapshot(t, found, env.store.in_flight.live(stamp))
        if then is not None:
            then(st, snap)
    return snap


def _in_parallel(fn: Callable[[Backend], _Gathered | None], todo: list[Backend]
                 ) -> dict[str, _Gathered | None]:
    """``fn`` for each backend, one thread each; an exception in one is raised here.
    Threads, not concurrent.futures (~4 ms to import on a call whose caches expired)."""
    import threading

    got: dict[str, _Gathered | None] = {}
    failed: list[BaseException] = []

    def work(b: Backend) -> None:
        try:
            got[b.id] = fn(b)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            failed.append(e)

    threads = [threading.Thread(target=work, args=(b,), daemon=True) for b in todo]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[0]
    return got


def _snapshot(t: float, found: dict[str, _Gathered | None],
              in_flight: dict[str, list[float | None]]) -> FleetSnapshot:
    """``in_flight``: sollama's requests running on each backend now (`InFlight.live`)."""
    snap = FleetSnapshot(time=t)
    for g in found.values():
        if g is not None:
            marks = in_flight.get(g.state.id, [])
            g.state.in_flight = len(marks)
            g.state.busy_s = [left for left in marks if left is not None]
            snap.backends[g.state.id] = g.state
    return snap


def _one(b: Backend, env: Environment, cached: State, now: float, wanted: tuple[str, ...],
         telemetry: bool, *, offline: bool = False, pages: Any = None,
         until: float | None = None, system_free_gb: float | None = None,
         capabilities: bool = False) -> _Gathered | None:
    """One backend's state. ``offline``: from the state cache only; None when
    that would need a host or a probe. ``until``: see `State.cache_get`. Cache
    keys name the host's URL."""
    config = env.config

    def get(k: str, ttl_s: float) -> Any:
        return cached.cache_get(k, ttl_s, now, until=until)

    g = _Gathered(BackendState(id=b.id))
    st = g.state
    st.system_free_gb = system_free_gb
    client = None
    try:
        down = get(key("down", b.host), UNREACHABLE_TTL_S)
        if down:
            # remembered as down: not asked again, and not re-stamped (it expires)
            st.reachable, st.error = False, str(down)
            raise _Remembered
        tags = get(key("tags", b.host), config.cache.tags_ttl_s)
        if tags is None:
            if offline:
                return None
            client = env.client(b)
            tags = client.tags()
            g.cache_puts[key("tags", b.host)] = tags
        ps = get(key("ps", b.host), config.cache.ps_ttl_s)
        if ps is None:
            if offline:
                return None
            client = client or env.client(b)
            ps = client.ps()
            g.cache_puts[key("ps", b.host)] = ps
        st.models = {}
        for m in tags:
            info = model_info_from_tags(m)
            st.models[info.name.lower()] = info
        st.loaded = {}
        for m in ps:
            lm = loaded_from_ps(m)
            st.loaded[lm.name.lower()] = lm
        if capabilities:
            wanted = (*wanted, *(k for k, i in st.models.items()
                                 if i.capabilities is None and k not in wanted))
        for name in wanted:
            if name in st.models:
                show = get(key("show", b.host, name), config.cache.show_ttl_s)
                if show is None:
                    if offline:
                        return None
                    client = client or env.client(b)
                    try:
                        show = _show_summary(client.show(st.models[name].name))
                    except SollamaError:
                        show = {}
                    g.cache_puts[key("show", b.host, name)] = show
                st.models[name] = with_show(st.models[name], show)
    except _Remembered:
        pass
    except SollamaError as e:
        st.reachable = False
        st.error = e.message
        g.cache_puts[key("down", b.host)] = e.message
    finally:
        if client is not None:
            client.close()
    if telemetry:
        hit = get(key("telemetry", b.host), config.cache.telemetry_ttl_s)
        if hit is not None:
            st.reading = Reading.from_dict(hit)
        elif offline:
            return None
        else:
            st.reading, g.memo = env.probe(b, cached.memos.get(b.id), now, pages=pages)
            g.cache_puts[key("telemetry", b.host)] = st.reading.to_dict()
    # the learned figures last: an offline pass that needs a host stops before them
    st.learned = cached.learned_figures(b.id)
    st.observed = cached.observed_for(b.id)
    return g


def _prepare(todo: list[Backend], telemetry: bool) -> None:
    """Import the HTTP client and the telemetry sources before taking the lock:
    under a burst, every other caller waits while the lock is held."""
    import smartollama.ollama  # noqa: F401

    if telemetry:
        from smartollama.telemetry.dispatch import prepare

        for b in todo:
            prepare(b.telemetry, b.hardware)


def _pages() -> Any:
    from smartollama.telemetry.dispatch import Pages

    return Pages()


class _Remembered(Exception):
    """A backend the state cache remembers as unreachable (for UNREACHABLE_TTL_S)."""


def fresh_reading(b: Backend, env: Environment) -> Reading:
    """Probe one backend now, bypassing the cache (energy after a run)."""
    reading, _ = env.probe(b, env.state().memos.get(b.id), env.now())
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
        context_length=_int(d.get("context_length")),
        capabilities=_capabilities(m.get("capabilities")),
        remote_host=str(m["remote_host"]) if m.get("remote_host") else None,
    )


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _capabilities(v: Any) -> tuple[str, ...] | None:
    """`capabilities` as the host lists them; None when absent (an older Ollama)."""
    if not isinstance(v, list):
        return None
    return tuple(str(c) for c in v if isinstance(c, str))


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
              "context_length", "attention.shared_kv_layers")
#: architectures whose local layers Ollama sizes by `attention.sliding_window`
#: (fs/ggml GraphSize: gemma3 only; gemma2's window is not used by its engine)
SLIDING_WINDOW_ARCHS = ("gemma3",)


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
    window = info.get(f"{arch}.attention.sliding_window")
    if arch in SLIDING_WINDOW_ARCHS and isinstance(window, int) and window > 0:
        out["sliding_window"] = window
    d = show.get("details") or {}
    for k in ("parameter_size", "quantization_level", "family"):
        if d.get(k):
            out[k] = d[k]
    caps = _capabilities(show.get("capabilities"))
    if caps is not None:
        out["capabilities"] = list(caps)
    if show.get("remote_host"):
        out["remote_host"] = str(show["remote_host"])
    return out


def with_show(info: ModelInfo, show: dict[str, Any]) -> ModelInfo:
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
        context_length=show.get("context_length") or info.context_length,
        sliding_window=show.get("sliding_window"),
        shared_kv_layers=show.get("shared_kv_layers"),
        capabilities=info.capabilities if info.capabilities is not None
        else _capabilities(show.get("capabilities")),
        remote_host=info.remote_host or show.get("remote_host"),
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
