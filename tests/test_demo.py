"""`sollama demo`, the embedded walkthrough: runs with nothing but loopback and tells the story."""

from __future__ import annotations

from conftest import run_sollama
from smartollama.commands.demo import FACTS


def test_demo_walks_through_the_design_notes() -> None:
    r = run_sollama("demo", "--time-scale", "0.001", timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = r.stdout + r.stderr
    assert "Traceback" not in out
    assert "expected" not in r.stdout                 # no step ended with an unexpected exit
    for line in (
        "run: llama3:70b on ollama-nvidia",                       # prefer_model: the model named
        "below interactive's 10 tokens/s",                        # ...with a warning
        "run: llama3:8b on ollama-igpu",                          # no eviction of the 70B
        "override: llama3:70b on ollama-nvidia, quiet mode overridden",
        "refused llama3:70b in quiet mode",
        "substitute: llama3:8b on ollama-igpu, instead of llama3:70b",
        "(exit 3: refused by policy, as asked)",
        f"The NVIDIA fan reads {FACTS['nvidia_fan']}%",            # the narration's figures
        f"llama3:70b (~{FACTS['size_70b']} GB)",
    ):
        assert line in out, line
    assert not any("{" in x for x in r.stdout.splitlines() if x[:1].isdigit())   # all filled
    # the last step: one request through `sollama proxy`, and its `why`
    proxy_step = r.stdout[r.stdout.index("$ sollama proxy --listen 127.0.0.1:0 &"):]
    decision = next(x.split(": ", 1)[1] for x in proxy_step.splitlines()
                    if x.lower().startswith("x-sollama-decision: "))
    assert "HTTP/1.1 200 OK" in proxy_step
    assert f"$ sollama why {decision}\n" in proxy_step
    assert f"decision {decision} at " in proxy_step      # `why` explained that very decision
