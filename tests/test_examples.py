"""Examples that cannot go stale: the README's "What it prints" and the figures the demo
narrates are what the installed `sollama` prints on the demo fleet today
(`scripts/readme-examples.py`, run on the demo fleet at a tiny time scale)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "readme-examples.py"
DEMO = ROOT / "src" / "smartollama" / "commands" / "demo.py"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--check", *args], capture_output=True,
                          text=True, timeout=120)


def test_the_readme_and_the_demo_figures_are_what_sollama_prints() -> None:
    r = check()
    assert r.returncode == 0, (
        f"stale examples: run `python scripts/readme-examples.py`\n{r.stdout}{r.stderr}")
    readme = (ROOT / "README.md").read_text()
    assert readme.count("<!-- example: ") >= 5
    assert "sollama: refused llama3:70b in quiet mode" in readme


def test_a_stale_example_or_figure_fails_the_check(tmp_path: Path) -> None:
    readme, demo = tmp_path / "README.md", tmp_path / "demo.py"
    text = (ROOT / "README.md").read_text()
    line = next(x for x in text.splitlines() if x.startswith("sollama: override: "))
    readme.write_text(text.replace(line, "sollama: override: what it printed last year"))
    demo.write_text(DEMO.read_text().replace('"nvidia_fan": "', '"nvidia_fan": "9'))
    r = check("--readme", str(readme), "--demo", str(demo))
    assert r.returncode == 1
    assert "-sollama: override: what it printed last year" in r.stdout
    assert f"+{line}" in r.stdout
    assert '-    "nvidia_fan": "9' in r.stdout


def test_each_demo_figure_is_narrated() -> None:
    from smartollama.commands.demo import FACTS, STEPS

    told = " ".join(what for what, _, _ in STEPS)
    assert FACTS and all("{" + name + "}" in told for name in FACTS)
