"""`--plot FILE.png`: time to first token, the loudest fan and model loads over the day, per policy.

matplotlib is an optional extra (``pip install 'smartollama[plot]'``); it is
imported only here, only when a plot is asked for.
"""

from __future__ import annotations

from smartollama.errors import UsageError
from smartollama.replay.compare import Summary

INSTALL_HINT = "pip install 'smartollama[plot]' (or: pip install matplotlib)"


def check_available() -> None:
    """A usage error (exit 2) when matplotlib is missing, before any work is done."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}") from None


def plot(results: list[Summary], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ttft, ax_fan, ax_loads) = plt.subplots(3, 1, figsize=(11, 10), sharex=True)
    for res in results:
        pts = sorted((t / 3600.0, ttft) for t, ttft in res.ttft)
        ax_ttft.plot([p[0] for p in pts], [p[1] for p in pts], ".", ms=3, label=res.name,
                     alpha=0.6)
        ax_fan.plot([t / 3600.0 for t, _ in res.fan], [f for _, f in res.fan], lw=1,
                    label=res.name)
        hours = int(res.hours)
        per_hour = [0] * max(1, hours)
        for t in res.loads:
            per_hour[min(len(per_hour) - 1, int(t // 3600))] += 1
        ax_loads.step(range(len(per_hour)), per_hour, where="post", label=res.name)
    ax_ttft.set_ylabel("time to first token (s)\ninteractive + critical")
    ax_ttft.set_yscale("symlog", linthresh=1.0)
    ax_fan.set_ylabel("loudest fan (%)")
    ax_loads.set_ylabel("model loads per hour")
    ax_loads.set_xlabel("hour of the day")
    ax_ttft.legend(loc="upper right", fontsize="small")
    ax_ttft.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
