"""`sollama init`: find local Ollama hosts and accelerators, write a config."""

from __future__ import annotations

import click

#: ports people commonly give their Ollama servers, one per accelerator
CANDIDATE_PORTS = (11434, 11435, 11436, 11437, 11438)


def detect_hosts(urls: list[str]) -> list[tuple[str, str]]:
    """(host URL, version) of each Ollama answering at these URLs."""
    from smartollama.errors import SollamaError
    from smartollama.ollama import OllamaClient

    found = []
    for url in urls:
        try:
            with OllamaClient(url, connect_timeout=0.3, read_timeout=1.0) as c:
                found.append((url, c.version()))
        except SollamaError:
            continue
    return found


def detect_hardware() -> list[str]:
    """Accelerators this machine shows: nvidia (NVML), amd (amdgpu), igpu, npu; cpu always."""
    import glob
    import os

    kinds: list[str] = []
    try:
        import pynvml

        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() > 0:
            kinds.append("nvidia")
        pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver, no library: simply no NVIDIA card
        pass
    for card in sorted(glob.glob("/sys/class/drm/card[0-9]*/device/driver")):
        driver = os.path.basename(os.path.realpath(card))
        if driver == "amdgpu" and "amd" not in kinds:
            kinds.append("amd")
        if driver in ("i915", "xe") and "igpu" not in kinds:
            kinds.append("igpu")
    if glob.glob("/sys/class/accel/accel*/device/npu_busy_time_us"):
        kinds.append("npu")
    kinds.append("cpu")
    return kinds


def render_config(hosts: list[tuple[str, str]], kinds: list[str]) -> str:
    """A config with one backend per host, matched to the accelerators in order."""
    import tomli_w

    size = {"nvidia": 24, "amd": 16, "igpu": 8, "npu": 2, "cpu": None}
    telemetry = {"nvidia": {"source": "nvml", "index": 0}, "amd": {"source": "amdgpu"},
                 "igpu": {"source": "intel-gpu"}, "npu": {"source": "intel-npu"},
                 "cpu": {"source": "cpu"}}
    backends: list[dict[str, object]] = []
    for i, (url, _version) in enumerate(hosts):
        hw = kinds[i] if i < len(kinds) else "cpu"
        b: dict[str, object] = {"id": f"ollama-{hw}" if hw not in [x.get("hardware") for x in backends]
                                else f"ollama-{i}", "host": url, "hardware": hw,
                                "telemetry": telemetry[hw]}
        if size[hw]:
            b["max_model_size_gb"] = size[hw]
        backends.append(b)
    doc = {"default_mode": "balanced", "routing": {"model_mode_conflict": "prefer_model"},
           "backends": backends}
    head = ("# sollama config, written by `sollama init`. Check each backend's hardware and\n"
            "# max_model_size_gb (what fits in its memory). Every key, its default and meaning:\n"
            "# docs/config.md in sollama's source; `sollama config check` validates this file.\n")
    return head + tomli_w.dumps(doc)


@click.command("init")
@click.option("--host", "hosts_given", multiple=True, metavar="HOST",
              help="An Ollama host to include (repeatable; as OLLAMA_HOST: host, host:port, "
                   "URL). Default: 127.0.0.1 ports 11434-11438 and OLLAMA_HOST.")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option("--print", "to_stdout", is_flag=True, help="Print the config instead of writing it.")
def init_command(hosts_given: tuple[str, ...], force: bool, to_stdout: bool) -> int:
    """Detect Ollama hosts and this machine's accelerators, and write a config file.

    Backends are matched to accelerators in order (NVIDIA, AMD, Intel GPU, NPU,
    then CPU); check each backend's hardware and max_model_size_gb afterwards.
    """
    import os

    from smartollama.config import config_path, parse_config, parse_host
    from smartollama.errors import SollamaError

    if hosts_given:
        try:
            urls = [parse_host(h) for h in hosts_given]
        except ValueError as e:
            raise SollamaError(f"--host: {e}") from None
    else:
        urls = [f"http://127.0.0.1:{p}" for p in CANDIDATE_PORTS]
        if os.environ.get("OLLAMA_HOST"):
            urls.insert(0, parse_host(os.environ["OLLAMA_HOST"]))
        urls = list(dict.fromkeys(urls))
    hosts = detect_hosts(urls)
    if not hosts:
        raise SollamaError(f"no Ollama answers at {', '.join(urls)}",
                           hint="start `ollama serve`, or name hosts with --host")
    text = render_config(hosts, detect_hardware())
    parse_config(text, "<generated>")  # what we write must load
    if to_stdout:
        click.echo(text.rstrip())
        return 0
    path = config_path()
    if path.exists() and not force:
        raise SollamaError(f"{path} exists; use --force to overwrite, or --print to see the new one")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    click.echo(f"wrote {path} with {len(hosts)} backend(s); check it with `sollama config check`")
    return 0
