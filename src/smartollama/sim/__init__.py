"""A simulated fleet of Ollama servers on loopback, for tests, `sollama demo` and replay.

Each host speaks the HTTP API of the Ollama version it reports (`/api/version`):
tags, ps, show, generate, chat, embed, status, and the OpenAI-compatible `/v1/*`;
NDJSON and server-sent-event streaming; the refusals Ollama makes, with its status
codes and texts. It keeps memory accounts the way Ollama's scheduler does (context
length by device memory, parallel slots, eviction, partial offload, out-of-memory),
lists cloud models without loading them, and serves its sensors on `/metrics` in
the words of a real exporter. Only the standard library is used, so it starts in
milliseconds.

    from smartollama.sim import Fleet
    with Fleet("demo", time_scale=0.001) as fleet:
        url = fleet.hosts["ollama-nvidia"].url
"""

from smartollama.sim.fleet import MODEL_TIERS, Fleet, dumps_toml
from smartollama.sim.fleets import BUILTIN_FLEETS, builtin_fleet
from smartollama.sim.host import RequestRecord, SimHost
from smartollama.sim.spec import (
    OLLAMA_VERSION,
    FleetSpec,
    HostSpec,
    ModelSpec,
    SpecError,
    load_fleet_spec,
)
from smartollama.sim.wire import SimError, parse_keep_alive

__all__ = [
    "BUILTIN_FLEETS",
    "MODEL_TIERS",
    "OLLAMA_VERSION",
    "Fleet",
    "FleetSpec",
    "HostSpec",
    "ModelSpec",
    "RequestRecord",
    "SimError",
    "SimHost",
    "SpecError",
    "builtin_fleet",
    "dumps_toml",
    "load_fleet_spec",
    "parse_keep_alive",
]
