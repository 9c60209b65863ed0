"""The words sollama's options, config and verdicts share, written down once.

Urgencies, tasks, conflict policies, actions, the built-in quality tiers (and
the short names `substitution_quality_threshold` accepts), and how each
telemetry reading is labelled and in which unit it is shown. The CLI's
choices, the config's validation, the router's prose and `sollama why` all
read them from here. Pure data, stdlib only: imported on every routed call.
"""

from __future__ import annotations

URGENCIES: tuple[str, ...] = ("critical", "interactive", "background", "batch")
TASKS: tuple[str, ...] = ("general", "code", "reasoning", "chat", "summarize")
POLICIES: tuple[str, ...] = ("prefer_model", "prefer_mode", "substitute", "ask")
ACTIONS: tuple[str, ...] = ("run", "substitute", "override", "refuse")
DEFAULT_POLICY = "prefer_model"
DEFAULT_URGENCY = "interactive"
DEFAULT_TASK = "general"
#: `sollama run auto`: sollama chooses the model too
AUTO = "auto"

#: tiers of `model_equivalents`, best first, and the short names the
#: `substitution_quality_threshold` key accepts for them.
TIER_ALIASES: dict[str, str] = {
    "high": "high_quality",
    "medium": "medium_quality",
    "low": "low_quality",
    "ultra": "ultra_efficient",
    "ultra_efficient": "ultra_efficient",
}
TIERS: tuple[str, ...] = tuple(dict.fromkeys(TIER_ALIASES.values()))

#: reading field → (label, unit as printed after the number), in the order shown
READINGS: dict[str, tuple[str, str]] = {
    "fan_pct": ("fan", "%"),
    "temp_c": ("temp", " °C"),
    "power_w": ("power", " W"),
    "util_pct": ("util", "%"),
    "mem_free_gb": ("free", " GB"),
    "power_limit_w": ("power limit", " W"),
    "mem_total_gb": ("memory", " GB"),
}
#: the fields `sollama why` and `status` show for a backend
SHOWN_READINGS: tuple[str, ...] = ("fan_pct", "temp_c", "power_w", "util_pct", "mem_free_gb")

#: a mode's own preference among equally good candidates: the reading to keep
#: lowest (quiet: the fan; efficiency: the power drawn). Other modes prefer
#: the most free device memory.
MODE_PREFERENCE: dict[str, str] = {"quiet": "fan_pct", "efficiency": "power_w"}


def reading_label(field: str) -> tuple[str, str]:
    """(label, unit) of a reading field; an unknown field is its own label."""
    return READINGS.get(field, (field, ""))


def number(x: float) -> str:
    """40.0 → "40", 2.5 → "2.5", 229.4 → "229" (how readings and limits are printed)."""
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if abs(x) >= 100:
        return f"{x:.0f}"
    r = round(x, 1)
    return f"{r:.0f}" if r == int(r) else f"{r:.1f}"


def show_reading(field: str, value: float) -> str:
    """("fan_pct", 65) → "fan 65%"."""
    label, unit = reading_label(field)
    return f"{label} {number(value)}{unit}"
