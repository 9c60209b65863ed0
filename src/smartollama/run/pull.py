"""A model no host holds is pulled first, as `ollama run` pulls it, onto the host
the same `decide()` would run it on were it everywhere.

The front door catches the router's `ModelNotFoundError`, asks `target()` for
the host (the snapshot with the model added, as an unknown-size entry, to every
reachable host, decided again: no routing rule of its own), streams `/api/pull`
there with Ollama's progress on stderr, forgets that host's cached model list,
and routes again. A name the registry lacks ends as the original error, with
the registry's words added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartollama import names
from smartollama.errors import BackendError, ModelNotFoundError
from smartollama.record import replace

if TYPE_CHECKING:
    from smartollama.config import Backend
    from smartollama.env import Environment
    from smartollama.fleet import Request


def pullable(model: str) -> bool:
    """A name worth asking a registry for: not `auto`, not a cloud model."""
    return model != "auto" and not names.is_cloud(model)


def target(request: Request, env: Environment) -> Backend | None:
    """The backend `decide()` picks for ``request.model`` once it is present on
    every reachable host; None when it would fit none of them."""
    from smartollama import snapshot
    from smartollama.fleet import ModelInfo
    from smartollama.routing import decide

    key = names.canonical(request.model)
    snap = snapshot.gather(env, models=())
    for st in snap.backends.values():
        if st.reachable and key.lower() not in st.models:
            st.models[key.lower()] = ModelInfo(name=key, size_bytes=0)
    try:
        verdict = decide(replace(request, policy="prefer_model"), snap, env.config)
    except ModelNotFoundError:
        return None
    if verdict.action == "refuse" or not names.same(verdict.model_used or "", key):
        return None
    return next((b for b in env.config.backends if b.id == verdict.backend_used), None)


def pull(model: str, backend: Backend, env: Environment) -> None:
    """`/api/pull` on ``backend``'s host, progress on stderr; drops the host's
    cached model list so the next decision sees the model."""
    from smartollama.ollama import OllamaClient, StreamBudget
    from smartollama.state import key

    err = env.stderr
    tty = env.stderr_tty
    err.write(f"sollama: pulling {model} onto {backend.id}\n")
    shown = ""
    with OllamaClient.for_backend(backend, env.config.timeouts) as client:
        for p in client.pull(model, StreamBudget.of(env.config.timeouts, None)):
            if tty:      # one line, redrawn
                err.write(f"\r\x1b[K{_progress_line(p)}")
            elif p.get("status") != shown:     # a log: each step once, with its size
                total = p.get("total")
                size = f" {total / 1e9:.1f} GB" if isinstance(total, int) and total > 0 else ""
                err.write(f"{p.get('status')}{size}\n")
            shown = str(p.get("status"))
            err.flush()
    if tty:
        err.write("\n")
    with env.store.update() as st:
        st.cache_drop(key("tags", backend.host))


def _progress_line(p: dict[str, object]) -> str:
    """`pulling 6a0746a1ec1a:  45% 2.1/4.7 GB`, or the status as Ollama words it."""
    status = str(p.get("status") or "")
    total, done = p.get("total"), p.get("completed")
    if isinstance(total, int) and total > 0 and isinstance(done, int):
        return f"{status}: {100 * done // total:3d}% {done / 1e9:.1f}/{total / 1e9:.1f} GB"
    return status


def pull_then_route(request: Request, env: Environment, missing: ModelNotFoundError) -> None:
    """Pull ``request.model`` where it would run, or raise ``missing`` with why not."""
    backend = target(request, env)
    if backend is None:
        raise ModelNotFoundError(f"{missing.message}; it would fit no reachable backend",
                                 hint=missing.hint)
    try:
        pull(request.model, backend, env)
    except BackendError as e:
        close = missing.closest
        hint = (f"did you mean {close[0]}?" if close else
                "check the name at https://ollama.com/library")
        raise ModelNotFoundError(f"{missing.message}; pulling it onto {backend.id} failed: "
                                 f"{e.message.split(': ', 1)[-1]}", hint=hint) from None
