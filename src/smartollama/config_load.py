"""Loading the config file: TOML → the validated, normalised config → the records of
`smartollama.config`; and the validated copy kept in the state directory, so that an
unchanged file is not validated (nor pydantic imported) again.

See `smartollama.config` for the records and the measured reason for the kept copy.
"""

from __future__ import annotations

import contextlib
import os

from smartollama.config import CACHE_FILE, Backend, Config
from smartollama.errors import ConfigError
from smartollama.hosts import DEFAULT_PORT, parse_host, redact, split_credentials
from smartollama.paths import config_file_name, state_dir_name

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


# -- loading ----------------------------------------------------------------------


def _shown(name: str) -> str:
    """A path as `str(Path(name))` shows it (the file named in messages)."""
    body = name[1:] if name.startswith("/") else name
    if body and all(part not in ("", ".") for part in body.split("/")):
        return name     # already in pathlib's form
    from pathlib import Path

    return str(Path(name))


def _ollama_host() -> str:
    return os.environ.get("OLLAMA_HOST") or f"127.0.0.1:{DEFAULT_PORT}"


def default_config() -> Config:
    """No config file: one backend at OLLAMA_HOST, auto-detected telemetry."""
    host = _ollama_host()
    try:
        url = parse_host(host)
    except ValueError as e:
        raise ConfigError(f"OLLAMA_HOST: {e}") from None
    return Config(backends=[Backend(id="ollama", host=url, auth=split_credentials(host)[1])],
                  source="<built-in defaults>")


def load_config(path: Path | str | None = None, *, state_dir: str | None = None) -> Config:
    """Load the config file; the built-in default when there is none.

    A file named explicitly (argument or SOLLAMA_CONFIG) must exist. A file
    validated before and unchanged since (see `_key`) is read back from the
    state directory (``state_dir``, else SOLLAMA_STATE_DIR's) without
    validating it again.
    """
    explicit = path is not None or bool(os.environ.get("SOLLAMA_CONFIG"))
    name = os.path.expanduser(os.fspath(path)) if path is not None else config_file_name()
    source = _shown(name)
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{source}: config file not found",
                              hint="create one with `sollama init`") from None
        return default_config()
    except OSError as e:
        raise ConfigError(f"{source}: cannot read config file: {e.strerror or e}") from None
    text = raw.decode("utf-8", errors="replace")
    key = _key(name, source, raw)
    kept = _read_kept(key, state_dir)
    if kept is not None:
        try:
            return Config.from_dict(_with_secrets(kept, text), source)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError):
            pass    # kept by another version of these classes: validate again
    normalised = _validate(text, source)
    _keep(key, normalised, state_dir)
    return Config.from_dict(normalised, source)


def parse_config(raw: bytes | str, source: str = "<string>") -> Config:
    """Validate a config file's contents (always: nothing kept)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return Config.from_dict(_validate(text, source), source)


def _validate(text: str, source: str) -> dict[str, Any]:
    """TOML text → the normalised config (JSON values); ConfigError naming the
    file and key on the first problem."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: invalid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None
    if not data.get("backends"):
        # A file that only tunes modes/routing still gets the OLLAMA_HOST backend.
        default_config()    # OLLAMA_HOST is valid
        data.setdefault("backends", [{"id": "ollama", "host": _ollama_host()}])
    from smartollama import config_schema

    try:
        return config_schema.validate(data, source)
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None


# -- the validated config, kept in the state directory --------------------------------


def _key(name: str, source: str, raw: bytes) -> dict[str, str]:
    """What a kept config must match: the file (its path, size, mtime and
    CRC-32: a stale hit needs an edit that keeps all three), OLLAMA_HOST (the
    backend of a file without any) and this sollama. zlib, not hashlib: hashlib's
    import costs more than the rest of this function."""
    import zlib

    try:
        mtime = str(os.stat(name).st_mtime_ns)
    except OSError:
        mtime = "-"
    return {"source": source, "file": f"{len(raw)}:{mtime}:{zlib.crc32(raw):08x}",
            "ollama_host": redact(_ollama_host()), "code": _code_stamp()}


def _code_stamp() -> str:
    """What the normalised form depends on besides the file: this version of
    sollama (and, for a checkout being edited, these two modules)."""
    from smartollama import __version__

    here = os.path.dirname(__file__)
    stamps = []
    for name in ("config.py", "config_schema.py"):
        try:
            stamps.append(str(os.stat(os.path.join(here, name)).st_mtime_ns))
        except OSError:
            stamps.append("-")
    return f"{__version__}:{':'.join(stamps)}"


def _cache_path(state_dir: str | None = None) -> str:
    return os.path.join(state_dir or state_dir_name(), CACHE_FILE)


def _read_kept(key: dict[str, str], state_dir: str | None = None) -> dict[str, Any] | None:
    """The normalised config kept for exactly this key, else None."""
    import json

    try:
        fd = os.open(_cache_path(state_dir), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            kept = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("key") != key:
        return None
    config = kept.get("config")
    return config if isinstance(config, dict) else None


def _keep(key: dict[str, str], normalised: dict[str, Any], state_dir: str | None = None) -> None:
    """Keep the normalised config for the next call; best effort (a read-only
    state directory only costs the next call a validation). Credentials (backends'
    headers, a URL's user:password) are not kept: a call reads them from the file
    (or OLLAMA_HOST) again."""
    import json

    backends = [_without_secrets(b) for b in normalised["backends"]]
    data = json.dumps({"key": key, "config": {**normalised, "backends": backends}},
                      ensure_ascii=False).encode("utf-8")
    from smartollama.state.files import unsafe_directory

    path = _cache_path(state_dir)
    tmp = os.path.join(os.path.dirname(path), f".{CACHE_FILE}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if unsafe_directory(os.path.dirname(path)):
            return      # the state store says so, once
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _without_secrets(backend: dict[str, Any]) -> dict[str, Any]:
    b: dict[str, Any] = {**backend, "telemetry": dict(backend["telemetry"])}
    for table, key in ((b, "headers"), (b, "auth"), (b["telemetry"], "auth")):
        if table.get(key):
            table[key] = _FROM_FILE
    return b


#: a kept backend's credentials (headers, a URL's user:password), left in the file
_FROM_FILE = "<in the config file>"


def _with_secrets(kept: dict[str, Any], text: str) -> dict[str, Any]:
    """A kept config with its backends' credentials read back from the file's
    text (unchanged since it was validated: the key holds its hash), or from
    OLLAMA_HOST for the backend of a file without any."""
    def marked(b: dict[str, Any]) -> bool:
        return _FROM_FILE in (b.get("headers"), b.get("auth"), b["telemetry"].get("auth"))

    if not any(marked(b) for b in kept["backends"]):
        return kept
    import tomllib

    listed = tomllib.loads(text).get("backends") or [{"host": _ollama_host()}]
    backends = []
    for i, b in enumerate(kept["backends"]):
        if marked(b):
            raw = listed[i]
            url = (raw.get("telemetry") or {}).get("url") or ""
            b = {**b, "headers": dict(raw.get("headers") or {}),
                 "auth": split_credentials(str(raw["host"]).strip())[1],
                 "telemetry": {**b["telemetry"], "auth": split_credentials(url)[1]}}
        backends.append(b)
    return {**kept, "backends": backends}
