"""The `[[preload]]` schedule's say in a run: the keep-alive that keeps a model the
schedule loaded for the rest of its window (`sollama run`, the proxy and the replay
ask the same function; `sollama preload` loads the models, `config.rules_for_hour`
says which)."""

from __future__ import annotations

from smartollama.config import PreloadRule, parse_hours, rules_for_hour


def scheduled_keep_alive_s(rules: list[PreloadRule], model: str, hour: int,
                           into_hour_s: float = 0.0) -> float | None:
    """How long a run of ``model`` should keep it loaded so that the `[[preload]]`
    schedule's stay is not cut short: the seconds left of the longest window
    that names the model at ``hour`` (``into_hour_s`` seconds past it); None
    when no window does. Without it, a prompt's request (Ollama's default
    keep-alive, 5 minutes) would replace the preload's keep-alive, and the
    model the schedule loaded would be gone 5 minutes after its first use."""
    from smartollama import names

    left = [((parse_hours(r.hours)[1] - hour - 1) % 24 + 1) * 3600.0 - into_hour_s
            for r in rules_for_hour(rules, hour)
            if any(names.same(model, m) for m in r.models)]
    return max(left) if left else None


def scheduled_keep_alive(rules: list[PreloadRule], model: str, now: float) -> str | None:
    """`scheduled_keep_alive_s` at the local time of ``now`` (epoch seconds), as the
    Go duration a request's `keep_alive` takes (``"9600s"``); None: none."""
    import time

    t = time.localtime(now)
    left = scheduled_keep_alive_s(rules, model, t.tm_hour, t.tm_min * 60 + t.tm_sec)
    return None if left is None else f"{max(1, int(left))}s"
