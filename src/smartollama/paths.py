"""Where sollama's files are: the config file and the state directory.

Each has one override (SOLLAMA_CONFIG, SOLLAMA_STATE_DIR), else the user's
platformdirs location. Kept free of heavy imports: even pathlib (with
urllib.parse and ipaddress, ~3.5 ms) is left out of a routed call, so the
``*_name`` functions return strings.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from pathlib import Path


def config_file_name() -> str:
    """The config file: SOLLAMA_CONFIG, else `config.toml` in the user config dir."""
    env = os.environ.get("SOLLAMA_CONFIG")
    if env:
        return os.path.expanduser(env)
    import platformdirs

    return os.path.join(platformdirs.user_config_dir("sollama"), "config.toml")


def config_path() -> Path:
    """`config_file_name()` as a Path."""
    from pathlib import Path

    return Path(config_file_name())


def state_dir_name() -> str:
    """The state directory: SOLLAMA_STATE_DIR, else the user state dir."""
    env = os.environ.get("SOLLAMA_STATE_DIR")
    if env:
        return os.path.expanduser(env)
    import platformdirs

    return platformdirs.user_state_dir("sollama")


def state_dir() -> Path:
    """`state_dir_name()` as a Path."""
    from pathlib import Path

    return Path(state_dir_name())
