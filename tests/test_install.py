"""install.sh and scripts/shell-setup.sh: install, then uninstall, leaves HOME as it was.

Each test runs in a throwaway HOME (XDG variables unset, so the defaults under
HOME are used) and compares a full listing of it, before and after: every
path with its type, permissions, link target and content hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "scripts" / "shell-setup.sh"
MARK = "# added by sollama install.sh"
BASHRC = "# my bashrc\nexport EDITOR=vi\n# no newline at the end"
ZSHRC = "autoload -Uz compinit\ncompinit\nPROMPT='%~ %# '\n"
FISHRC = "set -g fish_greeting\n"


def listing(home: Path) -> dict[str, str]:
    out = {}
    for p in sorted(home.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(home))
        if p.is_symlink():
            out[rel] = f"link -> {os.readlink(p)}"
        elif p.is_dir():
            out[rel] = f"dir {oct(st.st_mode & 0o7777)}"
        else:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[rel] = f"file {oct(st.st_mode & 0o7777)} {digest}"
    return out


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "SOLLAMA_", "PIP_", "VIRTUAL_ENV", "BASH_COMPLETION",
                                "ZDOTDIR"))}
    env.update({"HOME": str(home), "SHELL": "/bin/bash", **extra})
    return env


def setup(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(SETUP), *args], capture_output=True, text=True, timeout=60,
                       env=base_env(home, **extra))
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME with rc files of its own: one without a final newline, one a symlink."""
    h = tmp_path / "home"
    (h / "dotfiles").mkdir(parents=True)
    (h / ".bashrc").write_text(BASHRC)
    (h / "dotfiles" / "zshrc").write_text(ZSHRC)
    (h / ".zshrc").symlink_to("dotfiles/zshrc")
    (h / ".config" / "fish").mkdir(parents=True)
    (h / ".config" / "fish" / "config.fish").write_text(FISHRC)
    (h / ".bashrc").chmod(0o600)
    return h


def marked(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if MARK in line]


# -- scripts/shell-setup.sh ----------------------------------------------------------------------


@pytest.mark.parametrize("alias", [False, True])
def test_shell_setup_install_then_uninstall_leaves_home_as_it_was(home: Path,
                                                                  alias: bool) -> None:
    before = listing(home)
    setup(home, "install", *(["--alias"] if alias else []))
    after_install = listing(home)
    assert ".local/share/bash-completion/completions/sollama" in after_install
    assert ".config/fish/completions/sollama.fish" in after_install
    if shutil.which("zsh"):
        assert ".zsh/completions/_sollama" in after_install
        assert (home / "dotfiles/zshrc").read_text().startswith('fpath=("$HOME/.zsh/completions"')
    assert len(marked(home / ".bashrc")) == (1 if alias else 0)
    assert (home / ".zshrc").is_symlink()
    setup(home, "uninstall")
    assert listing(home) == before


def test_shell_setup_in_an_empty_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    setup(home, "install", "--alias", SHELL="/usr/bin/zsh")
    assert marked(home / ".bashrc")
    if shutil.which("zsh"):
        assert len(marked(home / ".zshrc")) == 2  # fpath, and the alias
    setup(home, "uninstall")
    assert listing(home) == {}


def test_shell_setup_is_idempotent(home: Path) -> None:
    setup(home, "install", "--alias")
    first = listing(home)
    again = setup(home, "install", "--alias")
    assert again.stdout == ""  # nothing left to do
    assert listing(home) == first
    assert len(marked(home / ".bashrc")) == 1
    assert len(marked(home / ".config/fish/config.fish")) == 1
    if shutil.which("zsh"):
        assert len(marked(home / ".zshrc")) == 2
    manifest = (home / ".local/share/sollama/shell-setup.manifest").read_text().splitlines()
    assert len(manifest) == len(set(manifest))


def test_shell_setup_keeps_the_users_own_lines_added_later(home: Path) -> None:
    setup(home, "install", "--alias")
    with (home / ".bashrc").open("a") as f:
        f.write("alias ll='ls -l'\n")
    setup(home, "uninstall")
    assert (home / ".bashrc").read_text() == BASHRC + "\nalias ll='ls -l'\n"


def test_shell_setup_leaves_a_completion_file_it_did_not_write(home: Path) -> None:
    own = home / ".local/share/bash-completion/completions/sollama"
    own.parent.mkdir(parents=True)
    own.write_text("# my own\n")
    before = listing(home)
    setup(home, "install")
    assert own.read_text() == "# my own\n"
    setup(home, "uninstall")
    assert listing(home) == before


def test_uninstall_without_an_install_changes_nothing(home: Path) -> None:
    before = listing(home)
    setup(home, "uninstall")
    assert listing(home) == before


def test_shell_setup_honours_xdg_and_bash_completion_dirs(home: Path, tmp_path: Path) -> None:
    data, conf, bc = tmp_path / "data", tmp_path / "conf", tmp_path / "bc"
    dirs = {"XDG_DATA_HOME": str(data), "XDG_CONFIG_HOME": str(conf),
            "BASH_COMPLETION_USER_DIR": str(bc)}
    setup(home, "install", **dirs)
    assert (bc / "completions" / "sollama").is_file()
    assert (conf / "fish" / "completions" / "sollama.fish").is_file()
    assert (data / "sollama" / "shell-setup.manifest").is_file()
    setup(home, "uninstall", **dirs)
    assert not data.exists() and not conf.exists() and not bc.exists()


def test_installed_completions_are_found_by_each_shell(home: Path) -> None:
    setup(home, "install")
    env = base_env(home, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if shutil.which("zsh"):
        r = subprocess.run(["zsh", "-i", "-c", "print -r -- $_comps[sollama]"], env=env,
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert r.stdout.strip() == "_sollama", r.stderr
    if shutil.which("fish"):
        r = subprocess.run(["fish", "-c", "complete -C 'sollama ru'"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.split("\t")[0] == "run", r.stderr
    bash_file = home / ".local/share/bash-completion/completions/sollama"
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", f"source {bash_file}; complete -p sollama"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert "-F _sollama_completion sollama" in r.stdout


# -- install.sh -------------------------------------------------------------------------------------


def _project_copy(dest: Path) -> Path:
    """The files install.sh installs from, outside the working tree (pip builds in it)."""
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".venv", "*.pyc")
    for name in ("src", "scripts", "completions"):
        shutil.copytree(ROOT / name, dest / name, ignore=skip)
    for name in ("pyproject.toml", "README.md", "install.sh", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    return dest


NETWORK_TROUBLE = ("Could not find a version", "No matching distribution", "NewConnectionError",
                   "Temporary failure in name resolution", "Network is unreachable",
                   "ConnectTimeout", "Max retries exceeded")


@pytest.mark.timeout(300)   # a real pip install: ~20 s idle, several times that on a loaded machine
def _pip_cache(pytestconfig: pytest.Config, tmp_path: Path) -> Path:
    """Where pip keeps its wheels for this test, outside the throwaway HOME: the
    user's own pip cache when there is one (the one `./install.sh --dev` just
    filled, so the test resolves the index without downloading again), else
    pytest's cache (kept between runs), else a fresh one."""
    own = Path(os.environ.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
    if own.is_dir() and os.access(own, os.W_OK):
        return own
    cache = getattr(pytestconfig, "cache", None)
    return cache.mkdir("pip-cache") if cache is not None else tmp_path / "pip-cache"


def test_install_sh_then_uninstall_leaves_home_as_it_was(home: Path, tmp_path: Path,
                                                         pytestconfig: pytest.Config) -> None:
    """A full install (a venv under HOME; pip reuses a wheel cache kept outside HOME).

    About 15 s with a warm cache; pip needs the package index (skips without it).
    """
    project = _project_copy(tmp_path / "project")
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d) / "pipx").exists()
                           and Path(d).resolve() != Path(sys.executable).parent.resolve())
    # pip runs `rustc --version` for its user agent, and a rustup proxy on PATH then
    # writes its settings into RUSTUP_HOME (by default under HOME): keep that outside.
    pip_cache = _pip_cache(pytestconfig, tmp_path)
    env = base_env(home, PATH=path, PIP_DISABLE_PIP_VERSION_CHECK="1",
                   PIP_CACHE_DIR=str(pip_cache),
                   PYTHON=getattr(sys, "_base_executable", sys.executable),
                   RUSTUP_HOME=str(tmp_path / "rustup"), CARGO_HOME=str(tmp_path / "cargo"))
    # a systemctl that only logs what it is asked (the real one would touch the
    # session's user manager); it lives outside HOME
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    calls = tmp_path / "systemctl.log"
    (fake_bin / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (fake_bin / "systemctl").chmod(0o755)
    env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
    before = listing(home)
    start = time.monotonic()
    r = subprocess.run([str(project / "install.sh"), "--timer", "--service"],
                       capture_output=True, text=True, env=env, timeout=300)
    took = time.monotonic() - start
    if r.returncode != 0 and any(s in r.stdout + r.stderr for s in NETWORK_TROUBLE):
        pytest.skip(f"pip could not reach the package index: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0, r.stdout + r.stderr
    sollama = home / ".local/bin/sollama"
    assert sollama.is_symlink()
    v = subprocess.run([str(sollama), "--version"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert "sollama version" in v.stdout
    assert (home / ".local/share/bash-completion/completions/sollama").is_file()
    # --timer: an hourly `sollama preload --now` as a systemd user unit, by absolute path
    # (systemctl --user may not run here: then the files are written and the command said)
    units = home / ".config/systemd/user"
    assert f"ExecStart={sollama} preload --now" in (units / "sollama-preload.service").read_text()
    assert "OnCalendar=hourly" in (units / "sollama-preload.timer").read_text()
    assert "sollama-preload.timer" in r.stdout
    # --service: `sollama proxy` as a systemd user service, enabled through systemctl --user
    proxy_unit = (units / "sollama-proxy.service").read_text()
    assert f"ExecStart={sollama} proxy --listen 127.0.0.1:11400" in proxy_unit
    assert "WantedBy=default.target" in proxy_unit and "KillSignal=SIGTERM" in proxy_unit
    assert "--user enable --now sollama-proxy.service" in calls.read_text().splitlines()
    assert "enabled the systemd user service sollama-proxy.service" in r.stdout
    r = subprocess.run([str(project / "install.sh"), "--uninstall"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--user disable --now sollama-proxy.service" in calls.read_text().splitlines()
    after = listing(home)
    left = {k: v for k, v in after.items() if before.get(k) != v}
    gone = {k: v for k, v in before.items() if k not in after}
    assert (left, gone) == ({}, {}), f"install took {took:.0f} s"
