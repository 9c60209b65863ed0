"""Shell completion: the committed scripts, the value callbacks, and real bash, zsh and fish.

The shells run with a throwaway HOME and no rc files, and complete against the
installed `sollama`, with a config of two backends whose /api/tags answers sit
fresh in the state cache. Asking the hosts (a tiny loopback server answering
/api/tags) is tested on its own: completion gives the hosts ~300 ms of wall
time, which a loaded test machine can miss, so those tests raise the budget
where they check what is asked and keep it where they check the time.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smartollama import complete
from smartollama.commands.shell import completion_script

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SOLLAMA = BIN / "sollama"
MODES = ["quiet", "balanced", "performance", "efficiency"]
SERVED = ["qwen2.5:0.5b", "tinyllama:1b"]  # ollama-npu's (and the loopback server's)
CACHED = ["llama3:8b", "llama3:70b"]  # ollama-nvidia's

pytestmark = pytest.mark.skipif(not SOLLAMA.exists(), reason="sollama is not installed")


# -- a simulated host ----------------------------------------------------------------------


class TagsServer:
    """Answers GET /api/tags in Ollama's shape; counts the requests."""

    def __init__(self, names: list[str], delay_s: float = 0.0) -> None:
        self.names, self.delay_s, self.requests = names, delay_s, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests += 1
                time.sleep(outer.delay_s)
                if self.path != "/api/tags":
                    self.send_error(404)
                    return
                body = json.dumps({"models": [
                    {"name": n, "model": n, "size": 1_000_000_000, "digest": "0" * 64,
                     "details": {"format": "gguf"}} for n in outer.names]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_state(state_dir: Path, caches: dict[str, object]) -> Path:
    """Write a state cache whose ``kind:ID`` keys name backends of the config
    beside ``state_dir``; the file keys them by host URL, as sollama does."""
    import tomllib

    listed = tomllib.loads((state_dir.parent / "config.toml").read_text()).get("backends", [])
    hosts = {b["id"]: complete.base_url(b["host"]) for b in listed}
    caches = {f"{k.partition(':')[0]}:{hosts[k.partition(':')[2]]}": v for k, v in caches.items()}
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "state.json"
    path.write_text(json.dumps({"schema": 1, "mode": None, "history": [], "caches": caches}))
    return path


def tags_entry(names: list[str], t: float) -> dict[str, object]:
    return {"t": t, "v": [{"name": n, "model": n, "size": 4_700_000_000} for n in names]}


@pytest.fixture
def server() -> Iterator[TagsServer]:
    srv = TagsServer(SERVED)
    yield srv
    srv.close()


@pytest.fixture
def fleet(tmp_path: Path, server: TagsServer) -> dict[str, str]:
    """Config + state for two backends; the environment the shells get."""
    config = tmp_path / "config.toml"
    config.write_text(f"""\
[modes.silent]
max_fan_pct = 20
description = "library hours"

[[backends]]
id = "ollama-npu"
host = "{server.url}"
hardware = "npu"

[[backends]]
id = "ollama-nvidia"
host = "127.0.0.1:{closed_port()}"
hardware = "nvidia"
""")
    write_state(tmp_path / "state", {"tags:ollama-npu": tags_entry(SERVED, time.time()),
                                     "tags:ollama-nvidia": tags_entry(CACHED, time.time())})
    home = tmp_path / "home"
    home.mkdir()
    return shell_env(home, config, tmp_path / "state")


def shell_env(home: Path, config: Path, state: Path) -> dict[str, str]:
    env = {
        "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SOLLAMA_CONFIG": str(config), "SOLLAMA_STATE_DIR": str(state), "TERM": "screen",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "SHELL": "/bin/sh", "HISTFILE": "",
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local/state"),
        "NO_COLOR": "1",
    }
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def need(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed (scripts/test-deps.sh installs it)")
    return path


# -- the committed scripts -------------------------------------------------------------------


@pytest.mark.parametrize("shell,name", [("bash", "sollama.bash"), ("zsh", "_sollama"),
                                        ("fish", "sollama.fish")])
def test_committed_script_is_current(shell: str, name: str) -> None:
    committed = (ROOT / "completions" / name).read_text(encoding="utf-8")
    assert committed == completion_script(shell), (
        f"completions/{name} is stale: run `python scripts/gen-completions.py`")


def test_gen_completions_check_passes() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts/gen-completions.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_zsh_script_starts_with_compdef() -> None:
    assert completion_script("zsh").startswith("#compdef sollama\n")


# -- the value callbacks ------------------------------------------------------------------------


def names(items: list) -> list[str]:
    return [i.value for i in items]


@pytest.fixture
def cfg_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write a config naming the given backends (id → host); return the state dir."""

    def make(backends: dict[str, str], extra: str = "") -> Path:
        text = extra + "".join(f'\n[[backends]]\nid = "{b}"\nhost = "{h}"\n'
                               for b, h in backends.items())
        (tmp_path / "config.toml").write_text(text)
        monkeypatch.setenv("SOLLAMA_CONFIG", str(tmp_path / "config.toml"))
        monkeypatch.setenv("SOLLAMA_STATE_DIR", str(tmp_path / "state"))
        return tmp_path / "state"

    return make


def test_models_from_fresh_cache_ask_no_host(cfg_env: Callable[..., Path],
                                             server: TagsServer) -> None:
    state = cfg_env({"a": server.url, "b": f"127.0.0.1:{closed_port()}"})
    write_state(state, {"tags:a": tags_entry(["mistral:7b"], time.time()),
                        "tags:b": tags_entry(CACHED, time.time())})
    got = names(complete.complete_models(None, None, ""))
    assert got == ["llama3:70b", "llama3:8b", "mistral:7b", "auto"]
    assert server.requests == 0
    assert names(complete.complete_models(None, None, "llama3:7")) == ["llama3:70b"]


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A network budget no loaded machine misses (for tests of what is asked)."""
    monkeypatch.setattr(complete, "NETWORK_BUDGET_S", 10.0)


@pytest.mark.usefixtures("patient")
def test_models_ask_the_hosts_when_the_cache_is_stale_and_never_write_it(
        cfg_env: Callable[..., Path], server: TagsServer) -> None:
    state = cfg_env({"a": server.url})
    path = write_state(state, {"tags:a": tags_entry(["old:1b"], time.time() - 3600)})
    before = path.read_bytes()
    assert names(complete.complete_models(None, None, "")) == [*SERVED, "auto"]
    assert server.requests == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in state.iterdir()) == ["state.json"]


@pytest.mark.usefixtures("patient")
def test_models_with_no_state_file_ask_the_hosts(cfg_env: Callable[..., Path],
                                                 server: TagsServer) -> None:
    state = cfg_env({"a": server.url})
    assert names(complete.complete_models(None, None, "tiny")) == ["tinyllama:1b"]
    assert not state.exists()


def test_a_slow_host_costs_at_most_the_budget(cfg_env: Callable[..., Path]) -> None:
    slow = TagsServer(["never:1b"], delay_s=3.0)
    try:
        state = cfg_env({"slow": slow.url, "down": f"127.0.0.1:{closed_port()}"})
        write_state(state, {"tags:slow": tags_entry(["stale:7b"], time.time() - 3600)})
        start = time.monotonic()
        got = names(complete.complete_models(None, None, ""))
        took = time.monotonic() - start
    finally:
        slow.close()
    assert got == ["stale:7b", "auto"]  # the stale answer beats none
    assert took < complete.NETWORK_BUDGET_S + 1.0   # not the slow host's 3 s (slack: a loaded CI)


def test_models_of_a_pinned_backend(cfg_env: Callable[..., Path]) -> None:
    state = cfg_env({"a": f"127.0.0.1:{closed_port()}", "b": f"127.0.0.1:{closed_port()}"})
    write_state(state, {"tags:a": tags_entry(["mistral:7b"], time.time()),
                        "tags:b": tags_entry(CACHED, time.time())})

    class Ctx:
        params = {"backend_id": "a"}

    assert names(complete.complete_models(Ctx(), None, "")) == ["mistral:7b", "auto"]


def test_modes_and_backends_from_the_config(cfg_env: Callable[..., Path]) -> None:
    cfg_env({"gpu": "127.0.0.1:1", "npu": "127.0.0.1:2"},
            extra='[modes.silent]\nmax_fan_pct = 20\n[modes.quiet]\nmax_fan_pct = 30\n')
    modes = complete.complete_modes(None, None, "")
    assert names(modes) == [*MODES, "silent"]
    assert {i.value: i.help for i in modes}["quiet"] == "fan ≤ 30%"
    assert names(complete.complete_modes(None, None, "q")) == ["quiet"]
    assert names(complete.complete_backends(None, None, "")) == ["gpu", "npu"]


def test_no_config_means_the_default_backend(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("SOLLAMA_CONFIG", str(tmp_path / "missing.toml"))
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    assert names(complete.complete_backends(None, None, "")) == ["ollama"]
    assert names(complete.complete_modes(None, None, "")) == MODES


def test_a_broken_config_completes_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("this is [not toml")
    assert names(complete.complete_modes(None, None, "")) == MODES
    assert names(complete.complete_models(None, None, "zzz")) == []


def test_builtin_modes_match_the_config_module() -> None:
    from smartollama.config import BUILTIN_MODES

    assert {k: v.limits() for k, v in BUILTIN_MODES.items()} == {
        k: {f.removeprefix("max_"): x for f, x in v.items()}
        for k, v in complete.BUILTIN_MODES.items()}


@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost:11435", ":8080", "http://example.com", "https://example.com",
    "http://10.0.0.2:9000/ollama/", "0.0.0.0:11434", "[::1]:1234", "HTTP://h:1",
    "::1", "fe80::1:11434", "http://bob:s%40cret@h:1/p", "bob:pw@h",
])
def test_base_url_reads_hosts_as_the_config_does(host: str) -> None:
    from smartollama.hosts import parse_host

    assert complete.base_url(host) == parse_host(host)


# -- through the console script -------------------------------------------------------------------


def click_complete(env: dict[str, str], shell: str, words: str, cword: str) -> str:
    r = subprocess.run([str(SOLLAMA)], env={**env, "_SOLLAMA_COMPLETE": f"{shell}_complete",
                                            "COMP_WORDS": words, "COMP_CWORD": cword},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return r.stdout


def test_the_console_script_answers_click_completion(fleet: dict[str, str]) -> None:
    out = click_complete(fleet, "bash", "sollama ru", "1")
    assert out.split() == ["plain,run"]
    out = click_complete(fleet, "bash", "sollama run ''", "-1")
    assert out.split() == [f"plain,{m}" for m in sorted(CACHED + SERVED)] + ["plain,auto"]


def test_the_console_script_asks_the_hosts_without_a_cache(tmp_path: Path,
                                                          server: TagsServer) -> None:
    config = tmp_path / "net.toml"
    config.write_text(f'[[backends]]\nid = "npu"\nhost = "{server.url}"\n')
    env = shell_env(tmp_path / "home", config, tmp_path / "no-state")
    want = [f"plain,{m}" for m in SERVED] + ["plain,auto"]
    for _ in range(5):  # ~300 ms of wall time: a loaded machine may miss it once
        got = click_complete(env, "bash", "sollama run ''", "-1").split()
        if got == want:
            break
    assert got == want
    assert server.requests >= 1
    assert not (tmp_path / "no-state").exists()  # completion writes no cache


def test_completion_imports_nothing_heavy(fleet: dict[str, str]) -> None:
    """The completion path (cache fresh or not) loads no httpx, pydantic, rich or pynvml."""
    probe = ("import sys\nfrom smartollama.cli import main\ntry:\n    main()\n"
             "except SystemExit:\n    pass\n"
             "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
             "{'httpx', 'pydantic', 'rich', 'pynvml', 'psutil', 'filelock'})\n"
             "sys.stderr.write(repr(heavy))\n")
    no_cache = {"SOLLAMA_STATE_DIR": fleet["SOLLAMA_STATE_DIR"] + "-none"}  # asks the hosts
    for words, extra in (("sollama run ''", {}), ("sollama run ''", no_cache),
                         ("sollama route llama3:8b --backend ''", {}),
                         ("sollama run x --mode ''", {}), ("sollama ''", {})):
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           timeout=30, env={**fleet, **extra, "_SOLLAMA_COMPLETE": "bash_complete",
                                            "COMP_WORDS": words, "COMP_CWORD": "-1"})
        assert r.stderr == "[]", (words, extra, r.stderr)


# -- bash --------------------------------------------------------------------------------------------

BASH_DRIVER = r"""
source "$1"
[[ -n $2 ]] && eval "$(sollama shell-init bash --alias)"
complete -p "${3%% *}" >&2 || exit 9
COMP_LINE=$3
COMP_POINT=${#COMP_LINE}
# split as bash does for completion (COMP_WORDBREAKS includes ':' and '=')
COMP_WORDS=()
word=""
for (( i=0; i<${#COMP_LINE}; i++ )); do
    c=${COMP_LINE:i:1}
    if [[ $c == [[:space:]] ]]; then
        [[ -n $word ]] && COMP_WORDS+=("$word"); word=""
    elif [[ $COMP_WORDBREAKS == *"$c"* ]]; then
        [[ -n $word ]] && COMP_WORDS+=("$word"); COMP_WORDS+=("$c"); word=""
    else
        word+=$c
    fi
done
COMP_WORDS+=("$word")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
fn=$(complete -p "${3%% *}" | sed -E 's/.*-F ([^ ]+).*/\1/')
"$fn" "${3%% *}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


def bash_complete(env: dict[str, str], line: str, alias: bool = False) -> list[str]:
    bash = need("bash")
    r = subprocess.run([bash, "--norc", "--noprofile", "-c", BASH_DRIVER, "driver",
                        str(ROOT / "completions/sollama.bash"), "1" if alias else "", line],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [x for x in r.stdout.splitlines() if x]


def test_bash_completes_subcommands(fleet: dict[str, str]) -> None:
    assert bash_complete(fleet, "sollama ru") == ["run"]
    assert bash_complete(fleet, "sollama shell-") == ["shell-init"]
    # what goes to the real ollama completes too (for `alias ollama=sollama`)
    assert bash_complete(fleet, "sollama pu") == ["pull", "push"]
    assert bash_complete(fleet, "ollama p", alias=True) == ["ps", "preload", "proxy", "pull", "push"]


def test_bash_completes_models_from_hosts_and_cache(fleet: dict[str, str]) -> None:
    assert bash_complete(fleet, "sollama run ") == [*sorted(CACHED + SERVED), "auto"]
    # bash breaks words at ':'; the candidates are what follows it
    assert bash_complete(fleet, "sollama run llama3:") == ["70b", "8b"]
    assert bash_complete(fleet, "sollama run qwen2.5:0") == ["0.5b"]


def test_bash_completes_modes(fleet: dict[str, str]) -> None:
    assert bash_complete(fleet, "sollama run llama3:8b --mode ") == [*MODES, "silent"]
    assert bash_complete(fleet, "sollama mode ") == [*MODES, "silent"], (
        "`sollama mode NAME` needs shell_complete=complete_modes on its argument")


def test_bash_completes_backends(fleet: dict[str, str]) -> None:
    assert bash_complete(fleet, "sollama run llama3:8b --backend ") == [
        "ollama-npu", "ollama-nvidia"]
    assert bash_complete(fleet, "sollama run llama3:8b --backend=ollama-nv") == [
        "ollama-nvidia"]
    assert bash_complete(fleet, "sollama run --backend ollama-npu ") == [*SERVED, "auto"]


def test_bash_completes_choices(fleet: dict[str, str]) -> None:
    assert bash_complete(fleet, "sollama run llama3:8b --urgency b") == ["background", "batch"]
    assert bash_complete(fleet, "sollama route llama3:8b --task c") == ["code", "chat"]


def test_bash_completes_the_ollama_alias(fleet: dict[str, str]) -> None:
    assert bash_complete(fleet, "ollama ru", alias=True) == ["run"]
    assert bash_complete(fleet, "ollama run tiny", alias=True) == ["tinyllama:1b"]


# -- interactive shells in tmux -------------------------------------------------------------------------


class Tmux:
    """One shell in a private tmux server; type into it, read its screen."""

    def __init__(self, tmp: Path, env: dict[str, str], argv: list[str]) -> None:
        tmux = need("tmux")
        self.sock = tmp / "tmux.sock"
        if len(str(self.sock)) > 100:  # a unix socket path has room for ~107 bytes
            import tempfile

            self.sock = Path(tempfile.mkdtemp(prefix="sc-")) / "t.sock"
        self.base = [tmux, "-S", str(self.sock), "-f", os.devnull]
        envs = [f"{k}={v}" for k, v in env.items()]
        subprocess.run([*self.base, "new-session", "-d", "-x", "160", "-y", "50", "env", "-i",
                        *envs, *argv], check=True, timeout=10, env={**os.environ, **env})

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", *keys], check=True, timeout=10)

    def text(self, literal: str) -> None:
        subprocess.run([*self.base, "send-keys", "-l", "--", literal], check=True, timeout=10)

    def screen(self) -> str:
        r = subprocess.run([*self.base, "capture-pane", "-p"], capture_output=True, text=True,
                           timeout=10)
        return r.stdout

    def wait(self, ok: Callable[[str], bool], what: str, timeout: float = 10.0) -> str:
        end = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ok(screen):
                return screen
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")
            time.sleep(0.05)

    def run(self, command: str) -> None:
        """Run a set-up command and wait until it has finished."""
        token = f"done-{time.monotonic_ns()}"
        self.text(f"{command}; echo {token[:5]}''{token[5:]}")
        self.keys("Enter")
        self.wait(lambda s: any(line.strip() == token for line in s.splitlines()), command)
        self.text("clear")
        self.keys("Enter")
        self.wait(lambda s: "done-" not in s and "clear" not in s, "a clear screen")

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux_shell(tmp_path: Path, fleet: dict[str, str]) -> Iterator[Callable[[list[str]], Tmux]]:
    started: list[Tmux] = []

    def start(argv: list[str]) -> Tmux:
        t = Tmux(tmp_path, {**fleet, "PS1": "$ ", "PROMPT": "$ "}, argv)
        started.append(t)
        return t

    yield start
    for t in started:
        t.close()


def tab_screen(t: Tmux, typed: str, expect: list[str], first: str | None = None) -> str:
    """Type TYPED and <TAB>; with FIRST, wait for that (the common part of several
    candidates, which the first <TAB> inserts) and <TAB> again for the list."""
    t.text(typed)
    t.keys("Tab")
    what = f"{expect} after {typed!r}<TAB>"
    if first is not None:
        t.wait(lambda s: first in s, f"{first!r} after {typed!r}<TAB>")
        # zsh lists on the next <TAB>; bash (readline) on the one after, as the
        # first one changed the line
        for _ in range(2):
            t.keys("Tab")
            try:
                return t.wait(lambda s: all(e in s for e in expect), what, timeout=1.0)
            except AssertionError:
                pass
    return t.wait(lambda s: all(e in s for e in expect), what)


@pytest.mark.shell
def test_bash_interactive_tab(tmux_shell: Callable[[list[str]], Tmux]) -> None:
    t = tmux_shell([need("bash"), "--norc", "--noprofile", "-i"])
    t.run(f"source {ROOT / 'completions/sollama.bash'}")
    tab_screen(t, "sollama ru", ["sollama run"])  # the screen drops trailing blanks
    tab_screen(t, "llama3:7", ["sollama run llama3:70b"])
    tab_screen(t, "--backend ", ["ollama-npu", "ollama-nvidia"],
               first="llama3:70b --backend ollama-n")


@pytest.mark.shell
def test_zsh_interactive_tab(tmux_shell: Callable[[list[str]], Tmux]) -> None:
    t = tmux_shell([need("zsh"), "-f", "-i"])
    t.run('eval "$(sollama shell-init zsh --alias)"')
    tab_screen(t, "sollama ru", ["sollama run"])
    t.keys("C-u")
    t.run("true")
    tab_screen(t, "sollama run ", [*CACHED, *SERVED, "auto"])
    t.keys("C-c")
    t.run("true")
    tab_screen(t, "ollama run llama3:8b --backend ", ["ollama-npu", "ollama-nvidia"],
               first="--backend ollama-n")
    t.keys("C-c")
    t.run("true")
    tab_screen(t, "ollama run llama3:8b --backend=ollama-nv", ["--backend=ollama-nvidia"])
    t.keys("C-u")
    t.run("true")
    tab_screen(t, "sollama mode ", [*MODES, "silent"])


def fish_complete(env: dict[str, str], line: str, setup: str) -> list[str]:
    fish = need("fish")
    r = subprocess.run([fish, "--no-config", "-c", f"{setup}; complete -C {json.dumps(line)}"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [x.split("\t")[0] for x in r.stdout.splitlines() if x]


@pytest.mark.parametrize("line,expect", [
    ("sollama ru", ["run"]),
    ("sollama run ", sorted([*CACHED, *SERVED, "auto"])),
    ("sollama mode ", sorted([*MODES, "silent"])),
    ("sollama run llama3:8b --backend ", ["ollama-npu", "ollama-nvidia"]),
    ("sollama run llama3:8b --backend=ollama-nv", ["--backend=ollama-nvidia"]),
    ("sollama run llama3:", ["llama3:70b", "llama3:8b"]),
])
def test_fish_completes(fleet: dict[str, str], line: str, expect: list[str]) -> None:
    setup = f"source {ROOT / 'completions/sollama.fish'}"
    assert sorted(fish_complete(fleet, line, setup)) == expect


def test_fish_completes_the_ollama_function(fleet: dict[str, str]) -> None:
    got = fish_complete(fleet, "ollama run tiny", "sollama shell-init fish --alias | source")
    assert got == ["tinyllama:1b"]
    assert fish_complete(fleet, "ollama ru", "sollama shell-init fish --alias | source") == ["run"]
