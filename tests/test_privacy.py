"""Prompts are not stored unless asked; host credentials never enter the cache or a verdict."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_sollama

SECRET = "Bearer s3cret-t0ken"


def test_credentials_are_sent_but_never_stored_or_shown(single_fleet: object) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.write_text(single_fleet.config_toml(  # type: ignore[attr-defined]
        backends={"ollama": {"headers": {"Authorization": SECRET}}}))
    r = run_sollama("run", "llama3:8b", "--json", "the prompt text")
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stderr
    directory = Path(os.environ["SOLLAMA_STATE_DIR"])
    state = (directory / "state.json").read_text() + (directory / "history.jsonl").read_text()
    assert SECRET not in state and "s3cret" not in state
    assert "the prompt text" not in state                       # only its length and hash
    assert '"prompt_sha256"' in state                           # the verdict is there
    shown = run_sollama("config", "show").stdout
    assert "s3cret" not in shown and 'Authorization = "***"' in shown
    assert "s3cret" not in run_sollama("why").stdout


def test_prompts_stored_only_when_configured(single_fleet: object) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.write_text(single_fleet.config_toml(history={"store_prompts": True}))  # type: ignore[attr-defined]
    run_sollama("run", "llama3:8b", "remember me")
    record = json.loads(run_sollama("why", "--json").stdout)
    assert record["prompt"] == "remember me"


def test_history_can_be_turned_off(single_fleet: object) -> None:
    cfg = Path(os.environ["SOLLAMA_CONFIG"])
    cfg.write_text(single_fleet.config_toml(history={"enabled": False}))  # type: ignore[attr-defined]
    r = run_sollama("run", "llama3:8b", "hi")
    assert r.returncode == 0, r.stderr
    why = run_sollama("why")
    assert why.returncode == 1 and "recording is off" in why.stderr
    directory = Path(os.environ["SOLLAMA_STATE_DIR"])
    state = json.loads((directory / "state.json").read_text())
    assert "history" not in state and not (directory / "history.jsonl").exists()
    assert state["learned"]                  # learning goes on: it records no prompt or answer


# -- credentials in a URL: sent, never shown or stored ------------------------------------------


def _everything_shown_and_stored(model: str) -> str:
    """What sollama prints for every command that shows a host, and what it stores."""
    outputs = []
    for args in (("run", model, "--json", "hi"), ("run", model, "hi"),   # the 2nd: kept config
                 ("route", model, "--json"), ("route", model), ("why", "--json"), ("why",),
                 ("status",), ("status", "--json"), ("config", "show"),
                 ("config", "show", "--json"), ("list",), ("ps",)):
        r = run_sollama(*args)
        assert r.returncode == 0, (args, r.stderr)
        outputs.append(r.stdout + r.stderr)
    directory = Path(os.environ["SOLLAMA_STATE_DIR"])
    files = [p.read_text(errors="replace") for p in directory.rglob("*") if p.is_file()]
    assert any("config-cache" in p.name for p in directory.iterdir())   # the kept copy is there
    return "\n".join(outputs + files)


def test_url_credentials_authenticate_but_are_never_shown_or_stored() -> None:
    from badhost import MODEL, BadHost, backend
    from smartollama.sim.fleet import dumps_toml

    with BadHost("ok", auth="bob:p@ss s3cret") as ollama, BadHost("ok", auth="pm:pr0m") as exporter:
        host = ollama.url.replace("http://", "http://bob:p%40ss%20s3cret@")
        url = exporter.url.replace("http://", "http://pm:pr0m@") + "/metrics"
        entry = {**backend(host), "telemetry": {"source": "prometheus", "url": url}}
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml({"backends": [entry]}))
        seen = _everything_shown_and_stored(MODEL)
        assert "s3cret" not in seen and "pr0m" not in seen and "p%40ss" not in seen
        assert f"http://***@{ollama.url.removeprefix('http://')}" in seen     # config show
        # every request carried the credentials (the hosts answer 401 without them)
        assert {h.get("Authorization", "")[:6] for _, _, h in ollama.requests} == {"Basic "}
        assert any(path == "/metrics" for _, path, _ in exporter.requests)
        assert all(h.get("Authorization", "").startswith("Basic ")
                   for _, _, h in exporter.requests)


def test_ollama_host_credentials_authenticate_and_stay_out_of_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from badhost import MODEL, BadHost

    monkeypatch.delenv("SOLLAMA_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with BadHost("ok", auth="bob:s3cret") as ollama:
        env = {"OLLAMA_HOST": ollama.url.replace("http://", "http://bob:s3cret@")}
        r = run_sollama("run", MODEL, "--json", "hi", env=env)
        assert r.returncode == 0, r.stderr
        assert "Hello from the bad host" in r.stdout and "s3cret" not in r.stderr
    unreachable = run_sollama("route", MODEL, env={"OLLAMA_HOST": "http://bob:s3cret@127.0.0.1:1",
                                                   "SOLLAMA_STATE_DIR": str(tmp_path / "other")})
    assert unreachable.returncode == 4, unreachable.stderr
    assert "127.0.0.1:1" in unreachable.stderr and "s3cret" not in unreachable.stderr
    invalid = run_sollama("route", MODEL, env={"OLLAMA_HOST": "http://bob:s3cret@127.0.0.1:x"})
    assert invalid.returncode == 1 and "'http://***@127.0.0.1:x'" in invalid.stderr, invalid.stderr
    assert "s3cret" not in invalid.stderr
    directory = Path(os.environ["SOLLAMA_STATE_DIR"])
    assert all("s3cret" not in p.read_text(errors="replace")
               for p in directory.rglob("*") if p.is_file())


def test_ollama_host_credentials_for_a_config_file_without_backends() -> None:
    """The file tunes modes only: its backend is OLLAMA_HOST's, and the kept copy of
    the validated config (read by the second call) holds no credentials."""
    from badhost import MODEL, BadHost

    Path(os.environ["SOLLAMA_CONFIG"]).write_text('default_mode = "performance"\n')
    with BadHost("ok", auth="bob:s3cret") as ollama:
        env = {"OLLAMA_HOST": ollama.url.replace("http://", "http://bob:s3cret@")}
        for _ in range(2):
            r = run_sollama("run", MODEL, "hi", env=env)
            assert r.returncode == 0, r.stderr
    kept = Path(os.environ["SOLLAMA_STATE_DIR"]) / "config-cache.json"
    assert kept.exists() and "s3cret" not in kept.read_text()
