"""Usage mistakes: one line, exit 2, and the closest command when there is one."""

from __future__ import annotations

import pytest

from conftest import run_sollama

NO_OLLAMA = {"PATH": "/nonexistent"}


@pytest.mark.parametrize(("typed", "meant"), [("stauts", "status"), ("rn", "run"),
                                              ("preloda", "preload"), ("lsit", "list")])
def test_a_mistyped_command_gets_did_you_mean(typed: str, meant: str) -> None:
    r = run_sollama(typed, "x", env=NO_OLLAMA)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1, r.stderr
    assert f"no such command '{typed}'" in r.stderr
    assert f"did you mean `sollama {meant}`" in r.stderr


def test_a_word_far_from_every_command_points_to_help() -> None:
    r = run_sollama("blorp", env=NO_OLLAMA)
    assert r.returncode == 2 and "see `sollama --help`" in r.stderr
    assert "did you mean" not in r.stderr


def test_ollamas_own_command_without_ollama_says_so() -> None:
    r = run_sollama("pull", "llama3:8b", env=NO_OLLAMA)
    assert r.returncode == 1
    assert "'pull' is ollama's command, and no real `ollama` binary is on PATH" in r.stderr
