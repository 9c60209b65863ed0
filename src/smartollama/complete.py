"""Values for shell completion: model names, mode names, backend ids.

These callbacks run on every <TAB>, in a fresh process, so they stay cheap:
the config file is read with ``tomllib`` (not through the pydantic models) and
the state cache's JSON directly (writes to it are atomic renames, so no lock
is needed). The hosts are asked for ``/api/tags`` only when the cached answer
is missing or older than ``cache.tags_ttl_s``, over ``http.client`` (not
httpx), all hosts at once, within :data:`NETWORK_BUDGET_S` in total. What they
answer is not written back: completion never writes the state cache.

A callback never raises: a broken config or an unreachable host means fewer
candidates, not a traceback on the user's terminal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # imported in each callback: a routed call imports this module and needs none
    from click.shell_completion import CompletionItem

#: the most a completion waits on the network, all hosts together (seconds)
NETWORK_BUDGET_S = 0.3
#: the modes every config has, with their limits (config.BUILTIN_MODES; a test keeps
#: the two equal)
BUILTIN_MODES: dict[str, dict[str, float]] = {
    "quiet": {"max_fan_pct": 40, "max_temp_c": 80},
    "balanced": {"max_fan_pct": 70},
    "performance": {},
    "efficiency": {"max_power_w": 30},
}
#: config.Cache.tags_ttl_s's default
DEFAULT_TAGS_TTL_S = 30.0
#: snapshot.UNREACHABLE_TTL_S: a host found down this recently is not asked again
DOWN_TTL_S = 2.0
DEFAULT_PORT = 11434

_LIMIT_WORDS = (("max_fan_pct", "fan ≤ {:g}%"), ("max_temp_c", "temp ≤ {:g}°C"),
                ("max_power_w", "power ≤ {:g} W"), ("max_util_pct", "util ≤ {:g}%"))


# -- the callbacks (click's `shell_complete=`) -------------------------------------------


def complete_models(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """Model names the backends hold (`auto` too); with `--backend ID`, that backend's."""
    from click.shell_completion import CompletionItem

    try:
        pinned = (ctx.params.get("backend_id") if ctx is not None else None) or None
        where: dict[str, list[str]] = {}
        sizes: dict[str, int] = {}
        for backend_id, tags in model_tags(pinned).items():
            for tag in tags:
                name = (tag.get("name") or tag.get("model")) if isinstance(tag, dict) else None
                if not isinstance(name, str) or not name.startswith(incomplete):
                    continue
                where.setdefault(name, []).append(backend_id)
                size = tag.get("size")
                if isinstance(size, int) and size > 0:
                    sizes[name] = size
        items = [CompletionItem(name, help=_model_help(where[name], sizes.get(name)))
                 for name in sorted(where)]
        if "auto".startswith(incomplete) and "auto" not in where:
            items.append(CompletionItem("auto", help="sollama chooses the model"))
        return items
    except Exception:
        return []


def complete_modes(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """The config's modes (the built-in ones and those the config file adds)."""
    from click.shell_completion import CompletionItem

    try:
        modes = read_config()["modes"]
        return [CompletionItem(name, help=_mode_help(limits) or None)
                for name, limits in modes.items() if name.startswith(incomplete)]
    except Exception:
        return []


def complete_backends(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """The config's backend ids."""
    from click.shell_completion import CompletionItem

    try:
        return [CompletionItem(b["id"], help=f"{b['hardware']} at {b['host']}"
                               if b.get("hardware") else b["host"])
                for b in read_config()["backends"] if b["id"].startswith(incomplete)]
    except Exception:
        return []


# -- the config, read without the pydantic models ------------------------------------------


def read_config() -> dict[str, Any]:
    """What completion needs of the config: modes, backends, the tags TTL.

    With no config file (or no `[[backends]]` in it): the one backend at
    OLLAMA_HOST, as config.default_config() does. An unreadable file gives
    the defaults too: completion is no place to report it.
    """
    import tomllib

    from smartollama.paths import config_file_name

    data: dict[str, Any] = {}
    try:
        with open(config_file_name(), "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        data = {}
    modes: dict[str, dict[str, Any]] = {k: dict(v) for k, v in BUILTIN_MODES.items()}
    if isinstance(data.get("modes"), dict):
        modes.update({str(k): v if isinstance(v, dict) else {} for k, v in data["modes"].items()})
    backends = []
    for b in data.get("backends") or []:
        if isinstance(b, dict) and isinstance(b.get("id"), str) and isinstance(b.get("host"), str):
            headers = b.get("headers") if isinstance(b.get("headers"), dict) else {}
            backends.append({"id": b["id"], "host": b["host"], "hardware": b.get("hardware"),
                             "headers": headers})
    if not backends:
        host = os.environ.get("OLLAMA_HOST") or f"127.0.0.1:{DEFAULT_PORT}"
        backends = [{"id": "ollama", "host": host, "hardware": None, "headers": {}}]
    cache = data.get("cache")
    ttl = cache.get("tags_ttl_s", DEFAULT_TAGS_TTL_S) if isinstance(cache, dict) else None
    if not isinstance(ttl, int | float) or isinstance(ttl, bool):
        ttl = DEFAULT_TAGS_TTL_S
    return {"modes": modes, "backends": backends, "tags_ttl_s": float(ttl)}


# -- model names: the state cache, else the hosts --------------------------------------------


def read_caches() -> dict[str, Any]:
    """The state cache's TTL caches (`caches`; a schema-0 file's `cache`), or {}."""
    import json

    from smartollama.paths import state_dir

    try:
        with open(state_dir() / "state.json", "rb") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    if isinstance(data.get("caches"), dict):
        return dict(data["caches"])
    old = data.get("cache")
    if isinstance(old, dict):  # schema 0: {"time", "value"}
        return {k: {"t": e.get("time"), "v": e.get("value")} for k, e in old.items()
                if isinstance(e, dict)}
    return {}


def _entry(caches: dict[str, Any], key: str, ttl_s: float, now: float) -> tuple[Any, bool]:
    """(value, fresh) of a cache entry; (None, False) when there is none."""
    e = caches.get(key)
    if not isinstance(e, dict) or "v" not in e:
        return None, False
    t = e.get("t")
    fresh = isinstance(t, int | float) and 0 <= now - t <= ttl_s
    return e["v"], fresh


def model_tags(only: str | None = None, *, budget_s: float | None = None
               ) -> dict[str, list[dict[str, Any]]]:
    """backend id → its /api/tags models: cached when fresh, else asked (within
    ``budget_s``, default NETWORK_BUDGET_S, for all hosts together), else the
    stale cached answer."""
    import time

    if budget_s is None:
        budget_s = NETWORK_BUDGET_S

    cfg = read_config()
    caches = read_caches()
    now = time.time()
    out: dict[str, list[dict[str, Any]]] = {}
    ask: list[dict[str, Any]] = []
    for b in cfg["backends"]:
        if only and b["id"] != only:
            continue
        url = base_url(b["host"])     # the state cache keys hosts by their URL
        value, fresh = _entry(caches, f"tags:{url}", cfg["tags_ttl_s"], now)
        if isinstance(value, list):
            out[b["id"]] = [m for m in value if isinstance(m, dict)]
        if not fresh and not _entry(caches, f"down:{url}", DOWN_TTL_S, now)[1]:
            ask.append(b)
    if ask and budget_s > 0:
        out.update(_fetch_tags(ask, budget_s))
    return out


def _fetch_tags(backends: list[dict[str, Any]], budget_s: float) -> dict[str, list[dict[str, Any]]]:
    """Ask every host at once; keep what has answered when the budget runs out."""
    import threading
    import time

    deadline = time.monotonic() + budget_s
    got: dict[str, list[dict[str, Any]]] = {}

    def one(b: dict[str, Any]) -> None:
        try:
            models = _get_tags(b["host"], b.get("headers") or {}, deadline)
        except Exception:
            return
        got[b["id"]] = models

    threads = [threading.Thread(target=one, args=(b,), daemon=True) for b in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return dict(got)


def _get_tags(host: str, headers: dict[str, Any], deadline: float) -> list[dict[str, Any]]:
    import http.client
    import json
    import time
    from urllib.parse import urlsplit

    url = urlsplit(base_url(host))
    timeout = max(0.01, deadline - time.monotonic())
    headers = {**_credentials(host), **headers}
    conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        conn.request("GET", url.path + "/api/tags",
                     headers={"Accept": "application/json",
                              **{str(k): str(v) for k, v in headers.items()}})
        resp = conn.getresponse()
        if resp.status != 200:
            return []
        models = json.loads(resp.read()).get("models") or []
    finally:
        conn.close()
    return [m for m in models if isinstance(m, dict)]


def _credentials(host: str) -> dict[str, str]:
    """A host URL's `user:password@` as a basic Authorization header."""
    hostport = host.strip().partition("://")[2 if "://" in host else 0].partition("/")[0]
    if "@" not in hostport:
        return {}
    import base64
    from urllib.parse import unquote

    user, _, password = hostport.rpartition("@")[0].partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def base_url(value: str) -> str:
    """`host`, `host:port`, `:port`, `scheme://host[:port][/path]` → a base URL.

    The forms config.parse_host reads (a test keeps them in step); repeated here
    so that completion does not import the config models.
    """
    s = value.strip().strip("\"'")
    scheme, sep, rest = s.partition("://")
    if not sep:
        scheme, rest = "http", s
    scheme = scheme.lower()
    hostport, slash, path = rest.partition("/")
    hostport = hostport.rpartition("@")[2]          # credentials: `_credentials`
    if hostport.count(":") > 1 and not hostport.startswith("["):
        hostport = f"[{hostport}]"                  # a bare IPv6 address
    if hostport.startswith("["):
        end = hostport.find("]")
        host, port_s = hostport[: end + 1], hostport[end + 2:]
    else:
        host, _, port_s = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if not port_s:
        port_s = str(443 if sep and scheme == "https"
                     else 80 if sep and scheme == "http" and hostport else DEFAULT_PORT)
    host = host or "127.0.0.1"
    if host == "0.0.0.0":
        host = "127.0.0.1"
    path = ("/" + path).rstrip("/") if slash else ""
    return f"{scheme}://{host}:{port_s}{path}"


# -- help texts (zsh and fish show them) ----------------------------------------------------------


def _model_help(backends: list[str], size: int | None) -> str:
    text = ", ".join(backends)
    if size:
        text += f" ({size / 1e9:.1f} GB)"
    return text


def _mode_help(limits: dict[str, Any]) -> str:
    if isinstance(limits.get("description"), str):
        return str(limits["description"])
    words = [fmt.format(limits[k]) for k, fmt in _LIMIT_WORDS
             if isinstance(limits.get(k), int | float)]
    return ", ".join(words) or "no limits"
