"""What a current Ollama server reports and does, checked on the simulator with the
official `ollama` client: capabilities, context lengths, cloud models, tool calls,
log probabilities, embeddings, `/api/status`; and the built-in fleets kept at 4096
tokens, as the router plans for them today.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import ollama
import pytest

from smartollama.sim import Fleet, HostSpec, ModelSpec, SpecError, builtin_fleet

TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "the weather in a city",
    "parameters": {"type": "object", "required": ["city"],
                   "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}
HI = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture
def today() -> Iterator[Fleet]:
    with Fleet(builtin_fleet("today", time_scale=0.0)) as fleet:
        yield fleet


@pytest.fixture
def big(today: Fleet) -> ollama.Client:
    return ollama.Client(host=today.hosts["ollama-big"].url)


def test_tags_carry_capabilities_context_length_and_the_cloud(big: ollama.Client) -> None:
    models = {m.model: m for m in big.list().models}
    cloud = models["gpt-oss:120b-cloud"]
    assert cloud.size == 384  # a manifest, no weights
    raw = httpx.get(f"{big._client.base_url}/api/tags").json()["models"]
    entry = next(m for m in raw if m["name"] == "gpt-oss:120b-cloud")
    assert (entry["remote_model"], entry["remote_host"]) == ("gpt-oss:120b", "https://ollama.com:443")
    assert entry["capabilities"] == ["completion", "tools", "thinking"]
    assert entry["details"]["context_length"] == 131072
    caps = {m["name"]: m["capabilities"] for m in raw}  # the client's list() drops them
    assert caps["nomic-embed-text:latest"] == ["embedding"]
    assert caps["qwen2.5-coder:7b"] == ["completion", "tools", "insert"]
    assert caps["gemma3:4b"] == ["completion", "vision"]
    assert caps["llama3:8b"] == ["completion"]
    assert models["llama3:8b"].details.family == "llama"
    assert "remote_host" not in next(m for m in raw if m["name"] == "llama3:8b")


def test_show_of_a_cloud_model_has_no_block_count(big: ollama.Client) -> None:
    cloud = big.show("gpt-oss:120b-cloud")
    assert cloud.modelinfo is not None and "gptoss.block_count" not in cloud.modelinfo
    assert cloud.modelinfo["gptoss.context_length"] == 131072
    assert cloud.capabilities == ["completion", "tools", "thinking"]
    shown = httpx.post(f"{big._client.base_url}/api/show", json={"model": "gpt-oss:120b-cloud"}).json()
    assert shown["remote_host"] == "https://ollama.com:443" and "tensors" not in shown
    local = big.show("llama3.1:8b")
    assert local.modelinfo["llama.block_count"] == 32
    assert local.modelinfo["llama.context_length"] == 131072


def test_a_cloud_model_answers_marked_remote_and_takes_no_memory(today: Fleet,
                                                                 big: ollama.Client) -> None:
    for name in ("gpt-oss:120b-cloud", "gpt-oss:120b:cloud"):
        r = big.generate(name, "hi", think=False)
        assert r.done and r.response.startswith("Hello from gpt-oss:120b-cloud")
        assert r.load_duration == 0
    parts = [p.model_dump() for p in big.chat("gpt-oss:120b-cloud", messages=HI, stream=True)]
    line = httpx.post(f"{big._client.base_url}/api/chat", json={
        "model": "gpt-oss:120b-cloud", "messages": HI, "stream": False}).json()
    assert (line["remote_model"], line["remote_host"]) == ("gpt-oss:120b", "https://ollama.com:443")
    assert parts[-1]["done"]
    assert big.ps().models == []
    assert today.hosts["ollama-big"].state()["memory"]["device_used"] == 0


def test_context_length_follows_device_memory_capped_at_the_models(big: ollama.Client) -> None:
    big.generate("llama3.1:8b", "hi")          # trained for 131072 < 262144 (48 GiB tier)
    big.generate("qwen2.5-coder:7b", "hi")     # trained for 32768
    big.generate("llama3:8b", "hi", options={"num_ctx": 2048})  # asked for
    ctx = {m.model: m.context_length for m in big.ps().models}
    assert ctx == {"llama3.1:8b": 131072, "qwen2.5-coder:7b": 32768, "llama3:8b": 2048}
    sizes = {m.model: m.size for m in big.ps().models}
    kv = 2 * 32 * 8 * 128 * 131072 * 2        # 16 GiB of f16 cache
    assert sizes["llama3.1:8b"] == 4_920_000_000 + kv + 256 * 1024 * 1024


@pytest.mark.parametrize(("vram_gb", "expected"), [(8, 4096), (25, 32768), (51.5, 262144),
                                                   (0, 4096)])
def test_the_default_context_tiers(vram_gb: float, expected: int) -> None:
    hardware = "cpu" if vram_gb == 0 else "nvidia"
    assert HostSpec(name="h", hardware=hardware, vram_gb=vram_gb, ram_gb=8).default_num_ctx() == expected
    assert HostSpec(name="h", vram_gb=vram_gb, context_length=8192).default_num_ctx() == 8192


def test_parallel_slots_multiply_the_cache_but_not_an_embedding_models(today: Fleet) -> None:
    small = ollama.Client(host=today.hosts["ollama-small"].url)  # 4096 tokens, 2 slots
    small.generate("llama3.2:3b", "hi")
    small.embed("all-minilm", "hi")
    rows = {m.model: m for m in small.ps().models}
    m = ModelSpec("llama3.2:3b")
    assert rows["llama3.2:3b"].context_length == 4096
    assert rows["llama3.2:3b"].size == m.size_bytes + m.kv_cache_bytes(2 * 4096) + 256 * 1024 * 1024
    e = ModelSpec("all-minilm")
    assert rows["all-minilm:latest"].context_length == 512
    assert rows["all-minilm:latest"].size == e.size_bytes + e.kv_cache_bytes(512) + 256 * 1024 * 1024


def test_an_automatic_context_steps_down_before_running_out_of_memory() -> None:
    huge = {"name": "wide:70b", "size_gb": 40, "context_length": 131072, "block_count": 80,
            "embedding_length": 8192, "head_count": 64, "head_count_kv": 8}
    spec = {"hosts": [{"name": "h", "vram_gb": 51.5, "models": [huge]}], "time_scale": 0.0}
    with Fleet(spec) as fleet:
        client = ollama.Client(host=fleet.hosts["h"].url)
        client.generate("wide:70b", "hi")
        assert [m.context_length for m in client.ps().models] == [32768]
        with pytest.raises(ollama.ResponseError) as err:   # asked for: no stepping down
            client.generate("wide:70b", "hi", options={"num_ctx": 131072})
        assert err.value.status_code == 500 and "out-of-memory" in err.value.error


def test_builtin_fleets_keep_4096_tokens() -> None:
    for name in ("demo", "tower", "single"):
        assert {h.default_num_ctx() for h in builtin_fleet(name).hosts} == {4096}
    with Fleet("single", time_scale=0.0) as fleet:
        client = ollama.Client(host=fleet.hosts["ollama"].url)
        client.generate("mistral:7b", "hi")   # trained for 32768, loaded at 4096 as before
        assert [m.context_length for m in client.ps().models] == [4096]
    names = {m.name for f in ("demo", "tower", "single") for h in builtin_fleet(f).hosts
             for m in h.models}
    assert not any(n.endswith("cloud") or "embed" in n for n in names)


def test_tool_calls_for_a_model_with_tools(big: ollama.Client) -> None:
    r = big.chat("llama3.1:8b", messages=HI, tools=[TOOL])
    (call,) = r.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert set(call.function.arguments) == {"city", "days"} and call.function.arguments["days"] == 42
    assert r.message.content == "" and r.done_reason == "stop"
    streamed = [c for p in big.chat("llama3.1:8b", messages=HI, tools=[TOOL], stream=True)
                for c in p.message.tool_calls or []]
    assert [c.function.name for c in streamed] == ["get_weather"]
    follow = HI + [r.message.model_dump(exclude_none=True),
                   {"role": "tool", "content": "sunny, 21 C", "tool_name": "get_weather"}]
    answer = big.chat("llama3.1:8b", messages=follow, tools=[TOOL])
    assert not answer.message.tool_calls and answer.message.content.startswith("Hello from")


def test_logprobs_when_asked(big: ollama.Client) -> None:
    r = big.generate("llama3:8b", "hi", logprobs=True, top_logprobs=3)
    assert r.logprobs is not None and len(r.logprobs) == r.eval_count
    first = r.logprobs[0]
    assert first.logprob < 0 and len(first.top_logprobs or []) == 3
    assert "".join(lp.token for lp in r.logprobs) == r.response
    parts = list(big.chat("llama3:8b", messages=HI, logprobs=True, stream=True))
    assert all(p.logprobs for p in parts[:-1])
    assert big.generate("llama3:8b", "hi").logprobs is None


def test_embed_with_dimensions_and_the_legacy_endpoint(big: ollama.Client) -> None:
    r = big.embed("nomic-embed-text", ["first", "second"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) == 768
    assert math.isclose(sum(v * v for v in r.embeddings[0]), 1.0, rel_tol=1e-6)
    assert r.embeddings[0] != r.embeddings[1]
    assert big.embed("nomic-embed-text", "first").embeddings[0] == r.embeddings[0]
    short = big.embed("nomic-embed-text", "first", dimensions=64).embeddings[0]
    assert len(short) == 64 and math.isclose(sum(v * v for v in short), 1.0, rel_tol=1e-6)
    assert big.embed("nomic-embed-text", []).embeddings == []
    legacy = big.embeddings("nomic-embed-text", "first").embedding
    assert len(legacy) == 768 and sum(v * v for v in legacy) > 2
    assert len(big.embed("llama3:8b", "a chat model embeds too").embeddings[0]) == 4096


def test_status_says_whether_the_cloud_is_disabled(today: Fleet) -> None:
    big, small = today.hosts["ollama-big"], today.hosts["ollama-small"]
    assert httpx.get(f"{big.url}/api/status").json() == {"cloud": {"disabled": False, "source": "none"}}
    assert httpx.get(f"{small.url}/api/status").json() == {"cloud": {"disabled": True, "source": "env"}}


def test_thinking_models_think_unless_told_not_to(big: ollama.Client) -> None:
    assert big.generate("deepseek-r1:8b", "hi").thinking
    assert not big.generate("deepseek-r1:8b", "hi", think=False).thinking
    assert big.chat("qwen3:8b", messages=HI, think="low").message.thinking


def test_spec_checks_for_cloud_models() -> None:
    assert ModelSpec("qwen3-coder:480b-cloud").remote_model == "qwen3-coder:480b"
    with pytest.raises(SpecError, match="cloud model"):
        HostSpec(name="h", models=["gpt-oss:120b-cloud"], loaded=["gpt-oss:120b-cloud"])
    with pytest.raises(SpecError, match="cloud"):
        HostSpec(name="h", cloud="maybe")
