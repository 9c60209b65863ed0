"""Quality scores per model family, size, quantization and task.

A score is a number in 0..1 that says how good a model's answers are for a
task (`general`, `code`, `reasoning`, `chat`, `summarize`), relative to other
models: the router compares them, it never shows them as a promise.

The score is built from four parts:

* a size curve, rising with the parameter count and flattening out
  (``1 - 0.6 * (params_b + 0.5) ** -0.3``: 0.5B ≈ 0.40, 8B ≈ 0.68, 70B ≈ 0.83),
* the family's offset (a newer generation scores higher at the same size),
* the family's bonus or malus per task (coder models for `code`, reasoning
  models for `reasoning`),
* the quantization (Q2/Q3 lower, Q8/F16 slightly higher than Q4).

Families not in the table follow the curve with a small malus. The config's
`quality` table overrides a model's score per task, and the config's
`model_equivalents` tiers win over the catalog: `Scorer` raises a model's
score to the best score of the tiers below its own, so that a model in a
higher tier never scores lower than one in a lower tier.

Pure and import-light: `names` and the standard library only. The pure
functions of a name are memoized (`functools.lru_cache`): same answers, faster.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping

from smartollama import names
from smartollama.record import field, record
from smartollama.vocab import TIERS

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from smartollama.config import Config


#: Built-in tier names, best first, and the general-task score a model needs to
#: fall into each when the config does not list it (see `band`).
BANDS: tuple[tuple[str, float], ...] = tuple(zip(TIERS, (0.78, 0.62, 0.47, 0.0), strict=True))

_CODE_BONUS = 0.10
_EMBEDDING = re.compile(r"embed|bge-|minilm|rerank", re.IGNORECASE)


@record(frozen=True, kw_only=False)
class Family:
    """What the catalog knows about a model family."""

    offset: float                           # added to the size curve, every task
    default_params_b: float                 # size of the family's `latest` tag
    tasks: Mapping[str, float] = field(default_factory=dict)  # per-task bonus


#: a code model answers general questions, chat and summaries a little worse than a general one
_CODER = {"code": _CODE_BONUS, "general": -0.03, "chat": -0.04, "summarize": -0.04,
          "reasoning": -0.02}

#: Keys are normalized family names (lower case, letters and digits only):
#: `qwen2.5-coder` → `qwen25coder`. The longest key that prefixes a model's
#: normalized name wins (`llama3.2-vision` → `llama32`).
FAMILIES: dict[str, Family] = {
    "llama": Family(-0.12, 7),
    "llama2": Family(-0.08, 7),
    "llama3": Family(0.0, 8),
    "llama31": Family(0.01, 8),
    "llama32": Family(0.02, 3),
    "llama33": Family(0.03, 70),
    "llama4": Family(0.04, 109),
    "codellama": Family(-0.06, 7, _CODER),
    "tinyllama": Family(-0.10, 1.1),
    "mistral": Family(-0.03, 7),
    "mistralnemo": Family(0.0, 12),
    "mistralsmall": Family(0.02, 24),
    "mixtral": Family(-0.06, 56),
    "codestral": Family(0.0, 22, _CODER),
    "qwen": Family(-0.08, 7),
    "qwen2": Family(-0.02, 7),
    "qwen25": Family(0.02, 7),
    "qwen25coder": Family(0.02, 7, _CODER),
    "qwen3": Family(0.04, 8, {"reasoning": 0.04}),
    "qwen3coder": Family(0.04, 30, _CODER),
    "qwq": Family(0.02, 32, {"reasoning": 0.08}),
    "gemma": Family(-0.08, 7),
    "gemma2": Family(0.0, 9),
    "gemma3": Family(0.03, 4),
    "codegemma": Family(-0.06, 7, _CODER),
    "phi": Family(-0.10, 2.7),
    "phi3": Family(-0.02, 3.8),
    "phi35": Family(0.0, 3.8),
    "phi4": Family(0.05, 14, {"reasoning": 0.03}),
    "deepseekr1": Family(0.02, 8, {"reasoning": 0.08, "code": 0.02}),
    "deepseekcoder": Family(-0.04, 6.7, _CODER),
    "deepseekcoderv2": Family(0.0, 16, _CODER),
    "deepseekv3": Family(0.05, 671),
    "starcoder": Family(-0.12, 15, _CODER),
    "starcoder2": Family(-0.08, 3, _CODER),
    "smollm": Family(-0.08, 1.7),
    "smollm2": Family(-0.04, 1.7),
    "granite3": Family(-0.02, 8),
    "olmo2": Family(-0.03, 7),
    "gptoss": Family(0.05, 20, {"reasoning": 0.05}),
}
#: an unknown family: the curve, slightly lowered
UNKNOWN = Family(-0.04, 7)

# -- pure scoring ----------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def _canonical(name: str) -> str:
    return names.canonical(name).lower()


def _norm(text: str) -> str:
    # as re.sub(r"[^a-z0-9]", "", ...), without compiling its pattern (~0.15 ms a process)
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum())


_FAMILY_KEYS = sorted(FAMILIES, key=len, reverse=True)


@functools.lru_cache(maxsize=8192)
def family_of(name: str) -> str | None:
    """The catalog family of a model name (`qwen2.5-coder:7b` → `qwen25coder`), or None."""
    try:
        model = names.parse(name).model
    except names.NameError_:
        model = name
    n = _norm(model)
    for key in _FAMILY_KEYS:
        if n.startswith(key):
            return key
    return None


def size_curve(params_b: float) -> float:
    """The size part of a score: 0.5B ≈ 0.40, 3B ≈ 0.59, 8B ≈ 0.68, 70B ≈ 0.83."""
    p = max(params_b, 0.0)
    return 1.0 - 0.6 * math.pow(p + 0.5, -0.3)


def quant_adjustment(quant: str | None) -> float:
    """Q4 is the reference (0); higher precision slightly better, Q3/Q2 worse."""
    q = names.normalize_quant(quant)
    if q is None:
        return 0.0
    if q in ("F16", "BF16", "F32"):
        return 0.02
    m = re.match(r"I?Q(\d)", q)
    if not m:
        return 0.0
    bits = int(m.group(1))
    if bits >= 8:
        return 0.015
    return {6: 0.01, 5: 0.005, 4: 0.0, 3: -0.04, 2: -0.08}.get(bits, -0.15)


def _task_adjustment(fam: Family, task: str, params_b: float) -> float:
    adj = float(fam.tasks.get(task, 0.0))
    if task == "code" and "code" not in fam.tasks:
        adj -= 0.03          # a general model is a little weaker at code
    elif task == "reasoning":
        # reasoning depends more on size than other tasks do (monotonic in params)
        adj += 0.03 * math.log10(max(params_b, 0.05) / 8.0)
    elif task == "summarize" and "summarize" not in fam.tasks:
        adj += 0.02          # summarizing is the easier task for small models
    return adj


@functools.lru_cache(maxsize=8192)
def params_of(name: str, params_b: float | None = None) -> float:
    """Billions of parameters: given, else from the name, else the family's default."""
    if params_b is not None and params_b > 0:
        return params_b
    try:
        p = names.parse(name).params_b
    except names.NameError_:
        p = names.params_from_text(name)
    if p:
        return p
    fam = family_of(name)
    return FAMILIES[fam].default_params_b if fam else UNKNOWN.default_params_b


@functools.lru_cache(maxsize=8192)
def quantization_of(name: str, quant: str | None = None) -> str | None:
    if quant:
        return names.normalize_quant(quant)
    try:
        return names.parse(name).quantization
    except names.NameError_:
        return None


@functools.lru_cache(maxsize=8192)
def quality(name: str, task: str = "general", *, params_b: float | None = None,
            quantization: str | None = None) -> float:
    """The catalog's score of a model for a task, 0..1 (no config overrides).

    `params_b` and `quantization` (from `/api/show`) win over what the name says.
    """
    if _EMBEDDING.search(name):
        return 0.01          # embedding models do not answer prompts
    p = params_of(name, params_b)
    fam_key = family_of(name)
    fam = FAMILIES[fam_key] if fam_key else UNKNOWN
    q = (size_curve(p) + fam.offset + _task_adjustment(fam, task, p)
         + quant_adjustment(quantization_of(name, quantization)))
    return round(min(0.99, max(0.01, q)), 3)


def band(score: float, n_tiers: int = len(BANDS)) -> int:
    """The built-in tier index (0 = best) a general-task score falls into."""
    for i, (_, floor) in enumerate(BANDS):
        if score >= floor:
            return min(i, max(n_tiers - 1, 0))
    return max(n_tiers - 1, 0)


# -- with a config: overrides and tiers -------------------------------------------


class Scorer:
    """Scores with the config applied: `quality` overrides, then tier order.

    One per decision (it caches by name and task). A model listed in
    `model_equivalents` scores at least the best raw score of every tier below
    its own, so tier order and scores always agree in direction.
    """

    def __init__(self, config: Config) -> None:
        self._overrides: dict[str, dict[str, float]] = {
            _canonical(k): {str(t): float(x) for t, x in v.items()}
            for k, v in config.quality.items()
        }
        self.tier_names: list[str] = config.tiers()
        #: canonical lower name → tier index (first listing wins)
        self.tier_of_listed: dict[str, int] = {}
        self._tiers: list[list[str]] = []
        for i, tier in enumerate(self.tier_names):
            members = [_canonical(m) for m in config.model_equivalents.get(tier, [])]
            self._tiers.append(members)
            for m in members:
                self.tier_of_listed.setdefault(m, i)
        thr = config.tier_name(config.routing.substitution_quality_threshold)
        self.threshold_index: int = (
            self.tier_names.index(thr) if thr in self.tier_names else len(self.tier_names) - 1
        )
        self._raw: dict[tuple[str, str, float | None, str | None], float] = {}
        self._floor: dict[tuple[int, str], float] = {}
        self._score: dict[tuple[str, str, float | None, str | None], float] = {}

    def raw(self, key: str, task: str, params_b: float | None = None,
            quant: str | None = None) -> float:
        """Catalog score with the config's override for this model and task."""
        k = (key, task, params_b, quant)
        v = self._raw.get(k)
        if v is None:
            ov = self._overrides.get(key)
            if ov is not None and task in ov:
                v = float(ov[task])
            else:
                v = quality(key, task, params_b=params_b, quantization=quant)
            self._raw[k] = v
        return v

    def _floor_below(self, tier: int, task: str) -> float:
        """The best raw score of every listed model in tiers below `tier`."""
        k = (tier, task)
        v = self._floor.get(k)
        if v is None:
            v = 0.0
            for members in self._tiers[tier + 1:]:
                for m in members:
                    v = max(v, self.raw(m, task))
            self._floor[k] = v
        return v

    def score(self, key: str, task: str = "general", params_b: float | None = None,
              quant: str | None = None) -> float:
        """The score the router uses: raw, raised to respect the config's tiers."""
        k = (key, task, params_b, quant)
        v = self._score.get(k)
        if v is None:
            v = self.raw(key, task, params_b, quant)
            tier = self.tier_of_listed.get(key)
            if tier is not None:
                v = max(v, self._floor_below(tier, task))
            self._score[k] = v
        return v

    def listed(self, key: str) -> bool:
        return key in self.tier_of_listed

    def tier(self, key: str, params_b: float | None = None, quant: str | None = None) -> int:
        """Tier index (0 = best): the config's listing, else the catalog's band."""
        t = self.tier_of_listed.get(key)
        if t is not None:
            return t
        return band(self.score(key, "general", params_b, quant), len(self.tier_names))

    def tier_label(self, index: int) -> str:
        return self.tier_names[index] if 0 <= index < len(self.tier_names) else "unlisted"

    def listed_models(self) -> Iterable[str]:
        return self.tier_of_listed.keys()
