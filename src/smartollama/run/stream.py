"""The terminal side of a run: one attempt's stream to stdout, as `ollama run` shows it.

The spinner while the model loads, word wrap at the terminal's width, the
thinking block, and `--verbose`'s timing lines. Which host to try, and what
to do when it fails, is `execute`'s business.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from smartollama.errors import OutputError, SollamaError
from smartollama.ollama import OllamaClient, StreamBudget, go_duration
from smartollama.record import field, record
from smartollama.verdict import Choice

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import IO, Any

    from smartollama.config import Backend, Timeouts


@record     # not @dataclass: see `record` (each of these took ~0.5 ms to define)
class RunOptions:
    """What `sollama run` passes through to Ollama, as `ollama run` does."""

    prompt: str = ""
    messages: list[dict[str, Any]] | None = None   # chat (interactive) instead of generate
    format: str | None = None
    keepalive: str | None = None
    think: bool | str | None = None
    hidethinking: bool = False
    truncate: bool | None = None
    options: dict[str, Any] = field(default_factory=dict)
    wordwrap: bool = False
    verbose: bool = False
    spinner: bool = False
    embed: bool = False            # an embedding model: /api/embed, the vector printed
    dimensions: int | None = None  # --dimensions (embedding models only)
    images: list[str] = field(default_factory=list)   # base64, attached to the prompt


@record
class RunOutcome:
    """An attempt's answer: its text, Ollama's final object (statistics), the time
    to its first token, where it ran. `execute` returns the one that answered;
    `verdict.outcome` is what gets recorded."""

    text: str = ""
    final: dict[str, Any] = field(default_factory=dict)
    ttft_s: float | None = None
    choice: Choice | None = None
    printed: bool = False       # anything (thinking or answer) already written to stdout


class Spinner:
    """`ollama run`'s spinner on stderr while waiting for the first token."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, stream: IO[str]) -> None:
        import threading  # only on a terminal: a piped run does without it (~0.7 ms)

        self._stream = stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._shown = False

    def __enter__(self) -> Spinner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spin(self) -> None:
        i = 0
        while not self._stop.wait(0.1):
            self._stream.write("\r" + self.FRAMES[i % len(self.FRAMES)] + " ")
            self._stream.flush()
            self._shown = True
            i += 1

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=1)
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


class WordWrap:
    """Wraps streamed text at the terminal width, as `ollama run` does."""

    def __init__(self, out: Output, enabled: bool) -> None:
        self.out = out
        width = 0
        if enabled:     # shutil only here: ~1 ms (with zlib, bz2 probes) a pipe skips
            import shutil

            width = shutil.get_terminal_size((80, 24)).columns
        self.width = width if width >= 10 else 0
        self.line = 0
        self.word = ""

    def write(self, text: str) -> None:
        if not self.width:
            self.out.write(text)
            self.out.flush()
            return
        for ch in text:
            if self.line + 1 > self.width - 5 and ch not in " \n":
                if len(self.word) > self.width - 10:
                    self.out.write(ch)
                    self.word, self.line = "", 0
                    continue
                if self.word:
                    self.out.write(f"\x1b[{len(self.word)}D")
                self.out.write("\x1b[K\n" + self.word + ch)
                self.line = len(self.word) + 1
                self.word += ch
                continue
            self.out.write(ch)
            self.line += 1
            if ch == " ":
                self.word = ""
            elif ch == "\n":
                self.line, self.word = 0, ""
            else:
                self.word += ch
        self.out.flush()


class Output:
    """Standard output as the answer sees it: whether a line is left open, and a
    write that fails (a closed pipe, a full disk) raised as `OutputError`."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.open_line = False

    def write(self, text: str) -> None:
        if not text:
            return
        try:
            self.out.write(text)
        except OSError as e:
            raise OutputError(e) from None
        self.open_line = not text.endswith("\n")

    def flush(self) -> None:
        try:
            self.out.flush()
        except OSError as e:
            raise OutputError(e) from None

    def end_line(self) -> None:
        """A line break if the answer left its line open, so that what follows
        (an error) starts on a fresh line; a stdout that fails is left be."""
        if self.open_line:
            with contextlib.suppress(OutputError):
                self.write("\n")
                self.flush()


def stream(choice: Choice, backend: Backend, timeouts: Timeouts, opts: RunOptions,
           answer: RunOutcome, out: Output, err: IO[str]) -> None:
    """Stream one attempt to `out`; `answer.printed` says whether anything was written.

    The host's time-outs are `timeouts`' (the first byte scaled to the choice's
    expected wait); what it sends after its final `done` object is not read.
    An embedding model's attempt is `embed.embed`."""
    if opts.embed:
        from smartollama.run.embed import embed

        return embed(choice, backend, timeouts, opts, answer, out)
    fields: dict[str, Any] = {
        "format": _format(opts.format), "keep_alive": parse_keepalive(opts.keepalive),
        "options": opts.options or None, "think": _think(opts.think), "truncate": opts.truncate,
        "images": opts.images or None,
    }
    budget = StreamBudget.of(timeouts, choice.wait_s)
    t0 = time.monotonic()
    wrap = WordWrap(out, opts.wordwrap)
    spinner = Spinner(err) if opts.spinner else None
    thinking = False
    with OllamaClient.for_backend(backend, timeouts, host=choice.host) as client:
        chunks: Iterator[dict[str, Any]]
        if opts.messages is not None:
            chunks = client.chat(choice.model, opts.messages, budget, **fields)
        else:
            chunks = client.generate(choice.model, opts.prompt, budget, **fields)
        if spinner:
            spinner.__enter__()
        try:
            for chunk in chunks:
                think_text, text = _texts(chunk)
                if (think_text or text) and answer.ttft_s is None:
                    answer.ttft_s = time.monotonic() - t0
                    if spinner:
                        spinner.stop()
                if think_text and not opts.hidethinking:
                    answer.printed = True
                    if not thinking:
                        wrap.write("Thinking...\n")
                        thinking = True
                    wrap.write(think_text)
                calls = tool_calls_of(chunk)
                if text or calls:
                    answer.printed = True
                    if thinking:
                        wrap.write("\n...done thinking.\n\n")
                        thinking = False
                    wrap.write(text)
                    answer.text += text
                if calls:       # printed as they are, not word-wrapped (as cmd.go does)
                    out.write(render_tool_calls(calls))
                    out.flush()
                if chunk.get("done"):
                    answer.final = chunk
        finally:
            if spinner:
                spinner.stop()
    if answer.text or opts.prompt or opts.messages:
        out.write("\n\n")
        out.flush()


def tool_calls_of(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls a chunk carries (`message.tool_calls` in a chat,
    `tool_calls` in a generate), each an object."""
    msg = chunk.get("message")
    calls = (msg if isinstance(msg, dict) else chunk).get("tool_calls")
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def render_tool_calls(calls: list[dict[str, Any]]) -> str:
    """As `ollama run` shows them (cmd.go's renderToolCalls, plain text): the CLI
    registers no tools, so every call is to a function that does not exist. The
    arguments as Go's json.Marshal writes a map: keys sorted, no spaces."""
    import json

    lines = []
    for call in calls:
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        args = json.dumps(fn.get("arguments") or {}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        lines.append(f"  Model called a non-existent function '{fn.get('name', '')}()' "
                     f"with arguments: {args}")
    return "\n".join(lines)


def _texts(chunk: dict[str, Any]) -> tuple[str, str]:
    """(thinking, answer text) of one chunk of /api/generate or /api/chat."""
    msg = chunk.get("message")
    msg = msg if isinstance(msg, dict) else {}
    think = chunk.get("thinking") or msg.get("thinking") or ""
    text = chunk.get("response") if "response" in chunk else msg.get("content", "")
    return (think if isinstance(think, str) else "", text if isinstance(text, str) else "")


def summary(final: dict[str, Any], err: IO[str]) -> None:
    """The statistics `ollama run --verbose` prints, with its labels."""
    def ns(key: str) -> int:
        return int(final.get(key) or 0)

    lines = []
    if ns("total_duration") > 0:
        lines.append(f"total duration:       {go_duration(ns('total_duration'))}")
    if ns("load_duration") > 0:
        lines.append(f"load duration:        {go_duration(ns('load_duration'))}")
    if ns("prompt_eval_count") > 0:
        lines.append(f"prompt eval count:    {ns('prompt_eval_count')} token(s)")
    if ns("prompt_eval_duration") > 0:
        lines.append(f"prompt eval duration: {go_duration(ns('prompt_eval_duration'))}")
        rate = ns("prompt_eval_count") / (ns("prompt_eval_duration") / 1e9)
        lines.append(f"prompt eval rate:     {rate:.2f} tokens/s")
    if ns("eval_count") > 0:
        lines.append(f"eval count:           {ns('eval_count')} token(s)")
    if ns("eval_duration") > 0:
        lines.append(f"eval duration:        {go_duration(ns('eval_duration'))}")
        lines.append(f"eval rate:            {ns('eval_count') / (ns('eval_duration') / 1e9):.2f} tokens/s")
    if lines:
        err.write("\n".join(lines) + "\n")
        err.flush()


def _format(fmt: str | None) -> Any:
    if not fmt:
        return None
    if fmt.strip().startswith("{"):
        import json

        try:
            return json.loads(fmt)
        except ValueError:
            raise SollamaError(f"--format: not JSON and not \"json\": {fmt[:40]!r}") from None
    return fmt


def parse_keepalive(value: str | None) -> Any:
    """`--keepalive` as `ollama run` sends it: Go's duration parsed and written back
    ("5m" → "5m0s", a negative one → -1); "1.5" (no unit) is an error, as there."""
    if value is None:
        return None
    from smartollama import goduration
    from smartollama.errors import SollamaError

    try:
        return goduration.keep_alive(value)
    except goduration.DurationError as e:
        raise SollamaError(f"--keepalive: {e}") from None


def _think(value: bool | str | None) -> Any:
    if value is None or isinstance(value, bool):
        return value
    v = value.lower()
    if v in ("true", "1", "yes", ""):
        return True
    if v in ("false", "0", "no"):
        return False
    return v  # "high" | "medium" | "low"


