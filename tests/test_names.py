"""Model names: Ollama's name rules, parameter counts, quantization, patterns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartollama import names
from smartollama.ollama import go_duration


@pytest.mark.parametrize(("raw", "full", "params", "quant"), [
    ("llama3", "llama3:latest", None, None),
    ("llama3:70b", "llama3:70b", 70.0, None),
    ("mixtral:8x7b", "mixtral:8x7b", 56.0, None),
    ("qwen2.5:0.5b", "qwen2.5:0.5b", 0.5, None),
    ("qwen2.5:1.5b", "qwen2.5:1.5b", 1.5, None),
    ("gemma3:270m", "gemma3:270m", 0.27, None),
    ("qwen2.5-coder:7b-instruct-q4_K_M", "qwen2.5-coder:7b-instruct-q4_K_M", 7.0, "Q4_K_M"),
    ("llama3:8b-instruct-q8_0", "llama3:8b-instruct-q8_0", 8.0, "Q8_0"),
    ("llama3:8b-instruct-fp16", "llama3:8b-instruct-fp16", 8.0, "F16"),
    ("myuser/mymodel:3b", "myuser/mymodel:3b", 3.0, None),
    ("library/llama3:8b", "llama3:8b", 8.0, None),
    ("registry.ollama.ai/library/llama3:8b", "llama3:8b", 8.0, None),
    ("localhost:5000/team/coder:1.5b", "localhost:5000/team/coder:1.5b", 1.5, None),
    ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
     "hf.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_M", 1.0, "Q4_K_M"),
])
def test_parse(raw: str, full: str, params: float | None, quant: str | None) -> None:
    n = names.parse(raw)
    assert n.full == full
    assert n.params_b == params
    assert n.quantization == quant


@pytest.mark.parametrize(("raw", "full", "cloud"), [
    # Ollama's source suffixes (internal/modelref): name:tag:cloud is the pulled name:tag-cloud
    ("gpt-oss:120b:cloud", "gpt-oss:120b-cloud", True),
    ("gpt-oss:120b-cloud", "gpt-oss:120b-cloud", True),
    ("gpt-oss:cloud", "gpt-oss:cloud", True),
    ("llama3:8b:local", "llama3:8b", False),
    ("llama3:8b", "llama3:8b", False),
    ("localhost:5000/team/coder:1.5b", "localhost:5000/team/coder:1.5b", False),
])
def test_cloud_names(raw: str, full: str, cloud: bool) -> None:
    assert names.parse(raw).full == full
    assert names.is_cloud(raw) is cloud


def test_both_sources_is_a_bad_name() -> None:
    with pytest.raises(names.NameError_, match="either :local or :cloud"):
        names.parse("gpt-oss:120b:cloud:local")


def test_experts() -> None:
    assert names.parse("mixtral:8x22b").experts == 8
    assert names.parse("llama3:8b").experts is None


@pytest.mark.parametrize("bad", ["", "  ", "llama3:", "a b:c", ":8b"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(names.NameError_):
        names.parse(bad)


@pytest.mark.parametrize(("text", "billions"), [
    ("70.6B", 70.6), ("8.0B", 8.0), ("494.03M", 0.49403), ("7B", 7.0), ("1.2T", 1200.0),
    ("", None), ("big", None), (None, None),
])
def test_parameter_size(text: str | None, billions: float | None) -> None:
    assert names.parse_parameter_size(text) == billions


@pytest.mark.parametrize(("name", "pattern", "ok"), [
    ("qwen2.5:0.5b", "*:0.5b", True),
    ("llama3:8b", "*:0.5b", False),
    ("llama3:8b", "*", True),
    ("llama3:8b", "llama3", True),          # no tag: every tag of the model
    ("llama3", "llama3:latest", True),
    ("llama3:70b", "llama3:8b", False),
    ("LLaMA3:8B", "llama3:8b", True),       # case-insensitive, as Ollama
    ("qwen2.5-coder:7b", "qwen2.5*", True),
])
def test_matches(name: str, pattern: str, ok: bool) -> None:
    assert names.matches(name, pattern) is ok


@given(st.from_regex(r"[a-z][a-z0-9.\-]{0,12}(:[a-z0-9][a-z0-9._\-]{0,12})?", fullmatch=True))
def test_canonical_is_idempotent(raw: str) -> None:
    try:
        once = names.canonical(raw)
    except names.NameError_:
        return
    assert names.canonical(once) == once
    assert names.same(raw, once)


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (999, "999ns"), (1_500, "1.5µs"), (1_234_567, "1.234567ms"),
    (1_000_000_000, "1s"), (20_400_000_000, "20.4s"), (61_500_000_000, "1m1.5s"),
    (3_723_000_000_000, "1h2m3s"),
])
def test_go_duration(ns: int, text: str) -> None:
    """`ollama run --verbose` prints durations as Go's time.Duration.String()."""
    assert go_duration(ns) == text


@pytest.mark.parametrize(("text", "sent"), [
    ("5m", "5m0s"), ("1h30m", "1h30m0s"), ("1.5h", "1h30m0s"), ("300ms", "300ms"),
    ("0", "0s"), ("-1s", -1), ("+2s", "2s"),
])
def test_keepalive_as_ollama_run_sends_it(text: str, sent: object) -> None:
    """Go's time.ParseDuration, then api.Duration's JSON (cmd/cmd.go, api/types.go)."""
    from smartollama import goduration

    assert goduration.keep_alive(text) == sent


@pytest.mark.parametrize(("text", "message"), [
    ("1.5", 'time: missing unit in duration "1.5"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("x", 'time: invalid duration "x"'),
    ("", 'time: invalid duration ""'),
])
def test_keepalive_go_refuses(text: str, message: str) -> None:
    from smartollama import goduration

    with pytest.raises(goduration.DurationError) as e:
        goduration.parse(text)
    assert str(e.value) == message
