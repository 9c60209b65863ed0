"""The command line: parse, call one function, render. No routing logic here.

Commands live in `smartollama.commands.<module>` and are imported only when
called, so `sollama --help` and shell completion import click and nothing
heavy; `sollama run` and `sollama route` do not import click at all when
`commands.runargs` can parse their arguments itself (see its docstring). What
sollama does not implement is handed to the real `ollama` binary.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import Any

#: name → (module, help line). The help line is shown by `sollama --help`
#: without importing the module.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "Route, then run a model (as `ollama run`)."),
    "route": ("run", "Decide only: print the verdict, run nothing."),
    "why": ("why", "Explain the last (or N-th last) decision."),
    "status": ("status", "Backends, telemetry, loaded models and mode."),
    "mode": ("mode", "Show or set the current efficiency mode."),
    "ps": ("models", "Loaded models across all backends."),
    "list": ("models", "Available models across all backends."),
    "preload": ("preload", "Load models per the time-of-day schedule."),
    "init": ("init", "Detect hardware and Ollama hosts, write a config."),
    "config": ("config", "Show or check the effective config."),
    "shell-init": ("shell", "Alias and completion setup to eval in a shell rc."),
    "demo": ("demo", "Run the embedded demo: a simulated fleet on loopback."),
    "replay": ("replay", "Replay a trace through sollama and the baselines, in simulated time."),
    "proxy": ("proxy", "Serve Ollama's and OpenAI's API, routing every request."),
}
ALIASES = {"ls": "list"}
#: `ollama` commands sollama hands to the real binary, offered by completion too
PASSTHROUGH = ("serve", "create", "show", "stop", "pull", "push", "signin", "signout", "cp", "rm")


def __getattr__(name: str) -> Any:
    """The click group (`cli`), built only when something asks for it: a routed
    call that `runargs.parse` is sure of never imports click."""
    if name in ("cli", "SollamaGroup"):
        from smartollama.commands import group

        return getattr(group, name)
    raise AttributeError(name)


def _is_debug(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("SOLLAMA_DEBUG", "") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: the one place errors become exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    closed = _open_standard_fds()
    first = next((a for a in args if a != "--debug"), None)
    if first is not None and not first.startswith("-") and first not in COMMANDS \
            and first not in ALIASES and first != "help":
        from smartollama.passthrough import exec_ollama

        _guard(lambda: exec_ollama([a for a in args if a != "--debug"]), args)
        return
    if 1 in closed:
        _error_line("standard output is closed; nowhere to write (redirect it, e.g. >/dev/null)")
        sys.exit(1)
    if first == "help":
        args = [a for a in args if a != "help"] + ["--help"]
    if first in ("run", "route") and first == args[0]:
        from smartollama.commands import routed

        fast = routed.main(args)
        if fast is not None:
            _guard(fast, args)
            return
    from smartollama.commands.group import cli

    _guard(lambda: cli.main(args=args, prog_name="sollama", standalone_mode=False), args)


def _guard(fn: Any, args: list[str]) -> None:
    from smartollama.errors import ExitCode, OutputError, SollamaError

    try:
        rc = fn()
        try:    # what is left in stdout's buffer: a full disk shows here, not at exit
            sys.stdout.flush()
        except OSError as e:
            raise OutputError(e) from None
    except OutputError as e:
        _silence_stdout()
        if not e.closed:    # a closed pipe (`| head`) is no error: the reader has enough
            _error_line(e.message)
        sys.exit(0 if e.closed else ExitCode.ERROR)
    except SollamaError as e:
        if _is_debug(args):
            raise
        _error_line(e.message, e.hint)
        sys.exit(int(e.exit_code))
    except KeyboardInterrupt:
        if _is_debug(args):
            raise
        sys.stderr.write("\n")
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # stdout closed early (`sollama run ... | head`): not an error
        _silence_stdout()
        sys.exit(0)
    except OSError as e:
        # a write to stdout (click's echo) on a full disk, or a file nothing above named
        if _is_debug(args):
            raise
        _silence_stdout()
        where = f"{e.filename}: " if e.filename else "standard output: "
        _error_line(f"{where}{e.strerror or e}")
        sys.exit(ExitCode.ERROR)
    except Exception as e:
        _click_exit(e)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)


def _click_exit(e: Exception) -> None:
    """Exit as click's exceptions ask (a click command raised one); else return.
    click is looked up, not imported: a call that never loaded it raised none."""
    from smartollama.errors import ExitCode

    click = sys.modules.get("click")
    if click is None:
        return
    if isinstance(e, click.exceptions.Exit):
        sys.exit(e.exit_code)
    if isinstance(e, click.exceptions.Abort):
        _error_line("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    if isinstance(e, click.ClickException):
        e.show()
        sys.exit(e.exit_code)


def _silence_stdout() -> None:
    """Standard output onto /dev/null, so that the interpreter's last flush of what
    is still buffered neither fails nor prints a complaint."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def _open_standard_fds() -> set[int]:
    """Closed standard descriptors (0, 1, 2), opened on /dev/null: a file sollama
    opens must never become its stdout. Returns those that were closed."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
    if not closed:
        return closed
    for fd in sorted(closed):
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    sys.stdin = sys.stdin or open(0, closefd=False)  # noqa: SIM115
    sys.stdout = sys.stdout or open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = sys.stderr or open(2, "w", closefd=False)  # noqa: SIM115
    return closed


def _error_line(message: str, hint: str | None = None) -> None:
    line = f"sollama: error: {message}"
    if hint:
        line += f" ({hint})"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
