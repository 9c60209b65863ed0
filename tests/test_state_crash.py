"""The state cache under crashes, corruption, read-only and full disks, Ctrl-C.

Every test drives real processes and real files: a writer SIGKILLed while it
holds the lock, a writer interrupted by SIGINT in the middle of its write
loop, a file size limit that makes writes fail the way a full disk does.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartollama.state import SCHEMA, State, StateStore


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real config or state."""
    monkeypatch.setenv("SOLLAMA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SOLLAMA_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("SOLLAMA_MODE", raising=False)


_children: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_child_outlives_its_test() -> Iterator[None]:
    """A writer loop left running by a failed test would busy a core for the rest of the run."""
    yield
    while _children:
        p = _children.pop()
        if p.poll() is None:
            p.kill()
            p.communicate(timeout=30)


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    _children.append(p)
    return p


def _seed(directory: Path) -> StateStore:
    store = StateStore(directory)
    with store.update() as st:
        st.mode = "quiet"
        st.add_verdict({"id": "seed"}, cap=10)
    return store


# -- a lock holder that dies ---------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from smartollama.state import StateStore
store = StateStore(Path(sys.argv[1]))
with store.update() as st:
    st.mode = "performance"
    print("locked", flush=True)
    time.sleep(120)
"""


def test_sigkilled_lock_holder_does_not_block(tmp_path: Path) -> None:
    store = _seed(tmp_path / "state")
    holder = _child(HOLDER, str(store.directory))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        # while it is alive, the lock is held: a short timeout gives up, warns, still yields
        waiter = StateStore(store.directory, lock_timeout_s=0.3)
        t0 = time.monotonic()
        with waiter.update() as st:
            assert st.mode == "quiet"
            st.mode = "efficiency"
        assert 0.25 <= time.monotonic() - t0 < 3
        assert not waiter.saved
        assert len(waiter.warnings) == 1 and "locked" in waiter.warnings[0]
        assert store.read().mode == "quiet"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    assert holder.returncode == -signal.SIGKILL
    # the kernel dropped the lock with its process: no wait at all
    after = StateStore(store.directory, lock_timeout_s=5)
    t0 = time.monotonic()
    with after.update() as st:
        st.mode = "balanced"
    assert time.monotonic() - t0 < 2.0    # not the 5 s lock timeout (slack: a loaded CI)
    assert after.saved and after.warnings == []
    st = after.read()
    assert st.mode == "balanced"             # the killed holder's change never landed
    assert [h["id"] for h in st.history] == ["seed"]


# -- corrupt files ------------------------------------------------------------------

GOOD = json.dumps({"schema": 1, "mode": "quiet", "history": [{"id": "a" * 40}] * 5})
CORRUPT = {
    "truncated": GOOD[: len(GOOD) // 2].encode(),
    "binary garbage": bytes(range(256)) * 4,
    "empty": b"",
    "wrong top-level type": b"[1, 2, 3]\n",
}


@pytest.mark.parametrize("kind", list(CORRUPT))
@pytest.mark.parametrize("via", ["read", "update"])
def test_corrupt_file_is_moved_aside(tmp_path: Path, kind: str, via: str) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    (directory / "state.json").write_bytes(CORRUPT[kind])
    store = StateStore(directory)
    if via == "read":
        st = store.read()
    else:
        with store.update() as st:
            pass
    assert st.mode is None and st.history == []
    assert len(store.warnings) == 1, store.warnings
    aside = [p for p in directory.iterdir() if p.name.startswith("state.json.corrupt-")]
    assert len(aside) == 1
    assert str(aside[0]) in store.warnings[0]
    assert aside[0].read_bytes() == CORRUPT[kind]        # kept, byte for byte
    # and the store works on
    with store.update() as st:
        st.mode = "balanced"
    assert StateStore(directory).read().mode == "balanced"
    assert len(store.warnings) == 1


def test_two_corruptions_in_one_second_keep_both(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    for content in (b"{", b"\x00"):
        (directory / "state.json").write_bytes(content)
        StateStore(directory).read()
    kept = sorted(p.read_bytes() for p in directory.glob("state.json.corrupt-*"))
    assert kept == [b"\x00", b"{"]


# -- a state directory that cannot be written --------------------------------------


def _writable(directory: Path) -> bool:
    probe = directory / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


def _assert_carries_on(store: StateStore) -> None:
    for mode in ("quiet", "balanced"):
        with store.update() as st:
            assert isinstance(st, State)
            st.mode = mode
            st.add_verdict({"id": mode}, cap=5)
        assert not store.saved
    assert store.warnings == [f"state not saved: {store.directory} is read-only"]
    assert isinstance(store.read(), State)


def test_read_only_state_directory(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    _seed(directory)
    os.chmod(directory, 0o500)
    try:
        if _writable(directory):
            # running as root: permission bits do not stop us; make the path
            # unwritable another way, a state dir below a regular file
            blocker = tmp_path / "a-file"
            blocker.write_text("not a directory")
            directory = blocker / "state"
        store = StateStore(directory)
        _assert_carries_on(store)
    finally:
        os.chmod(tmp_path / "state", 0o700)


def test_state_directory_below_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = StateStore(blocker / "sollama")
    assert store.read() == State()
    _assert_carries_on(store)


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from smartollama.state import StateStore
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))   # every write now fails, EFBIG
store = StateStore(Path(sys.argv[1]))
with store.update() as st:
    print("mode", st.mode)
    st.mode = "performance"
print("saved", store.saved)
print("warnings", store.warnings)
"""


def test_full_disk_skips_the_write_and_keeps_the_old_file(tmp_path: Path) -> None:
    store = _seed(tmp_path / "state")
    before = store.path.read_bytes()
    p = _child(FULL_DISK, str(store.directory))
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "mode quiet" in out
    assert "saved False" in out
    assert f"state not saved: no space left in {store.directory}" in out
    assert store.path.read_bytes() == before
    assert not [n for n in os.listdir(store.directory) if n.endswith(".tmp")]


# -- interrupted writers --------------------------------------------------------------

WRITE_LOOP = """
import os, sys, time
from pathlib import Path
from smartollama.state import StateStore
store = StateStore(Path(sys.argv[1]))
i = 0
print("ready", flush=True)
while True:
    i += 1
    with store.update() as st:
        st.add_verdict({"id": f"{os.getpid()}-{i}", "pad": "x" * 4000}, cap=200)
        st.cache_put(f"k{i % 50}", list(range(100)), now=time.time())
"""


def _assert_parses(path: Path) -> dict:
    data = json.loads(path.read_bytes())
    assert isinstance(data, dict) and data["schema"] == SCHEMA
    return data


def _history_ids(path: Path) -> list[str]:
    """The ids in the history file, oldest first. Every whole line parses; only
    the last line may be cut short (a writer killed mid-append), and is left out."""
    lines = path.read_bytes().split(b"\n") if path.exists() else [b""]
    lines.pop()
    return [json.loads(line)["id"] for line in lines]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_interrupted_writer_never_leaves_a_corrupt_file(tmp_path: Path, sig: int) -> None:
    store = _seed(tmp_path / "state")
    rng = random.Random(1234)
    reads = 0
    before = _history_ids(store.history_path)
    assert before == ["seed"]
    for _ in range(6):
        p = _child(WRITE_LOOP, str(store.directory))
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + rng.uniform(0.05, 0.4)
        while time.monotonic() < deadline:     # readers see whole files all along
            _assert_parses(store.path)
            _history_ids(store.history_path)
            reads += 1
        p.send_signal(sig)
        p.communicate(timeout=30)
        assert p.returncode == -sig, p.returncode
        data = _assert_parses(store.path)
        assert data["mode"] == "quiet"
        after = _history_ids(store.history_path)
        # what was saved is whole: this writer's entries run without a gap
        mine = [h for h in after if h.startswith(f"{p.pid}-")]
        numbers = [int(h.split("-")[1]) for h in mine]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) if mine else True
        # and no entry saved before was lost: the file is the newest part of all
        # entries ever written (at least the newest 200 of them)
        assert after == (before + mine)[-len(after):]
        assert len(after) >= min(len(before) + len(mine), 200)
        reader = StateStore(store.directory)
        assert [h["id"] for h in reader.read().history] == after[::-1][:200]
        assert len(reader.warnings) <= 1       # a cut last line: one warning
        before = after
    assert reads > 0
    # the next writer works, and sweeps up any temp file a killed writer left
    after = StateStore(store.directory, lock_timeout_s=2)
    with after.update() as st:
        st.add_verdict({"id": "after"}, cap=200)
    assert after.saved and after.warnings == []
    assert not [n for n in os.listdir(store.directory) if n.endswith(".tmp")]
    assert len(after.read().history) > 6
