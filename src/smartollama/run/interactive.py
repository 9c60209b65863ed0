"""The interactive session of `sollama run MODEL` on a terminal, as `ollama run` has.

Routed once, at the start; each turn is a chat request on the chosen host with
the conversation so far. `/bye` leaves, `\"\"\"` starts and ends a multi-line
message, Ctrl-C stops an answer, Ctrl-D leaves; the other slash commands are
`session`'s.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartollama.config import Config
    from smartollama.run.stream import RunOptions
    from smartollama.state import StateStore
    from smartollama.verdict import Verdict

def read_message(prompt: str = ">>> ", more: str = "... ") -> str | None:
    """One user message; None at end of input."""
    try:
        line = input(prompt)
    except EOFError:
        return None
    if not line.lstrip().startswith('"""'):
        return line
    body = line.lstrip()[3:]
    if body.endswith('"""') and len(body) >= 3:
        return body[:-3]
    lines = [body] if body else []
    while True:
        try:
            nxt = input(more)
        except EOFError:
            return "\n".join(lines)
        if nxt.rstrip().endswith('"""'):
            lines.append(nxt.rstrip()[:-3])
            return "\n".join(lines).strip("\n")
        lines.append(nxt)


def repl(verdict: Verdict, opts: RunOptions, config: Config, store: StateStore) -> int:
    from smartollama.run.execute import execute

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    messages: list[dict[str, Any]] = []
    turn = 0
    while True:
        try:
            text = read_message()
        except KeyboardInterrupt:
            sys.stdout.write("\nUse Ctrl + d or /bye to exit.\n")
            continue
        if text is None:
            sys.stdout.write("\n")
            return 0
        cmd = text.strip()
        if not cmd:
            continue
        if cmd.split()[0] in ("/bye", "/exit"):
            return 0
        if cmd.startswith("/"):
            from smartollama.run.session import command

            command(cmd, opts, messages)
            continue
        turn += 1
        messages.append({"role": "user", "content": text})
        opts.messages = messages
        this = copy.deepcopy(verdict)
        this.id = f"{verdict.id}-{turn}"
        try:
            answer = execute(this, opts, config, store)
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            messages.pop()
            continue
        messages.append({"role": "assistant", "content": answer.text})
