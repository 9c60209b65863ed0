"""The simulator's OpenAI-compatible endpoints, checked with the official `openai` client as
Ollama's own (`openai/openai.go`, `middleware/openai.go`) would answer it."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from smartollama.sim import Fleet

HI = [{"role": "user", "content": "hello there"}]
TOOL = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}


@pytest.fixture(scope="module")
def client(today_sim: Fleet) -> openai.OpenAI:
    return openai.OpenAI(base_url=today_sim.hosts["ollama-big"].url + "/v1", api_key="ollama",
                         max_retries=0)


def test_models_list_and_retrieve(client: openai.OpenAI, today_sim: Fleet) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == [m.name for m in today_sim.spec.host("ollama-big").models]
    model = client.models.retrieve("llama3:8b")
    assert (model.id, model.object, model.owned_by) == ("llama3:8b", "model", "library")
    assert model.created > 1_600_000_000
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("nope:1b")
    assert err.value.body == {"message": "model 'nope:1b' not found", "type": "not_found_error",
                              "param": None, "code": None}


def test_chat_completion_whole_and_streamed(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="llama3:8b", messages=HI)  # type: ignore[arg-type]
    assert whole.id.startswith("chatcmpl-") and whole.object == "chat.completion"
    assert whole.system_fingerprint == "fp_ollama" and whole.model == "llama3:8b"
    (choice,) = whole.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == "Hello from llama3:8b on ollama-big. You said: hello there"
    assert whole.usage is not None and whole.usage.total_tokens == (
        whole.usage.prompt_tokens + whole.usage.completion_tokens) > 0

    chunks = list(client.chat.completions.create(
        model="llama3:8b", messages=HI, stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == choice.message.content
    finish, usage = chunks[-2], chunks[-1]
    assert finish.choices[0].finish_reason == "stop" and not finish.choices[0].delta.content
    assert usage.choices == [] and usage.usage is not None and usage.usage.completion_tokens > 0


def test_chat_streams_as_server_sent_events(today_sim: Fleet) -> None:
    url = today_sim.hosts["ollama-big"].url + "/v1/chat/completions"
    with httpx.stream("POST", url, json={"model": "llama3:8b", "messages": HI, "stream": True}) as r:
        assert r.headers["content-type"] == "text/event-stream"
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["object"] == "chat.completion.chunk"


def test_reasoning_and_tool_calls(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="qwen3:8b", messages=HI,  # type: ignore[arg-type]
                                       reasoning_effort="low")
    assert (r.choices[0].message.model_extra or {}).get("reasoning", "").startswith("The user wrote")
    r = client.chat.completions.create(model="llama3.1:8b", messages=HI,  # type: ignore[arg-type]
                                       tools=[TOOL])  # type: ignore[list-item]
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert set(args) == {"city"} and isinstance(args["city"], str)
    streamed = list(client.chat.completions.create(
        model="llama3.1:8b", messages=HI, tools=[TOOL], stream=True))  # type: ignore[arg-type,list-item]
    assert streamed[-1].choices[0].finish_reason == "tool_calls"
    assert any(c.choices[0].delta.tool_calls for c in streamed)


def test_completions_whole_and_streamed(client: openai.OpenAI) -> None:
    whole = client.completions.create(model="llama3:8b", prompt="say hi")
    assert whole.object == "text_completion" and whole.id.startswith("cmpl-")
    assert whole.choices[0].text.startswith("Hello from llama3:8b")
    assert whole.choices[0].finish_reason == "stop"
    parts = list(client.completions.create(model="llama3:8b", prompt="say hi", stream=True))
    assert "".join(p.choices[0].text for p in parts) == whole.choices[0].text
    assert parts[-1].choices[0].finish_reason == "stop"
    short = client.completions.create(model="llama3:8b", prompt="say hi", max_tokens=2)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 2  # type: ignore[union-attr]


def test_embeddings_float_base64_and_dimensions(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="nomic-embed-text", input=["a", "b"],
                                      encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1] and len(floats.data[0].embedding) == 768
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0
    packed = client.embeddings.create(model="nomic-embed-text", input=["a", "b"],
                                      encoding_format="base64")
    got = packed.data[0].embedding
    if isinstance(got, str):  # the client may hand the base64 text over as is
        import base64
        import struct
        raw = base64.b64decode(got)
        got = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    assert got == pytest.approx(floats.data[0].embedding, rel=1e-6)
    short = client.embeddings.create(model="nomic-embed-text", input="a", dimensions=32,
                                     encoding_format="float")
    assert len(short.data[0].embedding) == 32


def test_refusals_keep_ollamas_status_and_text(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="llama3:8b", messages=HI,  # type: ignore[arg-type]
                                       tools=[TOOL])  # type: ignore[list-item]
    assert err.value.body["message"] == "registry.ollama.ai/library/llama3:8b does not support tools"  # type: ignore[index]
    assert err.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="does not support chat"):
        client.chat.completions.create(model="nomic-embed-text", messages=HI)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="too short"):
        client.chat.completions.create(model="llama3:8b", messages=[])
    with pytest.raises(openai.NotFoundError, match="model 'nope:1b' not found"):
        client.completions.create(model="nope:1b", prompt="x")
    with pytest.raises(openai.BadRequestError, match="does not support generate"):
        client.completions.create(model="nomic-embed-text", prompt="x")
    with pytest.raises(openai.BadRequestError, match="ChatCompletionRequest.max_tokens of type int"):
        client.chat.completions.create(model="llama3:8b", messages=HI,  # type: ignore[arg-type]
                                       max_tokens="many")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="Supported values: \\['float', 'base64'\\]"):
        client.embeddings.create(model="nomic-embed-text", input="a",
                                 encoding_format="utf8")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="invalid input"):
        client.embeddings.create(model="nomic-embed-text", input=[], encoding_format="float")
