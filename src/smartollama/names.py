"""Model names: `[registry/][namespace/]model[:tag]`, parameter count and quantization.

Pure and import-light (stdlib `re` only): it runs on every call.
Follows Ollama's name rules: default registry `registry.ollama.ai`, default
namespace `library`, default tag `latest`; a name compares case-insensitively.
"""

from __future__ import annotations

import fnmatch
import functools
import re

from smartollama.record import record

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

# "70b", "0.5b", "1.5b", "270m", "8x7b", "8x22b", "e2b" (effective size) inside a tag
_PARAMS = re.compile(r"(?:^|[-_:])(?:(\d+)x)?e?(\d+(?:\.\d+)?)([bm])(?=$|[-_.])", re.IGNORECASE)
# "q4_K_M", "q8_0", "q4_0", "iq3_xxs", "fp16", "bf16", "f16", "fp32"
_QUANT = re.compile(
    r"(?:^|[-_])((?:i?q\d(?:_[a-z0-9]+)*)|fp16|f16|bf16|fp32|f32|mxfp4)(?=$|[-.])", re.IGNORECASE
)
# "70.6B", "8.0B", "494.03M", "7B", "1.2T"
_PARAM_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)
_SCALE = {"k": 1e-6, "m": 1e-3, "b": 1.0, "t": 1e3}


@record(frozen=True, kw_only=False)
class ModelName:
    """A parsed model name. `full` is the form `ollama list` shows."""

    registry: str
    namespace: str
    model: str
    tag: str

    @property
    def full(self) -> str:
        prefix = ""
        if self.registry != DEFAULT_REGISTRY:
            prefix = f"{self.registry}/{self.namespace}/"
        elif self.namespace != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        return f"{prefix}{self.model}:{self.tag}"

    @property
    def short(self) -> str:
        """`full` without a `:latest` tag (how people write it)."""
        f = self.full
        return f.removesuffix(":" + DEFAULT_TAG)

    @property
    def params_b(self) -> float | None:
        """Parameter count in billions, from the tag (else the model name)."""
        return params_from_text(self.tag) or params_from_text(self.model)

    @property
    def experts(self) -> int | None:
        """Mixture-of-experts count from an `8x7b` tag, else None."""
        m = _PARAMS.search(self.tag)
        return int(m.group(1)) if m and m.group(1) else None

    @property
    def quantization(self) -> str | None:
        m = _QUANT.search(self.tag)
        return normalize_quant(m.group(1)) if m else None

    def __str__(self) -> str:
        return self.full


class NameError_(ValueError):
    """A model name that cannot be parsed."""


_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


def _source(raw: str) -> str:
    """Ollama's source suffix (internal/modelref): `model:tag:cloud` is the cloud
    model `model:tag-cloud`, `model:cloud` stays; `:local` is dropped."""
    head, sep, last = raw.rpartition(":")
    if not sep or "/" in last or last.lower() not in ("cloud", "local"):
        return raw
    slash, colon = head.rfind("/"), head.rfind(":")
    if head.rpartition(":")[2].lower() in ("cloud", "local") and colon > slash:
        raise NameError_(f"use either :local or :cloud, not both, in {raw!r}")
    if last.lower() == "local":
        return head
    return head + "-cloud" if colon > slash else raw


def is_cloud(name: str) -> bool:
    """A cloud model's name: a tag `cloud` or ending in `-cloud` (`gpt-oss:120b-cloud`)."""
    tag = canonical(name).rpartition(":")[2].lower()
    return tag == "cloud" or tag.endswith("-cloud")


def parse(name: str) -> ModelName:
    """Parse `[registry/][namespace/]model[:tag]` the way Ollama does."""
    s = _source(name.strip())
    if not s:
        raise NameError_("empty model name")
    # a tag is after the last ':' that follows the last '/'; a ':' before a '/'
    # belongs to a registry host:port
    slash = s.rfind("/")
    colon = s.rfind(":")
    if colon > slash:
        path, tag = s[:colon], s[colon + 1:]
    else:
        path, tag = s, DEFAULT_TAG
    if "@" in tag:  # digest pins ("model:tag@sha256:...") keep the tag part
        tag = tag.split("@", 1)[0] or DEFAULT_TAG
    parts = path.split("/")
    if len(parts) == 1:
        registry, namespace, model = DEFAULT_REGISTRY, DEFAULT_NAMESPACE, parts[0]
    elif len(parts) == 2:
        registry, namespace, model = DEFAULT_REGISTRY, parts[0], parts[1]
    else:
        registry, namespace, model = parts[0], "/".join(parts[1:-1]), parts[-1]
    for label, value in (("model", model), ("tag", tag), ("namespace", namespace)):
        if not value or not _VALID.match(value.replace("/", "")):
            raise NameError_(f"invalid {label} in model name {name!r}")
    return ModelName(registry.lower(), namespace.lower(), model.lower(), tag.lower()
                     if tag == DEFAULT_TAG else tag)


@functools.lru_cache(maxsize=4096)
def canonical(name: str) -> str:
    """`llama3` → `llama3:latest`; a name that does not parse is returned trimmed.
    Cached: a replay asks for the same few names millions of times."""
    try:
        return parse(name).full
    except NameError_:
        return name.strip()


def same(a: str, b: str) -> bool:
    return canonical(a).lower() == canonical(b).lower()


def params_from_text(text: str) -> float | None:
    """Billions of parameters named in a tag: `8x7b` → 56, `270m` → 0.27."""
    m = _PARAMS.search(text)
    if not m:
        return None
    experts = int(m.group(1)) if m.group(1) else 1
    value = float(m.group(2)) * _SCALE[m.group(3).lower()]
    return round(experts * value, 6)


def parse_parameter_size(text: str | None) -> float | None:
    """`/api/show` `details.parameter_size` ("70.6B", "494.03M") → billions."""
    if not text:
        return None
    m = _PARAM_SIZE.match(text)
    if not m:
        return None
    return round(float(m.group(1)) * _SCALE[m.group(2).lower()], 6)


def normalize_quant(q: str | None) -> str | None:
    """`q4_k_m` → `Q4_K_M`, `fp16` → `F16`, as Ollama reports `quantization_level`."""
    if not q:
        return None
    u = q.upper()
    return {"FP16": "F16", "FP32": "F32"}.get(u, u)


def bits_per_weight(quant: str | None) -> float:
    """Approximate storage bits per weight of a quantization (Q4_K_M ≈ 4.85)."""
    q = normalize_quant(quant) or "Q4_K_M"
    table = {
        "F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.56,
        "Q5_K_M": 5.69, "Q5_K_S": 5.54, "Q5_0": 5.5, "Q5_1": 6.0, "Q4_K_M": 4.85,
        "Q4_K_S": 4.58, "Q4_0": 4.55, "Q4_1": 5.0, "Q3_K_L": 4.27, "Q3_K_M": 3.91,
        "Q3_K_S": 3.5, "Q2_K": 3.35, "MXFP4": 4.25,
    }
    if q in table:
        return table[q]
    m = re.match(r"I?Q(\d)", q)
    return float(m.group(1)) + 0.5 if m else 4.85


def matches(name: str, pattern: str) -> bool:
    """Does a model name match a config pattern (`*`, `*:0.5b`, `llama3:*`, exact)?

    Both sides are compared in canonical form, case-insensitively; a pattern
    without a tag matches every tag of that model (`llama3` ≈ `llama3:*`).
    """
    full = canonical(name).lower()
    p = pattern.strip().lower()
    if p == "*":
        return True
    if not any(c in p for c in "*?["):
        if ":" not in p.rsplit("/", 1)[-1]:
            return full.rsplit(":", 1)[0] == canonical(p).rsplit(":", 1)[0]
        return full == canonical(p).lower()
    return fnmatch.fnmatchcase(full, p) or fnmatch.fnmatchcase(parse_short(full), p)


def parse_short(full: str) -> str:
    try:
        return parse(full).short.lower()
    except NameError_:
        return full


def printable(text: str) -> str:
    """A name as a server sent it, with control characters (a newline, a NUL, an escape
    sequence) shown escaped, so a hostile name cannot break a line, a table or the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
