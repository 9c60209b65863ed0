"""The routes that change what a host holds: `/api/pull`, `/api/create`, `/api/delete`.

The simulated registry holds the library's models (library.LIBRARY): pulling one
streams Ollama's progress (`pulling manifest`, one `pulling <digest>` line per
step with `total` and `completed`, `verifying sha256 digest`, `writing
manifest`, `success`) and adds it to the host; any other name ends the stream
with `{"error": "pull model manifest: file does not exist"}`, as PullModel does
for a manifest the registry lacks. `/api/create` with `from` copies a model the
host holds under a new name (what `/save` in `ollama run` sends).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

from smartollama.sim import library
from smartollama.sim.payloads import digest_of
from smartollama.sim.spec import GB, ModelSpec
from smartollama.sim.wire import SimError, parse_ref, require_object

if TYPE_CHECKING:
    from smartollama.sim.host import SimHost
    from smartollama.sim.server import Sink

PULL_GB_PER_S = 1.0     # download speed in simulated seconds
_STEPS = 4              # progress lines per layer
_lock = threading.Lock()


def _progress(req: dict[str, Any], sink: Sink, lines: list[dict[str, Any]]) -> None:
    """Every status line as a stream, else only the last (`"stream": false`)."""
    if req.get("stream") is False:
        last = lines[-1]
        if "error" in last:
            raise SimError(500, last["error"])
        sink.json(200, last)
        return
    sink.start()
    for line in lines:
        sink.line(line)
    sink.end()


def _name_of(req: dict[str, Any], field: str = "model") -> str:
    name = req.get(field) or req.get("name") or ""
    ref = parse_ref(name, missing=SimError(400, f"{field} is required"))
    return library.normalize_name(ref.base)


def pull(host: SimHost, body: Any, sink: Sink) -> None:
    req = require_object(body, "PullRequest")
    name = _name_of(req)
    if req.get("stream") is not False:
        sink.start()
        out = sink.line
    else:
        out = None
    if name not in library.LIBRARY:
        error = {"error": "pull model manifest: file does not exist"}
        if out is None:
            raise SimError(500, error["error"])
        out({"status": "pulling manifest"})
        out(error)
        sink.end()
        return
    model = ModelSpec(name=name)
    total = model.size_bytes
    digest = "sha256:" + digest_of(name)
    step_s = total / GB / PULL_GB_PER_S / _STEPS
    if out is not None:
        out({"status": "pulling manifest"})
        for i in range(1, _STEPS + 1):
            host.engine.sleep(step_s)
            sink.check()
            out({"status": f"pulling {digest[7:19]}", "digest": digest, "total": total,
                 "completed": total * i // _STEPS})
    else:
        host.engine.sleep(step_s * _STEPS)
    _add(host, model)
    tail = [{"status": "verifying sha256 digest"}, {"status": "writing manifest"},
            {"status": "success"}]
    if out is None:
        sink.json(200, tail[-1])
        return
    for line in tail:
        out(line)
    sink.end()


def create(host: SimHost, body: Any, sink: Sink) -> None:
    req = require_object(body, "CreateRequest")
    name = _name_of(req)
    base = req.get("from")
    if not base:
        raise SimError(400, "neither 'from' or 'files' was specified")
    source = host.spec.model(library.normalize_name(str(base)))
    if source is None:
        raise SimError(404, f"model '{base}' not found")
    _add(host, dataclasses.replace(source, name=name))
    _progress(req, sink, [{"status": "using existing layer sha256:" + digest_of(source.name)},
                          {"status": "writing manifest"}, {"status": "success"}])


def delete(host: SimHost, body: Any, sink: Sink) -> None:
    req = require_object(body, "DeleteRequest")
    name = _name_of(req)
    with _lock:
        kept = [m for m in host.spec.models if m.name != name]
        if len(kept) == len(host.spec.models):
            raise SimError(404, f"model '{req.get('model') or req.get('name')}' not found")
        host.spec.models[:] = kept
    host.engine.unload(name)
    sink.out.whole(200, "text/plain; charset=utf-8", b"")   # DeleteHandler writes no body


def _add(host: SimHost, model: ModelSpec) -> None:
    with _lock:
        kept = [m for m in host.spec.models if m.name != model.name]
        host.spec.models[:] = [*kept, model]
