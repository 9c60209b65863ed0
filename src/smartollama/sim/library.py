"""Figures for models as the Ollama library ships them, and rules to guess the rest.

Sizes are the blob sizes `/api/tags` reports (bytes, here in GB = 1e9 bytes);
architecture numbers are the GGUF `model_info` values `/api/show` reports. A
model not listed here gets its figures from its tag (`7b`, `8x7b`, `270m`).
"""

from __future__ import annotations

import re

# name: (size_gb, parameter_size, quantization, family,
#        block_count, embedding_length, head_count, head_count_kv, context_length)
LIBRARY: dict[str, tuple[float, str, str, str, int, int, int, int, int]] = {
    "llama3:8b": (4.66, "8.0B", "Q4_0", "llama", 32, 4096, 32, 8, 8192),
    "llama3:70b": (39.97, "70.6B", "Q4_0", "llama", 80, 8192, 64, 8, 8192),
    "llama3.1:8b": (4.92, "8.0B", "Q4_K_M", "llama", 32, 4096, 32, 8, 131072),
    "llama3.2:1b": (1.32, "1.2B", "Q8_0", "llama", 16, 2048, 32, 8, 131072),
    "llama3.2:3b": (2.02, "3.2B", "Q4_K_M", "llama", 28, 3072, 24, 8, 131072),
    "mistral:7b": (4.11, "7.2B", "Q4_0", "llama", 32, 4096, 32, 8, 32768),
    "mixtral:8x7b": (26.44, "46.7B", "Q4_0", "llama", 32, 4096, 32, 8, 32768),
    "qwen2.5:0.5b": (0.40, "494.03M", "Q4_K_M", "qwen2", 24, 896, 14, 2, 32768),
    "qwen2.5:1.5b": (0.99, "1.5B", "Q4_K_M", "qwen2", 28, 1536, 12, 2, 32768),
    "qwen2.5:3b": (1.93, "3.1B", "Q4_K_M", "qwen2", 36, 2048, 16, 2, 32768),
    "qwen2.5:7b": (4.68, "7.6B", "Q4_K_M", "qwen2", 28, 3584, 28, 4, 32768),
    "qwen2.5:14b": (8.99, "14.8B", "Q4_K_M", "qwen2", 48, 5120, 40, 8, 32768),
    "qwen2.5:32b": (19.85, "32.8B", "Q4_K_M", "qwen2", 64, 5120, 40, 8, 32768),
    "qwen2.5-coder:1.5b": (0.99, "1.5B", "Q4_K_M", "qwen2", 28, 1536, 12, 2, 32768),
    "qwen2.5-coder:7b": (4.68, "7.6B", "Q4_K_M", "qwen2", 28, 3584, 28, 4, 32768),
    "qwen2.5-coder:32b": (19.85, "32.8B", "Q4_K_M", "qwen2", 64, 5120, 40, 8, 32768),
    "qwen3:0.6b": (0.52, "751.63M", "Q4_K_M", "qwen3", 28, 1024, 16, 8, 40960),
    "qwen3:8b": (5.23, "8.2B", "Q4_K_M", "qwen3", 36, 4096, 32, 8, 40960),
    "qwen3:32b": (20.20, "32.8B", "Q4_K_M", "qwen3", 64, 5120, 64, 8, 40960),
    "deepseek-r1:7b": (4.68, "7.6B", "Q4_K_M", "qwen2", 28, 3584, 28, 4, 131072),
    "deepseek-r1:8b": (5.23, "8.2B", "Q4_K_M", "qwen3", 36, 4096, 32, 8, 131072),
    "deepseek-coder:6.7b": (3.83, "7B", "Q4_0", "llama", 32, 4096, 32, 32, 16384),
    "tinyllama:1b": (0.64, "1B", "Q4_0", "llama", 22, 2048, 32, 4, 2048),
    "gemma2:2b": (1.63, "2.6B", "Q4_0", "gemma2", 26, 2304, 8, 4, 8192),
    "phi3:mini": (2.18, "3.8B", "Q4_0", "phi3", 32, 3072, 32, 32, 131072),
    "gemma3:4b": (3.34, "4.3B", "Q4_K_M", "gemma3", 34, 2560, 8, 4, 131072),
    "qwen2.5vl:7b": (5.97, "8.3B", "Q4_K_M", "qwen25vl", 28, 3584, 28, 4, 128000),
    "gpt-oss:20b": (13.78, "20.9B", "MXFP4", "gptoss", 24, 2880, 64, 8, 131072),
    # embedding models (F16 BERT-style encoders)
    "nomic-embed-text:latest": (0.27, "137M", "F16", "nomic-bert", 12, 768, 12, 12, 2048),
    "mxbai-embed-large:latest": (0.67, "334M", "F16", "bert", 24, 1024, 16, 16, 512),
    "all-minilm:latest": (0.05, "23M", "F16", "bert", 6, 384, 12, 12, 512),
    "paraphrase-multilingual:latest": (0.56, "278M", "F16", "bert", 12, 768, 12, 12, 512),
}

# Cloud models as `ollama pull` leaves them: a manifest pointing at ollama.com. The figures
# are what `/api/tags` and `/api/show` report from the stub's config (no weights here).
CLOUD: dict[str, tuple[float, str, str, str, int, int, int, int, int]] = {
    "gpt-oss:120b-cloud": (3.84e-7, "116.8B", "MXFP4", "gptoss", 36, 2880, 64, 8, 131072),
    "gpt-oss:20b-cloud": (3.84e-7, "20.9B", "MXFP4", "gptoss", 24, 2880, 64, 8, 131072),
    "qwen3-coder:480b-cloud": (3.84e-7, "480.2B", "FP8", "qwen3moe", 62, 6144, 96, 8, 262144),
    "deepseek-v3.1:671b-cloud": (3.84e-7, "671.0B", "FP8", "deepseek2", 61, 7168, 128, 128, 163840),
}

# Bits per weight of common GGUF quantizations, used to guess a file size.
_BITS = {
    "Q2_K": 3.35, "Q3_K_S": 3.5, "Q3_K_M": 3.9, "Q3_K_L": 4.3, "Q4_0": 4.55,
    "Q4_1": 5.0, "Q4_K_S": 4.6, "Q4_K_M": 4.85, "Q5_0": 5.5, "Q5_1": 6.0,
    "Q5_K_S": 5.55, "Q5_K_M": 5.7, "Q6_K": 6.6, "Q8_0": 8.5, "F16": 16.0,
    "BF16": 16.0, "F32": 32.0,
}

# (largest parameter count, block_count, embedding_length, head_count, head_count_kv)
_SHAPES = [
    (0.7e9, 24, 896, 14, 2),
    (1.3e9, 22, 2048, 32, 4),
    (2.2e9, 28, 1536, 12, 2),
    (4.5e9, 28, 3072, 24, 8),
    (10e9, 32, 4096, 32, 8),
    (16e9, 40, 5120, 40, 8),
    (24e9, 48, 5120, 40, 8),
    (40e9, 64, 5120, 40, 8),
    (float("inf"), 80, 8192, 64, 8),
]

_TOOLS = ("llama3.1", "llama3.2", "llama3.3", "mistral", "mixtral", "qwen2.5", "qwen3",
          "gpt-oss", "deepseek-v3")
_THINKING = ("qwen3", "deepseek-r1", "gpt-oss", "deepseek-v3")
_NO_TOOLS = ("qwen2.5vl", "qwen3-vl")  # names that start like a tool family but lack tools
_INSERT = ("qwen2.5-coder", "codellama", "starcoder2", "deepseek-coder-v2", "codegemma")
_VISION = ("gemma3", "qwen2.5vl", "qwen3-vl", "llava", "llama3.2-vision", "minicpm-v", "moondream")
_EMBEDDING = ("nomic-embed", "mxbai-embed", "all-minilm", "snowflake-arctic-embed", "bge-",
              "paraphrase-multilingual", "granite-embedding", "embeddinggemma")


def is_cloud_name(name: str) -> bool:
    """`gpt-oss:120b-cloud` or `gpt-oss:cloud`: a pulled cloud model (internal/modelref)."""
    _, tag = split_name(name)
    return tag == "cloud" or tag.endswith("-cloud")


def cloud_base(name: str) -> str:
    """The model's name on the cloud: the tag without `-cloud` (`gpt-oss:120b`)."""
    base, tag = split_name(name)
    if tag == "cloud":
        return base
    return f"{base}:{tag[: -len('-cloud')]}"


def split_name(name: str) -> tuple[str, str]:
    """`namespace/model:tag` -> (`namespace/model`, `tag`); the tag defaults to `latest`."""
    base, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "latest"
    return base, tag


def normalize_name(name: str) -> str:
    base, tag = split_name(name.strip())
    return f"{base}:{tag}"


def params_from_tag(tag: str) -> float | None:
    """`8b` -> 8e9, `0.5b` -> 5e8, `8x7b` -> ~46.7e9 (experts share attention), `270m` -> 2.7e8."""
    m = re.match(r"^(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])", tag.lower())
    if not m:
        return None
    experts, count, unit = m.groups()
    value = float(count) * (1e9 if unit == "b" else 1e6)
    if experts:
        value *= int(experts) * 0.834
    return value


def params_from_size_label(label: str) -> float | None:
    """Ollama's `parameter_size` (`8.0B`, `494.03M`) -> a count."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", label.upper())
    if not m:
        return None
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[m.group(2)]
    return float(m.group(1)) * scale


def size_label(params: float) -> str:
    """A parameter count as Ollama words it: `8.0B`, `494.03M`."""
    if params >= 1e9:
        return f"{params / 1e9:.1f}B"
    return f"{params / 1e6:.2f}M"


def guess_family(base: str) -> str:
    short = base.rsplit("/", 1)[-1]
    if short.startswith(("nomic-embed",)):
        return "nomic-bert"
    if short.startswith(_EMBEDDING):
        return "bert"
    if short.startswith("gpt-oss"):
        return "gptoss"
    if short.startswith(("qwen2", "deepseek-r1")):
        return "qwen2"
    if short.startswith("qwen3"):
        return "qwen3"
    for prefix in ("gemma3", "gemma2", "gemma", "phi3", "phi", "granite", "starcoder2"):
        if short.startswith(prefix):
            return prefix
    return "llama"


def guess_size_gb(params: float, quantization: str) -> float:
    bits = _BITS.get(quantization.upper(), 4.85)
    return round(params * bits / 8 / 1e9, 2)


def guess_shape(params: float) -> tuple[int, int, int, int]:
    for limit, blocks, emb, heads, kv in _SHAPES:
        if params <= limit:
            return blocks, emb, heads, kv
    raise AssertionError("unreachable")


def guess_capabilities(base: str, family: str) -> list[str]:
    """Capabilities in Ollama's order (completion, tools, insert, vision, thinking; or embedding)."""
    short = base.rsplit("/", 1)[-1]
    if short.startswith(_EMBEDDING) or "bert" in family:
        return ["embedding"]
    caps = ["completion"]
    if short.startswith(_TOOLS) and not short.startswith(_NO_TOOLS):
        caps.append("tools")
    if short.startswith(_INSERT):
        caps.append("insert")
    if short.startswith(_VISION):
        caps.append("vision")
    if (short.startswith(_THINKING) or family == "qwen3") and not short.startswith("qwen3-coder"):
        caps.append("thinking")
    return caps
