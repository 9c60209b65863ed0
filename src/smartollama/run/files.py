"""Image (and audio) paths in a prompt, attached as `ollama run` attaches them.

cmd/interactive.go's extractFileData: a path that starts with `/`, `./`, `\\`
or a drive letter and ends in .jpg/.jpeg/.png/.webp/.wav; one that exists and
holds such a file is read, taken out of the prompt and sent base64-encoded in
`images` ("Added image '...'" on stderr); one that does not exist stays text.
"""

from __future__ import annotations

from smartollama.errors import SollamaError

TYPE_CHECKING = False   # not typing's: importing typing costs a warm run ~4 ms
if TYPE_CHECKING:
    from typing import IO

#: compiled by the first prompt with a path in it (compiling them costs ~0.4 ms)
_PATH = r"(?:[a-zA-Z]:)?(?:\./|/|\\)[\S\\ ]+?\.(?i:jpg|jpeg|png|webp|wav)\b"
_UNESCAPE = r"\\([ ()\[\]{}$&;'\\*?~])"
MAX_BYTES = 100 * 1024 * 1024


def _kind(head: bytes) -> str | None:
    """What Go's http.DetectContentType would call the file, for the types Ollama takes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio"
    return None


def extract(prompt: str, err: IO[str]) -> tuple[str, list[str], bool]:
    """(the prompt without the attached paths, the files base64-encoded, any image)."""
    files: list[str] = []
    image = False
    if "/" not in prompt and "\\" not in prompt:     # no path: no regex, no base64
        return prompt.strip(), files, image
    import base64
    import re

    for found in re.findall(_PATH, prompt):
        path = re.sub(_UNESCAPE, r"\1", found)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise SollamaError(f"Couldn't process file: {path}: {e.strerror}") from None
        kind = _kind(data[:512])
        if kind is None:
            raise SollamaError(f"Couldn't process file: {path}: not a JPEG, PNG, WebP or WAV file")
        if len(data) > MAX_BYTES:
            raise SollamaError(f"Couldn't process file: {path}: larger than 100MB")
        err.write(f"Added {kind} '{path}'\n")
        image = image or kind == "image"
        for text in (f"'{path}'", f"'{found}'", found):
            prompt = prompt.replace(text, "")
        files.append(base64.b64encode(data).decode("ascii"))
    return prompt.strip(), files, image
