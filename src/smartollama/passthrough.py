"""Hand what sollama does not implement to the real `ollama` binary, unchanged."""

from __future__ import annotations

import os
import shutil
import sys

from smartollama.errors import SollamaError, UsageError


def real_ollama() -> str | None:
    """The real `ollama` on PATH (or SOLLAMA_OLLAMA_BIN), never sollama itself."""
    explicit = os.environ.get("SOLLAMA_OLLAMA_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    me = {os.path.realpath(p) for p in (sys.argv[0], shutil.which("sollama") or "") if p}
    for d in os.environ.get("PATH", "").split(os.pathsep):
        cand = os.path.join(d or ".", "ollama")
        if os.path.isfile(cand) and os.access(cand, os.X_OK) and os.path.realpath(cand) not in me:
            return cand
    return None


def _not_a_command(cmd: str) -> SollamaError:
    """The one line for an unknown command, with the closest commands when one is near."""
    import difflib

    from smartollama.cli import ALIASES, COMMANDS, PASSTHROUGH

    if cmd in PASSTHROUGH:
        return SollamaError(f"'{cmd}' is ollama's command, and no real `ollama` binary is on "
                            "PATH", hint="install Ollama: sollama hands such commands to it")
    near = difflib.get_close_matches(cmd, [*COMMANDS, *ALIASES, *PASSTHROUGH], n=3, cutoff=0.6)
    hint = ("did you mean " + " or ".join(f"`sollama {n}`" for n in near) + "?" if near
            else "see `sollama --help`")
    return UsageError(f"no such command '{cmd}' (and no real `ollama` on PATH to "
                               "hand it to)", hint=hint)


def exec_ollama(args: list[str]) -> None:
    """Replace this process with `ollama ARGS` (signals, terminal and exit code stay theirs)."""
    binary = real_ollama()
    if binary is None:
        raise _not_a_command(args[0] if args else "")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, *args])
