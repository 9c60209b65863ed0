"""The verdict in brief: what `run` prints on stderr and `route` on stdout.

One line that fits 100 columns (with its `sollama: `) for the common cases:
the action, the model, the backend and the one reason that matters. It is
built from the verdict's data (the chain's violations and rejection codes,
the estimate), never from its prose: the `reason` in full, every backend
and each suggestion's why are the long form, in `sollama why` and
`sollama route -v`. A reason too long for the width gives way to a shorter
one, then to none.

Warnings follow, one a line; a refusal's suggestions follow once, each as
the command that would run it. Names are printed escaped (a model name comes
from a server). Stdlib only: this runs on every routed call.
"""

from __future__ import annotations

from smartollama.names import printable
from smartollama.vocab import AUTO, number, reading_label

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.verdict import ChainEntry, Verdict, Violation

#: the widest a verdict line may be, `sollama: ` included
WIDTH = 100
PREFIX = "sollama: "


def line(v: Verdict, width: int = WIDTH - len(PREFIX)) -> str:
    """"override: llama3:70b on ollama-nvidia, quiet mode overridden (the only backend
    it fits)": the longest of the reasons that fits ``width``, else the head alone."""
    head = _head(v)
    sep, close = (": ", "") if v.action == "refuse" else (" (", ")")
    for reason in _reasons(v):
        text = f"{head}{sep}{reason}{close}"
        if len(text) <= width:
            return text
    return head


def long_line(v: Verdict) -> str:
    """The head with the verdict's reason in full (`route -v`)."""
    if not v.reason:
        return _head(v)
    sep, close = (": ", "") if v.action == "refuse" else (" (", ")")
    return f"{_head(v)}{sep}{printable(v.reason)}{close}"


def stderr_lines(v: Verdict) -> list[str]:
    """What `run` prints before the answer, each line to be prefixed `sollama: `."""
    lines = [line(v), *(f"warning: {printable(w)}" for w in v.warnings)]
    if v.action == "refuse":
        lines += [f"  try: {v.suggestion_command(s)}" for s in v.suggestions]
    return lines


def route_lines(v: Verdict, *, verbose: bool = False) -> list[str]:
    """What `route` prints: the line, the warnings, each suggestion once as a command;
    ``verbose``: the reason in full and each suggestion's why."""
    lines = [long_line(v) if verbose else line(v)]
    lines += [f"warning: {printable(w)}" for w in v.warnings]
    for s in v.suggestions:
        why = f"  # {printable(s.why)}" if verbose and s.why else ""
        lines.append(f"  try: {v.suggestion_command(s)}{why}")
    return lines


# -- the head ---------------------------------------------------------------------------


def _head(v: Verdict) -> str:
    used, backend = printable(str(v.model_used)), printable(str(v.backend_used))
    asked = printable(v.model_requested)
    if v.action == "refuse":
        return f"refused {asked} in {v.mode} mode"
    if v.action == "substitute":
        return f"substitute: {used} on {backend}, instead of {asked}"
    if v.action == "override":
        return f"override: {used} on {backend}, {v.mode} mode overridden"
    return f"run: {used} on {backend}"


# -- the one reason, longest first ------------------------------------------------------


def _reasons(v: Verdict) -> list[str]:
    chosen = _chosen(v)
    if v.action == "substitute":
        # a chain about the model used only (one chosen at the `ask` prompt): no reason
        return _why_not_asked(v) if any(e.model for e in v.fallback_chain) else []
    if v.action == "refuse":
        return _why_not_asked(v, refused=True)
    if v.action == "override" or (chosen is not None and chosen.violations):
        return [_only(v)]
    fit = _fit(v)
    if v.model_requested == AUTO:
        best = f"auto: the best for {v.task}"
        if v.estimate.quality is not None:
            best += f", quality {v.estimate.quality:.2f}"
        return [f"{best}; {fit}", best, "auto"]
    within = f", within {v.mode} mode" if v.limits else ""
    return [f"{fit}{within}", fit]


def _chosen(v: Verdict) -> ChainEntry | None:
    for e in v.fallback_chain:
        if e.accepted and e.backend == v.backend_used and e.model in (None, v.model_used):
            return e
    return None


def _candidates(v: Verdict) -> list[ChainEntry]:
    """The asked model's entries that pass the hard constraints (accepted, or breaking
    a soft one); a recorded entry with neither a code nor violations counts only if
    accepted."""
    return [e for e in v.fallback_chain if e.model is None and e.code is None
            and (e.accepted or e.violations)]


def _only(v: Verdict) -> str:
    """Why a candidate that breaks a limit runs: nothing it fits does better."""
    n = len(_candidates(v))
    return "the only backend it fits" if n <= 1 else f"each of the {n} backends it fits breaks a limit"


def _fit(v: Verdict) -> str:
    e = v.estimate
    share = e.gpu_share if e.gpu_share is not None else 1.0
    word = "loaded" if e.loaded else "fits"
    if share < 1.0:
        return f"{word}, {1.0 - share:.0%} in RAM"
    if e.memory_gb is not None and not e.loaded:
        return f"fits, ~{number(e.memory_gb)} GB"
    return word


def _why_not_asked(v: Verdict, *, refused: bool = False) -> list[str]:
    """Why the asked model does not run: the first limit its best candidate breaks,
    or, fitting nowhere, where it does not fit."""
    cands = [e for e in _candidates(v) if e.violations]
    if cands:
        best = min(cands, key=lambda e: len(e.violations or ()))
        broken = violation(best.violations[0], v.mode, v.urgency)   # type: ignore[index]
        where = printable(best.backend)
        short = violation(best.violations[0], v.mode, v.urgency, short=True)  # type: ignore[index]
        found = [f"{broken} on {where}", broken, short]
        if refused and len(cands) == 1:
            return [f"fits only {where}, where {broken}", *found]
        if refused:
            return [f"each of the {len(cands)} backends it fits breaks a limit; {where}: {broken}",
                    f"each of the {len(cands)} backends it fits breaks a limit", *found]
        return found
    rejected = [e for e in v.fallback_chain if e.model is None and e.code]
    named = [e for e in rejected if e.code not in ("not_pinned", "forced_elsewhere")]
    if len(named) == 1:
        return [rejection(named[0]), "it does not fit"]
    return ["it fits no backend"] if rejected else []


def violation(x: Violation, mode: str, urgency: str, *, short: bool = False) -> str:
    """"fan 65% over quiet's 40%", "fan ~55% under load over quiet's 40%" (learned),
    "~2.7 tokens/s under interactive's 10"; ``short``: "fan 65% over 40%", "too slow:
    ~2.7 tokens/s"."""
    if x.kind == "mode":
        label, unit = reading_label(x.field or "")
        if x.value is None:
            return f"no {label} reading" if short else f"no {label} reading, which {mode} denies"
        whose = "" if short else f"{mode}'s "
        if x.predicted:     # learned: what it reaches under load, not what it reads now
            return (f"{label} ~{number(round(x.value))}{unit} under load over "
                    f"{whose}{number(x.limit)}{unit}")
        return f"{label} {number(x.value)}{unit} over {whose}{number(x.limit)}{unit}"
    if x.kind == "wait":
        if short:
            return f"too slow to start: ~{number(x.value or 0.0)} s"
        return f"~{number(x.value or 0.0)} s wait over {urgency}'s {number(x.limit)} s"
    if x.kind == "speed":
        if short:
            return f"too slow: ~{number(x.value or 0.0)} tokens/s"
        return f"~{number(x.value or 0.0)} tokens/s under {urgency}'s {number(x.limit)}"
    if x.value is None:
        return "quality under the substitution threshold"
    return f"quality {x.value:.2f} under {x.limit:.2f}"


def rejection(e: ChainEntry) -> str:
    """A rejection's code in a few words: "too large for ollama-igpu"."""
    where = printable(e.backend)
    return {
        "unreachable": f"{where} is unreachable",
        "not_pinned": f"pinned to another backend than {where}",
        "forced_elsewhere": "model_routing forces another backend",
        "not_admitted": f"not admitted on {where}",
        "too_large": f"too large for {where}",
        "not_pulled": f"not pulled on {where}",
        "no_room": f"no room on {where} now",
        "offload_too_small": f"too little free memory on {where} to offload",
    }.get(e.code or "", f"{e.code} on {where}")
