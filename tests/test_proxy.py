"""`sollama proxy`: the official `ollama` and `openai` clients, pointed at a real proxy in
front of a simulated three-host fleet, get routed answers, refusals and decision ids
that `sollama why` explains."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_on
from proxyfleet import ProxyProcess, three_hosts
from smartollama.sim import Fleet

HI = [{"role": "user", "content": "hello there"}]
QUIET_ONLY = {"X-Sollama-Mode": "quiet", "X-Sollama-Policy": "prefer_mode"}


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with Fleet(three_hosts()) as f:
        yield f


@pytest.fixture(scope="module")
def proxy(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    p = ProxyProcess(tmp_path_factory.mktemp("proxy"), fleet.config_toml()).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def oai(proxy: ProxyProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0)


def why_json(proxy: ProxyProcess, decision: str) -> dict[str, Any]:
    """`sollama why ID --json`: the decision as recorded."""
    r = proxy.sollama("why", decision, "--json")
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


# -- Ollama's API, with the official client ---------------------------------------------------


def test_ollama_client_chat_and_generate_are_routed(proxy: ProxyProcess) -> None:
    client = ollama.Client(host=proxy.url)
    r = client.chat(model="llama3:8b", messages=HI)
    # the two hosts that hold llama3:8b (which one: the tests before, in this module, decide)
    assert re.fullmatch(r"Hello from llama3:8b on ollama-(igpu|nvidia)\. You said: hello there",
                        r.message.content or "")
    assert r.done and r.eval_count
    parts = list(client.generate(model="mistral:7b", prompt="why is the sky blue", stream=True))
    assert "".join(p.response for p in parts).startswith("Hello from mistral:7b on ")
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    streamed = list(client.chat(model="qwen2.5:0.5b", messages=HI, stream=True))
    assert "".join(p.message.content or "" for p in streamed).startswith(
        "Hello from qwen2.5:0.5b on ollama-")
    assert streamed[-1].done and streamed[-1].eval_count


def test_ollama_client_embeddings(proxy: ProxyProcess) -> None:
    client = ollama.Client(host=proxy.url)
    e = client.embed(model="nomic-embed-text", input=["one", "two"])
    assert len(e.embeddings) == 2 and len(e.embeddings[0]) > 100
    old = client.embeddings(model="nomic-embed-text", prompt="one")
    assert len(old.embedding) == len(e.embeddings[0])


def test_ollama_client_gets_a_refusal_as_409(proxy: ProxyProcess) -> None:
    client = ollama.Client(host=proxy.url, headers=QUIET_ONLY)
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="llama3:70b", messages=HI)
    assert err.value.status_code == 409
    assert err.value.error.startswith("sollama refused llama3:70b: ")
    assert "suggestions: model llama3:8b" in err.value.error


def test_decision_headers_and_why_explains_the_id(proxy: ProxyProcess) -> None:
    r = httpx.post(proxy.url + "/api/generate", json={"model": "llama3:8b", "prompt": "hi",
                                                       "stream": False}, timeout=30)
    assert r.status_code == 200
    h = r.headers
    backend = h["x-sollama-backend"]
    assert r.json()["response"].startswith(f"Hello from llama3:8b on {backend}. ")
    assert (h["x-sollama-action"], h["x-sollama-model"]) == ("run", "llama3:8b")
    decision = h["x-sollama-decision"]
    recorded = why_json(proxy, decision)
    assert recorded["id"] == decision and recorded["backend_used"] == backend
    assert recorded["outcome"]["status"] == "ok" and recorded["outcome"]["eval_tokens"] > 0
    assert recorded["prompt_chars"] == 2 and "prompt" not in recorded
    text = proxy.sollama("why", decision)
    assert text.returncode == 0, text.stderr
    assert "llama3:8b" in text.stdout and backend in text.stdout
    assert "chosen" in text.stdout


def test_routing_headers_set_the_request(proxy: ProxyProcess) -> None:
    r = httpx.post(proxy.url + "/api/chat", headers=QUIET_ONLY, timeout=30, json={
        "model": "llama3:70b", "messages": HI, "stream": False})
    assert r.status_code == 409
    decision = r.headers["x-sollama-decision"]
    assert r.headers["x-sollama-action"] == "refuse" and "x-sollama-backend" not in r.headers
    recorded = why_json(proxy, decision)
    assert (recorded["action"], recorded["mode"], recorded["policy"]) == (
        "refuse", "quiet", "prefer_mode")
    assert recorded["suggestions"]
    r = httpx.post(proxy.url + "/api/chat", timeout=30, headers={
        "X-Sollama-Urgency": "batch", "X-Sollama-Task": "code", "X-Sollama-Mode": "quiet",
        "X-Sollama-Policy": "substitute"}, json={"model": "llama3:70b", "messages": HI,
                                                   "stream": False})
    assert r.status_code == 200 and r.headers["x-sollama-action"] == "substitute"
    assert r.json()["model"] == r.headers["x-sollama-model"] != "llama3:70b"
    recorded = why_json(proxy, r.headers["x-sollama-decision"])
    assert (recorded["urgency"], recorded["task"]) == ("batch", "code")
    bad = httpx.post(proxy.url + "/api/chat", headers={"X-Sollama-Urgency": "now"},
                     json={"model": "llama3:8b", "messages": HI})
    assert bad.status_code == 400 and bad.json()["error"].startswith("X-Sollama-Urgency: ")
    missing = httpx.post(proxy.url + "/api/chat", json={"model": "nope:1b", "messages": HI})
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("nope:1b is not on any backend")
    bad = httpx.post(proxy.url + "/api/chat", headers={"X-Sollama-Mode": "silent"},
                     json={"model": "llama3:8b", "messages": HI})
    assert bad.status_code == 400 and "X-Sollama-Mode" in bad.json()["error"]


def test_fallback_before_the_first_byte(fleet: Fleet, tmp_path: Path) -> None:
    """The host tried first fails before its first byte: the answer comes from the
    next choice. Which host a decision tries first depends on what the proxy has
    learned by then (the module's other tests, its batched writes), so this proxy
    has the iGPU preferred for the model, and the NVIDIA card is the fallback."""
    chosen, other = "ollama-igpu", "ollama-nvidia"
    toml = fleet.config_toml() + (f'\n[model_routing."llama3:8b"]\n'
                                  f'prefer_backend = "{chosen}"\n')
    proxy = ProxyProcess(tmp_path / "preferring", toml).start()
    try:
        body = {"model": "llama3:8b", "messages": HI, "stream": True}
        fleet[chosen].fail_next(500, "out of memory")
        try:
            r = httpx.post(proxy.url + "/api/chat", timeout=30, json=body)
        finally:
            fleet[chosen].clear_failures()
        assert r.status_code == 200
        lines = [json.loads(x) for x in r.text.splitlines() if x]
        assert lines[-1]["done"] is True
        assert r.headers["x-sollama-backend"] == other
        text = "".join(x["message"]["content"] for x in lines)
        assert text.startswith(f"Hello from llama3:8b on {other}")
        recorded = why_json(proxy, r.headers["x-sollama-decision"])
        assert recorded["backend_used"] == other
        assert recorded["outcome"]["attempts"] == [
            {"backend": chosen, "model": "llama3:8b", "error": "out of memory"}]
    finally:
        proxy.stop()


# -- the OpenAI-compatible API, with the official client --------------------------------------


def test_openai_client_chat_whole_and_streamed(oai: openai.OpenAI, proxy: ProxyProcess) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="llama3:8b", messages=HI)  # type: ignore[arg-type]
    whole = raw.parse()
    backend = raw.headers["x-sollama-backend"]
    assert whole.choices[0].message.content == (
        f"Hello from llama3:8b on {backend}. You said: hello there")
    decision = raw.headers["x-sollama-decision"]
    assert why_json(proxy, decision)["outcome"]["status"] == "ok"
    chunks = list(oai.chat.completions.create(model="mistral:7b", messages=HI, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Hello from mistral:7b on ")
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_client_completions_embeddings_and_models(oai: openai.OpenAI) -> None:
    c = oai.completions.create(model="llama3:8b", prompt="say hi")
    assert c.choices[0].text.startswith("Hello from llama3:8b on ")
    e = oai.embeddings.create(model="nomic-embed-text", input="hello")
    assert len(e.data[0].embedding) > 100
    ids = [m.id for m in oai.models.list()]
    assert len(ids) == len(set(ids)) and {"llama3:70b", "qwen2.5:0.5b", "nomic-embed-text:latest"
                                          } <= set(ids)


def test_openai_client_gets_a_refusal_as_409(proxy: ProxyProcess) -> None:
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0,
                           default_headers=QUIET_ONLY)
    with pytest.raises(openai.ConflictError) as err:
        client.chat.completions.create(model="llama3:70b", messages=HI)  # type: ignore[arg-type]
    assert err.value.status_code == 409
    assert isinstance(err.value.body, dict)
    assert str(err.value.body["message"]).startswith("sollama refused llama3:70b: ")
    decision = err.value.response.headers["x-sollama-decision"]
    assert decision in str(err.value.body["message"])


# -- the union over hosts, management, metrics -------------------------------------------------


def test_tags_ps_version_show_are_the_fleets(proxy: ProxyProcess, fleet: Fleet) -> None:
    tags = httpx.get(proxy.url + "/api/tags").json()["models"]
    by_name = {m["name"]: m for m in tags}
    assert len(by_name) == len(tags)
    assert by_name["qwen2.5:0.5b"]["x_sollama_backends"] == [
        "ollama-npu", "ollama-igpu", "ollama-nvidia"]
    assert by_name["llama3:70b"]["x_sollama_backends"] == ["ollama-nvidia"]
    ps = httpx.get(proxy.url + "/api/ps").json()["models"]
    loaded: dict[str, list[str]] = {}
    for name, host in fleet.hosts.items():
        for m in httpx.get(host.url + "/api/ps").json()["models"]:
            loaded.setdefault(m["name"], []).append(name)
    assert {m["name"]: m["x_sollama_backends"] for m in ps} == loaded
    assert httpx.get(proxy.url + "/api/version").json()["version"]
    show = httpx.post(proxy.url + "/api/show", json={"model": "llama3:70b"})
    assert show.status_code == 200 and show.headers["x-sollama-backend"] == "ollama-nvidia"
    assert show.json()["details"]["parameter_size"]
    missing = httpx.post(proxy.url + "/api/show", json={"model": "nope:1b"})
    assert missing.status_code == 404 and missing.json() == {"error": "model 'nope:1b' not found"}


def test_model_management_goes_to_the_named_host(proxy: ProxyProcess) -> None:
    r = httpx.post(proxy.url + "/api/pull", json={"model": "tinyllama:1b"})
    assert r.status_code == 400 and "X-Sollama-Backend" in r.json()["error"]
    r = httpx.post(proxy.url + "/api/copy", headers={"X-Sollama-Backend": "nope"},
                   json={"source": "a", "destination": "b"})
    assert r.status_code == 400 and "ollama-npu" in r.json()["error"]


def test_metrics_count_requests_by_action_and_backend(proxy: ProxyProcess) -> None:
    ran = httpx.post(proxy.url + "/api/generate", json={"model": "llama3:8b", "prompt": "x",
                                                         "stream": False}, timeout=30)
    httpx.post(proxy.url + "/api/generate", headers=QUIET_ONLY,
               json={"model": "llama3:70b", "prompt": "x"}, timeout=30)
    page = httpx.get(proxy.url + "/metrics")
    assert page.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(page.text) for s in fam.samples}
    key = ("sollama_proxy_requests_total", (("action", ran.headers["x-sollama-action"]),
                                            ("backend", ran.headers["x-sollama-backend"]),
                                            ("endpoint", "/api/generate")))
    assert samples[key] >= 1
    assert samples[("sollama_proxy_refusals_total", (("mode", "quiet"),))] >= 1
    assert samples[("sollama_proxy_decision_seconds_count", ())] >= 2
    assert ("sollama_proxy_in_flight", (("backend", ran.headers["x-sollama-backend"]),)
            ) in samples


# -- many at once ------------------------------------------------------------------------------


def test_200_concurrent_streams_each_get_their_own_answer(proxy: ProxyProcess) -> None:
    n = 200

    async def one(client: httpx.AsyncClient, i: int) -> tuple[int, str, str, int]:
        path, body = ((("/api/chat", {"model": "llama3:8b", "stream": True,
                                      "messages": [{"role": "user", "content": f"tag{i} go"}]}))
                      if i % 2 else
                      ("/v1/chat/completions", {"model": "qwen2.5:0.5b", "stream": True,
                                                "messages": [{"role": "user",
                                                              "content": f"tag{i} go"}]}))
        text, chunks = "", 0
        async with client.stream("POST", path, json=body) as r:
            assert r.status_code == 200, await r.aread()
            async for line in r.aiter_lines():
                if not line or line == "data: [DONE]":
                    continue
                obj = json.loads(line.removeprefix("data: "))
                chunks += 1
                if i % 2:
                    text += obj["message"]["content"]
                elif obj["choices"]:
                    text += obj["choices"][0]["delta"].get("content") or ""
            return i, text, r.headers["x-sollama-decision"], chunks

    async def all_of_them() -> list[tuple[int, str, str, int]]:
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(base_url=proxy.url, limits=limits,
                                     timeout=httpx.Timeout(60, pool=60)) as client:
            return await asyncio.gather(*(one(client, i) for i in range(n)))

    t0 = time.monotonic()
    results = asyncio.run(asyncio.wait_for(all_of_them(), timeout=90))
    elapsed = time.monotonic() - t0
    assert len(results) == n
    for i, text, _, chunks in results:
        assert text.endswith(f"You said: tag{i} go"), (i, text)
        assert chunks > 3
    assert len({d for _, _, d, _ in results}) == n
    assert elapsed < 90


# -- failures: no backend, a port in use, the token, SIGTERM -----------------------------------


def _dead_config(fleet: Fleet) -> str:
    import socket

    with socket.socket() as s:      # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return fleet.config_toml(backends=[{"id": "gone", "host": f"http://127.0.0.1:{port}",
                                        "hardware": "cpu", "max_model_size_gb": 8,
                                        "telemetry": {"source": "static"}}])


def test_no_backend_reachable_is_503(fleet: Fleet, tmp_path: Path) -> None:
    p = ProxyProcess(tmp_path / "dead", _dead_config(fleet)).start()
    try:
        r = httpx.post(p.url + "/api/chat", json={"model": "llama3:8b", "messages": HI})
        assert r.status_code == 503 and r.json()["error"].startswith("no backend reachable")
        r = httpx.post(p.url + "/v1/chat/completions", json={"model": "llama3:8b",
                                                             "messages": HI})
        assert r.status_code == 503
        assert r.json()["error"]["message"].startswith("no backend reachable")
        assert httpx.get(p.url + "/api/tags").status_code == 503
    finally:
        assert p.stop() == 0


def test_a_port_in_use_is_one_line(proxy: ProxyProcess) -> None:
    r = proxy.sollama("proxy", "--listen", f"127.0.0.1:{proxy.port}")
    assert r.returncode == 1
    assert r.stderr.startswith(f"sollama: error: 127.0.0.1:{proxy.port} is in use (stop ")
    assert "Traceback" not in r.stderr


def test_a_non_loopback_listen_needs_a_token_or_no_auth(proxy: ProxyProcess) -> None:
    r = proxy.sollama("proxy", "--listen", "0.0.0.0:11400")
    assert r.returncode == 2
    assert "--token" in r.stderr and "--no-auth" in r.stderr and "Traceback" not in r.stderr


def test_a_token_is_required_when_given(fleet: Fleet, tmp_path: Path) -> None:
    p = ProxyProcess(tmp_path / "tok", fleet.config_toml(), "--listen", "127.0.0.1:0",
                     "--token", "s3cret").start()
    try:
        r = httpx.post(p.url + "/api/chat", json={"model": "llama3:8b", "messages": HI,
                                                  "stream": False})
        assert r.status_code == 401 and "Bearer" in r.json()["error"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=p.url + "/v1", api_key="wrong", max_retries=0
                          ).models.list()
        ok = openai.OpenAI(base_url=p.url + "/v1", api_key="s3cret", max_retries=0)
        assert ok.chat.completions.create(model="llama3:8b", messages=HI  # type: ignore[arg-type]
                                          ).choices[0].message.content
    finally:
        assert p.stop(signal.SIGINT) == 130        # Ctrl-C: interrupted, one line
    assert "Traceback" not in p.log.read_text()


@contextlib.contextmanager
def slow_proxy(state: Path) -> Iterator[ProxyProcess]:
    """A proxy over a fleet in real time, llama3:8b loaded on the iGPU: `stream_words`
    is ~20 tokens at its 16 tokens/s, still streaming a second after it began."""
    with Fleet(three_hosts(time_scale=1.0)) as slow:
        slow["ollama-igpu"].load("llama3:8b")
        p = ProxyProcess(state, slow.config_toml()).start()
        try:
            yield p
        finally:
            p.stop()


def stream_words(p: ProxyProcess) -> contextlib.AbstractContextManager[httpx.Response]:
    return httpx.stream("POST", p.url + "/api/generate", timeout=60, json={
        "model": "llama3:8b", "prompt": " ".join(["word"] * 40)})


def test_sigterm_lets_a_streaming_answer_finish(tmp_path: Path) -> None:
    # still streaming when the signal comes
    with slow_proxy(tmp_path / "term") as p:
        with stream_words(p) as r:
            lines = r.iter_lines()
            first = json.loads(next(lines))
            assert first["done"] is False
            assert p.proc is not None
            p.proc.send_signal(15)
            rest = [json.loads(x) for x in lines if x]
        assert rest and rest[-1]["done"] is True
        assert p.proc.wait(30) == 0
        decision = r.headers["x-sollama-decision"]
    assert why_json(p, decision)["outcome"]["status"] == "ok"


# -- in memory, in batches -----------------------------------------------------------------------


def test_decisions_come_from_memory_and_are_recorded_in_one_write(fleet: Fleet) -> None:
    import os

    from smartollama import api
    from smartollama.commands.routed import build_request
    from smartollama.proxy.fleet import ProxyEnvironment

    Path(os.environ["SOLLAMA_CONFIG"]).write_text(fleet.config_toml())
    env = ProxyEnvironment()
    env.refresh({"llama3:8b"})
    locks = env.store.locks
    verdicts = [api.route(build_request("llama3:8b", env, mode=None, urgency=None, task=None,
                                        min_quality=None, policy=None, backend_id=None,
                                        num_ctx=None, interactive=False), env, prompt="hi")
                for _ in range(100)]
    assert env.store.locks == locks                  # decided from memory: no lock, no host
    # decided once per snapshot and counts in flight: the copies differ in id and time only,
    # and equal what decide() gives for that snapshot
    from smartollama.routing import decide

    fresh = decide(build_request("llama3:8b", env, mode=None, urgency=None, task=None,
                                 min_quality=None, policy=None, backend_id=None, num_ctx=None,
                                 interactive=False), env.gather(), env.config)

    def same(v: Any) -> str:
        return json.dumps({k: x for k, x in v.to_dict().items()
                           if k not in ("id", "time", "prompt_chars", "prompt_sha256")})

    assert {same(v) for v in verdicts} == {same(fresh)}
    assert len({v.id for v in verdicts}) == len(verdicts)
    for v in verdicts:
        env.recorder.add(v)
    env.recorder.flush()
    assert env.store.locks == locks + 1 and env.recorder.writes == 1
    recorded = [h["id"] for h in env.store.read().history]
    assert recorded == [v.id for v in reversed(verdicts)]


def test_a_client_that_leaves_mid_stream_is_recorded_as_interrupted(tmp_path: Path) -> None:
    # the answer is still coming when the client leaves after its first line
    with slow_proxy(tmp_path / "gone") as p:
        with stream_words(p) as r:
            assert json.loads(next(r.iter_lines()))["done"] is False
            decision = r.headers["x-sollama-decision"]
            backend = r.headers["x-sollama-backend"]
        # the proxy notices at its next chunk; bounded by the answer's own length
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = httpx.get(p.url + "/metrics").text
            if f'sollama_proxy_in_flight{{backend="{backend}"}} 0.0' in page:
                break
            assert p.proc is not None
            wait_on(p.proc, 0.05)     # the proxy exits (a failure), or 50 ms pass
        else:
            raise AssertionError(f"still in flight: {page}")
        deadline = time.monotonic() + 10
        while (recorded := p.sollama("why", decision, "--json")).returncode:
            assert time.monotonic() < deadline, recorded.stderr
        assert json.loads(recorded.stdout)["outcome"]["status"] == "interrupted"


def test_a_model_the_schedule_keeps_loaded_gets_the_windows_keep_alive(
        fleet: Fleet, tmp_path: Path) -> None:
    """As `sollama run` does: a request to Ollama's API that names no keep_alive, for a
    model the `[[preload]]` schedule keeps loaded now, is sent with one to the window's
    end; a keep_alive the client gave, and the OpenAI-compatible API, go as they came."""
    import time as _time

    from smartollama import goduration

    hour = _time.localtime().tm_hour
    schedule = f'\n[[preload]]\nhours = "{hour:02d}-{(hour + 3) % 24:02d}"\nmodels = ["llama3:8b"]\n'
    for h in fleet.hosts.values():
        h.unload("llama3:8b")     # a second copy would get no window (a test of its own)
    p = ProxyProcess(tmp_path / "kept", fleet.config_toml() + schedule).start()
    try:
        for h in fleet.hosts.values():
            h.clear_requests()
        for extra in ({}, {"keep_alive": "10m"}):
            r = httpx.post(p.url + "/api/generate", timeout=60,
                           json={"model": "llama3:8b", "prompt": "hi", "stream": False, **extra})
            assert r.status_code == 200, r.text
        sent = [q.body.get("keep_alive") for h in fleet.hosts.values()
                for q in h.requests_to("/api/generate")]
        assert len(sent) == 2 and sent[1] == "10m"
        assert 3600 < goduration.parse(sent[0]) / 1e9 <= 3 * 3600, sent
    finally:
        p.stop()
