"""The state cache: contents, learning, in-flight bookkeeping, concurrency."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from smartollama.fleet import Learned
from smartollama.state import SCHEMA, InFlight, State, StateStore, prompt_fields


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real config or state."""
    monkeypatch.setenv("SOLLAMA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SOLLAMA_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("SOLLAMA_MODE", raising=False)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


def on_disk(store: StateStore) -> dict:
    return json.loads(store.path.read_bytes())


# -- basics ---------------------------------------------------------------------------


def test_missing_file_reads_as_fresh_state(store: StateStore) -> None:
    st = store.read()
    assert st == State()
    assert not store.path.exists()
    assert store.warnings == []


def test_round_trip(store: StateStore) -> None:
    with store.update() as st:
        st.mode = "quiet"
        st.add_verdict({"id": "v1", "action": "run"}, cap=10)
        st.cache_put("tags:ollama", {"models": ["llama3:8b"]}, now=1000.0)
        st.observe_memory("gpu", "llama3:8b", 4096, 5_000_000_000, 4_800_000_000, now=1000.0)
        st.learn_run("gpu", "llama3:8b", size_bytes=4_700_000_000, load_duration_ns=2_000_000_000,
                     eval_count=200, eval_duration_ns=4_000_000_000, ttft_s=0.25, now=1000.0)
        st.memo("gpu")["nvml_missing"] = ["nvmlDeviceGetFanSpeed"]
    assert store.saved
    again = StateStore(store.directory).read()
    assert again.to_dict() == on_disk(store)
    assert again.mode == "quiet"
    assert again.history == [{"id": "v1", "action": "run"}]
    assert again.cache_get("tags:ollama", ttl_s=30, now=1001.0) == {"models": ["llama3:8b"]}
    assert again.observed_for("gpu") == {("llama3:8b", 4096): (5_000_000_000, 4_800_000_000)}
    assert again.memos == {"gpu": {"nvml_missing": ["nvmlDeviceGetFanSpeed"]}}
    assert again.schema == SCHEMA == on_disk(store)["schema"]


def test_file_and_directory_modes(store: StateStore) -> None:
    with store.update() as st:
        st.mode = "balanced"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    with store.update() as st:       # a rewrite keeps it private
        st.mode = "quiet"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert sorted(os.listdir(store.directory)) == ["state.json", "state.json.lock"]
    with store.update() as st:       # the history file too, appended and rewritten
        st.add_verdict({"id": "v1"}, cap=5)
    assert stat.S_IMODE(store.history_path.stat().st_mode) == 0o600
    os.chmod(store.history_path, 0o644)
    with store.update() as st:
        st.add_verdict({"id": "v2"}, cap=5)
    assert stat.S_IMODE(store.history_path.stat().st_mode) == 0o600
    with store.update() as st:
        st.history.clear()
    assert stat.S_IMODE(store.history_path.stat().st_mode) == 0o600
    assert sorted(os.listdir(store.directory)) == ["history.jsonl", "state.json",
                                                   "state.json.lock"]


def test_exception_in_block_skips_the_write(store: StateStore) -> None:
    with store.update() as st:
        st.mode = "quiet"
    with pytest.raises(RuntimeError), store.update() as st:
        st.mode = "performance"
        raise RuntimeError("boom")
    assert store.read().mode == "quiet"


def test_nested_update_shares_the_outer_state(store: StateStore) -> None:
    with store.update() as outer:
        outer.mode = "quiet"
        with store.update() as inner:
            assert inner is outer
            inner.add_verdict({"id": "x"}, cap=5)
    st = store.read()
    assert (st.mode, [h["id"] for h in st.history]) == ("quiet", ["x"])


# -- TTL caches -----------------------------------------------------------------------------


def test_ttl_cache(store: StateStore) -> None:
    with store.update() as st:
        st.cache_put("ps:gpu", [1, 2], now=1000.0)
    st = store.read()
    assert st.cache_get("ps:gpu", ttl_s=2.0, now=1001.5) == [1, 2]
    assert st.cache_get("ps:gpu", ttl_s=2.0, now=1002.5) is None
    assert st.cache_get("ps:gpu", ttl_s=2.0, now=990.0) is None      # clock went back
    assert st.cache_get("nothing", ttl_s=2.0, now=1000.0) is None


def test_cache_prunes_entries_older_than_a_day_on_write() -> None:
    st = State()
    st.cache_put("old", 1, now=1000.0)
    st.cache_put("recent", 2, now=1000.0 + 80_000)
    st.cache_put("new", 3, now=1000.0 + 86_401)
    assert set(st.caches) == {"recent", "new"}


def test_cached_none_and_falsy_values_survive(store: StateStore) -> None:
    with store.update() as st:
        st.cache_put("empty", [], now=10.0)
    assert store.read().cache_get("empty", ttl_s=5, now=11.0) == []


# -- history -------------------------------------------------------------------------------


def test_history_newest_first_and_capped() -> None:
    st = State()
    for i in range(10):
        st.add_verdict({"id": f"v{i}"}, cap=4)
    assert [h["id"] for h in st.history] == ["v9", "v8", "v7", "v6"]


def test_store_history_size_applies_on_write(tmp_path: Path) -> None:
    big = StateStore(tmp_path / "s", history_size=100)
    with big.update() as st:
        for i in range(20):
            st.add_verdict({"id": f"v{i}"}, cap=100)
    small = StateStore(tmp_path / "s", history_size=3)
    with small.update():
        pass
    assert [h["id"] for h in small.read().history] == ["v19", "v18", "v17"]


def test_history_is_its_own_file_appended_oldest_first(store: StateStore) -> None:
    for i in range(3):
        with store.update() as st:
            st.add_verdict({"id": f"v{i}"}, cap=10)
    assert "history" not in on_disk(store)
    lines = store.history_path.read_bytes().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["v0", "v1", "v2"]
    assert [h["id"] for h in store.read().history] == ["v2", "v1", "v0"]


def test_routine_updates_and_reads_leave_the_history_file_alone(
        store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.update() as st:
        st.add_verdict({"id": "v0"}, cap=10)

    def no(*args: object) -> None:
        raise AssertionError("history file read")

    monkeypatch.setattr(store, "_read_history", no)
    with store.update() as st:
        st.mode = "quiet"
        st.add_verdict({"id": "v1"}, cap=10)      # appended, not read
    assert store.read().mode == "quiet"
    monkeypatch.undo()
    assert [h["id"] for h in store.read().history] == ["v1", "v0"]


def test_history_file_is_trimmed_past_twice_the_cap(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s", history_size=5)
    for i in range(10):
        with store.update() as st:
            st.add_verdict({"id": f"v{i}"}, cap=5)
    assert len(store.history_path.read_bytes().splitlines()) == 10      # appended
    with store.update() as st:
        st.add_verdict({"id": "v10"}, cap=5)
    ids = [json.loads(x)["id"] for x in store.history_path.read_bytes().splitlines()]
    assert ids == ["v6", "v7", "v8", "v9", "v10"]                        # rewritten
    assert [h["id"] for h in store.read().history] == ["v10", "v9", "v8", "v7", "v6"]
    assert not [n for n in os.listdir(store.directory) if n.endswith(".tmp")]


def test_a_cut_last_line_is_skipped_once_then_cut_off(store: StateStore) -> None:
    with store.update() as st:
        st.add_verdict({"id": "v0"}, cap=10)
        st.add_verdict({"id": "v1"}, cap=10)
    with open(store.history_path, "ab") as f:
        f.write(b'{"id":"cut","pad":"xx')            # a writer killed mid-append
    reader = StateStore(store.directory)
    assert [h["id"] for h in reader.read().history] == ["v1", "v0"]
    assert [h["id"] for h in reader.read().history] == ["v1", "v0"]
    assert len(reader.warnings) == 1 and "history.jsonl" in reader.warnings[0]
    with store.update() as st:
        st.add_verdict({"id": "v2"}, cap=10)
    assert store.history_path.read_bytes().count(b"cut") == 0
    after = StateStore(store.directory)
    assert [h["id"] for h in after.read().history] == ["v2", "v1", "v0"]
    assert after.warnings == []


def test_damaged_history_lines_are_skipped_with_one_warning(store: StateStore) -> None:
    with store.update() as st:
        st.mode = "quiet"
    store.history_path.write_bytes(b'{"id":"a"}\n\x00\xff garbage\n[1]\n{"id":"b"}\n')
    st = store.read()
    assert [h["id"] for h in st.history] == ["b", "a"] and st.mode == "quiet"
    assert len(store.warnings) == 1 and "skipped 2 unreadable lines" in store.warnings[0]


def test_history_survives_a_corrupt_state_file(store: StateStore) -> None:
    with store.update() as st:
        st.add_verdict({"id": "kept"}, cap=10)
    store.path.write_bytes(b"{")
    st = store.read()
    assert [h["id"] for h in st.history] == ["kept"]
    assert len(store.warnings) == 1 and "moved aside" in store.warnings[0]


def test_schema_1_history_moves_to_its_file_on_the_first_update(store: StateStore) -> None:
    store.directory.mkdir(parents=True)
    store.path.write_text(json.dumps({"schema": 1, "mode": "quiet",
                                      "history": [{"id": "new"}, {"id": "old"}]}))
    assert [h["id"] for h in store.read().history] == ["new", "old"]    # before: read as is
    assert not store.history_path.exists()
    with store.update() as st:
        st.add_verdict({"id": "newest"}, cap=10)
    data = on_disk(store)
    assert "history" not in data and data["schema"] == SCHEMA and data["mode"] == "quiet"
    ids = [json.loads(x)["id"] for x in store.history_path.read_bytes().splitlines()]
    assert ids == ["old", "new", "newest"]
    assert [h["id"] for h in store.read().history] == ["newest", "new", "old"]


def test_schema_1_history_after_entries_already_in_the_file(store: StateStore) -> None:
    """An older sollama ran after this one: its entries are the newer ones; a
    move cut short between the two writes does not record an entry twice."""
    with store.update() as st:
        st.add_verdict({"id": "a"}, cap=10)
        st.add_verdict({"id": "b"}, cap=10)
    store.path.write_text(json.dumps({"schema": 1, "mode": None,
                                      "history": [{"id": "c"}, {"id": "b"}]}))
    with store.update():
        pass
    assert [h["id"] for h in store.read().history] == ["c", "b", "a"]
    assert "history" not in on_disk(store)


def test_credentials_never_recorded(store: StateStore) -> None:
    with store.update() as st:
        st.add_verdict({"id": "v", "headers": {"Authorization": "Bearer s3cret"},
                        "outcome": {"attempts": [{"backend": "b", "Authorization": "s3cret"}]}},
                       cap=5)
        st.cache_put("show:b", {"headers": {"X-Token": "s3cret"}, "ok": 1}, now=1.0)
    text = store.path.read_text() + store.history_path.read_text()
    assert "s3cret" not in text and '"id":"v"' in text
    assert store.read().history[0]["outcome"]["attempts"] == [{"backend": "b"}]


def test_prompt_fields_hash_but_do_not_keep_the_prompt() -> None:
    import hashlib

    fields = prompt_fields("why is the sky blue?", store=False)
    assert fields == {"prompt_chars": 20,
                      "prompt_sha256": hashlib.sha256(b"why is the sky blue?").hexdigest()}
    assert prompt_fields("hi", store=True)["prompt"] == "hi"


# -- learned figures -----------------------------------------------------------------------


def test_learned_moving_averages_and_counts() -> None:
    st = State()
    # load speed: 10, 20, 30 GB/s → averages 10, 15, 20 (weights 1, 1/2, 1/3)
    for i, gbps in enumerate((10, 20, 30)):
        st.learn_run("gpu", "llama3:8b", size_bytes=int(gbps * 1e9), load_duration_ns=1_000_000_000,
                     eval_count=None, eval_duration_ns=None, ttft_s=None, now=100.0 + i)
    f = st.learned_figures("gpu")
    assert f.load_gb_per_s == pytest.approx(20.0)
    assert f.load_samples == 3
    # later samples keep a weight of 0.2: six more at 30 converge towards 30
    for _ in range(6):
        st.learn_run("gpu", "llama3:8b", size_bytes=30_000_000_000,
                     load_duration_ns=1_000_000_000, now=200.0)
    f = st.learned_figures("gpu")
    expected = 20.0
    for n in range(4, 10):
        expected += max(1 / n, 0.2) * (30 - expected)
    assert f.load_gb_per_s == pytest.approx(expected)
    assert f.load_samples == 9


def test_learned_tokens_per_s_per_model_and_ttft() -> None:
    st = State()
    st.learn_run("gpu", "llama3:8b", eval_count=100, eval_duration_ns=2_000_000_000,
                 ttft_s=0.5, now=1.0)
    st.learn_run("gpu", "llama3:8b", eval_count=300, eval_duration_ns=2_000_000_000,
                 ttft_s=0.3, now=2.0)
    st.learn_run("gpu", "qwen2.5:0.5b", eval_count=400, eval_duration_ns=1_000_000_000, now=3.0)
    f = st.learned_figures("gpu")
    assert isinstance(f, Learned)
    assert f.tokens_per_s == {"llama3:8b": pytest.approx(100.0), "qwen2.5:0.5b": 400.0}
    assert f.tps_samples == {"llama3:8b": 2, "qwen2.5:0.5b": 1}
    assert f.ttft_s == pytest.approx(0.4)
    assert f.ttft_samples == 2
    assert f.load_gb_per_s is None and f.load_samples == 0


def test_the_time_to_first_token_learned_is_the_model_in_place() -> None:
    """The router adds the load and the queue it expects to the learned time to
    first token: a run that waited for a slot and a load teaches neither. Ollama's
    load_duration covers the load; what total_duration has beyond the load, the
    prompt and the answer is the wait for a slot."""
    st = State()
    # 14.5 s to the first token: 3 s for a slot, 10 s loading, 1.5 s of prompt
    st.learn_run("gpu", "m", size_bytes=4_000_000_000, load_duration_ns=10_000_000_000,
                 eval_count=100, eval_duration_ns=2_000_000_000, ttft_s=14.5,
                 total_duration_ns=16_500_000_000, prompt_eval_duration_ns=1_500_000_000,
                 now=1.0)
    assert st.learned_figures("gpu").ttft_s == pytest.approx(1.5)
    # without total_duration (an older server, the proxy): only the load comes off
    other = State()
    other.learn_run("gpu", "m", size_bytes=4_000_000_000, load_duration_ns=10_000_000_000,
                    ttft_s=14.5, now=1.0)
    assert other.learned_figures("gpu").ttft_s == pytest.approx(4.5)
    # never below zero (a client's clock against the server's)
    other.learn_run("gpu", "m", load_duration_ns=10_000_000_000, ttft_s=9.0, now=2.0)
    assert other.learned_figures("gpu").ttft_s == pytest.approx(2.25)


def test_a_short_load_is_no_real_load() -> None:
    st = State()
    st.learn_run("gpu", "m", size_bytes=4_000_000_000, load_duration_ns=20_000_000, now=1.0)
    st.learn_run("gpu", "m", size_bytes=0, load_duration_ns=2_000_000_000, now=1.0)
    st.learn_run("gpu", "m", eval_count=0, eval_duration_ns=1_000_000, ttft_s=float("nan"),
                 now=1.0)
    f = st.learned_figures("gpu")
    assert (f.load_samples, f.tps_samples, f.ttft_samples) == (0, {}, 0)
    assert st.learned_figures("nowhere") == Learned()


def test_learned_heat_rise_per_reading(store: StateStore) -> None:
    with store.update() as st:
        # fan 30 → 50, then 32 → 48: a rise of 20, then 16 (average 18), 4 off the
        # average so far (deviations 0, then 4: average 2), counted as 18 + 2; the
        # temperature is missing after the second run; power is not a number
        st.learn_heat("gpu", {"fan_pct": 30, "temp_c": 45, "power_w": 10},
                      {"fan_pct": 50.0, "temp_c": 60, "power_w": 95, "util_pct": 99}, now=1.0)
        st.learn_heat("gpu", {"fan_pct": 32, "temp_c": 50, "power_w": True},
                      {"fan_pct": 48, "power_w": float("nan")}, now=2.0)
    f = store.read().learned_figures("gpu")
    assert f.heat_rise == {"fan_pct": pytest.approx(20.0), "temp_c": 15.0, "power_w": 85.0}
    assert f.heat_samples == {"fan_pct": 2, "temp_c": 1, "power_w": 1}
    assert store.read().learned_figures("other").heat_rise == {}


def test_learning_and_observing_in_one_update(store: StateStore) -> None:
    with store.update() as st:
        st.learn_run("gpu", "m", size_bytes=8_000_000_000, load_duration_ns=4_000_000_000,
                     eval_count=50, eval_duration_ns=1_000_000_000, ttft_s=0.1, now=5.0)
        st.observe_memory("gpu", "m", 8192, 9_000_000_000, 9_000_000_000, now=5.0)
        st.observe_memory("gpu", "m", 8192, 9_100_000_000, 9_000_000_000, now=6.0)
    st = store.read()
    assert st.learned_figures("gpu").load_gb_per_s == pytest.approx(2.0)
    assert st.observed_for("gpu") == {("m", 8192): (9_100_000_000, 9_000_000_000)}
    assert st.observed_for("other") == {}


# -- requests in flight ------------------------------------------------------------------------


def test_in_flight_counts_live_requests_only(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    marks = InFlight(str(tmp_path / "state"))
    assert marks.live(time.time()) == {}        # nothing marked yet: no directory either
    now = time.time()
    assert marks.begin("gpu", "mine", now)
    assert marks.begin("gpu", "dead", now, pid=dead.pid)
    assert marks.begin("gpu", "stale", now - 3601, pid=os.getppid())
    assert marks.begin("npu", "other", now)
    assert marks.live(now) == {"gpu": [None], "npu": [None]}
    marks.end("gpu", "mine")
    assert marks.live(now) == {"npu": [None]}
    marks.end("npu", "never-began")
    assert marks.live(now) == {"npu": [None]}
    # the next mark removes those that no longer count (the dead process's, the stale one)
    assert marks.begin("gpu", "next", now)
    left = sorted(p.name for p in (tmp_path / "state" / "in_flight").iterdir())
    assert left == [f"{os.getpid()}-next", f"{os.getpid()}-other"]


def test_in_flight_marks_are_private_and_never_follow_links(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    marks = InFlight(str(directory))
    assert marks.begin("gpu", "2026-01-01T00:00:00.000Z-abc/../x", time.time())
    (f,) = (directory / "in_flight").iterdir()
    assert f.name == f"{os.getpid()}-2026-01-01T00:00:00.000Z-abc_.._x"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE((directory / "in_flight").stat().st_mode) == 0o700
    # a half-written mark (a call killed as it wrote) does not count, nor break a count
    (directory / "in_flight" / f"{os.getpid()}-half").write_text('{"backend": "gp')
    assert marks.live(time.time()) == {"gpu": [None]}
    marks.end("gpu", "2026-01-01T00:00:00.000Z-abc/../x")
    # a symlink planted where the directory goes is not followed: nothing is marked
    other = InFlight(str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "target").mkdir()
    (tmp_path / "elsewhere" / "in_flight").symlink_to(tmp_path / "target")
    assert not other.begin("gpu", "x", time.time())
    assert list((tmp_path / "target").iterdir()) == []
    assert other.live(time.time()) == {}


# -- schema ----------------------------------------------------------------------------------


def test_migrates_the_unversioned_layout(store: StateStore) -> None:
    store.directory.mkdir(parents=True)
    old = {
        "current_mode": "quiet",
        "history": [{"id": "first"}, {"id": "second"}],          # oldest first
        "learned": {"gpu": {"load_gb_per_s": 3.5, "tokens_per_s": {"llama3:8b": 42.0},
                            "ttft_s": 0.2}},
        "cache": {"tags:gpu": {"time": 100.0, "value": ["llama3:8b"]}},
    }
    store.path.write_text(json.dumps(old))
    st = store.read()
    assert st.schema == SCHEMA
    assert st.mode == "quiet"
    assert [h["id"] for h in st.history] == ["second", "first"]
    f = st.learned_figures("gpu")
    assert (f.load_gb_per_s, f.load_samples) == (3.5, 1)
    assert f.tokens_per_s == {"llama3:8b": 42.0} and f.ttft_s == 0.2
    assert st.cache_get("tags:gpu", ttl_s=10, now=105.0) == ["llama3:8b"]
    with store.update() as st:
        st.learn_run("gpu", "llama3:8b", eval_count=58, eval_duration_ns=1_000_000_000, now=1.0)
    data = on_disk(store)
    assert data["schema"] == SCHEMA and "current_mode" not in data and "cache" not in data
    assert "history" not in data
    assert [h["id"] for h in store.read().history] == ["second", "first"]
    assert store.read().learned_figures("gpu").tokens_per_s["llama3:8b"] == pytest.approx(50.0)


def test_keys_from_a_newer_version_are_kept(store: StateStore) -> None:
    store.directory.mkdir(parents=True)
    store.path.write_text(json.dumps({"schema": SCHEMA + 1, "mode": "quiet", "history": [],
                                      "future": {"keep": [1, 2]}}))
    with store.update() as st:
        st.add_verdict({"id": "v"}, cap=5)
    data = on_disk(store)
    assert data["future"] == {"keep": [1, 2]}
    assert data["schema"] == SCHEMA + 1
    assert data["mode"] == "quiet"


def test_wrongly_typed_fields_are_reset_with_a_warning(store: StateStore) -> None:
    store.directory.mkdir(parents=True)
    store.path.write_text(json.dumps({"schema": 1, "mode": "quiet", "history": "oops",
                                      "learned": [1]}))
    st = store.read()
    assert (st.mode, st.history, st.learned) == ("quiet", [], {})
    assert any("'history'" in w for w in store.warnings)


# -- concurrency --------------------------------------------------------------------------------

WRITER = """
import os, sys, time, uuid
from pathlib import Path
from smartollama.state import StateStore
store = StateStore(Path(sys.argv[1]), lock_timeout_s=60)
with store.update() as st:
    st.add_verdict({"id": f"{os.getpid()}-{uuid.uuid4().hex}", "action": "run"}, cap=1000)
    st.learn_run("gpu", "llama3:8b", size_bytes=4_700_000_000, load_duration_ns=1_500_000_000,
                 eval_count=120, eval_duration_ns=3_000_000_000, ttft_s=0.2, now=time.time())
if store.warnings or not store.saved:
    print(store.warnings, file=sys.stderr)
    sys.exit(1)
"""


def test_32_processes_at_once_lose_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    store = StateStore(directory, history_size=1000)
    with store.update() as st:
        for i in range(3):
            st.add_verdict({"id": f"seed{i}"}, cap=1000)
        st.learn_run("gpu", "llama3:8b", size_bytes=4_700_000_000,
                     load_duration_ns=1_000_000_000, eval_count=10,
                     eval_duration_ns=1_000_000_000, now=1.0)
    before = store.read().learned_figures("gpu")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(directory)],
                              stderr=subprocess.PIPE, text=True) for _ in range(32)]
    errors = [(p.wait(timeout=120), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert all(rc == 0 for rc, _ in errors), errors
    st = store.read()
    ids = [h["id"] for h in st.history]
    assert len(ids) == 35 and len(set(ids)) == 35
    assert ids[-3:] == ["seed2", "seed1", "seed0"]
    after = st.learned_figures("gpu")
    assert after.load_samples == before.load_samples + 32
    assert after.tps_samples["llama3:8b"] == before.tps_samples["llama3:8b"] + 32
    assert after.ttft_samples == before.ttft_samples + 32
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert not [n for n in os.listdir(directory) if n.endswith(".tmp")]


def test_threads_sharing_one_store_lose_nothing(store: StateStore) -> None:
    def work(k: int) -> None:
        for i in range(10):
            with store.update() as st:
                st.add_verdict({"id": f"t{k}-{i}"}, cap=1000)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({h["id"] for h in store.read().history}) == 60
    assert store.warnings == []


def test_a_request_in_flight_records_when_its_decision_expects_it_to_end(tmp_path: Path) -> None:
    marks = InFlight(str(tmp_path))
    marks.begin("gpu", "a", 100.0, busy_s=12.5)
    marks.begin("gpu", "b", 101.0)            # no estimate
    assert sorted(marks.live(105.0)["gpu"], key=str) == [7.5, None]
    assert sorted(marks.live(200.0)["gpu"], key=str) == [0.0, None]     # overdue: any moment now
    marks.end("gpu", "a")
    assert marks.live(105.0) == {"gpu": [None]}


def test_prompt_speed_is_learned_per_model() -> None:
    st = State()
    st.learn_run("gpu", "llama3:8b", prompt_eval_count=1000, prompt_eval_duration_ns=500_000_000,
                 now=1.0)
    st.learn_run("gpu", "llama3:8b", prompt_eval_count=0, prompt_eval_duration_ns=1, now=2.0)
    assert st.learned_figures("gpu").prompt_tokens_per_s == {"llama3:8b": 2000.0}
