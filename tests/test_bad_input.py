"""Every bad input is one line naming the culprit, with DESIGN.md's exit code, never a
traceback; a stdout that breaks (a full disk, a closed pipe) leaves the decision
recorded and nothing in flight. The installed `sollama`, the simulator and
misbehaving loopback hosts (`badhost`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aftermath import in_flight, last_verdict, one_error_line
from badhost import MODEL, BadHost, backend, tags_of
from conftest import SOLLAMA, run_sollama
from smartollama.sim.fleet import dumps_toml


def sollama_bytes(*args: str, stdin: bytes = b"", **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SOLLAMA, *args], input=stdin, capture_output=True, timeout=60, **kw)


@pytest.fixture
def no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file at all: the one backend at OLLAMA_HOST."""
    monkeypatch.delenv("SOLLAMA_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


# -- the prompt -----------------------------------------------------------------------------


def test_a_latin1_prompt_on_stdin_is_one_line() -> None:
    r = sollama_bytes("run", MODEL, stdin="café au lait".encode("latin-1"))
    assert r.returncode == 1
    assert "standard input is not UTF-8 text (byte 0xe9 at offset 3)" in one_error_line(r.stderr)


def test_a_prompt_argument_that_is_not_utf8_is_one_line() -> None:
    r = sollama_bytes("run", MODEL, os.fsdecode(b"caf\xe9"))
    assert r.returncode == 1
    assert "the prompt is not UTF-8 text" in one_error_line(r.stderr)


# -- hosts ----------------------------------------------------------------------------------


def test_ollama_host_as_a_bare_ipv6_address(no_config_file: None) -> None:
    shown = run_sollama("config", "show", "--json", env={"OLLAMA_HOST": "::1"})
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["backends"][0]["host"] == "http://[::1]:11434"   # as Ollama
    r = run_sollama("route", MODEL, env={"OLLAMA_HOST": "[::1]:1"})   # nothing on port 1
    assert r.returncode == 4
    assert "http://[::1]:1: cannot connect" in one_error_line(r.stderr)


def test_a_very_long_host_name_is_one_line(no_config_file: None) -> None:
    r = run_sollama("route", MODEL, env={"OLLAMA_HOST": "a" * 300})
    assert r.returncode == 1
    assert "OLLAMA_HOST: host name too long (300 characters" in one_error_line(r.stderr)


def test_a_very_long_host_name_in_the_config_names_the_key() -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml(
        {"backends": [backend(f"http://{'b' * 70}.example:11434")]}))
    r = run_sollama("route", MODEL)
    assert r.returncode == 1
    assert "backends[0] (bad).host: host name too long" in one_error_line(r.stderr)


@pytest.mark.parametrize(("host", "why"), [
    ("h..example", "invalid host name 'h..example'"),
    ("[::1", "invalid IPv6 address (no closing ']')"),
    ("a b", "invalid host name 'a b'"),
    ("http://h:99999", "invalid port '99999'"),
])
def test_a_malformed_host_is_one_line(no_config_file: None, host: str, why: str) -> None:
    r = run_sollama("route", MODEL, env={"OLLAMA_HOST": host})
    assert r.returncode == 1
    assert f"OLLAMA_HOST: {why}" in one_error_line(r.stderr)


def test_a_deeply_nested_config_is_one_line() -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    r = run_sollama("route", MODEL)
    assert r.returncode == 1
    assert "config.toml: invalid TOML: arrays or tables nested too deeply" in one_error_line(r.stderr)
    Path(os.environ["SOLLAMA_CONFIG"]).write_text("default_mode = " + "[" * 300 + "]" * 300)
    r = run_sollama("route", MODEL)
    assert r.returncode == 1
    line = one_error_line(r.stderr)
    assert "default_mode: Input should be a valid string" in line and len(line) < 300


def test_a_host_whose_model_list_is_not_a_list_is_one_line() -> None:
    with BadHost("ok", tags={"models": "notalist"}) as host:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml({"backends": [backend(host.url)]}))
        for cmd in (("route", MODEL), ("run", MODEL, "hi"), ("list",)):
            r = run_sollama(*cmd)
            assert r.returncode == 4, r.stderr        # the one host cannot be used
            assert '/api/tags: "models" is not a list' in one_error_line(r.stderr)


def test_a_size_that_is_not_a_number_is_unknown_and_the_model_still_runs() -> None:
    tags = {"models": [{**tags_of()["models"][0], "size": "huge"}]}
    with BadHost("ok", tags=tags) as host:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml({"backends": [backend(host.url)]}))
        r = run_sollama("run", MODEL, "--json", "hi")
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr and r.stdout == "Hello from the bad host\n\n"
        # its memory comes from the name (8B, Q4_0) instead of the size
        assert json.loads(r.stderr.strip().splitlines()[-1])["estimate"]["memory_gb"] > 4


# -- standard output ------------------------------------------------------------------------


def test_stdout_on_a_full_disk_is_one_line_and_the_run_is_recorded(single_fleet: object) -> None:
    with open("/dev/full", "w") as full:
        r = subprocess.run([SOLLAMA, "run", MODEL, "hi"], stdout=full, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True, timeout=60)
    assert r.returncode == 1
    assert "cannot write to standard output: No space left on device" in one_error_line(r.stderr)
    verdict = last_verdict()
    assert verdict["outcome"]["status"] == "interrupted"
    assert "No space left" in verdict["outcome"]["error"]
    assert in_flight() == {}


def test_route_on_a_full_disk_is_one_line(single_fleet: object) -> None:
    with open("/dev/full", "w") as full:
        r = subprocess.run([SOLLAMA, "route", MODEL], stdout=full, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True, timeout=60)
    assert r.returncode == 1
    assert "No space left on device" in one_error_line(r.stderr)


def test_a_closed_stdout_is_one_line() -> None:
    r = subprocess.run([SOLLAMA, "run", MODEL, "hi"], stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, text=True, timeout=60,
                       preexec_fn=lambda: os.close(1))
    assert r.returncode == 1
    assert "standard output is closed" in one_error_line(r.stderr)


@pytest.fixture
def gated() -> Iterator[BadHost]:
    """A host that sends the answer's first words, then the rest once its gate opens."""
    with BadHost("gated") as host:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml({"backends": [backend(host.url)]}))
        yield host


def test_a_reader_that_stops_early_is_no_error_and_the_run_is_recorded(gated: BadHost) -> None:
    """`sollama run ... | head -c 20`: the pipe closes while the answer streams."""
    p = subprocess.Popen([SOLLAMA, "run", MODEL, "hi"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.read(20) == b"Hello from the bad h"
    p.stdout.close()          # what `head -c 20` does once it has its 20 bytes
    gated.gate.set()          # the rest of the answer now meets a closed pipe
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 0, err
    assert "error" not in err and "Traceback" not in err and "Exception" not in err, err
    verdict = last_verdict()
    assert verdict["outcome"]["status"] == "interrupted"
    assert verdict["outcome"]["error"] == "standard output closed early by its reader"
    assert in_flight() == {}
