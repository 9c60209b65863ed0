"""What a person at a terminal sees: the interactive session, the spinner, `--policy ask`.

The installed `sollama` runs under a real pseudo-terminal (pexpect).
"""

from __future__ import annotations

import os
from pathlib import Path

import pexpect
import pytest

from conftest import SOLLAMA, start_fleet


def spawn(*args: str, term: str = "dumb") -> pexpect.spawn:
    env = {**os.environ, "TERM": term, "COLUMNS": "120"}
    return pexpect.spawn(SOLLAMA, list(args), env=env, encoding="utf-8", timeout=20,
                         dimensions=(40, 120))


def test_interactive_session(single_fleet: object) -> None:
    child = spawn("run", "llama3:8b")
    child.expect_exact("sollama: run: llama3:8b")
    child.expect_exact(">>> ")
    child.sendline("hello there")
    child.expect_exact("You said: hello there")
    child.expect_exact(">>> ")
    child.sendline('"""first line')
    child.expect_exact("... ")
    child.sendline('second line"""')
    child.expect("You said: first line\\s+second line")
    child.expect_exact(">>> ")
    child.sendline("/?")
    child.expect_exact("/bye")
    child.sendline("/bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    chats = single_fleet.hosts["ollama"].requests_to("/api/chat")  # type: ignore[attr-defined]
    assert [len(c.body["messages"]) for c in chats] == [1, 3]          # the conversation grows
    assert chats[1].body["messages"][2]["content"] == "first line\nsecond line"


def test_session_commands_as_ollama_has_them(single_fleet: object) -> None:
    child = spawn("run", "qwen3:0.6b")
    child.expect_exact(">>> ")
    child.sendline("/set system You are terse.")
    child.expect_exact("Set system message.")
    child.sendline("/set parameter temperature 0.5")
    child.expect_exact("Set parameter 'temperature' to '0.5'")
    child.sendline("/show parameters")
    child.expect("temperature\\s+0.5")
    child.sendline("/show system")
    child.expect_exact("You are terse.")
    child.sendline("/set think")
    child.expect_exact("Set 'think' mode.")
    child.sendline("/set format yaml")
    child.expect_exact("Invalid or missing format. For 'json' mode use '/set format json'")
    child.sendline("/set bogus")
    child.expect_exact("Unknown command '/set bogus'. Type /? for help")
    child.sendline("/? shortcuts")
    child.expect_exact("Available keyboard shortcuts:")
    child.sendline("hello")
    child.expect_exact("You said: hello")
    child.expect_exact(">>> ")
    child.sendline("/clear")
    child.expect_exact("Cleared session context")
    child.sendline("again")
    child.expect_exact("You said: again")
    child.expect_exact(">>> ")
    child.sendline("/bye")
    child.expect(pexpect.EOF)
    chats = single_fleet.hosts["ollama"].requests_to("/api/chat")  # type: ignore[attr-defined]
    first, second = (c.body for c in chats)
    assert first["messages"] == [{"role": "system", "content": "You are terse."},
                                 {"role": "user", "content": "hello"}]
    assert first["options"] == {"temperature": 0.5} and first["think"] is True
    assert [m["role"] for m in second["messages"]] == ["system", "user"]   # cleared, system kept


def test_no_session_when_stdout_is_redirected(single_fleet: object, tmp_path: Path) -> None:
    """A terminal for stdin, a file for stdout: `ollama run` loads the model and
    leaves, with no `>>>` prompt waiting in a file nobody reads."""
    out = tmp_path / "out.txt"
    env = {**os.environ, "TERM": "dumb"}
    child = pexpect.spawn("/bin/sh", ["-c", f'"{SOLLAMA}" run llama3:8b > "{out}"'], env=env,
                          encoding="utf-8", timeout=20)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert ">>>" not in out.read_text() and ">>>" not in (child.before or "")
    host = single_fleet.hosts["ollama"]  # type: ignore[attr-defined]
    assert not host.requests_to("/api/chat")
    assert [r.body["prompt"] for r in host.requests_to("/api/generate")] == [""]


def test_ctrl_d_leaves_the_session(single_fleet: object) -> None:
    child = spawn("run", "llama3:8b")
    child.expect_exact(">>> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_spinner_while_the_model_loads(tmp_path: Path) -> None:
    # real-time-ish: loading llama3:8b takes ~0.5 s, the spinner turns every 0.1 s
    fleet_iter = start_fleet("single", tmp_path, time_scale=0.25)
    next(fleet_iter)
    try:
        child = spawn("run", "llama3:8b", "hi")
        child.expect_exact("Hello from llama3:8b")
        before = child.before
        child.expect(pexpect.EOF)
        child.close()
        assert any(frame in before for frame in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"), repr(before)
        assert child.exitstatus == 0
    finally:
        fleet_iter.close()


def test_policy_ask_offers_the_choices_on_a_terminal(demo_fleet: object) -> None:
    child = spawn("run", "llama3:70b", "--mode", "quiet", "--policy", "ask",
                  "--urgency", "background", "hi")
    child.expect_exact("1) run llama3:70b anyway on ollama-nvidia")
    child.expect_exact("0) cancel")
    child.expect_exact("choose")
    child.sendline("1")
    child.expect_exact("Hello from llama3:70b on ollama-nvidia")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.parametrize("answer", ["0"])
def test_policy_ask_cancel_refuses(demo_fleet: object, answer: str) -> None:
    child = spawn("run", "llama3:70b", "--mode", "quiet", "--policy", "ask",
                  "--urgency", "background", "hi")
    child.expect_exact("choose")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3


def test_policy_ask_without_a_terminal_acts_as_prefer_mode(demo_fleet: object) -> None:
    from conftest import run_sollama

    r = run_sollama("run", "llama3:70b", "--mode", "quiet", "--policy", "ask",
                    "--urgency", "background", "hi")
    assert r.returncode == 3
    assert "needs a terminal" in r.stderr


@pytest.mark.parametrize("term", ["xterm-256color", "dumb"])   # refresh in place; reprint
def test_status_watch_refreshes_until_ctrl_c(demo_fleet: object, term: str) -> None:
    child = spawn("status", "--watch", "--interval", "0.3", term=term)
    child.expect_exact("ollama-nvidia")
    demo_fleet.hosts["ollama-nvidia"].set_readings(fan_pct=33)  # type: ignore[attr-defined]
    child.expect_exact("33%", timeout=10)                        # the new reading shows up
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0          # Ctrl-C is how --watch stops, as its help says
    assert "Traceback" not in (child.before or "") and "error" not in (child.before or "")
