"""sollama on today's Ollama (the `today` fleet): capabilities as hard constraints,
cloud models kept on the machine unless named or allowed, through the installed `sollama`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import run_sollama, start_fleet


@pytest.fixture
def today(tmp_path: Path) -> Iterator[Any]:
    yield from start_fleet("today", tmp_path, time_scale=0.0)


def verdict_of(args: list[str]) -> tuple[dict[str, Any], str]:
    r = run_sollama(*args, "--json")
    assert r.returncode == 0, r.stderr
    text = r.stdout if args[0] == "route" else r.stderr.strip().splitlines()[-1]
    return json.loads(text), r.stderr


def capabilities(fleet: Any, host: str) -> dict[str, list[str]]:
    tags = httpx.get(fleet.hosts[host].url + "/api/tags").json()["models"]
    return {m["name"]: m.get("capabilities", []) for m in tags}


def set_cloud(fleet: Any, cloud: str) -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(
        fleet.config_toml(routing={"cloud": cloud}))


def test_auto_never_picks_a_cloud_model_by_default(today: Any) -> None:
    v, _ = verdict_of(["route", "auto"])
    assert not v["model_used"].endswith("-cloud"), v["reason"]
    assert "embedding" not in capabilities(today, v["backend_used"])[v["model_used"]]
    set_cloud(today, "fallback")          # a local choice there is: still local
    v, _ = verdict_of(["route", "auto"])
    assert not v["model_used"].endswith("-cloud"), v["reason"]


def test_auto_may_pick_a_cloud_model_when_allowed_and_says_so(today: Any) -> None:
    set_cloud(today, "allow")
    v, _ = verdict_of(["route", "auto"])
    assert v["model_used"] == "gpt-oss:120b-cloud", v["reason"]
    assert any("the prompt leaves this machine for https://ollama.com:443" in w
               for w in v["warnings"])


def test_a_named_cloud_model_runs_with_a_warning(today: Any) -> None:
    r = run_sollama("run", "gpt-oss:120b:cloud", "hi")   # Ollama's name:tag:cloud
    assert r.returncode == 0, r.stderr
    assert "Hello from gpt-oss:120b-cloud" in r.stdout
    assert "warning: gpt-oss:120b-cloud is a cloud model: the prompt leaves this machine" \
        in r.stderr


def test_a_cloud_model_the_host_is_not_signed_in_for_is_one_line_with_the_link(
        today: Any) -> None:
    today.hosts["ollama-big"].set_cloud("signed_out")
    r = run_sollama("run", "gpt-oss:120b-cloud", "hi")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "gpt-oss:120b-cloud is a cloud model and ollama-big could not use the cloud" in last
    assert "sign in at https://ollama.com/connect?name=" in last


@pytest.mark.parametrize("model", ["llama3:8b", "llama3.1:8b"])
def test_think_never_substitutes_a_model_without_thinking(today: Any, model: str) -> None:
    v, err = verdict_of(["run", model, "--think", "hi"])
    assert v["action"] == "substitute" and v["model_requested"] == model, v["reason"]
    assert "thinking" in capabilities(today, v["backend_used"])[v["model_used"]]
    assert not v["model_used"].endswith("-cloud")      # cloud = "never": not a stand-in
    big = next(e for e in v["fallback_chain"] if e["backend"] == "ollama-big" and not e.get("model"))
    assert big["code"] == "lacks_capability", big
    assert "does not support thinking" in big["reason"]


def test_route_think_decides_as_run_would(today: Any) -> None:
    v, _ = verdict_of(["route", "llama3.1:8b", "--think"])
    assert v["action"] == "substitute", v["reason"]
    assert "thinking" in capabilities(today, v["backend_used"])[v["model_used"]]
    plain, _ = verdict_of(["route", "llama3.1:8b"])
    assert (plain["action"], plain["model_used"]) == ("run", "llama3.1:8b")


def test_think_keeps_a_model_that_thinks(today: Any) -> None:
    v, _ = verdict_of(["run", "deepseek-r1:8b", "--think=high", "hi"])
    assert (v["action"], v["model_used"]) == ("run", "deepseek-r1:8b")


def test_a_think_value_ollama_does_not_know_is_a_usage_error(today: Any) -> None:
    r = run_sollama("run", "qwen3:8b", "--think=maybe", "hi")
    assert r.returncode == 2
    assert "invalid value for --think: 'maybe' (must be true, false, high, medium, low, or max)" \
        in r.stderr


@pytest.fixture
def card24(tmp_path: Path) -> Iterator[Any]:
    """One 24 GiB card at Ollama's own default context (32768 tokens there)."""
    from smartollama.sim import Fleet, FleetSpec

    spec = FleetSpec.from_dict({"name": "card24", "time_scale": 0.0, "hosts": [{
        "name": "ollama-24", "hardware": "nvidia", "vram_gb": 25.8, "load_gb_per_s": 2.0,
        "tokens_per_s": 60, "models": ["llama3.1:8b", "qwen3:8b"], "metrics_style": "none",
        "readings": {"fan_pct": 30, "temp_c": 50}}]})
    with Fleet(spec) as fleet:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml())
        yield fleet


def test_a_model_ollama_loaded_at_its_default_context_counts_as_loaded(card24: Any) -> None:
    import ollama

    client = ollama.Client(host=card24.hosts["ollama-24"].url)
    client.generate(model="llama3.1:8b", prompt="")           # Ollama picks the context
    assert [m.context_length for m in client.ps().models] == [32768]
    v, _ = verdict_of(["route", "llama3.1:8b"])
    assert v["estimate"]["loaded"] is True, v["reason"]
    assert "loaded" in v["fallback_chain"][0]["reason"]
    r = run_sollama("run", "llama3.1:8b", "hi")                # and is not loaded again
    assert r.returncode == 0, r.stderr
    assert [m.context_length for m in client.ps().models] == [32768]


def test_a_model_loaded_at_another_context_is_planned_as_a_reload(card24: Any) -> None:
    import ollama

    client = ollama.Client(host=card24.hosts["ollama-24"].url)
    client.generate(model="llama3.1:8b", prompt="", options={"num_ctx": 8192})
    v, _ = verdict_of(["route", "llama3.1:8b"])
    assert v["estimate"]["loaded"] is False, v["reason"]
    v, _ = verdict_of(["route", "llama3.1:8b", "--num-ctx", "8192"])
    assert v["estimate"]["loaded"] is True, v["reason"]


def test_the_kv_cache_is_planned_at_ollamas_context(card24: Any) -> None:
    """llama3.1:8b at 32768 tokens: ~4 GiB of KV cache beside ~4.9 GB of weights."""
    v, _ = verdict_of(["route", "llama3.1:8b"])
    assert v["estimate"]["memory_gb"] > 8.5, v["estimate"]
    small, _ = verdict_of(["route", "llama3.1:8b", "--num-ctx", "4096"])
    assert small["estimate"]["memory_gb"] < 6.5, small["estimate"]


def test_a_cloud_refusal_falls_back_to_another_host(tmp_path: Path) -> None:
    """The same cloud model on two hosts, the first with cloud disabled (403)."""
    from smartollama.sim import Fleet, FleetSpec

    host = {"hardware": "nvidia", "load_gb_per_s": 2.0, "tokens_per_s": 60,
            "models": ["gpt-oss:120b-cloud"], "metrics_style": "none",
            "readings": {"fan_pct": 30, "temp_c": 50}}
    spec = FleetSpec.from_dict({"name": "two", "time_scale": 0.0, "hosts": [
        {**host, "name": "first", "vram_gb": 48, "cloud": "disabled"},
        {**host, "name": "second", "vram_gb": 8}]})
    with Fleet(spec) as fleet:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml())
        r = run_sollama("run", "gpt-oss:120b-cloud", "--json", "hi")
    assert r.returncode == 0, r.stderr
    assert "Hello from gpt-oss:120b-cloud on second" in r.stdout
    assert "sollama: first failed (" in r.stderr and "ollama cloud is disabled" in r.stderr
    v = json.loads(r.stderr.strip().splitlines()[-1])
    assert v["backend_used"] == "second"
    assert [a["backend"] for a in v["outcome"]["attempts"]] == ["first"]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_an_image_in_the_prompt_is_attached_and_needs_vision(today: Any, tmp_path: Path) -> None:
    picture = tmp_path / "cat picture.png"
    picture.write_bytes(PNG)
    escaped = str(picture).replace(" ", "\\ ")
    r = run_sollama("run", "gemma3:4b", f"what is in {escaped} ?")
    assert r.returncode == 0, r.stderr
    assert f"Added image '{picture}'" in r.stderr
    body = today.hosts["ollama-big"].requests_to("/api/generate")[-1].body
    assert body["prompt"] == "what is in  ?" and len(body["images"]) == 1
    # a model without vision is not sent an image (gemma3:4b is in no tier of llama3:8b's)
    sent = len(today.hosts["ollama-big"].requests_to("/api/generate"))
    r = run_sollama("run", "llama3:8b", f"what is in {escaped}")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "sollama: error: llama3:8b does not support vision; no equivalent model fits either")
    assert len(today.hosts["ollama-big"].requests_to("/api/generate")) == sent


def test_a_path_to_no_file_stays_text(today: Any, tmp_path: Path) -> None:
    r = run_sollama("run", "llama3:8b", f"is there a {tmp_path}/none.png")
    assert r.returncode == 0, r.stderr
    body = today.hosts["ollama-big"].requests_to("/api/generate")[-1].body
    assert body["prompt"] == f"is there a {tmp_path}/none.png" and "images" not in body


def test_a_configured_num_ctx_is_sent_and_planned_for(card24: Any) -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(card24.config_toml(num_ctx=8192))
    v, _ = verdict_of(["run", "llama3.1:8b", "hi"])
    body = card24.hosts["ollama-24"].requests_to("/api/generate")[-1].body
    assert body["options"] == {"num_ctx": 8192}
    import ollama

    loaded = ollama.Client(host=card24.hosts["ollama-24"].url).ps().models
    assert [m.context_length for m in loaded] == [8192]
    again, _ = verdict_of(["route", "llama3.1:8b"])
    assert again["estimate"]["loaded"] is True, again["reason"]


def test_a_server_that_lists_no_capabilities_is_asked_for_each_stand_in(tmp_path: Path) -> None:
    """An older server's `/api/tags` has no `capabilities`: for a request that needs
    one, every model's `/api/show` says (cached), so no stand-in lacks it."""
    from badhost import BadHost, backend, tags_of
    from smartollama.sim.fleet import dumps_toml

    models = [tags_of(name)["models"][0] for name in ("llama3:8b", "mistral:7b")]
    with BadHost("ok", tags={"models": models},
                 capabilities={"llama3:8b": ["completion"], "mistral:7b": ["completion"]}) as host:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml({"backends": [backend(host.url)]}))
        thinking = run_sollama("route", "llama3:8b", "--think", "--policy", "substitute",
                               "--json")
        assert sorted(host.shown) == ["llama3:8b", "mistral:7b"]
        plain = run_sollama("route", "llama3:8b", "--json")
    assert thinking.returncode == 1, thinking.stdout     # neither thinks: nothing to stand in
    assert thinking.stderr == ("sollama: error: llama3:8b does not support thinking; "
                               "no equivalent model fits either\n")
    assert plain.returncode == 0
    assert sorted(host.shown) == ["llama3:8b", "mistral:7b"]   # cached: not asked again
