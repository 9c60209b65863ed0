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

from smartollama.errors import SollamaError

if TYPE_CHECKING:
    from smartollama.env import Environment
    from smartollama.fleet import Request
    from smartollama.run.stream import RunOptions
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


def _multimodal(verdict: Verdict) -> bool:
    """Does the session's model take images (its host lists `vision`)?"""
    from smartollama.api import snapshot_of

    snap = snapshot_of(verdict)
    st = snap.backends.get(verdict.backend_used or "") if snap is not None else None
    info = st.models.get((verdict.model_used or "").lower()) if st is not None else None
    return info is not None and "vision" in (info.capabilities or ())


def repl(verdict: Verdict, opts: RunOptions, env: Environment, request: Request) -> int:
    """The session: each turn runs on the session's current verdict (which
    `/load` and `/mode` may route again), recorded as ``<id>-<turn>``."""
    from smartollama.run.execute import execute
    from smartollama.run.session import Session, command

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    s = Session(verdict, request, opts, env)
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
            command(cmd, s)
            continue
        turn += 1
        message: dict[str, Any] = {"role": "user", "content": text}
        if _multimodal(s.verdict):      # as interactive.go: paths attached for such a model
            from smartollama.run.files import extract

            try:
                message["content"], images, _ = extract(text, sys.stderr)
            except SollamaError as e:
                sys.stderr.write(f"{e.message}\n")
                continue
            if images:
                message["images"] = images
        s.messages.append(message)
        opts.messages = s.messages
        this = copy.deepcopy(s.verdict)
        this.id = f"{s.verdict.id}-{turn}"
        try:
            answer = execute(this, opts, env.config, env.store)
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            s.messages.pop()
            continue
        s.last = this
        s.messages.append({"role": "assistant", "content": answer.text})
