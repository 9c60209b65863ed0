"""`sollama run EMBEDDING-MODEL "text"` as `ollama run` does it: `/api/embed`, the first
vector printed as Go's json.Marshal writes a []float32; `preload` loads embedding models."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama
import pytest

from conftest import run_sollama, start_fleet
from smartollama.run.embed import go_float32


@pytest.fixture
def today(tmp_path: Path) -> Iterator[Any]:
    yield from start_fleet("today", tmp_path, time_scale=0.0)


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def test_run_of_an_embedding_model_prints_its_vector(today: Any) -> None:
    r = run_sollama("run", "nomic-embed-text", "x")
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith("[") and " " not in line and "\n" not in line
    got = json.loads(line)
    want = ollama.Client(host=today.hosts["ollama-big"].url).embed(
        model="nomic-embed-text", input="x").embeddings[0]
    assert len(got) == len(want) == 768
    assert [f32(v) for v in got] == [f32(v) for v in want]


def test_dimensions_truncates_the_vector(today: Any) -> None:
    r = run_sollama("run", "all-minilm", "hello", "--dimensions", "4")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 4


def test_an_embedding_model_without_text_is_one_line(today: Any) -> None:
    r = run_sollama("run", "nomic-embed-text")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        'sollama: error: embedding models require input text. Usage: sollama run '
        'nomic-embed-text:latest "your text here"')


def test_preload_loads_an_embedding_model(today: Any) -> None:
    Path(os.environ["SOLLAMA_CONFIG"]).write_text(today.config_toml(
        preload=[{"hours": "00-24", "models": ["nomic-embed-text"]}]))
    r = run_sollama("preload", "--now")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nomic-embed-text:latest: loaded on ollama-big" in r.stdout
    loaded = ollama.Client(host=today.hosts["ollama-big"].url).ps().models
    assert [m.model for m in loaded] == ["nomic-embed-text:latest"]


@pytest.mark.parametrize(("value", "go"), [
    (0.1, "0.1"), (-0.0123, "-0.0123"), (1.0, "1"), (100.0, "100"), (0.0, "0"),
    (1.5e-7, "1.5e-7"), (-2.5e-10, "-2.5e-10"), (1e-6, "0.000001"), (3e22, "3e+22"),
    (1e21, "1e+21"), (123456789.0, "123456790"), (1 / 3, "0.33333334"),
])
def test_floats_as_go_writes_a_float32(value: float, go: str) -> None:
    """strconv.AppendFloat(f, 'f' or 'e', -1, 32) with encoding/json's e-07 → e-7."""
    assert go_float32(value) == go
