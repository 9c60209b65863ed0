"""Small rules commands share: the mode in force, colour, the terminal.

Nothing here caches the config or the state: a command builds an
`Environment` (`smartollama.env`) and passes it on. The paths are in
`smartollama.paths`.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.state import State, StateStore


def stderr_is_tty() -> bool:
    import sys

    return sys.stderr.isatty()


def use_color() -> bool:
    return "NO_COLOR" not in os.environ


def current_mode(config: Config, store: StateStore, explicit: str | None = None, *,
                 state: State | None = None) -> tuple[str, str]:
    """(mode, where it came from): --mode, SOLLAMA_MODE, the state cache, default_mode.

    An unknown explicit mode is a usage error naming the closest and every mode; a
    mode in the state cache that the config no longer has is skipped. ``state``:
    the state cache as the caller has already read it.
    """
    for source, value in (("--mode", explicit), ("SOLLAMA_MODE", os.environ.get("SOLLAMA_MODE")),
                          ("state", (state if state is not None else store.view()).mode)):
        if not value:
            continue
        if value in config.modes:
            return value, {"state": "set with `sollama mode`"}.get(source, source)
        if source == "state":
            continue
        raise config.unknown_mode(value, source)
    return config.default_mode, "default_mode"
