"""`sollama preload` loads the schedule's models where they fit; `sollama init` writes a config."""

from __future__ import annotations

import json
import os
import tomllib
import urllib.request
from pathlib import Path

from conftest import run_sollama


def test_preload_now_loads_the_hours_models(demo_fleet: object) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.write_text(demo_fleet.config_toml(  # type: ignore[attr-defined]
        preload=[{"hours": "00-24", "models": ["tinyllama:1b", "mistral:7b"]}]))
    r = run_sollama("preload", "--now")
    assert r.returncode == 0, r.stderr
    assert "tinyllama:1b: loaded on" in r.stdout and "mistral:7b: loaded on" in r.stdout
    ps = run_sollama("ps").stdout
    assert "tinyllama:1b" in ps and "mistral:7b" in ps
    schedule = run_sollama("preload", "--schedule")
    assert "00-24: tinyllama:1b, mistral:7b" in schedule.stdout
    from conftest import SOLLAMA

    assert f"0 * * * * {SOLLAMA} preload --now" in schedule.stdout   # cron's PATH lacks it
    assert "install.sh --timer" in schedule.stdout


def test_preload_dry_run_loads_nothing(demo_fleet: object) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.write_text(demo_fleet.config_toml(  # type: ignore[attr-defined]
        preload=[{"hours": "00-24", "models": ["tinyllama:1b"]}]))
    before = run_sollama("ps").stdout
    r = run_sollama("preload", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("tinyllama:1b: would load on ollama-")
    assert run_sollama("ps").stdout == before and "tinyllama" not in before


def test_preload_with_nothing_scheduled(demo_fleet: object) -> None:
    r = run_sollama("preload")
    assert r.returncode == 0 and "nothing scheduled" in r.stdout


def test_init_writes_a_config_that_loads(demo_fleet: object, tmp_path: Path) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.unlink()
    urls = [h.url for h in demo_fleet.hosts.values()][:2]  # type: ignore[attr-defined]
    r = run_sollama("init", "--host", urls[0], "--host", urls[1])
    assert r.returncode == 0, r.stderr
    data = tomllib.loads(cfg.read_text())
    assert [b["host"] for b in data["backends"]] == urls
    assert run_sollama("config", "check").returncode == 0
    again = run_sollama("init", "--host", urls[0])
    assert again.returncode == 1 and "exists" in again.stderr      # never overwrites silently
    assert run_sollama("init", "--host", urls[0], "--force").returncode == 0


def test_init_with_no_host_answering(tmp_path: Path) -> None:
    r = run_sollama("init")
    assert r.returncode == 4 or "127.0.0.1:11434" in r.stdout   # (unless an Ollama runs here)
    if r.returncode == 4:
        assert "no Ollama answers at http://127.0.0.1:11434" in r.stderr


def test_init_stops_at_a_named_host_that_does_not_answer(demo_fleet: object) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.unlink()
    url = demo_fleet.hosts["ollama-igpu"].url  # type: ignore[attr-defined]
    r = run_sollama("init", "--host", url, "--host", "127.0.0.1:9")
    assert r.returncode == 4 and not cfg.exists()
    assert r.stderr.count("\n") == 1 and "http://127.0.0.1:9: cannot connect" in r.stderr
    assert "--keep-unreachable" in r.stderr
    r = run_sollama("init", "--host", url, "--host", "127.0.0.1:9", "--keep-unreachable")
    assert r.returncode == 0, r.stderr
    text = cfg.read_text()
    assert "# unreachable when `sollama init` ran" in text
    assert [b["host"] for b in tomllib.loads(text)["backends"]] == [url, "http://127.0.0.1:9"]
    assert run_sollama("config", "check").returncode == 0


def test_init_takes_hardware_from_what_each_host_reveals(demo_fleet: object,
                                                         tmp_path: Path) -> None:
    """An exporter names the hardware; a host whose loaded model has no VRAM is a CPU; a
    local host with nothing loaded is matched to this machine's accelerators, and says so."""
    from fakes.sysfs import amdgpu_dgpu

    hosts = demo_fleet.hosts  # type: ignore[attr-defined]
    cpu, gpu, igpu = hosts["ollama-cpu"].url, hosts["ollama-nvidia"].url, hosts["ollama-igpu"].url
    body = json.dumps({"model": "tinyllama:1b", "prompt": "hi", "stream": False}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{cpu}/api/generate", body), timeout=30)
    sysfs = tmp_path / "sys"
    amdgpu_dgpu(sysfs, "card1")
    r = run_sollama("init", "--host", gpu, "--host", cpu, "--host", igpu,
                    "--exporter", f"{gpu}={gpu}/metrics", "--print",
                    env={"SOLLAMA_SYSFS_ROOT": str(sysfs)})
    assert r.returncode == 0, r.stderr
    data = tomllib.loads(r.stdout)
    got = {b["host"]: (b["id"], b["hardware"], b["telemetry"]["source"], b.get("max_model_size_gb"))
           for b in data["backends"]}
    assert got == {
        gpu: ("ollama-nvidia", "nvidia", "prometheus", 24),
        cpu: ("ollama-cpu", "cpu", "cpu", None),
        igpu: ("ollama-amd", "amd", "amdgpu", 25.8),
    }
    assert "# hardware from the exporter" in r.stdout
    assert "# max_model_size_gb guessed (24 GB is typical for nvidia)" in r.stdout
    assert "# hardware: cpu (its /api/ps shows models loaded with no VRAM)" in r.stdout
    assert "matched to this machine's card1 (amdgpu), the next accelerator in order" in r.stdout


def test_init_rejects_an_exporter_it_cannot_place(demo_fleet: object) -> None:
    hosts = demo_fleet.hosts  # type: ignore[attr-defined]
    a, b = hosts["ollama-nvidia"].url, hosts["ollama-igpu"].url
    r = run_sollama("init", "--host", a, "--host", b, "--exporter", f"{a}/metrics", "--print")
    assert r.returncode == 1 and "matches several hosts" in r.stderr


def test_preload_teaches_the_hosts_load_speed(tmp_path: Path) -> None:
    """Ollama answers a load with no durations; the preload's own time is the load's,
    and the next decision plans the host's loads with it (not the hardware's default)."""
    from conftest import start_fleet

    for fleet in start_fleet("tower", tmp_path, time_scale=0.01):   # a 4.4 GB load: ~0.13 s
        cfg = Path(os.environ["SOLLAMA_CONFIG"])
        cfg.write_text(fleet.config_toml(  # type: ignore[attr-defined]
            preload=[{"hours": "00-24", "models": ["mistral:7b"]}]))
        r = run_sollama("preload", "--now")
        assert r.returncode == 0, r.stderr
        host = r.stdout.split(" loaded on ")[1].split()[0]
        state = json.loads((Path(os.environ["SOLLAMA_STATE_DIR"]) / "state.json").read_text())
        load = state["learned"][host]["load"]
        # 0.35 GB/s on a clock 100x fast: at most 35 GB/s (the call's overhead only slows it)
        assert load["n"] == 1 and 0 < load["v"] <= 35.0


def test_preload_renews_a_model_where_it_is_loaded(tmp_path: Path) -> None:
    """A scheduled model already loaded on a card stays there (its stay renewed),
    rather than a second copy being loaded where a fresh decision would place it."""
    from conftest import start_fleet

    for fleet in start_fleet("tower", tmp_path):
        cfg = Path(os.environ["SOLLAMA_CONFIG"])
        cfg.write_text(fleet.config_toml(  # type: ignore[attr-defined]
            preload=[{"hours": "00-24", "models": ["tinyllama:1b"]}]))
        r = run_sollama("run", "tinyllama:1b", "--backend", "ollama-amd", "hi")
        assert r.returncode == 0, r.stderr
        # the AMD card ran it slowly: a fresh decision would load it on the NVIDIA card
        state_file = Path(os.environ["SOLLAMA_STATE_DIR"]) / "state.json"
        state = json.loads(state_file.read_text())
        state["learned"]["ollama-amd"]["tps"]["tinyllama:1b"] = {"v": 2.0, "n": 3, "t": 1e9}
        state_file.write_text(json.dumps(state))
        fresh = run_sollama("route", "tinyllama:1b", "--urgency", "batch", "--json")
        assert json.loads(fresh.stdout)["backend_used"] == "ollama-nvidia", fresh.stdout
        r = run_sollama("preload", "--now")
        assert r.returncode == 0, r.stderr
        assert "tinyllama:1b: loaded on ollama-amd" in r.stdout
        nvidia = fleet.hosts["ollama-nvidia"]  # type: ignore[attr-defined]
        assert nvidia.requests_to("/api/generate") == []
