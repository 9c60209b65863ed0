"""`ollama run` parity beyond one answer: the session's /load, /save, /list, /show,
sollama's /route, /why and /mode, tool calls in the output, and a model no host
holds pulled before it runs (where it would run).

The installed `sollama` against the simulator; the session under a real
pseudo-terminal (pexpect), as in test_tty.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aftermath import last_verdict
from badhost import MODEL, TOOL_CALL, BadHost, backend
from conftest import run_sollama
from smartollama.sim.fleet import dumps_toml
from smartollama.sim.library import LIBRARY
from test_tty import spawn


def bye(child: pexpect.spawn) -> None:
    child.sendline("/bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_show_answers_from_the_host_that_runs_the_model(single_fleet: Any) -> None:
    child = spawn("run", "llama3:8b")
    child.expect_exact(">>> ")
    child.sendline("/show info")
    child.expect(r"architecture\s+llama")
    child.expect(r"parameters\s+8\.0B")
    child.expect(r"context length\s+8192")
    child.expect(r"quantization\s+Q4_0")
    child.expect_exact("Capabilities")
    child.expect_exact("completion")
    child.sendline("/show template")
    child.expect_exact("<|start_header_id|>")
    child.sendline("/show modelfile")
    child.expect_exact("FROM ")
    child.sendline("/show license")
    child.expect_exact("No license was specified for this model.")
    child.sendline("/set parameter seed 7")
    child.sendline("/show parameters")
    child.expect_exact("Model defined parameters:")
    child.expect(r"stop\s+\"<\|start_header_id\|>\"")
    child.expect_exact("User defined parameters:")
    child.expect(r"seed\s+7")
    child.sendline("/show bogus")
    child.expect_exact("Unknown command '/show bogus'. Type /? for help")
    bye(child)
    shows = single_fleet.hosts["ollama"].requests_to("/api/show")
    assert shows and all(r.body["model"] == "llama3:8b" for r in shows)


def test_load_routes_the_new_model_and_starts_a_new_conversation(demo_fleet: Any) -> None:
    child = spawn("run", "llama3:8b")
    child.expect_exact(">>> ")
    child.sendline("hello")
    child.expect_exact("You said: hello")
    child.expect_exact(">>> ")
    child.sendline("/load nosuch:1b")
    child.expect_exact("Couldn't find model 'nosuch:1b'")
    child.sendline("/load")
    child.expect_exact("Usage:")
    child.sendline("/load llama3:70b")
    child.expect_exact("Loading model 'llama3:70b'")
    child.expect_exact("llama3:70b on ollama-nvidia")     # the only card that holds it
    child.expect_exact(">>> ")
    child.sendline("again")
    child.expect_exact("Hello from llama3:70b on ollama-nvidia")
    child.expect_exact(">>> ")
    child.sendline("/route")
    child.expect_exact("llama3:70b on ollama-nvidia")
    child.sendline("/why")
    child.expect_exact("llama3:70b")
    child.expect_exact("ollama-nvidia")
    child.expect_exact(">>> ")
    bye(child)
    chats = demo_fleet.hosts["ollama-nvidia"].requests_to("/api/chat")
    assert chats[-1].body["model"] == "llama3:70b"
    assert chats[-1].body["messages"] == [{"role": "user", "content": "again"}]   # a new one
    # each turn is recorded as a decision of its own, explained by `why`
    assert last_verdict()["model_used"] == "llama3:70b"


def test_mode_reroutes_the_session_and_names_the_modes(demo_fleet: Any) -> None:
    child = spawn("run", "llama3:8b", "--mode", "performance")
    child.expect_exact(">>> ")
    child.sendline("/mode")
    child.expect_exact("Mode: performance")
    child.sendline("/mode loud")
    child.expect(r"Unknown mode 'loud' \(modes: .*quiet")
    child.sendline("/mode quiet")
    child.expect_exact("Set mode to 'quiet'.")
    child.sendline("/mode")
    child.expect_exact("Mode: quiet")
    child.sendline("/route")
    child.expect_exact("quiet")
    bye(child)


def test_save_creates_the_session_as_a_model_that_the_next_run_finds(single_fleet: Any) -> None:
    child = spawn("run", "llama3:8b")
    child.expect_exact(">>> ")
    child.sendline("/set system You are terse.")
    child.sendline("hello")
    child.expect_exact("You said: hello")
    child.expect_exact(">>> ")
    child.sendline("/save")
    child.expect_exact("Usage:")
    child.sendline("/save Bad Name!")
    child.expect_exact("Usage:")
    child.sendline("/save bad:na:me")
    child.expect_exact("error: The model name 'bad:na:me' is invalid")
    child.sendline("/save terse:latest")
    child.expect_exact("Created new model 'terse:latest' on ollama")
    child.sendline("/list")
    child.expect(r"terse:latest\s")
    bye(child)
    create = single_fleet.hosts["ollama"].requests_to("/api/create")[-1].body
    assert create["model"] == "terse:latest" and create["from"] == "llama3:8b"
    assert create["system"] == "You are terse." and create["stream"] is False
    assert [m["role"] for m in create["messages"]] == ["user", "assistant"]
    r = run_sollama("run", "terse", "hi")            # seen at once, not after the cache's TTL
    assert r.returncode == 0, r.stderr
    assert "Hello from terse:latest" in r.stdout


@pytest.mark.parametrize("chat", [False, True])
def test_tool_calls_are_shown_as_ollama_shows_them(tmp_path: Path, chat: bool) -> None:
    with BadHost("tool_call") as host:
        Path(os.environ["SOLLAMA_CONFIG"]).write_text(dumps_toml({"backends": [backend(host.url)]}))
        if chat:
            child = spawn("run", MODEL)
            child.expect_exact(">>> ")
            child.sendline("weather?")
            child.expect_exact("Model called a non-existent function 'get_weather()' with "
                               'arguments: {"city":"Paris","unit":"C"}')
            child.expect_exact(">>> ")
            bye(child)
            return
        r = run_sollama("run", MODEL, "weather?")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("Hello from the bad host  Model called a non-existent function "
                        "'get_weather()' with arguments: {\"city\":\"Paris\",\"unit\":\"C\"}\n\n")
    assert TOOL_CALL["function"]["name"] in r.stdout


def test_a_model_no_host_holds_is_pulled_where_it_would_run(demo_fleet: Any) -> None:
    assert "qwen2.5:14b" in LIBRARY
    assert not any(h.spec.model("qwen2.5:14b") for h in demo_fleet.hosts.values())
    r = run_sollama("run", "qwen2.5:14b", "hi")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == "sollama: pulling qwen2.5:14b onto ollama-nvidia"
    assert "pulling manifest" in lines and "success" in lines
    assert any(line.startswith("pulling ") and line.endswith(" GB") for line in lines)
    assert "Hello from qwen2.5:14b on ollama-nvidia" in r.stdout
    # where `decide()` put it once present: the same backend, and it stays there
    nvidia = demo_fleet.hosts["ollama-nvidia"]
    assert [q.body["model"] for q in nvidia.requests_to("/api/pull")] == ["qwen2.5:14b"]
    assert all(not h.requests_to("/api/pull") for n, h in demo_fleet.hosts.items()
               if n != "ollama-nvidia")
    assert last_verdict()["backend_used"] == "ollama-nvidia"
    again = run_sollama("run", "qwen2.5:14b", "hi")
    assert again.returncode == 0 and "pulling" not in again.stderr


def test_a_name_the_registry_lacks_fails_with_the_closest_name(demo_fleet: Any) -> None:
    r = run_sollama("run", "llama3:8bb", "hi")
    assert r.returncode == 1
    err = r.stderr.splitlines()
    assert err[-1].startswith("sollama: error: llama3:8bb is not on any backend")
    assert "pull model manifest: file does not exist" in err[-1]
    assert "did you mean llama3:8b?" in err[-1]
    assert "Traceback" not in r.stderr


def test_route_never_pulls(demo_fleet: Any) -> None:
    r = run_sollama("route", "qwen2.5:14b", "--json")
    assert r.returncode != 0
    assert not any(h.requests_to("/api/pull") for h in demo_fleet.hosts.values())


def test_a_model_too_big_for_every_host_is_not_pulled(single_fleet: Any) -> None:
    r = run_sollama("run", "llama3.1:405b", "hi")
    assert r.returncode == 1
    assert "would fit no reachable backend" in r.stderr
    assert not single_fleet.hosts["ollama"].requests_to("/api/pull")


def test_the_simulator_pulls_creates_and_deletes_as_ollama_does(single_fleet: Any) -> None:
    import ollama

    host = single_fleet.hosts["ollama"]
    client = ollama.Client(host=host.url)
    progress = list(client.pull("gemma2:2b", stream=True))
    assert progress[0].status == "pulling manifest" and progress[-1].status == "success"
    assert progress[-2].status == "writing manifest"
    layer = [p for p in progress if p.total]
    assert layer[-1].completed == layer[-1].total == int(LIBRARY["gemma2:2b"][0] * 1e9)
    with pytest.raises(ollama.ResponseError, match="file does not exist"):
        list(client.pull("nosuch:1b", stream=True))
    assert client.create(model="mine", from_="gemma2:2b").status == "success"
    names = {m.model for m in client.list().models}
    assert {"gemma2:2b", "mine:latest"} <= names
    client.delete("mine")
    assert "mine:latest" not in {m.model for m in client.list().models}
    with pytest.raises(ollama.ResponseError) as e:
        client.delete("mine")
    assert e.value.status_code == 404
    assert json.loads(json.dumps(client.show("gemma2:2b").modelinfo or {}))


def test_a_session_with_a_vision_model_attaches_image_paths(tmp_path: Path) -> None:
    from conftest import start_fleet

    picture = tmp_path / "cat pic.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    escaped = str(picture).replace(" ", "\\ ")
    for fleet in start_fleet("today", tmp_path):
        child = spawn("run", "gemma3:4b")
        child.expect_exact(">>> ")
        child.sendline(f"what is in {escaped}")
        child.expect_exact(f"Added image '{picture}'")
        child.expect_exact(">>> ")
        child.sendline(f"and {tmp_path}/missing.png?")    # not a file: stays text
        child.expect_exact(">>> ")
        bye(child)
        chats = [r.body for h in fleet.hosts.values() for r in h.requests_to("/api/chat")]
        first, second = chats[0]["messages"][0], chats[1]["messages"][-1]
        assert first["content"] == "what is in" and len(first["images"]) == 1
        assert "images" not in second and second["content"].endswith("missing.png?")
