"""An embedding model run as `ollama run` runs one: `/api/embed`, the vector printed.

`ollama run nomic-embed-text "text"` prints the first embedding as Go's
`json.Marshal` writes a `[]float32` (cmd/cmd.go, generateEmbedding): the
shortest digits that read back as the same float32, an exponent only below
1e-6 or from 1e21 on (`e-7`, not `e-07`), no spaces.
"""

from __future__ import annotations

import struct
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from smartollama.errors import BackendError, SollamaError

if TYPE_CHECKING:
    from smartollama.config import Backend, Timeouts
    from smartollama.run.stream import Output, RunOptions, RunOutcome
    from smartollama.verdict import Choice


def embed(choice: Choice, backend: Backend, timeouts: Timeouts, opts: RunOptions,
          answer: RunOutcome, out: Output) -> None:
    """One attempt: the prompt's embedding, printed on one line."""
    from smartollama.ollama import OllamaClient, StreamBudget
    from smartollama.run.stream import parse_keepalive

    if not opts.prompt:
        raise SollamaError("embedding models require input text. Usage: sollama run "
                           f"{choice.model} \"your text here\"")
    fields: dict[str, Any] = {"keep_alive": parse_keepalive(opts.keepalive),
                              "truncate": opts.truncate, "dimensions": opts.dimensions or None}
    t0 = time.monotonic()
    with OllamaClient.for_backend(backend, timeouts, host=choice.host) as client:
        data = client.embed(choice.model, opts.prompt,
                            StreamBudget.of(timeouts, choice.wait_s), **fields)
    vectors = data.get("embeddings")
    if not isinstance(vectors, list) or not vectors or not isinstance(vectors[0], list):
        raise BackendError(f"{choice.host}: no embeddings returned", host=choice.host)
    answer.ttft_s = time.monotonic() - t0
    answer.final = {k: v for k, v in data.items() if k != "embeddings"}
    answer.printed = True
    out.write(go_vector(vectors[0]) + "\n")
    out.flush()


def go_vector(values: list[Any]) -> str:
    """A `[]float32` as Go's encoding/json writes it."""
    return "[" + ",".join(go_float32(float(v)) for v in values) + "]"


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


#: Go compares the float32 against these constants made float32
_SMALL, _LARGE = _f32(1e-6), _f32(1e21)


def go_float32(x: float) -> str:
    """One float32 as Go's encoding/json writes it (strconv 'f' or 'e', shortest)."""
    f32 = _f32(x)
    if f32 == 0:
        return "-0" if str(f32).startswith("-") else "0"
    digits = next(s for p in range(1, 10) if _f32(float(s := f"{f32:.{p - 1}e}")) == f32)
    if _SMALL <= abs(f32) < _LARGE:
        return format(Decimal(digits).normalize(), "f")
    mantissa, _, exp = digits.partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    n = int(exp)
    return f"{mantissa}e{'-' if n < 0 else '+'}{abs(n) if n < 0 else f'{n:02d}'}"
