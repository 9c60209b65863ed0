"""What a call imports: the routing path stays free of the heavy libraries.

A warm `sollama route` (state cache fresh, config unchanged since it was
validated) and the routing part of `sollama run` import neither pydantic (the
config's and the verdict's validator), nor httpx, nor rich, nor click (the two
commands parse their own arguments, `commands.routed`), nor the stdlib's
dataclasses with the inspect it imports (records, `smartollama.record`). A warm `sollama
run` speaks to an `http://` host with the package's own client (`http1`):
nothing TLS-related (ssl, certifi), no httpx, and no telemetry library (the
cache answered the reading). Each check runs in a fresh interpreter, as a
user's call does; what it costs in time is the benchmark's business
(benchmarks/speed.py), not a test's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_sollama

HEAVY = ("pydantic", "httpx", "httpcore", "rich", "click", "pynvml", "psutil",
         "prometheus_client", "ssl", "certifi", "http.client", "concurrent.futures",
         "starlette", "uvicorn", "aiohttp", "uvloop",     # these four: the proxy's
         "_hashlib",     # OpenSSL's digests (hashlib): the prompt's hash is CPython's own
         "dataclasses", "inspect")   # records collect their own fields (`smartollama.record`)


#: what a warm call (nothing to refresh, no terminal) does without, on top of HEAVY:
#: `typing` (~4 ms on a 2-core machine; the modules name its types for type checkers
#: only, under `TYPE_CHECKING = False`), threading and importlib (~1 ms: for the
#: probes, the parallel refresh and the spinner), and socket (~3 ms: `http1` speaks
#: through `_socket`, its C core, to an http:// host)
WARM_ONLY = ("typing", "threading", "importlib", "socket")


def imported(*args: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The modules of ``heavy`` that `sollama ARGS` imports (in a fresh interpreter)."""
    code = ("import sys\nfrom smartollama.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    line = next((x for x in r.stdout.splitlines() if x.startswith("HEAVY=")), None)
    assert line is not None, r.stdout + r.stderr
    return [m for m in line.removeprefix("HEAVY=").split(",") if m]


@pytest.fixture
def warm_demo(tmp_path: Path) -> Iterator[object]:
    """The demo fleet, with TTLs long enough that a second call reads only caches."""
    from smartollama.sim import Fleet, builtin_fleet

    with Fleet(builtin_fleet("demo", time_scale=0.001)) as fleet:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml(
            cache={"ps_ttl_s": 3600, "telemetry_ttl_s": 3600, "tags_ttl_s": 3600}))
        for model in ("llama3:8b", "llama3:70b"):   # validates the config, fills the caches
            first = run_sollama("route", model)
            assert first.returncode == 0, first.stderr
        yield fleet


def test_warm_route_imports_nothing_heavy(warm_demo: object) -> None:
    assert imported("route", "llama3:8b", heavy=HEAVY + WARM_ONLY) == []
    assert imported("route", "llama3:70b", "--mode", "quiet", "--json",
                    heavy=HEAVY + WARM_ONLY) == []


def test_routing_part_of_run_imports_nothing_heavy(warm_demo: object) -> None:
    # a refusal is decided and recorded, and nothing runs: no HTTP client either
    args = ("llama3:70b", "--mode", "quiet", "--policy", "prefer_mode", "--urgency", "background")
    assert run_sollama("route", *args).returncode == 3
    assert imported("run", *args, "hello") == []


def test_a_warm_run_on_an_http_host_imports_no_tls_and_no_httpx(warm_demo: object) -> None:
    # the first run loads the model (the host's memory changed: its cached reading
    # is dropped); the second reads the telemetry again, before and after
    for _ in range(2):
        assert run_sollama("run", "llama3:8b", "hello").returncode == 0
    assert imported("run", "llama3:8b", "hello again", heavy=HEAVY + WARM_ONLY) == []
    # and the route right after it reads only caches, as any warm route
    assert imported("route", "llama3:8b", heavy=HEAVY + WARM_ONLY) == []


def test_a_run_whose_caches_expired_still_imports_no_tls(warm_demo: object) -> None:
    path = Path(os.environ["SOLLAMA_CONFIG"])
    path.write_text(warm_demo.config_toml(  # type: ignore[attr-defined]
        cache={"ps_ttl_s": 0, "telemetry_ttl_s": 0, "tags_ttl_s": 0}))
    assert run_sollama("route", "llama3:8b").returncode == 0    # validates the new config
    # the hosts are asked again and the node_exporter page behind the igpu is
    # scraped and read: still nothing TLS-related, no httpx, no prometheus_client
    assert imported("run", "llama3:8b", "hello") == []


def test_a_changed_config_is_validated_again(warm_demo: object) -> None:
    path = Path(os.environ["SOLLAMA_CONFIG"])
    path.write_text(path.read_text() + "\n[history]\nsize = 50\n")
    assert "pydantic" in imported("route", "llama3:8b")
    assert imported("route", "llama3:8b") == []
