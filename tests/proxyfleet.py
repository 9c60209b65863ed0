"""A real `sollama proxy` in front of a real simulated fleet, for the proxy tests.

`ProxyProcess` runs the installed `sollama proxy` as a subprocess on an
ephemeral loopback port (read back from the line it prints when it listens),
with its own config and state directory, so that a test can point the
official clients at it and run `sollama why` against the same state.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import SOLLAMA, wait_on

#: how long a proxy may take to gather the fleet and listen
START_S = 30.0


def three_hosts(time_scale: float = 0.001) -> Any:
    """The demo's NPU, iGPU and NVIDIA card, the card also holding an embedding model."""
    from smartollama.sim.fleets import BUILTIN_FLEETS
    from smartollama.sim.spec import FleetSpec

    data = BUILTIN_FLEETS["demo"]()
    data["name"] = "three"
    data["hosts"] = data["hosts"][:3]
    data["hosts"][2]["models"].append("nomic-embed-text:latest")
    data["time_scale"] = time_scale
    return FleetSpec.from_dict(data)


class ProxyProcess:
    """`sollama proxy ARGS` with SOLLAMA_CONFIG and SOLLAMA_STATE_DIR under ``home``."""

    def __init__(self, home: Path, config_toml: str, *args: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(config_toml)
        self.env = {**os.environ, "SOLLAMA_CONFIG": str(home / "config.toml"),
                    "SOLLAMA_STATE_DIR": str(home / "state"), "NO_COLOR": "1"}
        self.env.pop("SOLLAMA_MODE", None)
        self.log = home / "proxy.log"
        self.args = args or ("--listen", "127.0.0.1:0")
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> ProxyProcess:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([SOLLAMA, "proxy", *self.args], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            m = re.search(r"listening on (http://\S+)", self.log.read_text())
            if m:
                self.url = m.group(1)
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"the proxy exited {self.proc.returncode}: "
                                     f"{self.log.read_text()}")
            wait_on(self.proc, 0.02)
        raise AssertionError(f"the proxy did not listen within {START_S} s: {self.log.read_text()}")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise

    def sollama(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Another `sollama` command against the proxy's config and state."""
        return subprocess.run([SOLLAMA, *args], env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
