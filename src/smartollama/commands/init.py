"""`sollama init`: find Ollama hosts and what runs them, write a config."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from smartollama.discover import Host

#: ports people commonly give their Ollama servers, one per accelerator
CANDIDATE_PORTS = (11434, 11435, 11436, 11437, 11438)
HEAD = ("# sollama config, written by `sollama init`. Comments above a backend say what was\n"
        "# guessed. Every key, its default and meaning: docs/config.md in sollama's source;\n"
        "# `sollama config check` validates this file.\n")


def probe_host(url: str) -> Host:
    """The host's version and, from /api/ps, how much of what it has loaded sits in VRAM."""
    from smartollama.discover import Host
    from smartollama.errors import SollamaError
    from smartollama.ollama import OllamaClient

    host = Host(url)
    try:
        with OllamaClient(url, connect_timeout=0.3, read_timeout=1.0) as c:
            host.version = c.version()
            loaded = c.ps()
    except SollamaError as e:
        host.error = e.message
        return host
    size = sum(int(m.get("size") or 0) for m in loaded)    # the client checked their types
    vram = sum(int(m.get("size_vram") or 0) for m in loaded)
    host.vram_share = vram / size if size else None
    return host


def read_exporter(url: str) -> str:
    """An exporter's /metrics page (stdlib: init runs once, no need for the HTTP client)."""
    import urllib.request

    from smartollama.errors import SollamaError

    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - a URL the user gave
            page: bytes = r.read(4_000_000)
    except (OSError, ValueError) as e:
        raise SollamaError(f"--exporter: cannot read {url}: {e}") from None
    return page.decode("utf-8", "replace")


def attach_exporters(hosts: list[Host], given: tuple[str, ...]) -> None:
    """`--exporter URL` (for the one host on the URL's machine) or `--exporter HOST=URL`."""
    import re
    from urllib.parse import urlsplit

    from smartollama.discover import exporter_kind
    from smartollama.errors import SollamaError
    from smartollama.hosts import parse_host

    for value in given:
        pair = re.fullmatch(r"(.+?)=(https?://.+)", value)
        if pair:
            target = parse_host(pair[1])
            matches = [h for h in hosts if h.url == target]
            url = pair[2]
        else:
            url = value
            name = urlsplit(url).hostname
            matches = [h for h in hosts if h.name == name]
        if len(matches) != 1:
            which = "no host" if not matches else "several hosts"
            raise SollamaError(f"--exporter {value}: matches {which}; name the host as "
                               "--exporter HOST=URL, with HOST as given to --host")
        kind = exporter_kind(read_exporter(url))
        if kind is None:
            raise SollamaError(f"--exporter {url}: no GPU metrics this version of sollama "
                               "knows (DCGM, nvidia_gpu_exporter, AMD, node_exporter drm)")
        matches[0].exporter, matches[0].exporter_kind = url, kind


@click.command("init")
@click.option("--host", "hosts_given", multiple=True, metavar="HOST",
              help="An Ollama host to include (repeatable; as OLLAMA_HOST: host, host:port, "
                   "URL). Default: 127.0.0.1 ports 11434-11438 and OLLAMA_HOST.")
@click.option("--exporter", "exporters", multiple=True, metavar="[HOST=]URL",
              help="A Prometheus exporter's /metrics for a host (repeatable): its hardware "
                   "and telemetry come from it.")
@click.option("--keep-unreachable", is_flag=True,
              help="Write a --host that does not answer, instead of stopping.")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option("--print", "to_stdout", is_flag=True, help="Print the config instead of writing it.")
def init_command(hosts_given: tuple[str, ...], exporters: tuple[str, ...],
                 keep_unreachable: bool, force: bool, to_stdout: bool) -> int:
    """Find Ollama hosts and what runs them, and write a config file.

    Each backend's hardware comes from an --exporter, else the host's loaded
    models (VRAM or not), else, for a host on this machine, its accelerators
    in order (NVIDIA, AMD, Intel GPU, NPU, then CPU). What was guessed is said
    in a comment beside the backend: check those.
    """
    import os

    from smartollama import discover
    from smartollama.config import config_path, parse_config
    from smartollama.errors import SollamaError, UnreachableError
    from smartollama.hosts import parse_host

    try:
        urls = [parse_host(h) for h in hosts_given]
    except ValueError as e:
        raise SollamaError(f"--host: {e}") from None
    if not urls:
        urls = [f"http://127.0.0.1:{p}" for p in CANDIDATE_PORTS]
        if os.environ.get("OLLAMA_HOST"):
            urls.insert(0, parse_host(os.environ["OLLAMA_HOST"]))
    urls = list(dict.fromkeys(urls))
    found = [probe_host(u) for u in urls]
    down = [h for h in found if h.version is None]
    if hosts_given and down and not keep_unreachable:
        raise UnreachableError(
            "; ".join(h.error or f"cannot reach {h.url}" for h in down),
            hint="start `ollama serve` there, fix the --host, or add --keep-unreachable")
    hosts = found if hosts_given else [h for h in found if h.version is not None]
    if not hosts or not (keep_unreachable or any(h.version for h in hosts)):
        raise UnreachableError(f"no Ollama answers at {', '.join(urls)}",
                               hint="start `ollama serve`, or name hosts with --host")
    attach_exporters(hosts, exporters)
    backends = discover.plan(hosts, discover.local_accelerators())
    text = discover.render(backends, HEAD)
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
    guessed = sum(1 for b in backends if b.notes)
    click.echo(f"wrote {path} with {len(backends)} backend(s)"
               + (f"; {guessed} with guesses marked in comments" if guessed else "")
               + "; check it with `sollama config check`")
    return 0
