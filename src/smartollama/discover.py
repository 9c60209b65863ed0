"""What `sollama init` can learn about a machine and its Ollama hosts.

Each backend's hardware comes from what the host reveals, in this order of
trust: an exporter named for it (`--exporter`), the host's `/api/ps` (a
loaded model with no VRAM means a CPU host; VRAM in use means a GPU), and,
for a host on this machine, this machine's accelerators (NVML, sysfs) in
order. Whatever is guessed says so in a comment beside the backend.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: the GPU-like kinds, in the order local hosts are matched to them
GPU_KINDS = ("nvidia", "amd", "igpu", "npu")
#: what a kind holds when nothing better is known, GB (a guess: init says so)
TYPICAL_GB = {"nvidia": 24, "amd": 16, "igpu": 8, "npu": 2}


@dataclass
class Accelerator:
    """One device of this machine."""

    kind: str                       # nvidia | amd | igpu | npu | cpu
    telemetry: dict[str, object]
    mem_gb: float | None = None
    label: str = ""                 # "NVIDIA GPU 0", "card1 (amdgpu)"


@dataclass
class Host:
    """One Ollama host as init found it."""

    url: str
    version: str | None = None      # None: did not answer
    error: str | None = None
    vram_share: float | None = None  # of the loaded models' bytes, the share in VRAM
    exporter: str | None = None
    exporter_kind: str | None = None

    @property
    def local(self) -> bool:
        return (urlsplit(self.url).hostname or "") in LOCAL_HOSTS

    @property
    def name(self) -> str:
        return urlsplit(self.url).hostname or "host"


@dataclass
class Backend:
    """A backend as init will write it, with the comments that say what was guessed."""

    id: str
    table: dict[str, object]
    notes: list[str] = field(default_factory=list)


def sysfs_root() -> str | None:
    """SOLLAMA_SYSFS_ROOT's tree (containers, tests); None: /sys, as the readers take it."""
    return os.environ.get("SOLLAMA_SYSFS_ROOT") or None


def local_accelerators() -> list[Accelerator]:
    """This machine's accelerators: NVIDIA (NVML), AMD and Intel GPUs (sysfs), an NPU; CPU last.

    The sysfs walk and the AMD memory are the telemetry readers' own (an APU's memory is
    its carve-out plus GTT, as `sollama status` shows it), not a second reading of them.
    """
    from smartollama.config import TelemetryConfig
    from smartollama.telemetry import amdgpu, intel
    from smartollama.telemetry._sysfs import driver_name, drm_cards, root_of

    found = _nvidia()
    root = sysfs_root()
    for card in drm_cards(root_of(root)):
        driver = driver_name(card / "device")
        if driver == amdgpu.DRIVER:
            cfg = TelemetryConfig(source="amdgpu", card=card.name, root=root)
            mem = amdgpu.read(cfg, {}, 0.0)[0].mem_total_gb
            found.append(Accelerator("amd", {"source": "amdgpu", "card": card.name},
                                     round(mem, 1) if isinstance(mem, float) else None,
                                     f"{card.name} (amdgpu)"))
        elif driver in ("i915", "xe"):
            found.append(Accelerator("igpu", {"source": "intel-gpu", "card": card.name}, None,
                                     f"{card.name} ({driver})"))
    npu = intel.find_npu(TelemetryConfig(source="intel-npu", root=root))
    if npu is not None:
        found.append(Accelerator("npu", {"source": "intel-npu", "card": npu.name}, None, npu.name))
    found.append(Accelerator("cpu", {"source": "cpu"}, None, "CPU"))
    return found


def _nvidia() -> list[Accelerator]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no library: simply no NVIDIA card
        return []
    out = []
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle).total / 1e9
            out.append(Accelerator("nvidia", {"source": "nvml", "index": i}, round(mem, 1),
                                   f"NVIDIA GPU {i}"))
    except Exception:  # noqa: BLE001 - a GPU that fails to answer is left out, not fatal
        pass
    with contextlib.suppress(Exception):
        pynvml.nvmlShutdown()
    return out


def exporter_kind(page: str) -> str | None:
    """The hardware an exporter's /metrics page describes, by its metric names."""
    if re.search(r"^(DCGM_FI_|nvidia_smi_|nvidia_gpu_)", page, re.M):
        return "nvidia"
    # AMD's device-metrics-exporter; node_exporter names the driver in hwmon's chip_name
    # and the vendor in node_drm_card_info
    if re.search(r"^(gpu_edge_temperature|gpu_junction_temperature|amd_|gpu_total_vram)",
                 page, re.M) or re.search(r'(chip_name|driver)="amdgpu"|^node_drm_card_info'
                                          r'\{[^}]*vendor="amd"', page, re.M):
        return "amd"
    if re.search(r'(chip_name|driver)="(i915|xe)"', page):
        return "igpu"
    return None


def plan(hosts: list[Host], accelerators: list[Accelerator]) -> list[Backend]:
    """One backend per host, with hardware, telemetry and size from what was found."""
    free = [a for a in accelerators if a.kind != "cpu"]
    cpu = next(a for a in accelerators if a.kind == "cpu")
    out: list[Backend] = []
    taken: set[str] = set()
    for h in hosts:
        b = _backend(h, free, cpu)
        base = b.id
        n = 2
        while b.id in taken:
            b.id = f"{base}-{n}"
            n += 1
        taken.add(b.id)
        b.table = {"id": b.id, **b.table}
        out.append(b)
    return out


def _backend(h: Host, free: list[Accelerator], cpu: Accelerator) -> Backend:
    if h.version is None:
        return Backend(_ident(h, "auto"), {"host": h.url, "hardware": "auto",
                                          "telemetry": {"source": "none"}},
                       [f"unreachable when `sollama init` ran ({h.error}); hardware unknown"])
    if h.exporter and h.exporter_kind:
        return _sized(h, h.exporter_kind, {"source": "prometheus", "url": h.exporter},
                      None, [f"hardware from the exporter {h.exporter}"])
    if h.vram_share == 0:
        acc = cpu if h.local else None
        return _sized(h, "cpu", acc.telemetry if acc else {"source": "none"}, None,
                      ["hardware: cpu (its /api/ps shows models loaded with no VRAM)"])
    if h.local:
        acc = free.pop(0) if free else None
        if acc is not None and h.vram_share is not None:
            why = (f"hardware: its /api/ps shows VRAM in use; matched to this machine's "
                   f"{acc.label}, the next accelerator in order (check)")
        elif acc is not None:
            why = (f"hardware guessed: nothing was loaded to tell; matched to this machine's "
                   f"{acc.label}, the next accelerator in order (check)")
        elif h.vram_share is not None:
            why = "hardware unknown: its /api/ps shows VRAM in use, but no accelerator was found"
            return _sized(h, "auto", {"source": "none"}, None, [why])
        else:
            return _sized(h, "cpu", cpu.telemetry, None,
                          ["hardware guessed: cpu (no accelerator left on this machine)"])
        return _sized(h, acc.kind, acc.telemetry, acc.mem_gb, [why])
    kind_note = ("a GPU (its /api/ps shows VRAM in use)" if h.vram_share
                 else "nothing was loaded to tell")
    return _sized(h, "auto", {"source": "none"}, None,
                  [f"hardware unknown: {kind_note}; set hardware and max_model_size_gb, and "
                   "add telemetry from an exporter (sollama init --exporter)"])


def _sized(h: Host, kind: str, telemetry: dict[str, object], mem_gb: float | None,
           notes: list[str]) -> Backend:
    table: dict[str, object] = {"host": h.url, "hardware": kind, "telemetry": telemetry}
    if mem_gb:
        table["max_model_size_gb"] = mem_gb
    elif kind in TYPICAL_GB:
        table["max_model_size_gb"] = TYPICAL_GB[kind]
        notes.append(f"max_model_size_gb guessed ({TYPICAL_GB[kind]} GB is typical for "
                     f"{kind}): set what fits in its memory")
    return Backend(_ident(h, kind), table, notes)


def _ident(h: Host, kind: str) -> str:
    """`ollama-nvidia` on this machine, `ollama-gpu-box-nvidia` elsewhere."""
    if h.local:
        return f"ollama-{kind}" if kind != "auto" else f"ollama-local-{urlsplit(h.url).port}"
    return f"ollama-{_slug(h.name)}" + (f"-{kind}" if kind != "auto" else "")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "host"


def render(backends: list[Backend], head: str) -> str:
    """The config text: the head, then each backend with its notes as comments."""
    import tomli_w

    parts = [head, tomli_w.dumps({"default_mode": "balanced",
                                  "routing": {"model_mode_conflict": "prefer_model"}})]
    for b in backends:
        parts.append("\n" + "".join(f"# {n}\n" for n in b.notes))
        parts.append(tomli_w.dumps({"backends": [b.table]}))
    return "".join(parts)
