"""Every request Ollama refuses, refused by the simulator with Ollama's status and text.

Each case is one request through the official `ollama` client (or plain HTTP where the
client would refuse it before sending), against the `today` fleet. The expected texts
are Ollama's own (server/routes.go, api/types.go, internal/modelref).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import ollama
import pytest

from smartollama.sim import Fleet, builtin_fleet

TOOL = {"type": "function", "function": {"name": "get_weather", "description": "weather",
                                         "parameters": {"type": "object",
                                                        "properties": {"city": {"type": "string"}}}}}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def client(today_sim: Fleet) -> ollama.Client:
    return ollama.Client(host=today_sim.hosts["ollama-big"].url)


# (id, call on the client, status, error text)
CASES: list[tuple[str, Callable[[ollama.Client], Any], int, str]] = [
    ("tools to a model without tools",
     lambda c: c.chat("llama3:8b", messages=HI, tools=[TOOL]),
     400, "registry.ollama.ai/library/llama3:8b does not support tools"),
    ("chat to an embedding model",
     lambda c: c.chat("nomic-embed-text", messages=HI),
     400, '"nomic-embed-text" does not support chat'),
    ("generate to an embedding model",
     lambda c: c.generate("nomic-embed-text", "hi"),
     400, '"nomic-embed-text" does not support generate'),
    ("thinking to a model without it (generate)",
     lambda c: c.generate("llama3:8b", "hi", think=True),
     400, '"llama3:8b" does not support thinking'),
    ("thinking to a model without it (chat, a level)",
     lambda c: c.chat("gemma3:4b", messages=HI, think="high"),
     400, '"gemma3:4b" does not support thinking'),
    ("suffix to a model without insert",
     lambda c: c.generate("llama3:8b", "def f(", suffix="    return 1"),
     400, "registry.ollama.ai/library/llama3:8b does not support insert"),
    ("raw with a system prompt",
     lambda c: c.generate("llama3:8b", "hi", raw=True, system="be brief"),
     400, "raw mode does not support template, system, or context"),
    ("raw with a template",
     lambda c: c.generate("llama3:8b", "hi", raw=True, template="{{ .Prompt }}"),
     400, "raw mode does not support template, system, or context"),
    ("top_logprobs above 20",
     lambda c: c.generate("llama3:8b", "hi", logprobs=True, top_logprobs=21),
     400, "top_logprobs must be between 0 and 20"),
    ("top_logprobs below 0 (chat)",
     lambda c: c.chat("llama3:8b", messages=HI, logprobs=True, top_logprobs=-1),
     400, "top_logprobs must be between 0 and 20"),
    ("keep_alive as a bare number in a string",
     lambda c: c.generate("llama3:8b", "hi", keep_alive="300"),
     400, 'time: missing unit in duration "300"'),
    ("keep_alive with an unknown unit",
     lambda c: c.chat("llama3:8b", messages=HI, keep_alive="5 min"),
     400, 'time: unknown unit " min" in duration "5 min"'),
    ("an integer option given as a string",
     lambda c: c.generate("llama3:8b", "hi", options={"num_ctx": "8k"}),
     500, 'option "num_ctx" must be of type integer'),
    ("a float option given as a string",
     lambda c: c.chat("llama3:8b", messages=HI, options={"temperature": "hot"}),
     500, 'option "temperature" must be of type float32'),
    ("stop given as a string",
     lambda c: c.generate("llama3:8b", "hi", options={"stop": "\n"}),
     500, 'option "stop" must be of type array'),
    ("a model that is not there",
     lambda c: c.generate("nope:1b", "hi"),
     404, "model 'nope:1b' not found"),
    ("an invalid model name",
     lambda c: c.chat("bad name!", messages=HI),
     400, "invalid model name"),
    ("both :local and :cloud",
     lambda c: c.generate("gpt-oss:120b:local:cloud", "hi"),
     400, 'use either :local or :cloud, not both: "gpt-oss:120b:local:cloud"'),
    ("a cloud name asked for as local",
     lambda c: c.generate("gpt-oss:120b-cloud:local", "hi"),
     400, 'use either :local or :cloud, not both: "gpt-oss:120b-cloud:local"'),
    ("a cloud model asked for as local",
     lambda c: c.chat("gpt-oss:120b:local", messages=HI),
     404, "model 'gpt-oss:120b:local' not found"),
    ("embed input longer than the context, truncate off",
     lambda c: c.embed("nomic-embed-text", "word " * 3000, truncate=False),
     400, "the input length exceeds the context length"),
    ("legacy embeddings of a model that is not there",
     lambda c: c.embeddings("nope:1b", "hi"),
     404, 'model "nope:1b" not found, try pulling it first'),
]


@pytest.mark.parametrize(("call", "status", "error"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_refused_as_ollama_refuses(client: ollama.Client, call: Callable[[ollama.Client], Any],
                                   status: int, error: str) -> None:
    with pytest.raises(ollama.ResponseError) as err:
        call(client)
    assert (err.value.status_code, err.value.error) == (status, error)


# (id, path, body, status, the whole JSON answer) for what the client refuses to send
RAW_CASES = [
    ("no body", "/api/generate", None, 400, {"error": "missing request body"}),
    ("no model (generate)", "/api/generate", {"prompt": "x"}, 404, {"error": "model '' not found"}),
    ("no model (chat)", "/api/chat", {"messages": HI}, 400, {"error": "model is required"}),
    ("no model (show)", "/api/show", {}, 400, {"error": "model is required"}),
    ("not JSON", "/api/chat", b"{oops", 400,
     {"error": "invalid character 'o' looking for beginning of object key string"}),
    ("a field of the wrong type", "/api/generate", {"model": "llama3:8b", "prompt": 5}, 400,
     {"error": "json: cannot unmarshal number into Go struct field GenerateRequest.prompt "
               "of type string"}),
    ("an unknown thinking level", "/api/chat", {"model": "qwen3:8b", "messages": HI,
                                                "think": "maximum"}, 400,
     {"error": 'invalid think value: "maximum" (must be "high", "medium", "low", "max", true, '
               "or false)"}),
    ("embed input of the wrong type", "/api/embed", {"model": "nomic-embed-text", "input": [1, 2]},
     400, {"error": "invalid input type"}),
    ("a format that is neither json nor a schema", "/api/generate",
     {"model": "llama3:8b", "prompt": "x", "format": "yaml"}, 500,
     {"error": 'invalid format: "\\"yaml\\""; expected "json" or a valid JSON Schema object'}),
    ("keep_alive as a bool", "/api/generate", {"model": "llama3:8b", "keep_alive": True}, 400,
     {"error": "Unsupported type: 'bool'"}),
]


@pytest.mark.parametrize(("path", "body", "status", "answer"), [c[1:] for c in RAW_CASES],
                         ids=[c[0] for c in RAW_CASES])
def test_refused_over_plain_http(today_sim: Fleet, path: str, body: Any, status: int,
                                 answer: dict[str, Any]) -> None:
    url = today_sim.hosts["ollama-big"].url + path
    if isinstance(body, bytes) or body is None:
        r = httpx.post(url, content=body or b"")
    else:
        r = httpx.post(url, json=body)
    assert (r.status_code, r.json()) == (status, answer)


def test_cloud_disabled_and_signed_out() -> None:
    spec = builtin_fleet("today", time_scale=0.0)
    spec.hosts[0].cloud = "signed_out"
    with Fleet(spec) as fleet:
        big, small = fleet.hosts["ollama-big"], fleet.hosts["ollama-small"]
        with pytest.raises(ollama.ResponseError) as err:
            ollama.Client(host=small.url).chat("gpt-oss:20b-cloud", messages=HI)
        assert (err.value.status_code, err.value.error) == (
            403, "ollama cloud is disabled: remote model is unavailable")
        r = httpx.post(f"{big.url}/api/generate", json={"model": "gpt-oss:120b-cloud", "prompt": "x"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert r.json()["signin_url"].startswith("https://ollama.com/connect?name=")
        # the local models answer as before
        assert ollama.Client(host=big.url).generate("llama3:8b", "hi").done
        assert httpx.post(f"{big.url}/sim/control", json={"cloud": "ok"}).json()["cloud"] == "ok"
        assert ollama.Client(host=big.url).generate("gpt-oss:120b-cloud", "hi").done


def test_out_of_memory_is_worded_as_the_current_server_words_it() -> None:
    spec = {"hosts": [{"name": "h", "hardware": "nvidia", "vram_gb": 8,
                       "models": ["llama3:70b"]}], "time_scale": 0.0}
    with Fleet(spec) as fleet, pytest.raises(ollama.ResponseError) as err:
        ollama.Client(host=fleet.hosts["h"].url).generate("llama3:70b", "hi")
    assert err.value.status_code == 500
    assert err.value.error.startswith("llama-server reported out-of-memory during startup: ")
    assert "cudaMalloc failed: out of memory" in err.value.error


def test_a_refused_request_leaves_the_connection_usable(today_sim: Fleet) -> None:
    with httpx.Client(base_url=today_sim.hosts["ollama-big"].url) as http:
        bad = http.post("/api/generate", json={"model": "llama3:8b", "prompt": "x",
                                                "options": {"num_ctx": "8k"}, "stream": False})
        good = http.post("/api/generate", json={"model": "llama3:8b", "prompt": "x",
                                                 "stream": False})
    assert bad.status_code == 500 and good.status_code == 200 and good.json()["done"]
