"""Built-in fleets: the machines of the design notes, and a single-host one.

- `demo`: a workstation with an NPU, an Intel iGPU, a 24 GB NVIDIA card (with
  64 GB of system RAM it can offload to; llama3:70b loaded) and the CPU.
- `tower`: a 16 GB AMD card next to a 12 GB NVIDIA card, both slow to load
  (~0.35 GB/s, a 4.7 GB model takes ~13.5 s), llama3.2:3b loaded on NVIDIA.
- `single`: one 24 GB NVIDIA host called `ollama`.
- `laptop`: a laptop with an NPU, an Intel iGPU and an 8 GB NVIDIA laptop card
  (16 GB of RAM to offload to) whose fan is quiet at rest and loud under load.
- `today`: what a current Ollama install holds: a 48 GiB card at Ollama's automatic
  context (262144 tokens, capped at each model's maximum) with a cloud model, an
  embedding model, and models with and without tools, thinking, vision and insert;
  a second 16 GiB card at 4096 tokens with two parallel slots and no cloud access.

The first three keep the context at 4096 tokens (`context_length`, as
OLLAMA_CONTEXT_LENGTH=4096 would), so they load models the way the router plans
for them; `today` leaves Ollama's default in place.

Thermals (sim/model.py): each host's readings are its state at rest; under
load it draws `full_w` (default: its power limit) and heats towards
`full_temp_c` with the time constant `thermal_tau_s`, its fan following
`fan_curve`. The defaults per hardware are in sim/model.py; the fleets below
set what their machines differ in.

Readings: the NPU has no fan (it reads 0) and, like the CPU host, no exporter
(its config gets static telemetry); the iGPU and the Radeon report through
node_exporter's hwmon collector (i915, amdgpu), as on a desktop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smartollama.sim.spec import FleetSpec

# OLLAMA_CONTEXT_LENGTH=4096 on the older fleets: what the router plans for today.
_CTX = 4096


def _demo() -> dict[str, Any]:
    return {
        "name": "demo",
        "hosts": [
            {
                "name": "ollama-npu",
                "hardware": "npu",
                "context_length": _CTX,
                "vram_gb": 2,
                "load_gb_per_s": 1.0,
                "tokens_per_s": 14,
                "models": ["qwen2.5:0.5b", "qwen2.5:1.5b", "tinyllama:1b"],
                "readings": {"fan_pct": 0, "temp_c": 42, "power_w": 3, "power_limit_w": 8},
                "metrics_style": "none",
            },
            {
                "name": "ollama-igpu",
                "hardware": "igpu",
                "context_length": _CTX,
                "vram_gb": 8,
                "load_gb_per_s": 1.5,
                "tokens_per_s": 16,
                "models": ["qwen2.5:0.5b", "qwen2.5:1.5b", "llama3:8b", "mistral:7b"],
                "readings": {"fan_pct": 35, "temp_c": 62, "power_w": 18, "power_limit_w": 28,
                             "energy_j": 125000},
                # a laptop-style curve: the fan barely moves until the chip passes 70 °C, so a
                # few answers keep it quiet (the walkthrough's quiet-mode steps rely on that)
                "fan_curve": [[62, 35], [70, 38], [78, 70]],
                "metrics_style": "node",
            },
            {
                "name": "ollama-nvidia",
                "hardware": "nvidia",
                "context_length": _CTX,
                "vram_gb": 24,
                "ram_gb": 64,
                "load_gb_per_s": 2.0,
                # a 4090 decodes a 7B Q4 model at ~100 tokens/s; the sim applies this to
                # every model, so the partly offloaded 70B comes out near 16 tokens/s
                "tokens_per_s": 80,
                "models": [
                    "llama3:70b", "llama3:8b", "mistral:7b", "mixtral:8x7b",
                    "qwen2.5:0.5b", "qwen2.5:1.5b", "qwen2.5-coder:7b", "llama3.2:3b",
                ],
                "loaded": ["llama3:70b"],
                "readings": {"fan_pct": 65, "temp_c": 71, "power_w": 180, "power_limit_w": 350,
                             "util_pct": 12, "energy_j": 3_600_000},
                "metrics_style": "nvidia_gpu_exporter",
                "device_name": "NVIDIA GeForce RTX 4090",
            },
            {
                "name": "ollama-cpu",
                "hardware": "cpu",
                "context_length": _CTX,
                "ram_gb": 32,
                "load_gb_per_s": 1.0,
                "tokens_per_s": 8,
                "models": ["tinyllama:1b", "qwen2.5:0.5b", "llama3.2:3b"],
                "readings": {"fan_pct": 30, "temp_c": 55},
                "metrics_style": "none",
            },
        ],
    }


_TOWER_MODELS = [
    "qwen2.5:32b", "qwen2.5-coder:32b", "qwen2.5-coder:7b", "qwen2.5:7b",
    "mistral:7b", "deepseek-coder:6.7b", "llama3.2:3b", "tinyllama:1b",
]


def _tower() -> dict[str, Any]:
    return {
        "name": "tower",
        "hosts": [
            {
                "name": "ollama-amd",
                "hardware": "amd",
                "context_length": _CTX,
                "vram_gb": 16,
                "load_gb_per_s": 0.35,
                "tokens_per_s": 55,
                "models": list(_TOWER_MODELS),
                "readings": {"fan_pct": 38, "temp_c": 54, "power_w": 45, "power_limit_w": 304,
                             "energy_j": 910000},
                "metrics_style": "node",
                "device_name": "AMD Radeon RX 9070 XT",
                "full_w": 260, "full_temp_c": 78, "thermal_tau_s": 120,
                "fan_curve": [[54, 38], [65, 50], [78, 80]],
            },
            {
                "name": "ollama-nvidia",
                "hardware": "nvidia",
                "context_length": _CTX,
                "vram_gb": 12,
                "ram_gb": 32,
                "load_gb_per_s": 0.35,
                "tokens_per_s": 42,
                "models": list(_TOWER_MODELS),
                "loaded": ["llama3.2:3b"],
                "readings": {"fan_pct": 55, "temp_c": 66, "power_w": 150, "power_limit_w": 170,
                             "util_pct": 8, "energy_j": 2_400_000},
                "metrics_style": "nvidia_gpu_exporter",
                "device_name": "NVIDIA GeForce RTX 3060",
                "full_w": 170, "full_temp_c": 76, "thermal_tau_s": 90,
                "fan_curve": [[66, 55], [76, 85]],
            },
        ],
    }


def _laptop() -> dict[str, Any]:
    return {
        "name": "laptop",
        "hosts": [
            {
                "name": "laptop-npu",
                "hardware": "npu",
                "context_length": _CTX,
                "vram_gb": 2,
                "load_gb_per_s": 1.0,
                "tokens_per_s": 14,
                "models": ["qwen2.5:0.5b", "qwen2.5:1.5b", "tinyllama:1b", "llama3.2:1b"],
                "readings": {"fan_pct": 0, "temp_c": 40, "power_w": 1, "power_limit_w": 8},
                "metrics_style": "none",
            },
            {
                "name": "laptop-igpu",
                "hardware": "igpu",
                "context_length": _CTX,
                "vram_gb": 8,
                "load_gb_per_s": 1.5,
                "tokens_per_s": 16,
                "models": ["qwen2.5:0.5b", "qwen2.5:1.5b", "llama3.2:3b", "qwen2.5-coder:7b",
                           "mistral:7b", "qwen2.5:14b"],
                "readings": {"fan_pct": 22, "temp_c": 48, "power_w": 4, "power_limit_w": 28,
                             "energy_j": 50000},
                "metrics_style": "node",
                "full_temp_c": 72, "thermal_tau_s": 40,
                "fan_curve": [[48, 22], [60, 30], [72, 45]],
            },
            {
                "name": "laptop-nvidia",
                "hardware": "nvidia",
                "context_length": _CTX,
                "vram_gb": 8,
                "ram_gb": 16,
                "load_gb_per_s": 2.0,
                "tokens_per_s": 55,
                "models": ["llama3.2:3b", "qwen2.5-coder:7b", "mistral:7b", "llama3:8b",
                           "qwen2.5:14b"],
                "readings": {"fan_pct": 30, "temp_c": 45, "power_w": 10, "power_limit_w": 115,
                             "util_pct": 0, "energy_j": 100000},
                "metrics_style": "nvidia_gpu_exporter",
                "device_name": "NVIDIA GeForce RTX 4070 Laptop GPU",
                "full_w": 100, "full_temp_c": 84, "thermal_tau_s": 45,
                "fan_curve": [[45, 30], [55, 42], [70, 70], [84, 100]],
            },
        ],
    }


def _single() -> dict[str, Any]:
    return {
        "name": "single",
        "hosts": [
            {
                "name": "ollama",
                "hardware": "nvidia",
                "context_length": _CTX,
                "vram_gb": 24,
                "ram_gb": 32,
                "load_gb_per_s": 2.0,
                "tokens_per_s": 40,
                "models": ["llama3:8b", "mistral:7b", "qwen2.5:0.5b", "qwen2.5-coder:7b",
                           "qwen3:0.6b"],
                "readings": {"fan_pct": 40, "temp_c": 60, "power_w": 120, "power_limit_w": 350,
                             "util_pct": 5, "energy_j": 1_000_000},
                "metrics_style": "nvidia_gpu_exporter",
            },
        ],
    }


def _today() -> dict[str, Any]:
    return {
        "name": "today",
        "hosts": [
            {
                "name": "ollama-big",
                "hardware": "nvidia",
                "vram_gb": 51.5,  # 48 GiB, an RTX 6000 Ada: Ollama's top context tier
                "ram_gb": 64,
                "load_gb_per_s": 2.5,
                "tokens_per_s": 70,
                "models": [
                    "gpt-oss:120b-cloud", "nomic-embed-text", "llama3.1:8b", "llama3:8b",
                    "qwen3:8b", "gemma3:4b", "qwen2.5-coder:7b", "deepseek-r1:8b",
                ],
                "readings": {"fan_pct": 45, "temp_c": 63, "power_w": 95, "power_limit_w": 300,
                             "util_pct": 3, "energy_j": 2_000_000},
                "metrics_style": "nvidia_gpu_exporter",
                "device_name": "NVIDIA RTX 6000 Ada Generation",
            },
            {
                "name": "ollama-small",
                "hardware": "amd",
                "vram_gb": 17.2,  # 16 GiB
                "load_gb_per_s": 1.0,
                "tokens_per_s": 50,
                "num_parallel": 2,
                "context_length": 4096,
                "cloud": "disabled",
                "models": ["all-minilm", "llama3.2:3b", "qwen3:0.6b", "gpt-oss:20b-cloud"],
                "readings": {"fan_pct": 30, "temp_c": 50, "power_w": 25, "power_limit_w": 220,
                             "energy_j": 500000},
                "metrics_style": "node",
                "device_name": "AMD Radeon RX 7800 XT",
            },
        ],
    }


BUILTIN_FLEETS: dict[str, Callable[[], dict[str, Any]]] = {
    "demo": _demo,
    "tower": _tower,
    "laptop": _laptop,
    "single": _single,
    "today": _today,
}


def builtin_fleet(name: str, **changes: Any) -> FleetSpec:
    """A fresh FleetSpec for a built-in fleet; `changes` set top-level fields (time_scale=...)."""
    try:
        data = BUILTIN_FLEETS[name]()
    except KeyError:
        raise KeyError(f"no built-in fleet {name!r}; known: {', '.join(BUILTIN_FLEETS)}") from None
    data.update(changes)
    return FleetSpec.from_dict(data)
