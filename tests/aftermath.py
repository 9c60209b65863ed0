"""What a call of the installed `sollama` left behind: its one error line, the
decision it recorded, the requests still marked in flight."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from conftest import run_sollama


def one_error_line(stderr: str | bytes) -> str:
    """The one `sollama: error:` line of a call's stderr (and no traceback)."""
    err = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert "Traceback" not in err and "Exception ignored" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("sollama: error:")]
    assert len(errors) == 1, err
    return errors[0]


def last_verdict() -> dict[str, Any]:
    """The last decision recorded, as `sollama why --json` prints it."""
    r = run_sollama("why", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def in_flight() -> dict[str, Any]:
    """The backends with requests still marked in flight: backend → its marks (the
    files in the state directory's ``in_flight/``)."""
    directory = Path(os.environ["SOLLAMA_STATE_DIR"]) / "in_flight"
    out: dict[str, Any] = {}
    for f in sorted(directory.iterdir()) if directory.is_dir() else ():
        entry = json.loads(f.read_text())
        out.setdefault(entry["backend"], []).append(entry)
    return out
