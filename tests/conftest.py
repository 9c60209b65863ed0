"""Shared fixtures: isolation from the real home, the installed `sollama`, simulated fleets."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# A suite started in the background of a non-interactive shell (`cmd &`) inherits SIGINT
# ignored, and so would every process it starts: the Ctrl-C tests need it delivered. A
# Python handler here becomes the default one in each child (exec resets handlers).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: the console script installed beside this interpreter (what users run)
SOLLAMA = str(Path(sys.executable).parent / "sollama")


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real config, state or Ollama."""
    monkeypatch.setenv("SOLLAMA_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("SOLLAMA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NO_COLOR", "1")
    for var in ("SOLLAMA_MODE", "OLLAMA_HOST", "SOLLAMA_DEBUG", "SOLLAMA_OLLAMA_BIN"):
        monkeypatch.delenv(var, raising=False)


def run_sollama(*args: str, input: str | None = None, env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed `sollama` as a subprocess (stdin a pipe, never a terminal)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([SOLLAMA, *args], input=input if input is not None else "",
                          capture_output=True, text=True, env=full_env, timeout=timeout)


@pytest.fixture
def sollama() -> object:
    return run_sollama


def start_fleet(name: str, tmp_path: Path, **changes: object) -> Iterator[object]:
    from smartollama.sim import Fleet, builtin_fleet

    changes.setdefault("time_scale", 0.001)
    spec = builtin_fleet(name, **changes)
    with Fleet(spec) as fleet:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml())
        yield fleet


@pytest.fixture
def demo_fleet(tmp_path: Path) -> Iterator[object]:
    """The design notes' machine (npu, igpu, loud nvidia with llama3:70b loaded, cpu)."""
    yield from start_fleet("demo", tmp_path)


@pytest.fixture
def single_fleet(tmp_path: Path) -> Iterator[object]:
    yield from start_fleet("single", tmp_path)


@pytest.fixture
def tower_fleet(tmp_path: Path) -> Iterator[object]:
    yield from start_fleet("tower", tmp_path)


@pytest.fixture(scope="module")
def today_sim() -> Iterator[object]:
    """The `today` fleet (cloud, embedding, tools, thinking), never sleeping, shared by a
    module's tests; no sollama config is written for it."""
    from smartollama.sim import Fleet, builtin_fleet

    with Fleet(builtin_fleet("today", time_scale=0.0)) as fleet:
        yield fleet


def wait_on(proc: subprocess.Popen[Any], seconds: float) -> None:
    """The pace of a bounded poll: wait up to ``seconds`` for ``proc`` to end, so that
    a process that ends (a failure, as a rule) is seen at once."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=seconds)
