"""The Ollama simulator, checked over real sockets with the official `ollama` client."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import ollama
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smartollama.sim import (
    OLLAMA_VERSION,
    Fleet,
    FleetSpec,
    HostSpec,
    ModelSpec,
    SimError,
    SpecError,
    builtin_fleet,
    load_fleet_spec,
    parse_keep_alive,
)

FAST = 0.001  # real seconds per simulated second


def one_host(**fields) -> Fleet:
    """A fleet with a single host `h`, started; models default to two small ones."""
    spec = {"name": "h", "hardware": "nvidia", "vram_gb": 24, "models": ["llama3:8b", "qwen2.5:0.5b"]}
    spec.update(fields)
    return Fleet({"hosts": [spec], "time_scale": FAST}).start()


@pytest.fixture
def demo():
    with Fleet("demo", time_scale=FAST) as fleet:
        yield fleet


@pytest.fixture
def nvidia(demo):
    return ollama.Client(host=demo.hosts["ollama-nvidia"].url)


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def scrape(host) -> dict[str, list]:
    response = httpx.get(host.metrics_url, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return families(response.text)


# --- the API as the official client sees it --------------------------------------------


def test_root_and_version(demo):
    url = demo.hosts["ollama-npu"].url
    assert httpx.get(url).text == "Ollama is running"
    assert httpx.head(url).status_code == 200
    assert httpx.get(f"{url}/api/version").json() == {"version": OLLAMA_VERSION} == {"version": "0.33.0"}
    assert httpx.get(f"{url}/api/nothing").status_code == 404
    assert httpx.get(f"{url}/api/generate").status_code == 405


def test_list_show_and_ps_parse(demo, nvidia):
    names = [m.model for m in nvidia.list().models]
    assert names == [m.name for m in demo.spec.host("ollama-nvidia").models]
    big = next(m for m in nvidia.list().models if m.model == "llama3:70b")
    assert big.size == 39_970_000_000
    assert big.details.quantization_level == "Q4_0" and big.details.family == "llama"
    assert re.fullmatch(r"[0-9a-f]{64}", big.digest)

    shown = nvidia.show("llama3:8b")
    info = shown.modelinfo
    assert info["general.architecture"] == "llama"
    assert info["llama.block_count"] == 32
    assert info["llama.attention.head_count_kv"] == 8
    assert info["llama.embedding_length"] == 4096
    assert info["llama.context_length"] == 8192
    assert shown.capabilities == ["completion"]
    assert shown.details.parameter_size == "8.0B"
    assert "TEMPLATE" in shown.modelfile

    (running,) = nvidia.ps().models  # llama3:70b, preloaded, partly in system RAM
    assert running.model == "llama3:70b"
    assert running.size_vram == 24_000_000_000 < running.size
    assert running.context_length == 4096
    assert running.expires_at.tzinfo is not None and running.expires_at.year > 2200


def test_generate_streams_ndjson_then_a_done_chunk(nvidia, demo):
    url = demo.hosts["ollama-nvidia"].url
    with httpx.stream("POST", f"{url}/api/generate",
                      json={"model": "llama3:8b", "prompt": "Why is the sky blue?"}) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in r.iter_lines()]
    assert len(lines) >= 5
    assert all(not p["done"] for p in lines[:-1])
    final = lines[-1]
    assert final["done"] and final["done_reason"] == "stop" and final["response"] == ""
    assert isinstance(final["context"], list) and final["context"]
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(final[key], int)
    # 4.66 GB at 2 GB/s: reported in simulated nanoseconds, unscaled
    assert final["load_duration"] == pytest.approx(2.33e9, rel=0.01)
    assert final["eval_count"] == len(lines) - 1
    tps = builtin_fleet("demo").host("ollama-nvidia").tokens_per_s
    assert final["eval_duration"] == pytest.approx(final["eval_count"] / tps * 1e9, rel=0.01)
    assert final["total_duration"] >= final["load_duration"] + final["eval_duration"]
    text = "".join(p["response"] for p in lines)
    assert text.startswith("Hello from llama3:8b on ollama-nvidia.")

    parts = list(nvidia.generate("llama3:8b", "Why is the sky blue?", stream=True))
    assert parts[-1].done and parts[-1].load_duration == 0  # loaded now
    whole = nvidia.generate("llama3:8b", "Why is the sky blue?")
    assert whole.done and whole.response == text
    assert whole.eval_count == parts[-1].eval_count


def test_chat_stream_and_whole(nvidia):
    msgs = [{"role": "user", "content": "hello there"}]
    parts = list(nvidia.chat("qwen2.5:0.5b", messages=msgs, stream=True))
    assert len(parts) > 3 and parts[-1].done and parts[-1].done_reason == "stop"
    assert all(p.message.role == "assistant" for p in parts)
    text = "".join(p.message.content for p in parts)
    whole = nvidia.chat("qwen2.5:0.5b", messages=msgs)
    assert whole.message.content == text and "hello there" in text
    assert whole.eval_count and whole.prompt_eval_count


def test_errors_are_worded_as_ollama_words_them(demo, nvidia):
    for call in (lambda: nvidia.generate("nope:1b", "x"),
                 lambda: nvidia.chat("nope:1b", messages=[{"role": "user", "content": "x"}]),
                 lambda: nvidia.show("nope:1b"),
                 lambda: list(nvidia.generate("nope:1b", "x", stream=True))):
        with pytest.raises(ollama.ResponseError) as err:
            call()
        assert err.value.status_code == 404
        assert err.value.error == "model 'nope:1b' not found"
    url = demo.hosts["ollama-nvidia"].url
    r = httpx.post(f"{url}/api/generate", json={"prompt": "x"})
    assert r.status_code == 404 and r.json() == {"error": "model '' not found"}
    r = httpx.post(f"{url}/api/chat", json={"messages": []})
    assert r.status_code == 400 and r.json() == {"error": "model is required"}
    r = httpx.post(f"{url}/api/generate", content=b"")
    assert r.status_code == 400 and r.json() == {"error": "missing request body"}
    with pytest.raises(ollama.ResponseError) as err:
        nvidia.generate("llama3:8b", "x", think=True)
    assert err.value.status_code == 400 and err.value.error == '"llama3:8b" does not support thinking'


def test_num_predict_caps_and_says_length(nvidia):
    r = nvidia.generate("qwen2.5:0.5b", "tell me a long story please", options={"num_predict": 3})
    assert r.eval_count == 3 and r.done_reason == "length"
    assert len(r.response.split()) == 3


def test_format_json_and_schema(nvidia):
    r = nvidia.generate("llama3:8b", "answer in JSON", format="json")
    assert isinstance(json.loads(r.response), dict)
    schema = {"type": "object", "properties": {"age": {"type": "integer"},
                                               "ok": {"type": "boolean"}}}
    r = nvidia.chat("llama3:8b", messages=[{"role": "user", "content": "hi"}], format=schema)
    assert json.loads(r.message.content) == {"age": 42, "ok": True}


def test_thinking_model_thinks_first():
    with one_host(models=["qwen3:8b"]) as fleet:
        client = ollama.Client(host=fleet.hosts["h"].url)
        assert "thinking" in client.show("qwen3:8b").capabilities
        parts = list(client.chat("qwen3:8b", messages=[{"role": "user", "content": "hi"}],
                                 think=True, stream=True))
        kinds = ["thinking" if p.message.thinking else "content" for p in parts[:-1]]
        assert kinds[0] == "thinking" and kinds[-1] == "content"
        assert kinds == sorted(kinds, key=lambda k: k != "thinking")  # thinking, then content
        r = client.generate("qwen3:8b", "hi", think=False)
        assert not r.thinking and r.response


def test_empty_prompt_loads_and_keep_alive_zero_unloads():
    with one_host() as fleet:
        client = ollama.Client(host=fleet.hosts["h"].url)
        assert client.ps().models == []
        r = client.generate("llama3:8b", "")
        assert r.done and r.done_reason == "load"
        assert [m.model for m in client.ps().models] == ["llama3:8b"]
        r = client.generate("llama3:8b", "", keep_alive=0)
        assert r.done_reason == "unload"
        assert client.ps().models == []
        client.chat("llama3:8b", messages=[], keep_alive="10m")
        (m,) = client.ps().models
        left = (m.expires_at - datetime.now(UTC)).total_seconds()
        assert 590 < left <= 600
        client.generate("llama3:8b", "bye", keep_alive=0)  # answered, then unloaded
        assert client.ps().models == []


def test_loading_evicts_idle_models_least_recently_used_first():
    with one_host(vram_gb=11, models=["llama3:8b", "qwen2.5:1.5b", "mistral:7b"]) as fleet:
        host = fleet.hosts["h"]
        client = ollama.Client(host=host.url)
        client.generate("llama3:8b", "a")
        client.generate("qwen2.5:1.5b", "b")
        client.generate("llama3:8b", "c")  # llama3:8b is now the more recently used
        client.generate("mistral:7b", "d")
        assert sorted(host.loaded) == ["llama3:8b", "mistral:7b"]
        assert all(m.size == m.size_vram for m in client.ps().models)
        dev_used, _ = host.engine.memory_used()
        assert dev_used <= 11e9


def test_two_big_models_on_a_small_host_and_one_too_big():
    with one_host(hardware="igpu", vram_gb=8,
                  models=["llama3:8b", "mistral:7b", "llama3:70b"]) as fleet:
        client = ollama.Client(host=fleet.hosts["h"].url)
        client.generate("llama3:8b", "a")
        client.generate("mistral:7b", "b")
        assert [m.model for m in client.ps().models] == ["mistral:7b"]
        with pytest.raises(ollama.ResponseError) as err:
            client.generate("llama3:70b", "c")
        assert err.value.status_code == 500
        assert err.value.error == (  # 39.97 GB of weights + the 4096-token cache + overhead
            "llama-server reported out-of-memory during startup: ggml_vulkan: Device memory "
            "allocation of size 41580612736 failed: VK_ERROR_OUT_OF_DEVICE_MEMORY")
        assert [m.model for m in client.ps().models] == ["mistral:7b"]  # nothing evicted for it


def test_partial_offload_is_slower_and_cpu_hosts_hold_nothing_on_a_device(demo, nvidia):
    full = nvidia.generate("llama3:8b", "hi")
    part = nvidia.generate("mixtral:8x7b", "hi")
    (m,) = [m for m in nvidia.ps().models if m.model == "mixtral:8x7b"]
    assert 0 < m.size_vram < m.size and m.size_vram == 24e9
    speed = lambda r: r.eval_count / r.eval_duration * 1e9  # noqa: E731
    assert speed(full) == pytest.approx(builtin_fleet("demo").host("ollama-nvidia").tokens_per_s,
                                        rel=0.01)
    assert speed(part) < speed(full) / 1.5
    cpu = ollama.Client(host=demo.hosts["ollama-cpu"].url)
    cpu.generate("llama3.2:3b", "hi")
    (m,) = cpu.ps().models
    assert m.size_vram == 0 and m.size > 2e9


def _until(condition, timeout: float = 10.0) -> bool:
    """Wait (at most `timeout` s) for a condition another thread makes true."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.002)
    return True


def test_num_parallel_queues_the_rest():
    # two slots: two requests at once, neither waits for the other (the durations the server
    # reports; a wait would add a whole answer, 10.8 simulated s = 1.08 real s)
    fleet = Fleet({"time_scale": 0.1, "hosts": [{
        "name": "h", "vram_gb": 24, "tokens_per_s": 1, "num_parallel": 2,
        "models": ["qwen2.5:0.5b"], "loaded": ["qwen2.5:0.5b"]}]}).start()
    client = ollama.Client(host=fleet.hosts["h"].url)
    totals: list[float] = []

    def one() -> None:
        r = client.generate("qwen2.5:0.5b", "a prompt of some words", options={"num_predict": 10})
        totals.append(r.total_duration / 1e9)

    try:
        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        fleet.stop()
    assert len(totals) == 2 and all(10.8 <= t < 16 for t in totals)  # 0.8 s prompt + 10 tokens

    # one slot: a second request waits until the first leaves
    with one_host(num_parallel=1) as single:
        engine = single.hosts["h"].engine
        first, _ = engine.enter()
        second: list[object] = []
        waiter = threading.Thread(target=lambda: second.append(engine.enter()))
        waiter.start()
        assert _until(lambda: engine.queued == 1)
        assert engine.active == 1 and not second
        engine.leave(first)
        waiter.join(10)
        assert second and (engine.active, engine.queued) == (1, 0)
        engine.leave(second[0][0])  # type: ignore[index]


# --- /metrics ---------------------------------------------------------------------------


STYLE_NAMES = {
    "nvidia_gpu_exporter": ["nvidia_smi_fan_speed_ratio", "nvidia_smi_temperature_gpu",
                            "nvidia_smi_power_draw_watts", "nvidia_smi_enforced_power_limit_watts",
                            "nvidia_smi_memory_free_bytes", "nvidia_smi_memory_used_bytes",
                            "nvidia_smi_memory_total_bytes", "nvidia_smi_utilization_gpu_ratio",
                            "nvidia_smi_gpu_info"],
    "dcgm": ["DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_FB_FREE",
             "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
             "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FAN_SPEED"],
    "amd": ["gpu_junction_temperature", "gpu_edge_temperature", "gpu_package_power",
            "gpu_total_vram", "gpu_used_vram", "gpu_free_vram", "gpu_energy_consumed"],
    "node": ["node_hwmon_temp_celsius", "node_hwmon_fan_rpm", "node_hwmon_fan_max_rpm",
             "node_hwmon_pwm", "node_hwmon_power_average_watt", "node_hwmon_chip_names",
             "node_hwmon_sensor_label", "node_memory_MemTotal_bytes",
             "node_drm_memory_vram_size_bytes", "node_drm_memory_vram_used_bytes"],
}
ALL_READINGS = {"fan_pct": 50, "temp_c": 60, "power_w": 100, "power_limit_w": 300,
                "util_pct": 40, "energy_j": 1000}


@pytest.mark.parametrize("style", sorted(STYLE_NAMES))
def test_metrics_styles_use_the_exporters_names(style):
    hardware = {"amd": "amd", "node": "amd"}.get(style, "nvidia")
    with one_host(hardware=hardware, metrics_style=style, readings=ALL_READINGS) as fleet:
        host = fleet.hosts["h"]
        found = scrape(host)
        for name in STYLE_NAMES[style]:
            assert name in found, name
        host.set_readings(fan_pct=None, temp_c=None)
        found = scrape(host)
        fan_or_temp = [n for n in STYLE_NAMES[style] if re.search(r"fan|temp|pwm|FAN|TEMP", n)]
        assert fan_or_temp and not set(fan_or_temp) & set(found)


def test_metrics_follow_readings_and_memory(demo, nvidia):
    host = demo.hosts["ollama-nvidia"]
    found = scrape(host)
    (fan,) = found["nvidia_smi_fan_speed_ratio"]
    assert fan.value == pytest.approx(0.65)
    assert set(fan.labels) == {"uuid"}
    (info,) = found["nvidia_smi_gpu_info"]
    assert info.labels["name"] == "NVIDIA GeForce RTX 4090" and info.labels["uuid"] == fan.labels["uuid"]
    (used,) = found["nvidia_smi_memory_used_bytes"]
    (free,) = found["nvidia_smi_memory_free_bytes"]
    assert used.value == 24e9 and free.value == 0  # llama3:70b fills the card
    nvidia.generate("llama3:8b", "hi")  # evicts it
    found = scrape(host)
    assert found["nvidia_smi_memory_used_bytes"][0].value == nvidia.ps().models[0].size_vram

    host.set_readings(fan_pct=30)
    assert scrape(host)["nvidia_smi_fan_speed_ratio"][0].value == pytest.approx(0.30)
    energy = scrape(host)["nvidia_smi_energy_joules"][0].value
    time.sleep(0.05)
    assert scrape(host)["nvidia_smi_energy_joules"][0].value > energy + 180 * 0.04

    npu = demo.hosts["ollama-npu"]
    assert httpx.get(npu.metrics_url).status_code == 404  # no exporter there


def test_metrics_delay_stalls_the_scrape(demo):
    host = demo.hosts["ollama-igpu"]
    host.metrics_delay_s = 0.5
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(host.metrics_url, timeout=0.1)
    host.metrics_delay_s = 0
    assert "node_hwmon_fan_rpm" in scrape(host)


# --- steering -------------------------------------------------------------------------------


def test_fail_next_before_and_during_the_answer(nvidia, demo):
    host = demo.hosts["ollama-nvidia"]
    host.fail_next(status=500, error="boom")
    with pytest.raises(ollama.ResponseError) as err:
        nvidia.generate("llama3:8b", "x")
    assert err.value.status_code == 500 and err.value.error == "boom"
    assert nvidia.generate("llama3:8b", "x").done

    host.fail_next(after_chunks=2)
    seen = []
    with pytest.raises(ollama.ResponseError) as err:
        for part in nvidia.chat("llama3:8b", messages=[{"role": "user", "content": "x"}],
                                stream=True):
            seen.append(part)
    assert len(seen) == 2 and "llama-server process has terminated" in err.value.error


def test_stop_refuses_connections_and_start_serves_again_on_the_same_port(demo):
    host = demo.hosts["ollama-igpu"]
    client = ollama.Client(host=host.url)
    port = host.port
    client.generate("llama3:8b", "hi")
    host.stop()
    with pytest.raises(ConnectionError):
        client.list()
    with pytest.raises(httpx.ConnectError):
        httpx.get(host.metrics_url)
    host.start()
    assert host.port == port
    assert client.list().models
    assert client.ps().models == []  # a restarted server has nothing loaded


def test_requests_are_logged(demo, nvidia):
    host = demo.hosts["ollama-nvidia"]
    nvidia.generate("llama3:8b", "logged", options={"num_ctx": 2048})
    (rec,) = host.requests_to("/api/generate")
    assert rec.method == "POST" and rec.body["prompt"] == "logged"
    assert rec.body["options"] == {"num_ctx": 2048}
    (m,) = [m for m in nvidia.ps().models if m.model == "llama3:8b"]
    assert m.context_length == 2048


def test_http_control_endpoint(demo):
    host = demo.hosts["ollama-nvidia"]
    url = host.url
    state = httpx.post(f"{url}/sim/control", json={
        "readings": {"fan_pct": 12, "temp_c": None},
        "fail_next": {"status": 503, "error": "busy"},
        "unload": "all",
    }).json()
    assert state["readings"]["fan_pct"] == 12 and "temp_c" not in state["readings"]
    assert state["loaded"] == [] and state["pending_failures"] == 1
    r = httpx.post(f"{url}/api/generate", json={"model": "llama3:8b", "prompt": "x"})
    assert r.status_code == 503 and r.json() == {"error": "busy"}
    state = httpx.get(f"{url}/sim/state").json()
    assert state["requests"][-1]["path"] == "/api/generate"
    r = httpx.post(f"{url}/sim/control", json={"bogus": 1})
    assert r.status_code == 400
    loaded = httpx.post(f"{url}/sim/control", json={"load": ["llama3:8b"]}).json()["loaded"]
    assert "llama3:8b" in [m if isinstance(m, str) else m.get("name") for m in loaded]
    with contextlib.suppress(httpx.TransportError):   # the restart may beat the answer
        httpx.post(f"{url}/sim/control", json={"restart_after_s": 0.2}, timeout=2)
    deadline = time.monotonic() + 10
    while True:  # up again with a fresh state: only the spec's preloaded model
        try:
            state = httpx.get(f"{url}/sim/state", timeout=0.5).json()
            names = [m if isinstance(m, str) else m.get("name") for m in state["loaded"]]
            if "llama3:8b" not in names:
                assert httpx.get(url, timeout=0.5).text == "Ollama is running"
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.02)


# --- specs, built-in fleets, config ---------------------------------------------------------------


def test_keep_alive_durations():
    assert parse_keep_alive(None) == 300
    assert parse_keep_alive("10m") == 600
    assert parse_keep_alive("1h30m") == 5400
    assert parse_keep_alive(45) == 45
    assert parse_keep_alive("0") == 0
    assert parse_keep_alive(-1) == float("inf") == parse_keep_alive("-1m")
    with pytest.raises(SimError):
        parse_keep_alive("soon")


def test_model_spec_defaults_and_memory():
    m = ModelSpec("llama3:8b")
    assert (m.size_gb, m.block_count, m.head_count_kv, m.head_dim) == (4.66, 32, 8, 128)
    assert m.kv_cache_bytes(4096) == 2 * 32 * 8 * 128 * 4096 * 2
    assert m.memory_need(8192) > m.memory_need(4096) > m.size_bytes
    guess = ModelSpec("someone/custom:13b")
    assert guess.parameter_size == "13.0B" and 7 < guess.size_gb < 9 and guess.block_count == 40
    assert "thinking" in ModelSpec("qwen3:8b").capabilities
    assert ModelSpec("mistral").name == "mistral:latest"


def test_spec_files_json_and_toml(tmp_path):
    data = {"time_scale": 0.5, "hosts": [{"name": "a", "vram_gb": 8,
                                          "models": ["qwen2.5:0.5b", {"name": "x:3b", "size_gb": 2}]}]}
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(data))
    spec = load_fleet_spec(path)
    assert spec.time_scale == 0.5 and spec.host("a").model("x:3b").size_gb == 2
    toml = tmp_path / "fleet.toml"
    toml.write_text('time_scale = 0.1\n[[hosts]]\nname = "b"\nhardware = "cpu"\nram_gb = 16\n'
                    'models = ["tinyllama:1b"]\n')
    assert load_fleet_spec(toml).host("b").hardware == "cpu"
    with pytest.raises(SpecError, match="vram"):
        FleetSpec.from_dict({"hosts": [{"name": "a", "vramgb": 8}]})
    with pytest.raises(SpecError, match="hardware"):
        HostSpec(name="a", hardware="tpu")
    with pytest.raises(SpecError, match="loaded"):
        HostSpec(name="a", models=["llama3:8b"], loaded=["mistral:7b"])


def test_builtin_fleets_and_their_load_times():
    demo = builtin_fleet("demo")
    assert [h.name for h in demo.hosts] == ["ollama-npu", "ollama-igpu", "ollama-nvidia", "ollama-cpu"]
    assert demo.host("ollama-nvidia").loaded == ["llama3:70b"]
    assert "fan_pct" in demo.host("ollama-npu").readings
    assert builtin_fleet("single").hosts[0].name == "ollama"
    with Fleet("tower", time_scale=FAST) as tower:
        assert tower.hosts["ollama-nvidia"].loaded == ["llama3.2:3b"]
        r = ollama.Client(host=tower.hosts["ollama-amd"].url).generate("qwen2.5-coder:7b", "hi")
        assert r.load_duration / 1e9 == pytest.approx(13.4, abs=0.1)  # ~13.5 s, as in the notes


def test_hosts_start_fast():
    fleet = Fleet("demo", time_scale=FAST)
    for host in fleet:
        start = time.perf_counter()
        host.start()
        assert time.perf_counter() - start < 0.5   # "fast": no model loading at start
    fleet.stop()
    assert not any(h.running for h in fleet)


def test_config_toml_points_at_the_running_hosts(demo):
    config = tomllib.loads(demo.config_toml())
    backends = {b["id"]: b for b in config["backends"]}
    assert list(backends) == list(demo.hosts)
    nv = backends["ollama-nvidia"]
    assert nv["host"] == demo.hosts["ollama-nvidia"].url
    assert nv["max_model_size_gb"] == 24 and nv["offload"] is True
    assert nv["telemetry"] == {"source": "prometheus", "url": demo.hosts["ollama-nvidia"].metrics_url}
    assert backends["ollama-npu"]["telemetry"]["source"] == "static"
    assert backends["ollama-npu"]["telemetry"]["fan_pct"] == 0
    assert backends["ollama-cpu"]["max_model_size_gb"] == 32
    assert config["model_equivalents"]["high_quality"] == ["llama3:70b", "mixtral:8x7b"]
    assert config["default_mode"] == "balanced" and config["modes"]["quiet"]["max_fan_pct"] == 40
    assert "model_routing" not in config

    config = tomllib.loads(demo.config_toml(
        default_mode="quiet",
        routing={"model_mode_conflict": "prefer_mode"},
        model_routing={"llama3:70b": {"force_backend": "ollama-nvidia"}},
        backends={"ollama-cpu": None, "ollama-igpu": {"max_model_size_gb": 6}},
    ))
    assert config["default_mode"] == "quiet"
    assert config["routing"]["model_mode_conflict"] == "prefer_mode"
    assert config["routing"]["allow_model_substitution"] is True
    assert config["model_routing"]["llama3:70b"]["force_backend"] == "ollama-nvidia"
    assert [b["id"] for b in config["backends"]] == ["ollama-npu", "ollama-igpu", "ollama-nvidia"]
    assert config["backends"][1]["max_model_size_gb"] == 6


def test_module_runs_until_interrupted(tmp_path):
    out = tmp_path / "sollama.toml"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartollama.sim", "demo", "--time-scale", "0.001",
         "--config-out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        rows = [json.loads(proc.stdout.readline()) for _ in range(4)]
        assert [r["name"] for r in rows] == ["ollama-npu", "ollama-igpu", "ollama-nvidia", "ollama-cpu"]
        assert all(r["url"] == f"http://127.0.0.1:{r['port']}" for r in rows)
        assert httpx.get(rows[2]["url"]).text == "Ollama is running"
        config = tomllib.loads(Path(out).read_text())
        assert config["backends"][2]["host"] == rows[2]["url"]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_stop_mid_answer_cuts_the_stream_and_frees_the_host():
    fleet = Fleet({"time_scale": 1.0, "hosts": [{
        "name": "h", "vram_gb": 24, "tokens_per_s": 2, "models": ["qwen2.5:0.5b"],
        "loaded": ["qwen2.5:0.5b"]}]}).start()
    host = fleet.hosts["h"]
    client = ollama.Client(host=host.url)
    errors = []

    def read() -> None:
        try:
            for _ in client.generate("qwen2.5:0.5b", "hello", stream=True):
                pass
        except Exception as exc:  # the connection drops
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    started = time.monotonic()
    host.stop()
    reader.join(timeout=5)
    assert not reader.is_alive() and errors
    assert time.monotonic() - started < 1
    host.time_scale = FAST
    host.start()
    assert client.generate("qwen2.5:0.5b", "again").done  # the old request holds no slot
    fleet.stop()
